"""Projects API: create, list, read, update, delete; slugs, validation, access rules and feature toggles."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select

from legacy_core.models import Project, ProjectMember
from legacy_core.routes.projects import slugify


def _count(server, model) -> int:
    with server.services.session_factory() as db:
        return int(db.scalar(select(func.count()).select_from(model)))


def test_create_project_returns_prefixed_id_slug_and_url(api):
    client = api.user()
    response = client.post(
        "/api/projects", json={"name": "Evidence Board!", "desc": "cases", "type": "papertrail", "scope": "org"}
    )
    assert response.status_code == 201
    body = response.get_json()
    assert body["ok"] is True
    assert body["id"].startswith("p_")
    assert body["slug"] == "evidence-board"
    assert body["url"] == f"/projects/{body['id']}/board"
    listed = client.get("/api/projects").get_json()["projects"]
    assert [(p["id"], p["role"], p["scope"], p["desc"]) for p in listed] == [(body["id"], "owner", "org", "cases")]


def test_create_blog_project_url_points_at_blog(api):
    client = api.user()
    body = client.post("/api/projects", json={"name": "Notes", "type": "blog"}).get_json()
    assert body["url"] == f"/projects/{body['id']}/blog"


def test_slug_clashes_get_suffixes_then_409_after_ten(api, server):
    client = api.user()
    slugs = [client.post("/api/projects", json={"name": "Same", "type": "blog"}).get_json()["slug"] for _ in range(10)]
    assert slugs == ["same"] + [f"same-{n}" for n in range(2, 11)]
    response = client.post("/api/projects", json={"name": "Same", "type": "blog"})
    assert response.status_code == 409
    assert "slug" in response.get_json()["error"]
    assert _count(server, Project) == 10


@pytest.mark.parametrize(
    "body, field",
    [
        ({"name": "", "type": "blog"}, "name"),
        ({"name": "x" * 121, "type": "blog"}, "name"),
        ({"name": "ok", "desc": "d" * 501, "type": "blog"}, "desc"),
        ({"name": "ok", "type": "wiki"}, "type"),
        ({"name": "ok", "type": "blog", "scope": "everyone"}, "scope"),
        ({"type": "blog"}, "name"),
        ({"name": "a\x00b", "type": "blog"}, "name"),
        ({"name": "ok", "desc": "\x00", "type": "blog"}, "desc"),
    ],
    ids=["empty-name", "long-name", "long-desc", "bad-type", "bad-scope", "missing-name", "nul-name", "nul-desc"],
)
def test_create_project_validation_errors_store_nothing(api, server, body, field):
    client = api.user()
    response = client.post("/api/projects", json=body)
    assert response.status_code == 400
    assert field in [d["field"] for d in response.get_json()["details"]]
    assert _count(server, Project) == 0


def test_name_of_exactly_120_chars_is_accepted(api):
    client = api.user()
    assert client.post("/api/projects", json={"name": "n" * 120, "desc": "d" * 500, "type": "blog"}).status_code == 201


@given(st.text(max_size=200))
def test_slugify_gives_url_safe_nonempty_slugs(name):
    slug = slugify(name)
    assert slug
    assert len(slug) <= 100
    assert all(ch.isascii() and (ch.isalnum() or ch == "-") for ch in slug)
    assert not slug.startswith("-") and not slug.endswith("-")
    assert slug == slug.lower()


def test_disabled_project_type_cannot_be_created_and_is_hidden(server_factory, settings_factory):
    server = server_factory(settings_factory(FT_PROJECT_TYPE_PAPERTRAIL=False))
    client = server.app.test_client()
    client.post("/register", json={"email": "a@example.test", "password": "long enough pw"})
    response = client.post("/api/projects", json={"name": "Board", "type": "papertrail"})
    assert response.status_code == 400
    assert client.post("/api/projects", json={"name": "Blog", "type": "blog"}).status_code == 201
    assert [p["type"] for p in client.get("/api/projects").get_json()["projects"]] == ["blog"]


def test_disabled_project_type_answers_bare_404_on_existing_project(settings_factory, server_factory):
    settings = settings_factory()
    on = server_factory(settings)
    client = on.app.test_client()
    client.post("/register", json={"email": "a@example.test", "password": "long enough pw"})
    project_id = client.post("/api/projects", json={"name": "B", "type": "papertrail"}).get_json()["id"]
    off = server_factory(settings.model_copy(update={"FT_PROJECT_TYPE_PAPERTRAIL": False}))
    off_client = off.app.test_client()
    off_client.post("/login", json={"email": "a@example.test", "password": "long enough pw"})
    response = off_client.get(f"/api/projects/{project_id}")
    assert response.status_code == 404
    assert response.get_data() == b""


def test_private_project_is_forbidden_to_non_members_and_org_is_readable(api):
    owner, other = api.user(), api.user()
    private_id = api.project(owner, "blog", "Private")
    org_id = api.project(owner, "blog", "Org", scope="org")
    assert other.get(f"/api/projects/{private_id}").status_code == 403
    assert other.get(f"/api/projects/{private_id}").get_json() == {"error": "Forbidden"}
    readable = other.get(f"/api/projects/{org_id}")
    assert readable.status_code == 200
    assert readable.get_json()["project"]["role"] == "viewer"
    assert [p["id"] for p in other.get("/api/projects").get_json()["projects"]] == [org_id]
    # an implicit viewer cannot change anything
    assert other.patch(f"/api/projects/{org_id}", json={"name": "mine"}).status_code == 403


def test_get_unknown_project_is_404_and_blank_id_is_400(api):
    client = api.user()
    response = client.get("/api/projects/p_missing")
    assert response.status_code == 404
    assert response.get_json() == {"error": "Project not found"}
    blank = client.get("/api/projects/%20")
    assert blank.status_code == 400
    assert blank.get_json() == {"error": "Missing project id"}


def test_update_project_changes_fields_but_keeps_slug(api):
    client = api.user()
    project_id = api.project(client, "blog", "First name")
    response = client.patch(f"/api/projects/{project_id}", json={"name": "Second", "desc": "new", "scope": "public"})
    assert response.status_code == 200
    project = response.get_json()["project"]
    assert (project["name"], project["desc"], project["scope"], project["slug"]) == (
        "Second",
        "new",
        "public",
        "first-name",
    )


def test_update_project_needs_a_field_and_valid_values(api):
    client = api.user()
    project_id = api.project(client, "blog", "P")
    assert client.patch(f"/api/projects/{project_id}", json={}).status_code == 400
    assert client.patch(f"/api/projects/{project_id}", json={"scope": "world"}).status_code == 400
    assert client.get(f"/api/projects/{project_id}").get_json()["project"]["scope"] == "private"


def test_only_owner_may_update_or_delete(api):
    owner, editor = api.user(), api.user()
    project_id = api.project(owner, "papertrail")
    api.share(owner, project_id, editor, "editor")
    assert editor.patch(f"/api/projects/{project_id}", json={"name": "x"}).status_code == 403
    assert editor.delete(f"/api/projects/{project_id}").status_code == 403
    assert owner.get(f"/api/projects/{project_id}").status_code == 200


def test_delete_project_removes_rows_members_and_files(api, server):
    owner, editor = api.user(), api.user()
    project_id = api.project(owner, "papertrail")
    api.share(owner, project_id, editor, "editor")
    uploads = server.services.settings.papertrail_root / project_id
    uploads.mkdir(parents=True)
    (uploads / "file.txt").write_text("x")
    assert owner.delete(f"/api/projects/{project_id}").status_code == 204
    assert owner.get(f"/api/projects/{project_id}").status_code == 404
    assert _count(server, ProjectMember) == 0
    assert not uploads.exists()


def test_users_never_see_projects_of_another_tenant(api, server):
    from legacy_core.models import User

    owner, stranger = api.user(), api.user()
    project_id = api.project(owner, "blog", scope="public")
    with server.services.session_factory() as db:
        server.services.tenancy.ensure(db, "tenant-1")
        db.get(User, stranger.user["id"]).tenant_id = "tenant-1"
        db.commit()
    assert stranger.get(f"/api/projects/{project_id}").status_code == 404
    assert stranger.get("/api/projects").get_json() == {"projects": []}


def test_platform_admin_owns_every_project_of_the_tenant(api):
    owner, admin = api.user(), api.admin()
    project_id = api.project(owner, "papertrail", "Private work")
    listed = admin.get("/api/projects").get_json()["projects"]
    assert [(p["id"], p["role"]) for p in listed] == [(project_id, "owner")]
    assert admin.get(f"/api/projects/{project_id}").get_json()["project"]["role"] == "owner"
    assert admin.patch(f"/api/projects/{project_id}", json={"scope": "org"}).status_code == 200
    assert admin.get(f"/api/projects/{project_id}/shares").status_code == 200


def test_platform_admin_of_another_tenant_sees_nothing(api, server):
    from legacy_core.models import User

    owner, admin = api.user(), api.admin()
    project_id = api.project(owner, "blog")
    with server.services.session_factory() as db:
        server.services.tenancy.ensure(db, "tenant-1")
        db.get(User, admin.user["id"]).tenant_id = "tenant-1"
        db.commit()
    assert admin.get(f"/api/projects/{project_id}").status_code == 404
    assert admin.get("/api/projects").get_json() == {"projects": []}
