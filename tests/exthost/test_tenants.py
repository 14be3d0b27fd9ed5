"""`sv tenants:create` and `sv tenants:list`: ids checked, duplicates refused, the counts a tenant holds, and the
`on_tenant_created` hook."""

from __future__ import annotations

import json
import re
from collections.abc import Callable

import pytest
from click.testing import CliRunner, Result
from hypothesis import given
from hypothesis import strategies as st

from exthost.cli import main
from exthost.errors import TenantError
from exthost.tenants import TENANT_ID, check_tenant
from legacy_core import Settings
from legacy_core.db import transaction
from tests.fixtures.app import PASSWORD
from tests.fixtures.plugins import HELLO_CODE, write_plugin

CREATED_HOOK_CODE = (
    HELLO_CODE
    + """
    @hookimpl
    def on_tenant_created(self, ctx, tenant):
        if tenant == "grumpy":
            raise RuntimeError("no welcome pack for grumpy")
        (ctx.data_dir / "created.txt").write_text(tenant)
"""
)


def sv(settings: Settings, *args: str) -> Result:
    env = {
        "DATABASE_URL": settings.DATABASE_URL,
        "DATA_DIR": str(settings.DATA_DIR),
        "PLUGINS_DIR": str(settings.PLUGINS_DIR),
        "PLUGIN_ENTRY_POINTS": "false",
    }
    return CliRunner().invoke(main, list(args), env=env)


def listed(settings: Settings) -> dict[str, dict]:
    result = sv(settings, "tenants:list", "--json")
    assert result.exit_code == 0, result.output
    return {row["id"]: row for row in json.loads(result.output)}


@pytest.fixture
def settings(settings_factory: Callable[..., Settings]) -> Settings:
    settings = settings_factory(PLUGIN_ENTRY_POINTS=False)
    write_plugin(settings.PLUGINS_DIR, "hello", CREATED_HOOK_CODE)
    return settings


def test_tenants_create_then_list_shows_the_tenant(settings):
    result = sv(settings, "tenants:create", "acme", "--name", "  Acme Corp ")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("created tenant acme (Acme Corp)")
    row = listed(settings)["acme"]
    assert (row["name"], row["users"], row["projects"], row["plugins"]) == ("Acme Corp", 0, 0, [])
    plain = sv(settings, "tenants:list")
    assert plain.exit_code == 0
    assert "acme  Acme Corp" in plain.output


def test_tenants_create_json_names_the_new_tenant(settings):
    result = sv(settings, "tenants:create", "acme", "--name", "Acme", "--json")
    assert result.exit_code == 0, result.output
    created = json.loads(result.output)
    assert (created["id"], created["name"], created["steps"], created["hookFailures"]) == ("acme", "Acme", [], [])


def test_tenants_list_counts_users_projects_and_enabled_plugins(settings, platform_factory):
    assert sv(settings, "tenants:create", "acme", "--name", "Acme").exit_code == 0
    assert sv(settings, "tenants:create", "globex", "--name", "Globex").exit_code == 0
    platform = platform_factory(settings)
    with transaction(platform.services.session_factory) as db:
        for email in ("a@acme.test", "b@acme.test"):
            platform.services.auth.create_user(
                db, email=email, password=PASSWORD, name=email, tenant_id="acme", roles=set()
            )
    client = platform.test_client()
    assert client.post("/login", json={"email": "a@acme.test", "password": PASSWORD}).status_code == 200
    assert client.post("/api/projects", json={"name": "Board", "type": "papertrail"}).status_code == 201
    platform.host.enable("hello", "acme")
    rows = listed(settings)
    assert (rows["acme"]["users"], rows["acme"]["projects"], rows["acme"]["plugins"]) == (2, 1, ["hello"])
    assert (rows["globex"]["users"], rows["globex"]["projects"], rows["globex"]["plugins"]) == (0, 0, [])


def test_tenants_create_a_duplicate_is_refused_and_changes_nothing(settings):
    assert sv(settings, "tenants:create", "acme", "--name", "Acme").exit_code == 0
    again = sv(settings, "tenants:create", "acme", "--name", "Another")
    assert again.exit_code == 1
    assert "tenant 'acme' already exists; nothing was changed" in again.output
    assert listed(settings)["acme"]["name"] == "Acme"


@pytest.mark.parametrize(
    ("tenant", "name", "message"),
    [
        ("Acme Corp", "Acme", "tenant id 'Acme Corp': must be 1-64 characters of a-z, 0-9, '-' and '_'"),
        ("_acme", "Acme", "starting with a letter or digit; e.g. 'acme'"),
        ("a" * 65, "Acme", "must be 1-64 characters"),
        ("acme", "   ", "tenant 'acme': --name is empty"),
        ("acme", "x" * 121, "--name is 121 characters, at most 120 fit"),
    ],
    ids=["space-and-capitals", "leading-underscore", "too-long", "blank-name", "long-name"],
)
def test_tenants_create_a_bad_id_or_name_is_a_usage_error(settings, tenant, name, message):
    result = sv(settings, "tenants:create", tenant, "--name", name)
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output
    assert tenant not in listed(settings)


@given(st.from_regex(TENANT_ID, fullmatch=True))
def test_tenants_every_id_of_the_pattern_is_accepted(tenant):
    assert check_tenant(tenant, "Name") == "Name"


@given(st.text(max_size=70).filter(lambda value: re.fullmatch(TENANT_ID, value) is None))
def test_tenants_ids_outside_the_pattern_are_refused_with_a_suggestion(tenant):
    with pytest.raises(TenantError, match=r"must be 1-64 characters .*; e\.g\. '[a-z0-9][a-z0-9_-]*'"):
        check_tenant(tenant, "Name")


def test_tenants_create_fires_on_tenant_created_for_each_loaded_plugin(settings):
    result = sv(settings, "tenants:create", "acme", "--name", "Acme")
    assert result.exit_code == 0, result.output
    assert (settings.DATA_DIR / "plugins" / "hello" / "created.txt").read_text() == "acme"


def test_tenants_create_reports_a_raising_hook_and_keeps_the_tenant(settings):
    result = sv(settings, "tenants:create", "grumpy", "--name", "Grumpy")
    assert result.exit_code == 0, result.output
    assert (
        "warning: plugin 'hello': hook on_tenant_created raised RuntimeError: no welcome pack for grumpy; "
        "the tenant stays created"
    ) in result.stderr
    assert "grumpy" in listed(settings)
