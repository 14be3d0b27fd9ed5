"""The `sv plugins:*` commands: schema, list, info, enable and disable, and their errors."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select
from sqlalchemy.orm import Session

from exthost.cli import main
from exthost.registry import plugin_states
from legacy_core import Settings
from legacy_core.db import make_engine
from tests.fixtures.plugins import HELLO_CODE, manifest_for, write_plugin

FAILING_ENABLE_CODE = HELLO_CODE.replace(
    'ctx.log.info("enabled")', 'raise RuntimeError("the licence server is unreachable")'
)
FAILING_REGISTER_CODE = """
from exthost.sdk import hookimpl


class Plugin:
    @hookimpl
    def register(self, ctx):
        raise ValueError("no greeting configured")
"""


def _env(settings: Settings, **extra: str) -> dict[str, str]:
    """The settings as the environment variables `sv` reads them from."""
    return {
        "DATABASE_URL": settings.DATABASE_URL,
        "DATA_DIR": str(settings.DATA_DIR),
        "PLUGINS_DIR": str(settings.PLUGINS_DIR),
        "PLUGIN_ENTRY_POINTS": "false",
        **extra,
    }


def _sv(settings: Settings, *args: str, **extra: str) -> Result:
    return CliRunner().invoke(main, list(args), env=_env(settings, **extra))


def _listed(settings: Settings) -> dict[str, dict]:
    result = _sv(settings, "plugins:list", "--json")
    assert result.exit_code == 0, result.output
    return {row["name"]: row for row in json.loads(result.output)}


def _registry_rows(settings: Settings) -> list[tuple[str, str, bool]]:
    engine = make_engine(settings.DATABASE_URL)
    try:
        with engine.connect() as connection:
            query = select(plugin_states.c.plugin, plugin_states.c.tenant_id, plugin_states.c.enabled)
            return [tuple(row) for row in connection.execute(query.order_by(plugin_states.c.plugin))]
    finally:
        engine.dispose()


@pytest.fixture
def settings(settings_factory: Callable[..., Settings]) -> Settings:
    """Settings whose plugin folder holds `hello` (valid) and `broken` (a manifest version that is not semver)."""
    settings = settings_factory(PLUGIN_ENTRY_POINTS=False)
    write_plugin(settings.PLUGINS_DIR, "hello")
    write_plugin(settings.PLUGINS_DIR, "broken", manifest=manifest_for("broken", version="1.0"))
    return settings


def test_plugins_schema_prints_the_manifest_json_schema():
    result = CliRunner().invoke(main, ["plugins:schema"])
    assert result.exit_code == 0, result.output
    schema = json.loads(result.output)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    for name in ("name", "version", "sovereign", "mounts", "capabilities", "config", "requires", "migrations"):
        assert name in schema["properties"], name
    assert {"name", "version", "sovereign", "mounts"} <= set(schema["required"])


def test_plugins_list_table_shows_good_and_broken_plugins_with_the_reason(settings):
    # Into a pipe (as here), each plugin is one line, however long its reason, at any terminal width.
    result = _sv(settings, "plugins:list", COLUMNS="80")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    hello = next(line for line in lines if line.startswith("hello "))
    assert "registered" in hello
    assert "1.0.0" in hello
    assert "/api/hello" in hello
    broken = next(line for line in lines if line.startswith("broken "))
    assert "invalid" in broken
    assert "version: must be a semantic version MAJOR.MINOR.PATCH" in broken
    assert "use '1.0.0'" in broken


def test_plugins_list_json_shows_good_and_broken_plugins_with_the_reason(settings):
    rows = _listed(settings)
    assert sorted(rows) == ["broken", "hello"]
    assert rows["hello"]["state"] == "registered"
    assert rows["hello"]["version"] == "1.0.0"
    assert rows["hello"]["mounts"] == ["/api/hello"]
    assert rows["hello"]["reason"] is None
    assert rows["broken"]["state"] == "invalid"
    assert "plugin.json" in rows["broken"]["reason"]
    assert "version: must be a semantic version" in rows["broken"]["reason"]


def test_plugins_info_json_after_enable_reports_state_version_mounts_and_hook_timings(settings):
    assert _sv(settings, "plugins:enable", "hello").exit_code == 0
    result = _sv(settings, "plugins:info", "hello", "--json")
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)
    assert info["name"] == "hello"
    assert info["state"] == "enabled"
    assert info["version"] == "1.0.0"
    assert info["mounts"] == ["/api/hello"]
    assert info["tenants"] == ["tenant-0"]
    assert info["capabilities"] == ["hello.read"]
    assert info["source"] == "folder"
    # This process's host loaded the plugin (register ran) but only reads the registry: a read-only command
    # runs no on_enable; serving hosts do, as they pick the tenant up.
    assert info["hooks"]["register"]["calls"] == 1
    assert info["hooks"]["register"]["errors"] == 0
    assert info["hooks"]["register"]["totalMs"] >= 0
    assert "on_enable" not in info["hooks"]
    assert info["health"] == {"ok": True, "enabledFor": 0}


def test_plugins_info_plain_prints_one_line_per_field(settings):
    result = _sv(settings, "plugins:info", "hello")
    assert result.exit_code == 0, result.output
    assert "state: registered" in result.output
    assert 'mounts: ["/api/hello"]' in result.output


def test_plugins_enable_writes_the_registry_other_processes_serve_from(settings, platform_factory):
    before = platform_factory(settings).test_client().get("/api/hello/greet")
    assert before.status_code == 404

    result = _sv(settings, "plugins:enable", "hello")
    assert result.exit_code == 0, result.output
    assert "enabled hello for tenant-0" in result.output
    assert _listed(settings)["hello"]["state"] == "enabled"
    assert _listed(settings)["hello"]["tenants"] == ["tenant-0"]
    # A platform built afterwards shares nothing with the CLI's host but the database.
    response = platform_factory(settings).test_client().get("/api/hello/greet")
    assert response.status_code == 200
    assert response.get_json() == {"greeting": "hello", "tenant": "tenant-0"}


def test_plugins_disable_reverses_enable(settings, platform_factory):
    assert _sv(settings, "plugins:enable", "hello").exit_code == 0
    result = _sv(settings, "plugins:disable", "hello")
    assert result.exit_code == 0, result.output
    assert "disabled hello for tenant-0" in result.output
    row = _listed(settings)["hello"]
    assert row["state"] == "disabled"
    assert row["tenants"] == []
    assert row["disabledTenants"] == ["tenant-0"]
    assert _registry_rows(settings) == [("hello", "tenant-0", False)]
    assert platform_factory(settings).test_client().get("/api/hello/greet").status_code == 404


@pytest.mark.parametrize(
    "command", [["plugins:info", "helo"], ["plugins:enable", "helo"], ["plugins:disable", "helo"]], ids=lambda c: c[0]
)
def test_unknown_plugin_name_is_a_usage_error_with_a_suggestion(settings, command):
    result = _sv(settings, *command)
    assert result.exit_code == 2, result.output
    assert "no plugin named 'helo' (did you mean 'hello'?)" in result.output
    assert "Traceback" not in result.output
    assert _registry_rows(settings) == []


@pytest.mark.parametrize(
    ("name", "code", "reason"),
    [
        ("broken", None, "version: must be a semantic version"),
        ("failing", FAILING_REGISTER_CODE, "hook register raised ValueError: no greeting configured"),
    ],
    ids=["invalid", "failed"],
)
def test_enabling_an_unusable_plugin_fails_with_its_reason(settings, name, code, reason):
    if code is not None:
        write_plugin(settings.PLUGINS_DIR, name, code)
    result = _sv(settings, "plugins:enable", name)
    assert result.exit_code == 1, result.output
    assert f"plugin {name!r} is" in result.output
    assert "cannot be enabled" in result.output
    assert reason in result.output
    assert "Traceback" not in result.output
    assert _registry_rows(settings) == []


def test_plugins_enable_for_an_unknown_tenant_is_refused_with_a_suggestion(settings):
    _add_tenant(settings, "other")
    result = _sv(settings, "plugins:enable", "hello", "--tenant", "othre")
    assert result.exit_code == 1, result.output
    assert "no tenant 'othre' (did you mean 'other'?)" in result.output
    assert _registry_rows(settings) == []


def _add_tenant(settings: Settings, tenant: str) -> None:
    from legacy_core.clock import SystemClock
    from legacy_core.services import Tenancy

    engine = make_engine(settings.DATABASE_URL)
    try:
        with Session(engine) as db:
            Tenancy(settings.TENANT_DEFAULT, SystemClock()).ensure(db, tenant)
            db.commit()
    finally:
        engine.dispose()


def test_plugins_enable_for_a_tenant_enables_it_for_that_tenant_only(settings, platform_factory):
    _add_tenant(settings, "other")
    result = _sv(settings, "plugins:enable", "hello", "--tenant", "other")
    assert result.exit_code == 0, result.output
    assert "enabled hello for other" in result.output
    assert _listed(settings)["hello"]["tenants"] == ["other"]
    assert _registry_rows(settings) == [("hello", "other", True)]
    # Anonymous requests belong to the default tenant, which still gets the legacy 404.
    assert platform_factory(settings).test_client().get("/api/hello/greet").status_code == 404


def test_a_failing_on_enable_hook_enables_nothing_and_names_the_hook(settings):
    write_plugin(settings.PLUGINS_DIR, "grumpy", FAILING_ENABLE_CODE.replace("/api/hello", "/api/grumpy"))
    result = _sv(settings, "plugins:enable", "grumpy")
    assert result.exit_code == 1, result.output
    assert "plugin 'grumpy': hook on_enable raised RuntimeError: the licence server is unreachable" in result.output
    assert "Traceback" not in result.output
    row = _listed(settings)["grumpy"]
    assert row["state"] == "registered"
    assert row["tenants"] == []
    assert _registry_rows(settings) == []


def test_plugins_list_without_registry_tables_says_to_run_migrate_deploy(tmp_path: Path):
    env = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'empty.db'}",
        "DATA_DIR": str(tmp_path / "data"),
        "PLUGINS_DIR": str(tmp_path / "plugins"),
        "PLUGIN_ENTRY_POINTS": "false",
    }
    result = CliRunner().invoke(main, ["plugins:list"], env=env)
    assert result.exit_code == 1, result.output
    assert "run `sv migrate:deploy` first" in result.output
    assert "empty.db" in result.output
    assert "Traceback" not in result.output
