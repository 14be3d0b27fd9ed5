"""`GET /health`: 200 or 503 from the database, the registry and each enabled plugin's health hook; the detail for
platform admins only; a hung hook bounded; a database that goes away (PostgreSQL behind a proxy that is cut)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from exthost.deploy import upgrade_schema
from legacy_core.db import make_engine
from tests.exthost.test_platform import sign_up
from tests.fixtures.app import BUNDLED_PLUGINS, make_settings
from tests.fixtures.plugins import HELLO_CODE, write_plugin
from tests.fixtures.tcpproxy import TcpProxy

HEALTH_REPORTING = HELLO_CODE.replace(
    'return {"ok": True, "enabledFor": len(self.enabled_for)}',
    'import pathlib\n        return {"ok": pathlib.Path(__file__).with_name("healthy").exists(), "queue": 3}',
)
HEALTH_RAISING = HELLO_CODE.replace(
    'return {"ok": True, "enabledFor": len(self.enabled_for)}', 'raise ConnectionError("licence server unreachable")'
)
# Appends to `calls` on every run and returns only once `release` exists: a hook that hangs until the test says.
HEALTH_HANGING = HELLO_CODE.replace(
    'return {"ok": True, "enabledFor": len(self.enabled_for)}',
    """import pathlib, time
        here = pathlib.Path(__file__).parent
        with open(here / "calls", "a") as calls:
            calls.write("x")
        while not (here / "release").exists():
            time.sleep(0.02)
        return {"ok": True}""",
)


@pytest.fixture
def settings(settings_factory):
    return settings_factory(PLUGIN_ENTRY_POINTS=False, PLUGIN_POLL_SECONDS=0, HEALTH_TIMEOUT_SECONDS=0.5)


def test_health_answers_200_with_every_check_for_an_admin_and_only_the_status_for_others(settings, platform_factory):
    write_plugin(settings.PLUGINS_DIR, "hello")
    platform = platform_factory(settings)
    platform.host.enable("hello")
    anonymous = platform.test_client().get("/health")
    assert anonymous.status_code == 200 and anonymous.get_json() == {"ok": True}
    user = sign_up(platform, "user@example.test").get("/health")
    assert user.get_json() == {"ok": True}
    admin = sign_up(platform, "admin@example.test", admin=True).get("/health")
    assert admin.status_code == 200
    body = admin.get_json()
    assert body["ok"] is True
    assert set(body["checks"]) == {"database", "registry", "plugin:hello"}
    assert body["checks"]["database"]["ok"] and body["checks"]["database"]["dialect"] == "sqlite"
    assert body["checks"]["registry"]["ok"] and body["checks"]["registry"]["version"] >= 1
    assert body["checks"]["plugin:hello"]["report"] == {"ok": True, "enabledFor": 1}
    assert admin.headers["Cache-Control"] == "no-store"


def test_health_checks_only_enabled_plugins(settings, platform_factory):
    write_plugin(settings.PLUGINS_DIR, "hello", HEALTH_RAISING)
    platform = platform_factory(settings)  # registered, enabled for no tenant: its health is none of the probe's
    admin = sign_up(platform, "admin@example.test", admin=True)
    response = admin.get("/health")
    assert response.status_code == 200 and set(response.get_json()["checks"]) == {"database", "registry"}


def test_health_answers_503_when_an_enabled_plugin_reports_not_ok_and_200_once_it_does(settings, platform_factory):
    folder = write_plugin(settings.PLUGINS_DIR, "hello", HEALTH_REPORTING)
    platform = platform_factory(settings)
    platform.host.enable("hello")
    admin = sign_up(platform, "admin@example.test", admin=True)
    anonymous = platform.test_client().get("/health")
    assert anonymous.status_code == 503 and anonymous.get_json() == {"ok": False}
    check = admin.get("/health").get_json()["checks"]["plugin:hello"]
    assert check["ok"] is False and check["report"] == {"ok": False, "queue": 3}
    assert "reported not ok" in check["error"]
    (folder / "healthy").touch()
    assert platform.test_client().get("/health").status_code == 200


def test_health_answers_503_when_an_enabled_plugins_hook_raises(settings, platform_factory):
    write_plugin(settings.PLUGINS_DIR, "hello", HEALTH_RAISING)
    platform = platform_factory(settings)
    platform.host.enable("hello")
    response = sign_up(platform, "admin@example.test", admin=True).get("/health")
    assert response.status_code == 503
    check = response.get_json()["checks"]["plugin:hello"]
    assert check["ok"] is False and check["error"] == "ConnectionError: licence server unreachable"
    assert response.get_json()["checks"]["database"]["ok"] is True  # the others still run and say so
    # Other requests are unaffected.
    assert platform.test_client().get("/api/hello/greet").status_code == 200


def test_a_hung_health_hook_never_hangs_the_probe_and_is_not_started_again_while_it_hangs(settings, platform_factory):
    folder = write_plugin(settings.PLUGINS_DIR, "hello", HEALTH_HANGING)
    (folder / "release").touch()  # enabling runs no health hook, but be sure nothing waits before the test
    platform = platform_factory(settings)
    platform.host.enable("hello")
    (folder / "release").unlink()
    admin = sign_up(platform, "admin@example.test", admin=True)
    first = admin.get("/health")
    assert first.status_code == 503
    check = first.get_json()["checks"]["plugin:hello"]
    assert check["ok"] is False and "HEALTH_TIMEOUT_SECONDS" in check["error"]
    assert first.get_json()["checks"]["database"]["ok"] is True
    second = platform.test_client().get("/health")
    assert second.status_code == 503
    assert (folder / "calls").read_text() == "x"  # the hung call was not started a second time
    (folder / "release").touch()
    deadline_probes = [platform.test_client().get("/health").status_code for _ in range(50)]
    assert 200 in deadline_probes  # once it returns, the next probe runs the hook again and it answers


@pytest.mark.postgres
def test_health_answers_503_when_the_database_becomes_unreachable(postgres_url, tmp_path: Path, platform_factory):
    engine = make_engine(postgres_url)
    upgrade_schema(engine, BUNDLED_PLUGINS)
    engine.dispose()
    url = make_url(postgres_url)
    proxy = TcpProxy((url.host or "127.0.0.1", url.port or 5432))
    try:
        through_proxy = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
        settings = make_settings(
            tmp_path / "instance",
            DATABASE_URL=through_proxy,
            PLUGIN_ENTRY_POINTS=False,
            HEALTH_TIMEOUT_SECONDS=2,
        )
        platform = platform_factory(settings)
        admin = sign_up(platform, "admin@example.test", admin=True)
        assert admin.get("/health").get_json()["checks"]["database"]["dialect"] == "postgresql"
        proxy.cut()
        anonymous = platform.test_client().get("/health")
        assert anonymous.status_code == 503 and anonymous.get_json() == {"ok": False}
        # The admin's session cannot be checked without the database: no detail, the same 503.
        assert admin.get("/health").get_json() == {"ok": False}
        report = platform.health.check()
        failed = {check.name: check.detail["error"] for check in report.checks if not check.ok}
        assert set(failed) == {"database", "registry"}
    finally:
        proxy.cut()
