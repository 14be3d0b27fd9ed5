"""Blog plugin parity, the JSON API without git history: configure, list, create, read and edit posts, access rules.

Publishing, pulling and deleting (commits and pushes) are in test_blog_git_parity.py, the pages in
test_blog_pages_parity.py, generated inputs in test_blog_properties.py; the pair is described in test_blog_pair.py.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.fixtures.gitremote import CONTENT_DIR, git
from tests.fixtures.twins import Twins
from tests.plugins.test_blog_pair import BlogPair, configure_body, pair_maker, post_url

# Every post name here is refused (400) by every post route; "%00" by the platform, before the blog sees it.
BAD_NAMES = ["..%2Fsecret", "../secret", "..", "a%2Fb.md", "a/b.md", "%2Fetc%2Fpasswd", "/etc/passwd", "a%00b",
             "a%0Ab", "a%5Cb.md", ".git", "x..md", ".hidden.md", "x" * 201, "%09tab", "%2F"]  # fmt: skip
POST_METHODS = ("GET", "PATCH", "POST", "DELETE")


@pytest.fixture
def make_pair(
    twins_factory: Callable[..., Twins],
    gitremote_template: Path,
    no_global_git_identity: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Callable[..., BlogPair]:
    return pair_maker(twins_factory, gitremote_template, tmp_path, monkeypatch)


@pytest.fixture
def pair(make_pair: Callable[..., BlogPair]) -> BlogPair:
    return make_pair()


def configure_url(project_id: str) -> str:
    return f"/api/projects/{project_id}/configure"


# -- configure ---------------------------------------------------------------------------------------------------


def test_blog_configure_clones_stores_and_refuses_a_second_time(pair: BlogPair) -> None:
    project_id = pair.project("alice")
    url = configure_url(project_id)
    assert pair.json("alice", "GET", url) == {"configured": False}
    # A token (kept, shown only as hasToken) and a content folder with outer slashes (stored without them).
    body = configure_body(pair.url, gitAuthToken="tok-secret", contentDir="src/content/blog/")
    answer = pair.json("alice", "PATCH", url, json=body)
    assert answer["config"]["hasToken"] is True and answer["config"]["contentDir"] == CONTENT_DIR
    assert pair.json("alice", "GET", url)["configured"] is True
    assert pair.json("alice", "PATCH", url, json=configure_body(pair.url, branch="x")) == {
        "error": "Blog already configured"
    }
    # A plain path, defaults for branch and folder, and the snake_case names the legacy body also accepts.
    second = pair.project("alice", name="Second")
    plain = {"repo_url": str(pair.link), "git_user_name": "Bot", "git_user_email": "bot@example.test"}
    assert pair.json("alice", "PATCH", configure_url(second), json=plain)["config"]["repoUrl"] == str(pair.link)
    pair.assert_same_state()


INVALID_CONFIGURATIONS = [
    {"repoUrl": ""},
    {"repoUrl": "ext::sh -c touch% /tmp/pwned"},
    {"repoUrl": "relative/blog.git"},
    {"repoUrl": "https://user:pw@example.test/blog.git"},
    {"repoUrl": "--upload-pack=touch /tmp/pwned"},
    {"repoUrl": "file://evil.example/srv/blog.git"},
    {"repoUrl": "file:///srv/blog.git?/../../other"},
    {"repoUrl": "file:///srv/blog.git#x"},
    {"repoUrl": "file:/srv/blog.git"},
    {"repoUrl": "FILE:///srv/blog.git"},
    {"repoUrl": "ssh://"},
    {"repoUrl": "http://[::1/blog.git"},
    {"repoUrl": None},
    {"repoUrl": 42},
    {"branch": "-x"},
    {"branch": "a..b"},
    {"branch": "with space"},
    {"branch": "release.lock"},
    {"branch": ""},
    {"contentDir": "../outside"},
    {"contentDir": "/abs"},
    {"contentDir": ".git/hooks"},
    {"contentDir": "a//b"},
    {"contentDir": "a\\b"},
    {"gitUserName": ""},
    {"gitUserName": "Evil <x>"},
    {"gitUserEmail": "not-an-email"},
    {"gitUserEmail": "a@b@c"},
    {"gitAuthToken": "two words"},
    {"gitAuthToken": "x" * 501},
    {"repoUrl": "relative", "branch": "-x", "gitUserEmail": "nope", "gitAuthToken": "a b"},
]


def test_blog_configure_refuses_invalid_bodies_the_same_way(pair: BlogPair) -> None:
    project_id = pair.project("alice")
    url = configure_url(project_id)
    for overrides in INVALID_CONFIGURATIONS:
        answer = pair.json("alice", "PATCH", url, json=configure_body(pair.url, **overrides))
        assert answer["error"] == "Invalid request", (overrides, answer)
    missing = configure_body(pair.url)
    del missing["gitUserName"], missing["repoUrl"]
    assert pair.json("alice", "PATCH", url, json=missing)["error"] == "Invalid request"
    assert pair.json("alice", "PATCH", url, json=["not", "an", "object"])["error"].startswith("Request body must be")
    assert pair.json("alice", "PATCH", url, json=None)["error"] == "Invalid request"  # no body is {}
    for raw, content_type in [("{", "application/json"), ('{"a": 1}', "text/plain"), ("null", "application/json")]:
        answer = pair.json("alice", "PATCH", url, data=raw, content_type=content_type)
        assert answer == {"error": "Request body is not valid JSON"}
    deep = "[" * 100_000 + "]" * 100_000
    assert pair.json("alice", "PATCH", url, data=deep, content_type="application/json") == {
        "error": "Request body is nested too deeply"
    }
    assert pair.json("alice", "GET", url) == {"configured": False}
    pair.assert_same_state()


def test_blog_configure_refuses_remotes_this_server_does_not_allow(pair: BlogPair, tmp_path: Path) -> None:
    project_id = pair.project("alice")
    url = configure_url(project_id)
    for remote in ["https://git.example.test/blog.git", "ssh://git@example.test/blog.git", "git@example.test:b.git"]:
        details = pair.json("alice", "PATCH", url, json=configure_body(remote))["details"]
        assert details == [{"field": "repoUrl", "message": "network remotes are disabled here (BLOG_NETWORK_REMOTES)"}]
    # The platform's own folders, each side naming its own (so the bodies differ, the answers may not).
    for folder in (lambda s: s.DATA_DIR, lambda s: s.blog_root / "p_other" / "repo", lambda s: s.papertrail_root):
        answer = pair.json(
            "alice", "PATCH", url, json_for=lambda settings, folder=folder: configure_body(str(folder(settings)))
        )
        assert answer["details"][0]["message"] == "a local repository inside the platform's data folder"
    # A repository outside the allowed folder: directly, through '..', and through a symlink inside it.
    outside = tmp_path / "outside.git"
    shutil.copytree(pair.origins["legacy"].path, outside, symlinks=True)
    sneaky = pair.link.parent / "sneaky.git"
    sneaky.symlink_to(outside)
    for remote in [str(outside), outside.as_uri(), f"{pair.link.parent}/../outside.git", sneaky.as_uri()]:
        details = pair.json("alice", "PATCH", url, json=configure_body(remote))["details"]
        assert details[0]["message"] == "a local repository outside the folder BLOG_LOCAL_REMOTES_ROOT allows"
    # Allowed, but not a repository (git's reason), or without the branch (the branches it has).
    nowhere = pair.link.parent / "nowhere.git"
    error = pair.json("alice", "PATCH", url, json=configure_body(nowhere.as_uri()))["error"]
    assert error.startswith(f"Cannot clone {nowhere.as_uri()!r} (branch 'main'): ") and "does not appear" in error
    error = pair.json("alice", "PATCH", url, json=configure_body(pair.url, branch="mian"))["error"]
    assert "branch 'mian' does not exist in the repository; its branches: 'main'" in error
    assert pair.json("alice", "GET", url) == {"configured": False}
    pair.assert_same_state()  # no row, no clone left behind (the lock file stays, on both sides)


def test_blog_configure_refuses_every_local_remote_without_an_allowed_folder(
    make_pair: Callable[..., BlogPair],
) -> None:
    pair = make_pair(BLOG_LOCAL_REMOTES_ROOT=None)
    project_id = pair.project("alice")
    for remote in (pair.url, str(pair.link)):
        details = pair.json("alice", "PATCH", configure_url(project_id), json=configure_body(remote))["details"]
        assert "BLOG_LOCAL_REMOTES_ROOT" in details[0]["message"]
    pair.assert_same_state()


def test_blog_configure_refuses_the_papertrail_folder_wherever_it_is(
    make_pair: Callable[..., BlogPair], tmp_path: Path
) -> None:
    # PaperTrail's folder moved out of DATA_DIR and into the allowed folder: a repository in it is still refused.
    elsewhere = tmp_path / "remotes" / "papertrail-files"
    pair = make_pair(PAPERTRAIL_DATA_ROOT=elsewhere)
    shutil.copytree(pair.origins["legacy"].path, elsewhere / "blog.git", symlinks=True)
    project_id = pair.project("alice")
    answer = pair.json("alice", "PATCH", configure_url(project_id), json=configure_body(str(elsewhere / "blog.git")))
    assert answer["details"][0]["message"] == "a local repository inside the platform's data folder"
    pair.assert_same_state()


def test_blog_configure_is_not_found_on_a_papertrail_project(pair: BlogPair) -> None:
    board = pair.project("alice", kind="papertrail", name="Board")
    for method in ("GET", "PATCH"):
        answer = pair.json("alice", method, configure_url(board), json=configure_body(pair.url))
        assert answer == {"error": "Project not found"}
    pair.assert_same_state()


# -- before configuration ----------------------------------------------------------------------------------------


def test_blog_post_routes_answer_409_before_configuration(pair: BlogPair) -> None:
    project_id = pair.project("alice")
    for method, url in [
        ("GET", post_url(project_id, "all")),
        ("POST", post_url(project_id)),
        ("POST", f"/api/projects/{project_id}/blog/pull"),
        *((method, post_url(project_id, "a.md")) for method in POST_METHODS),
        ("GET", post_url(project_id, "..")),  # the 409 comes before the name check
    ]:
        assert pair.json("alice", method, url, json={"title": "x", "body": ""}) == {"error": "Blog not configured"}
    pair.assert_same_state()


# -- reading -----------------------------------------------------------------------------------------------------


def test_blog_list_and_read_posts(pair: BlogPair) -> None:
    project_id = pair.blog()
    assert [post["file"] for post in pair.json("alice", "GET", post_url(project_id, "all"))["posts"]] == [
        "second-post.md",
        "first-post.md",
    ]
    for name in ("second-post", "second-post.md", "first-post.md"):
        assert pair.json("alice", "GET", post_url(project_id, name))["post"]["status"] == "Published"
    assert pair.json("alice", "GET", post_url(project_id, "nope.md")) == {"error": "Post not found"}
    # Files an editor with shell access left in the clone: not posts, unreadable posts, a symlink, dates of all
    # kinds, a post that is a folder.
    pair.write_post(project_id, "notes.txt", "not a post")
    pair.write_post(project_id, "broken.md", "---\ntitle: [unclosed\n---\nbody\n")
    pair.write_post(project_id, "listy.md", "---\n- a list\n---\n")
    pair.write_post(project_id, "open.md", "---\ntitle: never closed\n")
    pair.write_post(project_id, "odd.md", "---\ntitle: 2024\ntags: solo\ndraft: 'yes'\npubDate: someday\n---\nb")
    pair.write_post(project_id, "nulls.md", "---\ntitle:\ntags: [a, null, 3, 2024-01-01]\nextra: !!binary aGk=\n---\n")
    pair.write_post(project_id, "timed.md", "---\npubDate: 2024-03-02T10:00:00+02:00\n---\n" + "word " * 60)
    pair.write_post(project_id, "crlf.md", "\ufeff---\r\ntitle: Windows\r\n---\r\nBody\r\n")
    pair.write_post(project_id, "undated.md", "no front matter at all\n")
    pair.write_post(project_id, "folder.md/inner.md", "x")
    for workdir in pair.workdirs(project_id).values():
        (workdir / CONTENT_DIR / "link.md").symlink_to("/etc/hostname")
    pair.json("alice", "GET", post_url(project_id, "all"))
    for name in ("broken.md", "listy.md", "open.md"):
        assert pair.both("alice", "GET", post_url(project_id, name))[0].status_code == 422
        assert pair.both("alice", "PATCH", post_url(project_id, name), json={"title": "t"})[0].status_code == 422
    for name in ("odd.md", "nulls.md", "timed.md", "crlf.md", "undated.md"):
        pair.json("alice", "GET", post_url(project_id, name))
    for name in ("link.md", "folder.md", "notes.txt"):
        assert pair.json("alice", "GET", post_url(project_id, name)) == {"error": "Post not found"}
    pair.assert_same_state()


def test_blog_post_routes_refuse_unsafe_names(pair: BlogPair) -> None:
    project_id = pair.blog()
    for name in BAD_NAMES:
        for method in POST_METHODS:
            response, _ = pair.both("alice", method, post_url(project_id, name), json={"title": "x"})
            assert response.status_code == 400, (method, name)
    # Names in bodies too: a new post's name and a rename.
    for name in ["../escape", "a/b", ".git", "x..md", "a\x01b"]:
        assert pair.json("alice", "POST", post_url(project_id), json={"title": "t", "body": "", "file": name})[
            "error"
        ] in ("Invalid request", "Invalid file name")
        assert pair.json("alice", "PATCH", post_url(project_id, "first-post.md"), json={"file": name})["error"] in (
            "Invalid request",
            "Invalid file name",
        )
    pair.assert_same_state()


def test_blog_list_of_a_missing_content_folder_is_empty_until_a_post_creates_it(pair: BlogPair) -> None:
    project_id = pair.blog(contentDir="content/none")
    assert pair.json("alice", "GET", post_url(project_id, "all")) == {"posts": []}
    assert pair.json("alice", "POST", post_url(project_id), json={"title": "First", "body": "x"})["ok"] is True
    assert [post["file"] for post in pair.json("alice", "GET", post_url(project_id, "all"))["posts"]] == ["first.md"]
    pair.assert_same_state()


def test_blog_lost_working_copy_is_cloned_again(pair: BlogPair) -> None:
    project_id = pair.blog()
    for workdir in pair.workdirs(project_id).values():
        shutil.rmtree(workdir)
    assert len(pair.json("alice", "GET", post_url(project_id, "all"))["posts"]) == 2
    pair.assert_same_state()
    for workdir in pair.workdirs(project_id).values():
        shutil.rmtree(workdir)
    pair.unplug()  # and cannot be cloned again: git's reason
    assert pair.json("alice", "GET", post_url(project_id, "first-post.md"))["error"].startswith("Git failed: ")
    pair.assert_same_state()


# -- writing -----------------------------------------------------------------------------------------------------


def test_blog_create_posts(pair: BlogPair) -> None:
    project_id = pair.blog()
    url = post_url(project_id)
    full = {"title": "Hello: World", "description": "a long description, " * 8, "tags": ["a", "b"],
            "pubDate": "2025-02-03", "draft": False, "body": "# Hi\n"}  # fmt: skip
    assert pair.json("alice", "POST", url, json=full)["post"]["file"] == "hello-world.md"
    for body in [
        {"title": "  Padded title  ", "body": "  kept as sent  "},  # the default pubDate: today, by the clock
        {"title": "日本語", "body": ""},  # no ASCII word: post.md
        {"title": "Named", "body": "", "file": " custom-name "},
        {"title": "Named", "body": "", "file": "explicit.md"},
        {"title": "Timed", "body": "", "pubDate": "2025-02-03T10:30:00+02:00", "draft": True, "tags": []},
        {"title": "Snake", "body": "", "pub_date": "2024-12-31"},
    ]:
        assert pair.both("alice", "POST", url, json=body)[0].status_code == 201, body
    assert pair.json("alice", "POST", url, json={"title": "First post", "body": "other"}) == {
        "error": "A post named 'first-post.md' already exists"
    }
    for invalid in [
        {"body": "no title"},
        {"title": "   ", "body": ""},
        {"title": "t"},
        {"title": "t", "body": "", "tags": "not-a-list"},
        {"title": "t", "body": "", "tags": ["", 1]},
        {"title": "t", "body": "", "tags": ["x"] * 51},
        {"title": "t", "body": "", "pubDate": "yesterday"},
        {"title": "t", "body": "", "pubDate": "2024-02-30"},
        {"title": "t", "body": "", "draft": "maybe"},
        {"title": "t", "body": "", "description": "\ud800"},
        {"title": "x" * 301, "body": "", "file": ""},
    ]:
        assert pair.json("alice", "POST", url, json=invalid)["error"] == "Invalid request", invalid
    pair.json("alice", "GET", post_url(project_id, "all"))
    pair.assert_same_state()


def test_blog_update_posts(pair: BlogPair) -> None:
    project_id = pair.blog()
    second = post_url(project_id, "second-post.md")
    # Away and back to the committed name: no pending rename is left, and publishing it has nothing to commit.
    pair.json("alice", "PATCH", post_url(project_id, "first-post.md"), json={"file": "away"})
    pair.json("alice", "PATCH", post_url(project_id, "away.md"), json={"file": "first-post.md"})
    pair.assert_same_state()
    assert pair.json("alice", "POST", post_url(project_id, "first-post.md")) == {"ok": True, "commit": None}
    assert pair.json("alice", "PATCH", second, json={"title": "Renamed title", "tags": ["x"]})["post"]["status"] == (
        "Draft"
    )
    pair.json("alice", "PATCH", post_url(project_id, "first-post"), json={"body": "\nNew body\r\n", "draft": True})
    pair.json("alice", "PATCH", second, json={"pubDate": "2020-01-01", "description": "", "title": "Again"})
    pair.json("alice", "PATCH", second, json={"file": "second-post"})  # its own name: no rename
    # Renames: onto a free name (twice, so the pending rename remembers the committed name), onto a taken one.
    assert pair.json("alice", "PATCH", second, json={"file": "moved"})["post"]["file"] == "moved.md"
    pair.json("alice", "PATCH", post_url(project_id, "moved.md"), json={"file": "moved-again", "title": "T"})
    assert pair.json("alice", "PATCH", post_url(project_id, "moved-again.md"), json={"file": "first-post"}) == {
        "error": "A post named 'first-post.md' already exists"
    }
    assert pair.json("alice", "GET", second) == {"error": "Post not found"}
    # A second pending rename: the renames file holds both, in the same order.
    pair.json("alice", "PATCH", post_url(project_id, "first-post.md"), json={"file": "aaa-first"})
    for invalid in [{}, {"title": None}, {"file": "../x"}, {"pubDate": "soon"}, {"tags": [1]}, {"body": 3}]:
        assert pair.json("alice", "PATCH", post_url(project_id, "aaa-first.md"), json=invalid)["error"] in (
            "Invalid request",
            "Invalid file name",
        )
    assert pair.json("alice", "PATCH", post_url(project_id, "nope.md"), json={"title": "x"}) == {
        "error": "Post not found"
    }
    pair.json("alice", "GET", post_url(project_id, "all"))
    pair.assert_same_state()


# -- who may do what ---------------------------------------------------------------------------------------------


def test_blog_roles_decide_who_reads_and_who_writes(pair: BlogPair) -> None:
    project_id = pair.blog()
    for name, role in [("vic", "viewer"), ("eddie", "editor")]:
        pair.user(name)
        pair.share("alice", project_id, name, role)
    pair.user("stranger")
    routes = [
        ("GET", configure_url(project_id), None),
        ("PATCH", configure_url(project_id), configure_body(pair.url)),
        ("GET", post_url(project_id, "all"), None),
        ("POST", post_url(project_id), {"title": "By someone", "body": ""}),
        ("GET", post_url(project_id, "first-post.md"), None),
        ("PATCH", post_url(project_id, "by-someone.md"), {"title": "Edited"}),
        ("POST", post_url(project_id, "by-someone.md"), None),
        ("POST", f"/api/projects/{project_id}/blog/pull", None),
        ("DELETE", post_url(project_id, "by-someone.md"), None),
    ]
    for user in (None, "stranger", "vic", "eddie"):
        for method, url, body in routes:
            pair.both(user, method, url, json=body)
    for method, url, body in routes[:3]:  # a project of another tenant's or none: 404 for all
        pair.both("alice", method, url.replace(project_id, "p_missing"), json=body)
        pair.both("alice", method, url.replace(project_id, "%20"), json=body)  # a blank id: 400
    pair.assert_same_state()


@pytest.mark.parametrize("signed_in", [True, False], ids=["signed-in", "signed-out"])
def test_blog_switched_off_answers_a_bare_404(make_pair: Callable[..., BlogPair], signed_in: bool) -> None:
    pair = make_pair(FT_PROJECT_TYPE_BLOG=False)
    board = pair.project("alice", kind="papertrail", name="Board")
    user = "alice" if signed_in else None
    for project_id in (board, "p_missing"):
        for method, url in [
            ("GET", configure_url(project_id)),
            ("PATCH", configure_url(project_id)),
            ("GET", post_url(project_id, "all")),
            ("POST", post_url(project_id)),
            *((method, post_url(project_id, "a.md")) for method in POST_METHODS),
            ("POST", f"/api/projects/{project_id}/blog/pull"),
            ("GET", post_url(project_id, "..")),
            ("OPTIONS", post_url(project_id, "a.md")),
            ("HEAD", configure_url(project_id)),
        ]:
            response, _ = pair.both(user, method, url, json=configure_body(pair.url))
            assert (response.status_code, response.get_data()) == (404, b""), (method, url)
        pair.both(user, "PUT", configure_url(project_id))  # no rule matches: the platform's 405, feature or not
    pair.assert_same_state()


def test_blog_unrouted_requests_under_the_mounts(pair: BlogPair) -> None:
    project_id = pair.blog()
    base = f"/api/projects/{project_id}"
    for method, url in [
        ("PUT", f"{base}/configure"),  # 405 with Allow
        ("GET", f"{base}/blog/post"),
        ("GET", f"{base}/blog/pull"),
        ("GET", f"{base}/blog"),
        ("GET", f"{base}/blog/other"),
        ("GET", f"{base}/configure/more"),
        ("GET", f"{base}/blog/post/"),
        ("POST", f"{base}/blog/post/all"),  # publish "all.md": the listing owns GET only
        ("DELETE", f"{base}/blog/post/all"),
        ("GET", f"{base}/blog/post/all.md"),
        ("GET", f"/api/projects/{project_id}//configure"),
        ("GET", f"{base}/blog//post/all"),
        ("HEAD", f"{base}/blog/post/all"),
        ("OPTIONS", f"{base}/blog/post/first-post.md"),
    ]:
        pair.both("alice", method, url)
    pair.assert_same_state()


def test_blog_cross_site_writes_are_refused_before_the_feature_answers(pair: BlogPair) -> None:
    project_id = pair.blog()
    headers = {"Origin": "https://evil.example"}
    answer = pair.json("alice", "POST", post_url(project_id), json={"title": "x", "body": ""}, headers=headers)
    assert answer == {"error": "Cross-site request refused"}
    pair.assert_same_state()


def test_blog_working_clone_written_by_hand_shows_as_draft(pair: BlogPair) -> None:
    project_id = pair.blog()
    pair.write_post(project_id, "first-post.md", "---\ntitle: Edited\n---\nchanged\n")
    pair.write_post(project_id, "flagged.md", "---\ntitle: Flagged\ndraft: true\npubDate: 2023-01-01\n---\n")
    for workdir in pair.workdirs(project_id).values():
        git("add", "--", f"{CONTENT_DIR}/flagged.md", cwd=workdir)
        git("commit", "-q", "-m", "flagged", cwd=workdir)
    statuses = {
        post["file"]: post["status"] for post in pair.json("alice", "GET", post_url(project_id, "all"))["posts"]
    }
    assert statuses == {"first-post.md": "Draft", "flagged.md": "Draft", "second-post.md": "Published"}
    pair.assert_same_state()
