"""A plugin cannot take the host down, nor reach past its tenant: slow and raising hooks, odd cookies, foreign
projects, sys.exit, bad health reports, a database hiccup, two hosts on one plugin folder, web pages."""

from __future__ import annotations

import json
import os
import threading

import pytest
from sqlalchemy.exc import OperationalError
from werkzeug.test import EnvironBuilder, run_wsgi_app

from legacy_core.models import User
from tests.exthost.test_platform import add_tenant, sign_up
from tests.exthost.test_sdk import CAPS_CODE, SDK_ACCESS
from tests.fixtures.plugins import HELLO_CODE, manifest_for, write_plugin


@pytest.fixture
def settings(settings_factory):
    settings = settings_factory(PLUGIN_ENTRY_POINTS=False, PLUGIN_POLL_SECONDS=0)
    write_plugin(settings.PLUGINS_DIR, "hello")
    return settings


def test_a_cookie_the_stdlib_parser_rejects_still_names_the_session(settings, platform_factory):
    platform = platform_factory(settings)
    platform.host.enable("hello")
    client = sign_up(platform, "user@example.test")
    cookie = client.get_cookie(settings.AUTH_SESSION_COOKIE_NAME)
    raw = f'consent={{"ads":false}}; {settings.AUTH_SESSION_COOKIE_NAME}={cookie.value}'
    # A raw WSGI call: werkzeug's test client would replace the Cookie header with its own cookie jar.
    environ = EnvironBuilder(path="/api/hello/me", headers={"Cookie": raw}).get_environ()
    body, status, _ = run_wsgi_app(platform, environ, buffered=True)
    assert status == "200 OK"
    assert json.loads(b"".join(body))["id"] == client.get("/api/me").get_json()["user"]["id"]


def test_project_capabilities_never_cross_tenants_even_for_admins(settings, platform_factory):
    capabilities = [{"name": "caps.edit", "grant": "project:editor"}, {"name": "caps.secret"}]
    write_plugin(
        settings.PLUGINS_DIR,
        "caps",
        CAPS_CODE,
        manifest=manifest_for("caps", capabilities=capabilities, access=SDK_ACCESS),
    )
    platform = platform_factory(settings)
    platform.host.enable("caps")
    add_tenant(platform, "tenant-x")
    platform.host.enable("caps", "tenant-x")
    foreigner = sign_up(platform, "foreign@example.test", tenant="tenant-x")
    project = foreigner.post("/api/projects", json={"name": "Theirs", "type": "papertrail"}).get_json()["id"]
    admin = sign_up(platform, "admin@example.test", admin=True)
    assert foreigner.get(f"/api/caps/edit/{project}").status_code == 200
    assert admin.get(f"/api/caps/edit/{project}").status_code == 404  # as the legacy rules: owner in own tenant only
    assert admin.get("/api/caps/edit/p_does_not_exist").status_code == 404
    own = admin.post("/api/projects", json={"name": "Ours", "type": "papertrail"}).get_json()["id"]
    assert admin.get(f"/api/caps/edit/{own}").status_code == 200


def test_a_slow_hook_does_not_hold_up_requests(settings, platform_factory):
    code = """
    import threading
    from exthost.sdk import hookimpl

    RELEASE = threading.Event()
    STARTED = threading.Event()

    class Plugin:
        @hookimpl
        def on_enable(self, ctx, tenant):
            STARTED.set()
            RELEASE.wait(60)
    """
    write_plugin(settings.PLUGINS_DIR, "slow", code)
    platform = platform_factory(settings)
    module = next(m for name, m in __import__("sys").modules.items() if name.endswith(".plugin") and ".slow_" in name)
    enabling = threading.Thread(target=platform.host.enable, args=("slow",))
    enabling.start()
    try:
        assert module.STARTED.wait(30)
        answers: list[int] = []
        request = threading.Thread(target=lambda: answers.append(platform.test_client().get("/health").status_code))
        request.start()
        request.join(30)
        # The request was answered while on_enable still ran (it waits for RELEASE): nothing waited on the host.
        assert answers == [200] and not module.RELEASE.is_set()
    finally:
        module.RELEASE.set()
        enabling.join(30)
    assert platform.host.plugins["slow"].display_state() == "enabled"


