"""Blog configuration: PATCH/GET /configure clone the repository, validate input, hide the token, store once."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from legacy_core import Settings
from legacy_core.blog.config import remote_refusal
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


def test_configure_unreachable_repository_is_400_with_gits_reason_and_stores_nothing(api, server, gitremote):
    owner, project_id = _blog_project(api)
    missing = gitremote.path.parent / "nowhere.git"  # allowed (inside BLOG_LOCAL_REMOTES_ROOT), but not there
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
        ({"repoUrl": "file://evil.example/srv/blog.git"}, "repoUrl"),
        ({"repoUrl": "file:///srv/blog.git?/../../other"}, "repoUrl"),
        ({"repoUrl": "file:///srv/blog.git#x"}, "repoUrl"),
        ({"repoUrl": "file:/srv/blog.git"}, "repoUrl"),
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


BLOG_ROUTES = [
    ("GET", "configure"),
    ("PATCH", "configure"),
    ("GET", "blog/post/all"),
    ("POST", "blog/post"),
    ("GET", "blog/post/a.md"),
    ("PATCH", "blog/post/a.md"),
    ("POST", "blog/post/a.md"),
    ("DELETE", "blog/post/a.md"),
    ("POST", "blog/pull"),
]


@pytest.mark.parametrize("signed_in", [True, False], ids=["signed-in", "signed-out"])
def test_blog_routes_answer_a_bare_404_when_the_feature_is_off(settings_factory, server_factory, gitremote, signed_in):
    settings = settings_factory()
    on = server_factory(settings)
    client = on.app.test_client()
    client.post("/register", json={"email": "a@example.test", "password": "long enough pw"})
    project_id = client.post("/api/projects", json={"name": "B", "type": "blog"}).get_json()["id"]
    off = server_factory(settings.model_copy(update={"FT_PROJECT_TYPE_BLOG": False}))
    off_client = off.app.test_client()
    if signed_in:
        off_client.post("/login", json={"email": "a@example.test", "password": "long enough pw"})
    for project in (project_id, "p_missing"):
        for method, route in BLOG_ROUTES:
            url = f"/api/projects/{project}/{route}"
            response = off_client.open(url, method=method, json=configure_body(gitremote))
            assert (response.status_code, response.get_data()) == (404, b""), (method, url)


def test_blog_routes_need_a_session_when_the_feature_is_on(client):
    for method, route in BLOG_ROUTES:
        response = client.open(f"/api/projects/p_any/{route}", method=method, json={})
        assert (response.status_code, response.get_json()) == (401, {"error": "Unauthorized"}), (method, route)


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


# -- which local remotes a blog may use ---------------------------------------------------------------------


def _configure_on(server_factory, settings, gitremote, url):
    server = server_factory(settings)
    client = server.app.test_client()
    client.post("/register", json={"email": "o@example.test", "password": "long enough pw"})
    project_id = client.post("/api/projects", json={"name": "B", "type": "blog"}).get_json()["id"]
    response = client.patch(f"/api/projects/{project_id}/configure", json=configure_body(gitremote, repoUrl=url))
    return server, project_id, response


@pytest.mark.parametrize("form", ["path", "file-url"])
def test_configure_refuses_every_local_remote_when_no_folder_is_allowed(
    settings_factory, server_factory, gitremote, form
):
    settings = settings_factory(BLOG_LOCAL_REMOTES_ROOT=None)
    url = str(gitremote.path) if form == "path" else gitremote.url
    server, project_id, response = _configure_on(server_factory, settings, gitremote, url)
    assert response.status_code == 400
    assert response.get_json()["details"] == [
        {
            "field": "repoUrl",
            "message": "local repositories are refused here; an operator allows a folder of them with "
            "BLOG_LOCAL_REMOTES_ROOT",
        }
    ]
    assert _stored(server, project_id) is None
    assert _leftovers(server, project_id) == []


def test_local_remotes_are_refused_by_default():
    assert Settings(_env_file=None).BLOG_LOCAL_REMOTES_ROOT is None


def _repository_outside(tmp_path):
    """A real git repository (with docs) outside the allowed folder: what the review read through the API."""
    from tests.fixtures.gitremote import git

    repo = tmp_path / "server-source"
    (repo / "docs").mkdir(parents=True)
    (repo / "docs" / "secret.md").write_text("---\ntitle: Internal\n---\nnot for blog users\n")
    git("init", "--quiet", "--initial-branch=main", str(repo))
    git("add", "--all", cwd=repo)
    git("commit", "--quiet", "-m", "source", cwd=repo)
    return repo


@pytest.mark.parametrize("form", ["path", "file-url", "dotdot", "symlink"])
def test_configure_refuses_a_repository_outside_the_allowed_folder(api, server, gitremote, tmp_path, form):
    repo = _repository_outside(tmp_path)
    allowed = server.services.settings.BLOG_LOCAL_REMOTES_ROOT
    link = allowed / "looks-allowed.git"
    link.symlink_to(repo)
    url = {
        "path": str(repo),
        "file-url": repo.as_uri(),
        "dotdot": f"{allowed}/../{repo.name}",
        "symlink": link.as_uri(),
    }[form]
    owner, project_id = _blog_project(api)
    response = owner.patch(
        f"/api/projects/{project_id}/configure", json=configure_body(gitremote, repoUrl=url, contentDir="docs")
    )
    assert response.status_code == 400
    assert response.get_json()["details"] == [
        {"field": "repoUrl", "message": "a local repository outside the folder BLOG_LOCAL_REMOTES_ROOT allows"}
    ]
    assert _stored(server, project_id) is None
    assert _leftovers(server, project_id) == []
    assert owner.get(f"/api/projects/{project_id}/blog/post/all").status_code == 409


def test_configure_refuses_the_data_folder_even_inside_the_allowed_folder(settings_factory, server_factory, gitremote):
    # An operator who allows a folder that also holds the platform's data still does not expose its clones.
    base = gitremote.path.parent.parent
    settings = settings_factory(BLOG_LOCAL_REMOTES_ROOT=base)
    data_repo = settings.DATA_DIR / "blog" / "p_other" / "repo"
    data_repo.parent.mkdir(parents=True)
    from tests.fixtures.gitremote import git

    git("clone", "--quiet", str(gitremote.path), str(data_repo))
    server, project_id, response = _configure_on(server_factory, settings, gitremote, data_repo.as_uri())
    assert response.status_code == 400
    assert response.get_json()["details"][0]["message"] == "a local repository inside the platform's data folder"
    assert _stored(server, project_id) is None
    # The same settings accept the real remote inside the allowed folder.
    second = server.app.test_client()
    second.post("/register", json={"email": "p@example.test", "password": "long enough pw"})
    other = second.post("/api/projects", json={"name": "C", "type": "blog"}).get_json()["id"]
    assert second.patch(f"/api/projects/{other}/configure", json=configure_body(gitremote)).status_code == 200


@given(
    segments=st.lists(st.sampled_from(["..", ".", "in", "out", "blog.git", "data"]), max_size=6),
    as_url=st.booleans(),
)
def test_remote_refusal_allows_exactly_the_paths_that_resolve_inside_the_folder(tmp_path, segments, as_url):
    allowed = tmp_path / "allowed"
    (allowed / "in").mkdir(parents=True, exist_ok=True)
    (tmp_path / "outside").mkdir(exist_ok=True)
    if not (allowed / "out").is_symlink():
        (allowed / "out").symlink_to(tmp_path / "outside")  # a symlink leading out of the allowed folder
    if not (allowed / "data").is_symlink():
        (allowed / "data").symlink_to(tmp_path / "data")  # ... and one into the platform's data folder
    settings = Settings(_env_file=None, DATA_DIR=tmp_path / "data", BLOG_LOCAL_REMOTES_ROOT=allowed)
    path = "/".join([str(allowed), *segments])
    url = "file://" + quote(path) if as_url else path
    resolved = Path(os.path.realpath(path))
    inside = resolved.is_relative_to(allowed.resolve()) and not resolved.is_relative_to((tmp_path / "data").resolve())
    assert (remote_refusal(url, settings) is None) == inside
