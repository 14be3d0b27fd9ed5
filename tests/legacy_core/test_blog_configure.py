"""Blog configuration: PATCH/GET /configure clone the repository, validate input, hide the token, store once."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from legacy_core.models import BlogConfig
from tests.fixtures.gitremote import configure_body

PUBLIC_CONFIG_KEYS = {"repoUrl", "branch", "contentDir", "gitUserName", "gitUserEmail", "hasToken"}


def _stored(server, project_id):
    with server.services.session_factory() as db:
        return db.scalar(select(BlogConfig).where(BlogConfig.project_id == project_id))


def _blog_project(api):
    owner = api.user()
    return owner, api.project(owner, type="blog", name="Blog")


def _leftovers(server, project_id):
    root = server.services.settings.blog_root / project_id
    return sorted(path.name for path in root.iterdir() if path.name != "lock") if root.exists() else []


@pytest.mark.parametrize("kind", ["file-url", "plain-path"])
def test_configure_clones_the_branch_and_stores_the_config(api, server, gitremote, kind):
    owner, project_id = _blog_project(api)
    url = gitremote.url if kind == "file-url" else str(gitremote.path)
    response = owner.patch(f"/api/projects/{project_id}/configure", json=configure_body(gitremote, repoUrl=url))
    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {
        "ok": True,
        "config": {
            "repoUrl": url,
            "branch": "main",
            "contentDir": "src/content/blog",
            "gitUserName": "Blog Bot",
            "gitUserEmail": "blog-bot@example.test",
            "hasToken": False,
        },
    }
    workdir = server.services.settings.blog_root / project_id / "repo"
    assert sorted(path.name for path in (workdir / "src/content/blog").iterdir()) == ["first-post.md", "second-post.md"]
    assert _leftovers(server, project_id) == ["repo"]
    assert _stored(server, project_id).repo_url == url
    shown = owner.get(f"/api/projects/{project_id}/configure").get_json()
    assert shown == {"configured": True, "config": response.get_json()["config"]}


def test_configure_defaults_branch_and_content_dir(api, gitremote):
    owner, project_id = _blog_project(api)
    body = configure_body(gitremote)
    del body["branch"], body["contentDir"]
    config = owner.patch(f"/api/projects/{project_id}/configure", json=body).get_json()["config"]
    assert (config["branch"], config["contentDir"]) == ("main", "src/content/blog")


def test_configure_keeps_the_token_out_of_answers_and_the_clone(api, server, gitremote):
    owner, project_id = _blog_project(api)
    body = configure_body(gitremote, gitAuthToken="ghp_topsecret123")
    response = owner.patch(f"/api/projects/{project_id}/configure", json=body)
    assert response.status_code == 200
    assert response.get_json()["config"]["hasToken"] is True
    assert "topsecret" not in response.get_data(as_text=True)
    shown = owner.get(f"/api/projects/{project_id}/configure")
    assert shown.get_json()["config"]["hasToken"] is True
    assert "topsecret" not in shown.get_data(as_text=True)
    git_dir = server.services.settings.blog_root / project_id / "repo" / ".git"
    assert all("topsecret" not in path.read_text(errors="replace") for path in git_dir.glob("*") if path.is_file())
    assert _stored(server, project_id).git_auth_token == "ghp_topsecret123"  # kept for pushes


def test_configure_unreachable_repository_is_400_with_gits_reason_and_stores_nothing(api, server, gitremote, tmp_path):
    owner, project_id = _blog_project(api)
    missing = tmp_path / "nowhere.git"
    response = owner.patch(
        f"/api/projects/{project_id}/configure", json=configure_body(gitremote, repoUrl=missing.as_uri())
    )
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error.startswith(f"Cannot clone {missing.as_uri()!r}")
    assert "does not appear to be a git repository" in error
    assert _stored(server, project_id) is None
    assert _leftovers(server, project_id) == []
    assert owner.get(f"/api/projects/{project_id}/configure").get_json() == {"configured": False}


def test_configure_missing_branch_is_400_naming_the_branches_and_stores_nothing(api, server, gitremote):
    owner, project_id = _blog_project(api)
    response = owner.patch(f"/api/projects/{project_id}/configure", json=configure_body(gitremote, branch="mian"))
    assert response.status_code == 400
    assert "branch 'mian' does not exist" in response.get_json()["error"]
    assert "'main'" in response.get_json()["error"]
    assert _stored(server, project_id) is None
    assert _leftovers(server, project_id) == []


def test_configure_twice_is_400_and_keeps_the_first(api, server, gitremote):
    owner, project_id = _blog_project(api)
    assert owner.patch(f"/api/projects/{project_id}/configure", json=configure_body(gitremote)).status_code == 200
    again = owner.patch(f"/api/projects/{project_id}/configure", json=configure_body(gitremote, branch="other"))
    assert again.status_code == 400
    assert again.get_json() == {"error": "Blog already configured"}
    assert _stored(server, project_id).branch == "main"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"repoUrl": ""}, "repoUrl"),
        ({"repoUrl": "ext::sh -c touch% /tmp/pwned"}, "repoUrl"),
        ({"repoUrl": "relative/blog.git"}, "repoUrl"),
        ({"repoUrl": "https://user:pw@example.test/blog.git"}, "repoUrl"),
        ({"repoUrl": "--upload-pack=touch /tmp/pwned"}, "repoUrl"),
        ({"branch": "-x"}, "branch"),
        ({"branch": "a..b"}, "branch"),
        ({"branch": "with space"}, "branch"),
        ({"contentDir": "../outside"}, "contentDir"),
        ({"contentDir": "/abs"}, "contentDir"),
        ({"contentDir": ".git/hooks"}, "contentDir"),
        ({"gitUserName": ""}, "gitUserName"),
        ({"gitUserName": "Evil <x>"}, "gitUserName"),
        ({"gitUserEmail": "not-an-email"}, "gitUserEmail"),
        ({"gitAuthToken": "two words"}, "gitAuthToken"),
        ({"repoUrl": None}, "repoUrl"),
    ],
    ids=lambda value: str(value)[:30],
)
def test_configure_rejects_invalid_fields_without_cloning(api, server, gitremote, overrides, field):
    owner, project_id = _blog_project(api)
    response = owner.patch(f"/api/projects/{project_id}/configure", json=configure_body(gitremote, **overrides))
    assert response.status_code == 400
    assert response.get_json()["error"] == "Invalid request"
    assert [detail["field"] for detail in response.get_json()["details"]] == [field]
    assert _stored(server, project_id) is None
    assert _leftovers(server, project_id) == []


def test_configure_refuses_a_local_remote_inside_the_platform_data(api, server, blog):
    # Another project's working clone is a git repository on this machine, but it is not the owner's to read.
    owner, project_id = _blog_project(api)
    for url in (str(blog.workdir), blog.workdir.as_uri(), str(server.services.settings.DATA_DIR)):
        response = owner.patch(f"/api/projects/{project_id}/configure", json=configure_body(blog.remote, repoUrl=url))
        assert response.status_code == 400
        assert response.get_json()["details"][0]["field"] == "repoUrl"
    assert _stored(server, project_id) is None


def test_configure_rejects_a_body_that_is_not_an_object(api):
    owner, project_id = _blog_project(api)
    assert owner.patch(f"/api/projects/{project_id}/configure", json=["x"]).status_code == 400


def test_configure_needs_the_owner_and_get_needs_a_viewer(api, gitremote):
    owner, project_id = _blog_project(api)
    editor, viewer, stranger = api.user(), api.user(), api.user()
    api.share(owner, project_id, editor, "editor")
    api.share(owner, project_id, viewer, "viewer")
    url = f"/api/projects/{project_id}/configure"
    assert editor.patch(url, json=configure_body(gitremote)).status_code == 403
    assert viewer.get(url).get_json() == {"configured": False}
    assert stranger.get(url).status_code == 403
    assert api.server.app.test_client().get(url).status_code == 401
    assert owner.get("/api/projects/p_missing/configure").status_code == 404


def test_configure_is_not_found_on_a_papertrail_project(api, gitremote):
    owner = api.user()
    project_id = api.project(owner, type="papertrail")
    response = owner.patch(f"/api/projects/{project_id}/configure", json=configure_body(gitremote))
    assert response.status_code == 404
    assert response.get_json() == {"error": "Project not found"}


def test_blog_routes_answer_a_bare_404_when_the_feature_is_off(settings_factory, server_factory, gitremote):
    settings = settings_factory()
    on = server_factory(settings)
    client = on.app.test_client()
    client.post("/register", json={"email": "a@example.test", "password": "long enough pw"})
    project_id = client.post("/api/projects", json={"name": "B", "type": "blog"}).get_json()["id"]
    off = server_factory(settings.model_copy(update={"FT_PROJECT_TYPE_BLOG": False}))
    off_client = off.app.test_client()
    off_client.post("/login", json={"email": "a@example.test", "password": "long enough pw"})
    base = f"/api/projects/{project_id}"
    for method, url in [
        ("GET", f"{base}/configure"),
        ("PATCH", f"{base}/configure"),
        ("GET", f"{base}/blog/post/all"),
        ("POST", f"{base}/blog/post"),
        ("GET", f"{base}/blog/post/a.md"),
        ("PATCH", f"{base}/blog/post/a.md"),
        ("POST", f"{base}/blog/post/a.md"),
        ("DELETE", f"{base}/blog/post/a.md"),
    ]:
        response = off_client.open(url, method=method, json=configure_body(gitremote))
        assert (response.status_code, response.get_data()) == (404, b""), (method, url)


@pytest.mark.parametrize("url", ["https://git.example.test/blog.git", "ssh://git@example.test/blog.git"])
def test_configure_refuses_network_remote_when_disabled(api, server, gitremote, url):
    assert server.services.settings.BLOG_NETWORK_REMOTES is False  # the test settings keep git off the network
    owner, project_id = _blog_project(api)
    response = owner.patch(f"/api/projects/{project_id}/configure", json=configure_body(gitremote, repoUrl=url))
    assert response.status_code == 400
    assert response.get_json()["details"] == [
        {"field": "repoUrl", "message": "network remotes are disabled here (BLOG_NETWORK_REMOTES)"}
    ]
    assert _stored(server, project_id) is None
    assert _leftovers(server, project_id) == []