def test_a_hook_failing_for_one_tenant_leaves_its_other_tenants_served(settings, platform_factory):
    code = HELLO_CODE.replace(
        "self.enabled_for.append(tenant)",
        "self.enabled_for.append(tenant)\n        if tenant == 'tenant-bad':\n            raise KeyError('no licence')",
    )
    write_plugin(settings.PLUGINS_DIR, "picky", code.replace("/api/hello", "/api/picky"))
    platform = platform_factory(settings)
    platform.host.enable("picky")
    add_tenant(platform, "tenant-bad")
    with pytest.raises(Exception, match="no licence"):
        platform.host.enable("picky", "tenant-bad")
    assert platform.test_client().get("/api/picky/greet").status_code == 200
    info = platform.host.describe(platform.host.plugins["picky"])
    assert info["state"] == "enabled" and info["tenants"] == ["tenant-0"]
    assert "no licence" in info["failedTenants"]["tenant-bad"]


def test_a_dependency_failing_in_a_starting_worker_keeps_its_dependents_unmounted(settings, platform_factory):
    flag = settings.DATA_DIR / "zeta-fails"
    zeta = HELLO_CODE.replace(
        'ctx.log.info("enabled")',
        f'import os\n        if os.path.exists({str(flag)!r}):\n            raise OSError("disk")',
    )
    write_plugin(settings.PLUGINS_DIR, "zeta", zeta.replace("/api/hello", "/api/zeta"))
    write_plugin(settings.PLUGINS_DIR, "alpha", manifest=manifest_for("alpha", requires={"hard": {"zeta": "*"}}))
    first = platform_factory(settings, name="first")
    first.host.enable("zeta")
    first.host.enable("alpha")
    flag.parent.mkdir(parents=True, exist_ok=True)
    flag.write_text("")
    second = platform_factory(settings, name="second")
    assert second.test_client().get("/api/zeta/greet").status_code == 404
    assert second.test_client().get("/api/alpha/greet").status_code == 404
    failures = second.host.describe(second.host.plugins["alpha"])["failedTenants"]
    assert "requires 'zeta'" in failures["tenant-0"]


def test_a_plugin_calling_sys_exit_at_import_only_fails_itself(settings, platform_factory):
    write_plugin(settings.PLUGINS_DIR, "quitter", "import sys\nsys.exit(2)\n")
    platform = platform_factory(settings)
    record = platform.host.plugins["quitter"]
    assert record.state == "failed" and "SystemExit" in record.reason
    platform.host.enable("hello")
    assert platform.test_client().get("/api/hello/greet").status_code == 200


def test_a_health_report_that_is_not_an_object_is_reported_not_raised(settings, platform_factory):
    code = """
    from exthost.sdk import hookimpl

    class Plugin:
        @hookimpl
        def health(self, ctx):
            return True
    """
    write_plugin(settings.PLUGINS_DIR, "odd", code)
    platform = platform_factory(settings)
    admin = sign_up(platform, "admin@example.test", admin=True)
    response = admin.get("/diagnostics")
    assert response.status_code == 200
    odd = next(p for p in response.get_json()["plugins"] if p["name"] == "odd")
    assert odd["health"] == {
        "ok": False,
        "error": "health returned an unusable report: health returned bool, not a JSON object",
    }


def test_a_registry_read_error_does_not_fail_requests(settings, platform_factory):
    platform = platform_factory(settings)
    platform.host.enable("hello")

    def unreadable():
        raise OperationalError("SELECT", {}, Exception("database is locked"))

    platform.host.registry.version = unreadable
    client = platform.test_client()
    assert client.get("/openapi.json").status_code == 200
    assert client.get("/api/hello/greet").status_code == 200  # the current mounts keep serving
    assert client.get("/health").get_json() == {"ok": False}  # and the probe says the registry cannot be read


