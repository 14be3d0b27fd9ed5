"""The plugin SDK as plugins use it: capabilities with their grants, auth helpers, transactions, tenant."""

from __future__ import annotations

import pytest

from legacy_core.models import UserRole
from tests.exthost.test_platform import sign_up
from tests.fixtures.plugins import manifest_for, write_plugin

CAPS_CODE = """
from exthost.sdk import hookimpl


class Plugin:
    @hookimpl
    def register(self, ctx):
        @ctx.router.get("/api/caps/read")
        def read():
            return {"user": ctx.caps.require("caps.read").email}

        @ctx.router.get("/api/caps/admin")
        def admin():
            ctx.caps.require("caps.admin")
            return {"ok": True}

        @ctx.router.get("/api/caps/edit/<project_id>")
        def edit(project_id):
            ctx.caps.require("caps.edit", project_id=project_id)
            return {"ok": True}

        @ctx.router.get("/api/caps/secret")
        def secret():
            ctx.caps.require("caps.secret")
            return {"ok": True}

        @ctx.router.get("/api/caps/undeclared")
        def undeclared():
            ctx.caps.require("caps.nope")
            return {"ok": True}

        @ctx.router.post("/api/caps/notes")
        def add_note():
            from sqlalchemy import text
            with ctx.transaction() as db:
                db.execute(text("INSERT INTO caps_notes VALUES ('kept?')"))
                raise ValueError("after the insert")
"""


# ctx.auth.require_project and project-granted capabilities read these views.
SDK_ACCESS = {"tables": ["caps_*"], "platform": ["projects", "project_members"]}


@pytest.fixture
def platform(settings_factory, platform_factory):
    settings = settings_factory(PLUGIN_ENTRY_POINTS=False)
    capabilities = [
        {"name": "caps.read", "grant": "platform:user", "description": "read things"},
        {"name": "caps.admin", "grant": "platform:admin"},
        {"name": "caps.edit", "grant": "project:editor"},
        {"name": "caps.secret"},
    ]
    manifest = manifest_for("caps", capabilities=capabilities, access=SDK_ACCESS)
    write_plugin(settings.PLUGINS_DIR, "caps", CAPS_CODE, manifest=manifest)
    platform = platform_factory(settings)
    with platform.services.engine.begin() as connection:  # the plugin's table, as its migration would make it
        connection.exec_driver_sql("CREATE TABLE caps_notes (body TEXT)")
    platform.host.enable("caps")
    return platform


def new_project(client):
    response = client.post("/api/projects", json={"name": "Board", "type": "papertrail"})
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def test_platform_grants_follow_the_signed_in_users_roles(platform):
    anonymous = platform.test_client()
    user = sign_up(platform, "user@example.test")
    admin = sign_up(platform, "admin@example.test", admin=True)
    assert anonymous.get("/api/caps/read").status_code == 401
    assert anonymous.get("/api/caps/read").get_json() == {"error": "Unauthorized"}
    assert user.get("/api/caps/read").get_json() == {"user": "user@example.test"}
    assert user.get("/api/caps/admin").status_code == 403
    assert user.get("/api/caps/admin").get_json() == {"error": "Forbidden"}
    assert admin.get("/api/caps/admin").status_code == 200


def test_project_grants_use_the_legacy_access_rules(platform):
    owner = sign_up(platform, "owner@example.test")
    viewer = sign_up(platform, "viewer@example.test")
    editor = sign_up(platform, "editor@example.test")
    stranger = sign_up(platform, "stranger@example.test")
    project = new_project(owner)
    for role in ("viewer", "editor"):
        email = f"{role}@example.test"
        assert owner.post(f"/api/projects/{project}/shares", json={"email": email, "role": role}).status_code == 201
    assert owner.get(f"/api/caps/edit/{project}").status_code == 200
    assert editor.get(f"/api/caps/edit/{project}").status_code == 200
    assert viewer.get(f"/api/caps/edit/{project}").status_code == 403
    assert stranger.get(f"/api/caps/edit/{project}").status_code == 403  # as the legacy API answers
    assert owner.get("/api/caps/edit/p_missing").status_code == 404


def test_an_ungranted_capability_is_held_only_by_admins_and_explicit_holders(platform):
    user = sign_up(platform, "user@example.test")
    admin = sign_up(platform, "admin@example.test", admin=True)
    assert user.get("/api/caps/secret").status_code == 403
    assert admin.get("/api/caps/secret").status_code == 200
    user_id = user.get("/api/me").get_json()["user"]["id"]
    with platform.services.session_factory() as db:
        db.add(UserRole(user_id=user_id, role="caps.secret"))
        db.commit()
    assert user.get("/api/caps/secret").status_code == 200


def test_checking_an_undeclared_capability_is_a_plugin_bug_answered_500(platform, caplog):
    admin = sign_up(platform, "admin@example.test", admin=True)
    response = admin.get("/api/caps/undeclared")
    assert response.status_code == 500
    assert "caps.nope" not in response.get_data(as_text=True)
    assert any("does not declare" in record.getMessage() for record in caplog.records)


def test_a_plugin_transaction_rolls_back_whole_on_error(platform):
    from sqlalchemy import text

    client = sign_up(platform, "user@example.test")
    assert client.post("/api/caps/notes").status_code == 500
    with platform.services.engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM caps_notes")).scalar() == 0


def test_the_context_hands_out_the_platforms_services(platform):
    context = platform.host.plugins["caps"].context
    assert context.tenant == "tenant-0"
    assert context.config == {"GREETING": "hello"}
    with pytest.raises(TypeError):
        context.config["GREETING"] = "changed"  # read-only
    assert context.data_dir == platform.services.settings.DATA_DIR / "plugins" / "caps"
    assert context.clock is platform.services.clock and context.ids is platform.services.ids
    assert context.mounts == ("/api/caps",)
    assert context.caps.declared() == {"caps.read", "caps.admin", "caps.edit", "caps.secret"}
