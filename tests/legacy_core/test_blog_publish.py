"""Publishing and deleting posts: commits that really land on the (local, bare) remote, and what happens when not."""

from __future__ import annotations

import shutil
import subprocess

from tests.fixtures.gitremote import git

FOLDER = "src/content/blog"


def _local_head(blog):
    return git("rev-parse", "HEAD", cwd=blog.workdir).strip()


def _create(blog, title="Hello", **fields):
    response = blog.owner.post(blog.post_url(), json={"title": title, "body": "Text\n", **fields})
    assert response.status_code == 201, response.get_json()
    return response.get_json()["post"]["file"]


def _status(blog, file):
    return blog.owner.get(blog.post_url(file)).get_json()["post"]["status"]


# -- publish -------------------------------------------------------------------------------------------------


def test_publish_commits_and_pushes_the_post_to_the_remote(blog):
    file = _create(blog, "Hello: World")
    response = blog.owner.post(blog.post_url(file))
    assert response.status_code == 200
    body = response.get_json()
    assert body == {"ok": True, "commit": blog.remote.head()}
    assert blog.remote.log() == ["Publish hello-world.md", "Initial commit"]
    assert blog.remote.author() == "Blog Bot <blog-bot@example.test>"
    assert blog.remote.show(file) == (blog.workdir / FOLDER / file).read_text()
    assert _local_head(blog) == body["commit"]
    assert _status(blog, file) == "Published"


def test_publish_works_without_any_global_git_identity(blog):
    # The gitremote fixture points git at an empty global config; the blog config brings the identity.
    probe = subprocess.run(["git", "config", "--get", "user.email"], capture_output=True, check=False)
    assert probe.returncode == 1
    file = _create(blog)
    assert blog.owner.post(blog.post_url(file)).status_code == 200
    assert blog.remote.author() == "Blog Bot <blog-bot@example.test>"


def test_publish_commits_only_that_post(blog):
    first = _create(blog, "One")
    second = _create(blog, "Two")
    blog.owner.post(blog.post_url(first))
    assert blog.remote.files() == ["first-post.md", first, "second-post.md"]
    assert _status(blog, second) == "Draft"


def test_publish_an_unchanged_post_is_200_with_no_commit(blog):
    response = blog.owner.post(blog.post_url("first-post.md"))
    assert (response.status_code, response.get_json()) == (200, {"ok": True, "commit": None})
    assert blog.remote.log() == ["Initial commit"]


def test_publish_a_rename_removes_the_old_name_on_the_remote(blog):
    blog.owner.patch(blog.post_url("first-post.md"), json={"file": "renamed", "title": "Renamed"})
    blog.owner.patch(blog.post_url("renamed.md"), json={"file": "renamed-again"})
    response = blog.owner.post(blog.post_url("renamed-again.md"))
    assert response.status_code == 200
    assert blog.remote.files() == ["renamed-again.md", "second-post.md"]
    assert blog.remote.log() == ["Publish renamed-again.md", "Initial commit"]
    assert git("status", "--porcelain", cwd=blog.workdir) == ""


def test_publish_rejected_as_non_fast_forward_is_409_with_a_hint_and_undone(blog):
    file = _create(blog)
    before = _local_head(blog)
    remote_head = blog.remote.commit_elsewhere("elsewhere.md", "---\ntitle: Elsewhere\n---\n")
    response = blog.owner.post(blog.post_url(file))
    assert response.status_code == 409
    body = response.get_json()
    assert "non-fast-forward" in body["error"]
    assert body["hint"].startswith("pull the remote changes first: ")
    assert _local_head(blog) == before  # the local commit was undone
    assert blog.remote.head() == remote_head
    assert "Publish hello.md" not in blog.remote.log()
    assert _status(blog, file) == "Draft"
    assert (blog.workdir / FOLDER / file).exists()


