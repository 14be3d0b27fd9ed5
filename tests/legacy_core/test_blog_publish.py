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
    assert f"POST /api/projects/{blog.project_id}/blog/pull" in body["hint"]
    assert _local_head(blog) == before  # the local commit was undone
    assert blog.remote.head() == remote_head
    assert "Publish hello.md" not in blog.remote.log()
    assert _status(blog, file) == "Draft"
    assert (blog.workdir / FOLDER / file).exists()


def test_publish_after_a_rejected_rename_still_carries_the_old_name(blog):
    blog.owner.patch(blog.post_url("first-post.md"), json={"file": "moved"})
    blog.remote.commit_elsewhere("elsewhere.md", "x")
    assert blog.owner.post(blog.post_url("moved.md")).status_code == 409
    # The editor brings the working copy up to date, then publishing works and still removes the old name.
    assert blog.owner.post(f"{blog.base}/blog/pull").get_json()["updated"] is True
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


# -- pull ----------------------------------------------------------------------------------------------------


def _pull(client, blog):
    return client.post(f"{blog.base}/blog/pull")


def test_pull_after_a_rejected_publish_lets_the_publish_land(blog):
    blog.owner.patch(blog.post_url("second-post.md"), json={"title": "Second, revised"})
    elsewhere = blog.remote.commit_elsewhere("elsewhere.md", "---\ntitle: Elsewhere\n---\nFrom a colleague.\n")
    assert blog.owner.post(blog.post_url("second-post.md")).status_code == 409
    response = _pull(blog.owner, blog)
    assert (response.status_code, response.get_json()) == (200, {"ok": True, "head": elsewhere, "updated": True})
    assert _local_head(blog) == elsewhere
    files = [post["file"] for post in blog.owner.get(blog.post_url("all")).get_json()["posts"]]
    assert sorted(files) == ["elsewhere.md", "first-post.md", "second-post.md"]
    assert _status(blog, "second-post.md") == "Draft"  # the unpublished edit survived the pull
    published = blog.owner.post(blog.post_url("second-post.md"))
    assert published.status_code == 200
    assert blog.remote.log() == ["Publish second-post.md", "Edit from elsewhere", "Initial commit"]
    assert "title: Second, revised" in blog.remote.show("second-post.md")
    assert blog.remote.show("elsewhere.md").endswith("From a colleague.\n")


def test_pull_when_up_to_date_changes_nothing(blog):
    head = _local_head(blog)
    response = _pull(blog.owner, blog)
    assert (response.status_code, response.get_json()) == (200, {"ok": True, "head": head, "updated": False})


def test_pull_refuses_when_unpublished_edits_touch_a_file_the_remote_changed(blog):
    blog.owner.patch(blog.post_url("first-post.md"), json={"body": "My local edit\n"})
    before = _local_head(blog)
    blog.remote.commit_elsewhere("first-post.md", "---\ntitle: Theirs\n---\nTheir edit\n")
    response = _pull(blog.owner, blog)
    assert response.status_code == 409
    error = response.get_json()["error"]
    assert error.startswith("Cannot pull: unpublished changes to 'first-post.md' would be overwritten")
    assert "nothing was changed" in error
    assert _local_head(blog) == before
    assert (blog.workdir / FOLDER / "first-post.md").read_text().endswith("My local edit\n")


def test_pull_refuses_a_new_post_where_the_remote_added_one_of_that_name(blog):
    file = _create(blog, "Clash")
    before = _local_head(blog)
    blog.remote.commit_elsewhere(file, "---\ntitle: Theirs\n---\n")
    response = _pull(blog.owner, blog)
    assert response.status_code == 409
    assert repr(file) in response.get_json()["error"]
    assert _local_head(blog) == before
    assert "Text" in (blog.workdir / FOLDER / file).read_text()


def test_pull_refuses_when_the_histories_diverged(blog):
    blog.remote.commit_elsewhere("elsewhere.md", "x")
    assert blog.owner.delete(blog.post_url("first-post.md")).status_code == 202  # committed locally, push rejected
    before = _local_head(blog)
    response = _pull(blog.owner, blog)
    assert response.status_code == 409
    error = response.get_json()["error"]
    assert "1 commit(s) the branch 'main'" in error and "cannot be fast-forwarded" in error
    assert _local_head(blog) == before
    assert not (blog.workdir / FOLDER / "elsewhere.md").exists()


def test_pull_with_local_commits_only_is_up_to_date(blog):
    blog.remote.move_away()
    assert blog.owner.delete(blog.post_url("first-post.md")).status_code == 202
    gone = blog.remote.path.with_name(blog.remote.path.name + "-gone")
    gone.rename(blog.remote.path)  # the remote is back, and lacks the local delete commit
    head = _local_head(blog)
    response = _pull(blog.owner, blog)
    assert (response.status_code, response.get_json()) == (200, {"ok": True, "head": head, "updated": False})


def test_pull_from_an_unreachable_remote_is_502(blog):
    blog.remote.move_away()
    response = _pull(blog.owner, blog)
    assert response.status_code == 502
    assert "does not appear to be a git repository" in response.get_json()["error"]


def test_pull_needs_an_editor(api, blog):
    editor, viewer, stranger = api.user(), api.user(), api.user()
    api.share(blog.owner, blog.project_id, editor, "editor")
    api.share(blog.owner, blog.project_id, viewer, "viewer")
    assert _pull(editor, blog).status_code == 200
    assert _pull(viewer, blog).status_code == 403
    assert _pull(stranger, blog).status_code == 403
    assert _pull(api.server.app.test_client(), blog).status_code == 401


def test_pull_on_an_unconfigured_blog_is_409(api):
    owner = api.user()
    project_id = api.project(owner, type="blog")
    response = owner.post(f"/api/projects/{project_id}/blog/pull")
    assert (response.status_code, response.get_json()) == (409, {"error": "Blog not configured"})