def test_two_hosts_on_one_plugin_folder_share_no_module_state(settings, platform_factory):
    code = HELLO_CODE.replace("class Plugin:", "LOADS = []\n\n\nclass Plugin:").replace(
        "    def register(self, ctx):\n", "    def register(self, ctx):\n        LOADS.append(ctx.name)\n"
    )
    write_plugin(settings.PLUGINS_DIR, "hello", code)
    first, second = platform_factory(settings, name="first"), platform_factory(settings, name="second")
    modules = [m for name, m in __import__("sys").modules.items() if name.endswith(".plugin") and ".hello_" in name]
    assert sorted(len(m.LOADS) for m in modules) == [1, 1]
    first.host.enable("hello")
    first.close()
    assert second.test_client().get("/api/hello/greet").status_code == 200
    second.host.reload("hello")
    assert second.test_client().get("/api/hello/greet").status_code == 200


def test_a_package_init_symlinked_out_of_the_plugin_is_refused(settings, platform_factory, tmp_path):
    outside = tmp_path / "outside_init.py"
    outside.write_text("EVIL = True\n")
    manifest = manifest_for("linked", sovereign={"engine": ">=0.1.0", "entry": "pkg.plugin:Plugin", "api": 1})
    folder = write_plugin(settings.PLUGINS_DIR, "linked", manifest=manifest, files={"pkg/plugin.py": HELLO_CODE})
    os.symlink(outside, folder / "pkg" / "__init__.py")
    platform = platform_factory(settings)
    record = platform.host.plugins["linked"]
    assert record.state == "failed" and "pkg/__init__.py" in record.reason and "outside" in record.reason


def test_a_web_mount_renders_pages_and_error_pages_in_the_platform_layout(settings, platform_factory):
    code = """
    from flask import render_template_string
    from exthost.sdk import HttpError, hookimpl

    class Plugin:
        @hookimpl
        def register(self, ctx):
            @ctx.router.get("/notes")
            def notes():
                return render_template_string('{% extends "base.html" %}{% block content %}notes page{% endblock %}')

            @ctx.router.get("/notes/secret")
            def secret():
                raise HttpError(403, "Forbidden")
    """
    write_plugin(settings.PLUGINS_DIR, "notes", code, manifest=manifest_for("notes", mounts={"web": "/notes"}))
    platform = platform_factory(settings)
    platform.host.enable("notes")
    client = platform.test_client()
    page = client.get("/notes")
    assert page.status_code == 200 and "notes page" in page.get_data(as_text=True)
    assert "/static/app.css" in page.get_data(as_text=True)
    assert client.get("/notes/missing").status_code == 404
    forbidden = client.get("/notes/secret")
    assert forbidden.status_code == 403 and "text/html" in forbidden.content_type


def test_a_user_of_another_tenant_is_not_served_by_a_plugin_enabled_elsewhere(settings, platform_factory):
    platform = platform_factory(settings)
    platform.host.enable("hello")
    other = sign_up(platform, "other@example.test", tenant="tenant-x")
    assert other.get("/api/hello/greet").status_code == 404
    with platform.services.session_factory() as db:
        assert db.get(User, other.get("/api/me").get_json()["user"]["id"]).tenant_id == "tenant-x"


def test_a_tenant_whose_hook_failed_is_retried_when_an_operator_enables_it_again(settings, platform_factory):
    flag = settings.DATA_DIR / "refuse"
    code = HELLO_CODE.replace(
        'ctx.log.info("enabled")',
        f'import os\n        if os.path.exists({str(flag)!r}):\n            raise OSError("no disk")',
    )
    write_plugin(settings.PLUGINS_DIR, "retry", code.replace("/api/hello", "/api/retry"))
    operator = platform_factory(settings, name="operator")
    operator.host.enable("retry")
    flag.parent.mkdir(parents=True, exist_ok=True)
    flag.write_text("")
    worker = platform_factory(settings, name="worker")
    assert worker.test_client().get("/api/retry/greet").status_code == 404  # on_enable failed in this worker
    flag.unlink()
    operator.host.enable("retry")  # already enabled: the rewrite bumps the registry and workers retry
    assert worker.test_client().get("/api/retry/greet").status_code == 200