def test_publish_after_a_rejected_rename_still_carries_the_old_name(blog):
    blog.owner.patch(blog.post_url("first-post.md"), json={"file": "moved"})
    blog.remote.commit_elsewhere("elsewhere.md", "x")
    assert blog.owner.post(blog.post_url("moved.md")).status_code == 409
    # The operator brings the working copy up to date, then publishing works and still removes the old name.
    git("pull", "--quiet", "--no-rebase", "--no-edit", "origin", "main", cwd=blog.workdir)
    assert blog.owner.post(blog.post_url("moved.md")).status_code == 200
    assert blog.remote.files() == ["elsewhere.md", "moved.md", "second-post.md"]


def test_publish_to_an_unreachable_remote_is_502_and_leaves_no_local_commit(blog):
    file = _create(blog)
    before = _local_head(blog)
    blog.remote.move_away()
    response = blog.owner.post(blog.post_url(file))
    assert response.status_code == 502
    assert "does not appear to be a git repository" in response.get_json()["error"]
    assert _local_head(blog) == before
    assert _status(blog, file) == "Draft"


def test_publish_unknown_post_is_404(blog):
    response = blog.owner.post(blog.post_url("nope.md"))
    assert (response.status_code, response.get_json()) == (404, {"error": "Post not found"})


def test_publish_by_an_editor_is_allowed(api, blog):
    editor = api.user()
    api.share(blog.owner, blog.project_id, editor, "editor")
    file = _create(blog)
    assert editor.post(blog.post_url(file)).status_code == 200


# -- delete --------------------------------------------------------------------------------------------------


def test_delete_commits_and_pushes_the_removal(blog):
    response = blog.owner.delete(blog.post_url("first-post.md"))
    assert response.status_code == 200
    assert response.get_json() == {"ok": True, "commit": blog.remote.head()}
    assert blog.remote.log() == ["Delete first-post.md", "Initial commit"]
    assert blog.remote.files() == ["second-post.md"]
    assert not (blog.workdir / FOLDER / "first-post.md").exists()
    assert blog.owner.get(blog.post_url("first-post.md")).status_code == 404


def test_delete_with_an_unreachable_remote_is_202_and_keeps_the_local_commit(blog):
    blog.remote.move_away()
    response = blog.owner.delete(blog.post_url("first-post.md"))
    assert response.status_code == 202
    body = response.get_json()
    assert body["ok"] is True
    assert body["pushed"] is False
    assert body["commit"] == _local_head(blog)
    assert "push" in body["warning"] and "does not appear to be a git repository" in body["warning"]
    assert git("log", "-1", "--format=%s", cwd=blog.workdir).strip() == "Delete first-post.md"
    assert not (blog.workdir / FOLDER / "first-post.md").exists()
    files = [post["file"] for post in blog.owner.get(blog.post_url("all")).get_json()["posts"]]
    assert files == ["second-post.md"]


def test_delete_rejected_push_is_202_too(blog):
    blog.remote.commit_elsewhere("elsewhere.md", "x")
    response = blog.owner.delete(blog.post_url("first-post.md"))
    assert response.status_code == 202
    assert response.get_json()["pushed"] is False
    assert "first-post.md" in blog.remote.files()


def test_delete_a_never_committed_post_just_removes_the_file(blog):
    file = _create(blog)
    response = blog.owner.delete(blog.post_url(file))
    assert (response.status_code, response.get_json()) == (200, {"ok": True, "commit": None})
    assert not (blog.workdir / FOLDER / file).exists()
    assert blog.remote.log() == ["Initial commit"]


def test_delete_an_unpublished_rename_removes_the_old_name_on_the_remote(blog):
    blog.owner.patch(blog.post_url("first-post.md"), json={"file": "moved"})
    response = blog.owner.delete(blog.post_url("moved.md"))
    assert response.status_code == 200
    assert blog.remote.files() == ["second-post.md"]
    assert blog.remote.log() == ["Delete moved.md", "Initial commit"]


def test_delete_unknown_post_is_404_and_commits_nothing(blog):
    response = blog.owner.delete(blog.post_url("nope.md"))
    assert (response.status_code, response.get_json()) == (404, {"error": "Post not found"})
    assert blog.remote.log() == ["Initial commit"]


def test_delete_a_post_after_the_working_copy_was_lost(blog):
    shutil.rmtree(blog.workdir)
    assert blog.owner.delete(blog.post_url("second-post.md")).status_code == 200
    assert blog.remote.files() == ["first-post.md"]
