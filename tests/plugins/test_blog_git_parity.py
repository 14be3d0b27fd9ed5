"""Blog plugin parity for the routes that commit and push: publish, pull and delete, failures included.

After each scenario both remotes must hold the same history (same hashes: see test_blog_pair.py on commit dates),
and the working clones the same HEAD, index and pending renames. The last test shows that legacy and the plugin
share one working clone: either can carry on what the other started.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from werkzeug.test import Client

from tests.fixtures.app import PASSWORD
from tests.fixtures.gitremote import CONTENT_DIR, git
from tests.fixtures.twins import Twins
from tests.plugins.test_blog_pair import BlogPair, configure_body, pair_maker, post_url

ELSEWHERE = "---\ntitle: Elsewhere\n---\nFrom a colleague.\n"


@pytest.fixture
def pair(
    twins_factory: Callable[..., Twins],
    gitremote_template: Path,
    no_global_git_identity: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> BlogPair:
    return pair_maker(twins_factory, gitremote_template, tmp_path, monkeypatch)()


def pull_url(project_id: str) -> str:
    return f"/api/projects/{project_id}/blog/pull"


def create(pair: BlogPair, project_id: str, title: str = "Hello", **fields: object) -> str:
    answer = pair.json("alice", "POST", post_url(project_id), json={"title": title, "body": "Text\n", **fields})
    return str(answer["post"]["file"])


def heads(pair: BlogPair, project_id: str) -> set[str]:
    return {git("rev-parse", "HEAD", cwd=workdir).strip() for workdir in pair.workdirs(project_id).values()}


# -- publish -----------------------------------------------------------------------------------------------------


def test_blog_publish_commits_pushes_and_then_has_nothing_to_commit(pair: BlogPair) -> None:
    project_id = pair.blog()
    file = create(pair, project_id, "Hello: World")
    other = create(pair, project_id, "Other")
    commit = pair.json("alice", "POST", post_url(project_id, file))["commit"]
    assert heads(pair, project_id) == {commit}
    assert pair.json("alice", "GET", post_url(project_id, file))["post"]["status"] == "Published"
    assert pair.json("alice", "GET", post_url(project_id, other))["post"]["status"] == "Draft"  # only that post
    assert pair.json("alice", "POST", post_url(project_id, file)) == {"ok": True, "commit": None}
    assert pair.json("alice", "POST", post_url(project_id, "first-post")) == {"ok": True, "commit": None}
    assert pair.json("alice", "POST", post_url(project_id, "nope.md")) == {"error": "Post not found"}
    for origin in pair.origins.values():
        assert origin.log() == ["Publish hello-world.md", "Initial commit"]
    pair.assert_same_state()


def test_blog_publish_a_rename_removes_the_old_name(pair: BlogPair) -> None:
    project_id = pair.blog()
    pair.json("alice", "PATCH", post_url(project_id, "first-post.md"), json={"file": "renamed", "title": "Renamed"})
    pair.json("alice", "PATCH", post_url(project_id, "renamed.md"), json={"file": "renamed-again"})
    pair.assert_same_state()  # the pending rename, in .git, on both sides
    pair.json("alice", "POST", post_url(project_id, "renamed-again.md"))
    for origin in pair.origins.values():
        assert origin.files() == ["renamed-again.md", "second-post.md"]
    pair.assert_same_state()


def test_blog_publish_rejected_as_non_fast_forward_then_pull_then_publish(pair: BlogPair) -> None:
    project_id = pair.blog()
    pair.json("alice", "PATCH", post_url(project_id, "second-post.md"), json={"title": "Second, revised"})
    pair.json("alice", "PATCH", post_url(project_id, "first-post.md"), json={"file": "moved"})
    elsewhere = pair.commit_elsewhere("elsewhere.md", ELSEWHERE)
    rejected = pair.json("alice", "POST", post_url(project_id, "second-post.md"))
    assert rejected["error"] == "The remote rejected the push of 'second-post.md' (non-fast-forward)"
    assert f"POST /api/projects/{project_id}/blog/pull" in rejected["hint"]
    assert pair.both("alice", "POST", post_url(project_id, "moved.md"))[0].status_code == 409
    pair.assert_same_state()  # the local commits were undone on both sides
    assert pair.json("alice", "POST", pull_url(project_id)) == {"ok": True, "head": elsewhere, "updated": True}
    assert pair.json("alice", "GET", post_url(project_id, "second-post.md"))["post"]["status"] == "Draft"
    pair.json("alice", "POST", post_url(project_id, "second-post.md"))
    pair.json("alice", "POST", post_url(project_id, "moved.md"))  # still removes the old name
    for origin in pair.origins.values():
        assert origin.log()[:3] == ["Publish moved.md", "Publish second-post.md", "Edit from elsewhere"]
        assert origin.files() == ["elsewhere.md", "moved.md", "second-post.md"]
    pair.assert_same_state()


def test_blog_publish_to_an_unreachable_remote_is_502_and_leaves_no_commit(pair: BlogPair) -> None:
    project_id = pair.blog()
    file = create(pair, project_id)
    before = heads(pair, project_id)
    pair.unplug()
    error = pair.json("alice", "POST", post_url(project_id, file))["error"]
    assert error.startswith("Git failed: ") and "does not appear to be a git repository" in error
    assert heads(pair, project_id) == before
    pair.assert_same_state()
    pair.plug()
    assert pair.json("alice", "POST", post_url(project_id, file))["commit"] is not None
    pair.assert_same_state()


# -- pull --------------------------------------------------------------------------------------------------------


def test_blog_pull_up_to_date_and_unreachable(pair: BlogPair) -> None:
    project_id = pair.blog()
    (head,) = heads(pair, project_id)
    assert pair.json("alice", "POST", pull_url(project_id)) == {"ok": True, "head": head, "updated": False}
    pair.unplug()
    assert pair.both("alice", "POST", pull_url(project_id))[0].status_code == 502
    pair.assert_same_state()


def test_blog_pull_refuses_when_unpublished_edits_are_in_the_way(pair: BlogPair) -> None:
    project_id = pair.blog()
    pair.json("alice", "PATCH", post_url(project_id, "first-post.md"), json={"body": "My local edit\n"})
    clash = create(pair, project_id, "Clash")
    pair.commit_elsewhere("first-post.md", "---\ntitle: Theirs\n---\nTheir edit\n")
    pair.commit_elsewhere(clash, "---\ntitle: Theirs too\n---\n", message="Another edit")
    error = pair.json("alice", "POST", pull_url(project_id))["error"]
    assert error.startswith("Cannot pull: unpublished changes to 'clash.md', 'first-post.md' would be overwritten")
    pair.assert_same_state()


def test_blog_pull_refuses_when_the_histories_diverged(pair: BlogPair) -> None:
    project_id = pair.blog()
    pair.commit_elsewhere("elsewhere.md", ELSEWHERE)
    deleted = pair.both("alice", "DELETE", post_url(project_id, "first-post.md"))[0]
    assert deleted.status_code == 202  # committed locally, push rejected
    error = pair.json("alice", "POST", pull_url(project_id))["error"]
    assert "1 commit(s) the branch 'main'" in error and "cannot be fast-forwarded" in error
    pair.assert_same_state()


def test_blog_pull_with_local_commits_only_is_up_to_date(pair: BlogPair) -> None:
    project_id = pair.blog()
    pair.unplug()
    assert pair.both("alice", "DELETE", post_url(project_id, "first-post.md"))[0].status_code == 202
    pair.plug()  # the remote is back, and lacks the local delete commit
    (head,) = heads(pair, project_id)
    assert pair.json("alice", "POST", pull_url(project_id)) == {"ok": True, "head": head, "updated": False}
    # The next publish pushes the delete too.
    pair.json("alice", "PATCH", post_url(project_id, "second-post.md"), json={"draft": True})
    pair.json("alice", "POST", post_url(project_id, "second-post.md"))
    for origin in pair.origins.values():
        assert origin.log() == ["Publish second-post.md", "Delete first-post.md", "Initial commit"]
    pair.assert_same_state()


# -- delete ------------------------------------------------------------------------------------------------------


def test_blog_delete_committed_never_committed_renamed_and_unknown_posts(pair: BlogPair) -> None:
    project_id = pair.blog()
    assert pair.json("alice", "DELETE", post_url(project_id, "second-post.md"))["commit"] is not None
    file = create(pair, project_id)
    assert pair.json("alice", "DELETE", post_url(project_id, file)) == {"ok": True, "commit": None}
    # A post staged by a failed publish (its commit undone), then deleted: nothing of it was ever committed.
    staged = create(pair, project_id, "Staged")
    pair.unplug()
    pair.both("alice", "POST", post_url(project_id, staged))
    pair.plug()
    assert pair.json("alice", "DELETE", post_url(project_id, staged)) == {"ok": True, "commit": None}
    pair.json("alice", "PATCH", post_url(project_id, "first-post.md"), json={"file": "moved"})
    assert pair.json("alice", "DELETE", post_url(project_id, "moved.md"))["commit"] is not None
    assert pair.json("alice", "DELETE", post_url(project_id, "nope.md")) == {"error": "Post not found"}
    for origin in pair.origins.values():
        assert origin.log() == ["Delete moved.md", "Delete second-post.md", "Initial commit"]
        assert git("ls-tree", "-r", "--name-only", "main", cwd=origin.path).split() == ["README.md"]
    assert pair.json("alice", "GET", post_url(project_id, "all")) == {"posts": []}
    pair.assert_same_state()


def test_blog_delete_whose_push_fails_is_202_and_keeps_the_local_commit(pair: BlogPair) -> None:
    project_id = pair.blog()
    pair.unplug()
    unreachable = pair.json("alice", "DELETE", post_url(project_id, "first-post.md"))
    assert unreachable["pushed"] is False and "does not appear to be a git repository" in unreachable["warning"]
    assert heads(pair, project_id) == {unreachable["commit"]}
    pair.plug()
    pair.commit_elsewhere("elsewhere.md", ELSEWHERE)
    rejected = pair.json("alice", "DELETE", post_url(project_id, "second-post.md"))
    assert "[rejected]" in rejected["warning"]
    pair.assert_same_state()


# -- one working clone, two implementations ----------------------------------------------------------------------


def test_blog_legacy_and_plugin_carry_on_each_others_work_in_one_clone(pair: BlogPair) -> None:
    # On the plugin platform, the same user also talks to its legacy app directly: both implementations work on
    # the one working clone under the platform's blog folder, each picking up what the other left.
    platform = pair.twins.plugin.platform
    pair.point("plugin")
    plugin = pair.twins.plugin.clients["alice"]
    legacy = Client(platform.legacy.app)
    assert legacy.post("/login", json={"email": "alice@example.test", "password": PASSWORD}).status_code == 200
    project_id = plugin.post("/api/projects", json={"name": "Shared", "type": "blog"}).get_json()["id"]
    assert plugin.patch(f"/api/projects/{project_id}/configure", json=configure_body(pair.url)).status_code == 200
    assert plugin.patch(post_url(project_id, "first-post.md"), json={"file": "moved"}).status_code == 200
    # Legacy publishes the plugin's pending rename, removing the old name...
    assert legacy.post(post_url(project_id, "moved.md")).status_code == 200
    assert legacy.patch(post_url(project_id, "moved.md"), json={"file": "moved-again"}).status_code == 200
    # ... and the plugin publishes legacy's.
    assert plugin.post(post_url(project_id, "moved-again.md")).status_code == 200
    origin = pair.origins["plugin"]
    assert origin.log() == ["Publish moved-again.md", "Publish moved.md", "Initial commit"]
    assert origin.files() == ["moved-again.md", "second-post.md"]
    for client in (legacy, plugin):
        listed = client.get(post_url(project_id, "all")).get_json()["posts"]
        assert [(post["file"], post["status"]) for post in listed] == [
            ("second-post.md", "Published"),
            ("moved-again.md", "Published"),
        ]
    workdir = platform.services.settings.blog_root / project_id
    assert sorted(path.name for path in workdir.iterdir()) == ["lock", "repo"]
    assert (workdir / "repo" / CONTENT_DIR / "moved-again.md").is_file()
