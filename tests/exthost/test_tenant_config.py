"""Tenant-scoped plugin config: `sv plugins:config`, values checked against the manifest (type, enum, bounds), and
`ctx.config` resolving for the request's tenant (manifest default -> deployment PLUGIN_CONFIG -> tenant), inline, in
the process sandbox, and across two apps sharing PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import text

from exthost.cli import main
from exthost.errors import ManifestError
from exthost.manifest import parse_manifest
from exthost.migrate import upgrade_exthost
from exthost.platform import Platform, create_platform
from exthost.tenant_config import layered, parse_assignments, unset_keys
from legacy_core import Settings
from legacy_core.db import make_engine, transaction
from legacy_core.migrate import upgrade
from tests.fixtures.app import PASSWORD, TEST_ARGON2_KIB, make_settings
from tests.fixtures.plugins import HELLO_CODE, manifest_for, write_plugin

OPTIONS = {
    "GREETING": {"type": "string", "default": "hello", "help": "what greet says"},
    "LIMIT": {"type": "integer", "default": 10, "minimum": 1, "maximum": 100},
    "MODE": {"type": "string", "default": "safe", "enum": ["fast", "safe"]},
    "BETA": {"type": "boolean", "default": False},
    "RATIO": {"type": "number", "default": 0.5, "minimum": 0, "maximum": 1},
}
CONFIG_CODE = HELLO_CODE.replace(
    'return {"greeting": ctx.config["GREETING"], "tenant": ctx.tenant}',
    'return {"greeting": ctx.config["GREETING"], "limit": ctx.config["LIMIT"], "tenant": ctx.tenant}',
)
MANIFEST = parse_manifest(manifest_for("hello", config=OPTIONS), "plugins/hello/plugin.json")


def sv(settings: Settings, *args: str, **extra: str) -> Result:
    env = {
        "DATABASE_URL": settings.DATABASE_URL,
        "DATA_DIR": str(settings.DATA_DIR),
        "PLUGINS_DIR": str(settings.PLUGINS_DIR),
        "PLUGIN_ENTRY_POINTS": "false",
        **extra,
    }
    return CliRunner().invoke(main, list(args), env=env)


def shown(settings: Settings, *args: str, **extra: str) -> dict[str, Any]:
    result = sv(settings, "plugins:config", "hello", *args, "--json", **extra)
    assert result.exit_code == 0, result.output
    return json.loads(result.output)["config"]  # type: ignore[no-any-return]


def stored_rows(settings: Settings) -> list[tuple[str, str, str, str]]:
    engine = make_engine(settings.DATABASE_URL)
    try:
        with engine.connect() as connection:
            query = text("SELECT plugin, tenant_id, key, value FROM sv_tenant_config ORDER BY tenant_id, key")
            return [tuple(row) for row in connection.execute(query)]
    finally:
        engine.dispose()


def sign_in(platform: Platform, tenant: str, email: str) -> Any:
    """A client signed in as a new user of `tenant`."""
    with transaction(platform.services.session_factory) as db:
        platform.services.auth.create_user(
            db, email=email, password=PASSWORD, name=email, tenant_id=tenant, roles=set()
        )
    client = platform.test_client()
    assert client.post("/login", json={"email": email, "password": PASSWORD}).status_code == 200
    return client


def write_hello(settings: Settings) -> Settings:
    write_plugin(settings.PLUGINS_DIR, "hello", CONFIG_CODE, manifest=manifest_for("hello", config=OPTIONS))
    return settings


@pytest.fixture
def settings(settings_factory: Callable[..., Settings]) -> Settings:
    settings = write_hello(settings_factory(PLUGIN_ENTRY_POINTS=False, PLUGIN_POLL_SECONDS=0))
    assert sv(settings, "tenants:create", "acme", "--name", "Acme").exit_code == 0
    return settings


# -- parsing and validation (no database) ---------------------------------------------------------------------------


@given(st.integers(min_value=1, max_value=100))
def test_tenant_config_integers_within_bounds_are_stored_as_integers(value):
    assert parse_assignments(MANIFEST, [f"LIMIT={value}"], [], "cli") == {"LIMIT": value}


@given(st.integers().filter(lambda value: not 1 <= value <= 100))
def test_tenant_config_integers_outside_bounds_are_refused_with_the_bound(value):
    with pytest.raises(ManifestError) as caught:
        parse_assignments(MANIFEST, [f"LIMIT={value}"], [], "cli")
    bound = "at least 1" if value < 1 else "at most 100"
    assert caught.value.problems == [f"LIMIT: must be {bound}, got {value}"]


@given(st.floats(min_value=0, max_value=1))
def test_tenant_config_numbers_round_trip_through_their_text(value):
    assert parse_assignments(MANIFEST, [f"RATIO={value!r}"], [], "cli") == {"RATIO": value}


@given(st.text(max_size=20).filter(lambda value: value.strip().lower() not in ("true", "yes", "1", "false", "no", "0")))
def test_tenant_config_a_boolean_takes_only_the_documented_words(value):
    with pytest.raises(ManifestError, match=r"BETA: must be true/false/1/0/yes/no for type 'boolean'"):
        parse_assignments(MANIFEST, [f"BETA={value}"], [], "cli")


@given(st.text(max_size=20).filter(lambda value: value not in ("fast", "safe")))
def test_tenant_config_an_enum_takes_only_its_choices(value):
    with pytest.raises(ManifestError, match=r"MODE: must be one of 'fast', 'safe', got "):
        parse_assignments(MANIFEST, [f"MODE={value}"], [], "cli")


@given(st.text(max_size=40))
def test_tenant_config_a_string_is_stored_as_given(value):
    assert parse_assignments(MANIFEST, [f"GREETING={value}"], [], "cli") == {"GREETING": value}


def test_tenant_config_option_names_match_without_regard_to_case():
    assert parse_assignments(MANIFEST, ["limit=5", " Mode =fast"], [], "cli") == {"LIMIT": 5, "MODE": "fast"}
    assert unset_keys(MANIFEST, ["greeting"]) == ["GREETING"]


VALID = {
    "GREETING": st.text(max_size=10),
    "LIMIT": st.integers(1, 100),
    "MODE": st.sampled_from(["fast", "safe"]),
    "BETA": st.booleans(),
    "RATIO": st.floats(0, 1),
}


@given(
    st.fixed_dictionaries({}, optional=VALID),
    st.fixed_dictionaries({}, optional=VALID),
)
def test_tenant_config_layers_the_tenant_over_the_deployment_over_the_defaults(deployment, stored):
    merged = {key: option.default for key, option in MANIFEST.config.items()} | deployment
    entries = layered(MANIFEST, merged, frozenset(deployment), stored)
    assert {key: entry.value for key, entry in entries.items()} == merged | stored
    for key, entry in entries.items():
        expected = "tenant" if key in stored else "deployment" if key in deployment else "default"
        assert (entry.source, entry.ignored) == (expected, None)


@given(
    st.one_of(
        st.integers().filter(lambda v: not 1 <= v <= 100),
        st.from_regex(r"[0-9]{1,3}", fullmatch=True),
        st.booleans(),
        st.floats(),
    )
)
def test_tenant_config_a_stored_value_that_does_not_fit_is_ignored(value):
    merged = {key: option.default for key, option in MANIFEST.config.items()}
    entry = layered(MANIFEST, merged, frozenset(), {"LIMIT": value})["LIMIT"]
    assert (entry.value, entry.source) == (10, "default")
    assert entry.ignored is not None and entry.ignored.startswith("tenant value must be")


def test_tenant_config_every_bad_assignment_is_named_at_once():
    with pytest.raises(ManifestError) as caught:
        parse_assignments(MANIFEST, ["GREETNG=hi", "LIMIT=lots", "nonsense", "MODE=fsat"], ["LIMT"], "src")
    assert caught.value.problems == [
        "GREETNG: unknown option of plugin 'hello' (did you mean 'GREETING'?); declared: BETA, GREETING, LIMIT, "
        "MODE, RATIO",
        "LIMIT: must be a whole number like 42 for type 'integer', got 'lots'",
        "'nonsense': expected KEY=VALUE, e.g. BETA=VALUE",
        "MODE: must be one of 'fast', 'safe', got 'fsat' (did you mean 'fast'?)",
        "LIMT: unknown option of plugin 'hello' (did you mean 'LIMIT'?); declared: BETA, GREETING, LIMIT, MODE, RATIO",
    ]


@pytest.mark.parametrize(
    ("option", "problem"),
    [
        ({"type": "integer", "default": 500, "maximum": 100}, "default: must be at most 100, got 500"),
        ({"type": "string", "enum": []}, "enum: is empty"),
        ({"type": "string", "enum": ["a", 1]}, "enum[1]: must be a string for type 'string', got 1"),
        ({"type": "boolean", "minimum": 0}, "minimum/maximum apply to integer and number options, not 'boolean'"),
        ({"type": "number", "minimum": 2, "maximum": 1}, "minimum 2 is above maximum 1; swap them"),
        ({"type": "string", "default": "slow", "enum": ["fast"]}, "default: must be one of 'fast', got 'slow'"),
    ],
    ids=["default-above-maximum", "empty-enum", "enum-of-wrong-type", "bounds-on-boolean", "swapped", "default-not-in"],
)
def test_tenant_config_manifest_constraints_are_checked_when_the_manifest_loads(option, problem):
    with pytest.raises(ManifestError) as caught:
        parse_manifest(manifest_for("hello", config={"OPT": option}), "plugins/hello/plugin.json")
    assert any(problem in line for line in caught.value.problems), caught.value.problems


def test_tenant_config_a_deployment_value_outside_the_bounds_makes_the_plugin_invalid(settings_factory, host_factory):
    settings = write_hello(settings_factory(PLUGIN_ENTRY_POINTS=False, PLUGIN_CONFIG={"hello": {"LIMIT": "500"}}))
    record = host_factory(settings).plugins["hello"]
    assert record.state == "invalid"
    assert "config.LIMIT: must be at most 100, got 500; fix PLUGIN_CONFIG__hello__LIMIT" in (record.reason or "")


# -- the command ----------------------------------------------------------------------------------------------------


def test_plugins_config_shows_each_value_with_its_layer(settings):
    assert sv(settings, "plugins:config", "hello", "--tenant", "acme", "LIMIT=42").exit_code == 0
    config = shown(settings, "--tenant", "acme", PLUGIN_CONFIG__hello__GREETING="howdy")
    assert {key: (entry["value"], entry["source"]) for key, entry in config.items()} == {
        "GREETING": ("howdy", "deployment"),
        "LIMIT": (42, "tenant"),
        "MODE": ("safe", "default"),
        "BETA": (False, "default"),
        "RATIO": (0.5, "default"),
    }
    # The other tenant has none of acme's values.
    assert shown(settings)["LIMIT"] == {"value": 10, "source": "default", "ignored": None}


def test_plugins_config_sets_and_unsets_values_of_one_tenant(settings):
    result = sv(settings, "plugins:config", "hello", "--tenant", "acme", "LIMIT=42", "MODE=fast", "BETA=yes")
    assert result.exit_code == 0, result.output
    assert "set LIMIT for acme" in result.output
    assert stored_rows(settings) == [
        ("hello", "acme", "BETA", "true"),
        ("hello", "acme", "LIMIT", "42"),
        ("hello", "acme", "MODE", '"fast"'),
    ]
    unset = sv(settings, "plugins:config", "hello", "--tenant", "acme", "--unset", "MODE", "LIMIT=7")
    assert unset.exit_code == 0, unset.output
    assert stored_rows(settings) == [("hello", "acme", "BETA", "true"), ("hello", "acme", "LIMIT", "7")]


def test_plugins_config_stores_nothing_when_any_value_is_bad(settings):
    result = sv(settings, "plugins:config", "hello", "--tenant", "acme", "LIMIT=42", "GREETNG=hi")
    assert result.exit_code == 2
    assert "GREETNG: unknown option of plugin 'hello' (did you mean 'GREETING'?)" in result.output
    assert "Traceback" not in result.output
    assert stored_rows(settings) == []


def test_plugins_config_refuses_an_unknown_tenant_or_plugin(settings):
    tenant = sv(settings, "plugins:config", "hello", "--tenant", "acne", "LIMIT=4")
    assert tenant.exit_code == 1
    assert "no tenant 'acne' (did you mean 'acme'?)" in tenant.output
    plugin = sv(settings, "plugins:config", "helo")
    assert plugin.exit_code == 2
    assert "did you mean 'hello'?" in plugin.output
    assert stored_rows(settings) == []


def test_plugins_config_a_stored_value_the_manifest_no_longer_allows_is_ignored(settings):
    assert sv(settings, "plugins:config", "hello", "--tenant", "acme", "LIMIT=90").exit_code == 0
    narrower = {**OPTIONS, "LIMIT": {**OPTIONS["LIMIT"], "maximum": 50}}
    write_plugin(settings.PLUGINS_DIR, "hello", CONFIG_CODE, manifest=manifest_for("hello", config=narrower))
    entry = shown(settings, "--tenant", "acme")["LIMIT"]
    assert entry == {"value": 10, "source": "default", "ignored": "tenant value must be at most 50, got 90"}


# -- ctx.config in requests -----------------------------------------------------------------------------------------


def greeting(client: Any) -> tuple[str, int, str]:
    response = client.get("/api/hello/greet")
    assert response.status_code == 200, response.data
    body = response.get_json()
    return body["greeting"], body["limit"], body["tenant"]


def test_ctx_config_resolves_for_the_request_tenant(settings, platform_factory):
    platform = platform_factory(settings)
    platform.host.enable("hello")
    platform.host.enable("hello", "acme")
    acme = sign_in(platform, "acme", "a@acme.test")
    anonymous = platform.test_client()
    assert greeting(acme) == ("hello", 10, "acme")
    assert sv(settings, "plugins:config", "hello", "--tenant", "acme", "GREETING=bonjour", "LIMIT=3").exit_code == 0
    assert greeting(acme) == ("bonjour", 3, "acme")
    assert greeting(anonymous) == ("hello", 10, "tenant-0")
    assert sv(settings, "plugins:config", "hello", "--tenant", "acme", "--unset", "GREETING").exit_code == 0
    assert greeting(acme) == ("hello", 3, "acme")


def test_ctx_config_is_read_only_and_gives_any_tenants_config(settings, platform_factory):
    assert sv(settings, "plugins:config", "hello", "--tenant", "acme", "LIMIT=5").exit_code == 0
    config = platform_factory(settings).host.plugins["hello"].context.config
    with pytest.raises(TypeError):
        config["LIMIT"] = 1  # type: ignore[index]
    assert config["LIMIT"] == 10  # outside a request: the default tenant
    assert config.for_tenant("acme")["LIMIT"] == 5
    with pytest.raises(TypeError):
        config.for_tenant("acme")["LIMIT"] = 1  # type: ignore[index]


def test_ctx_config_in_the_process_sandbox_resolves_for_the_request_tenant(settings, platform_factory):
    database = Path(settings.DATABASE_URL.removeprefix("sqlite:///"))
    (database.parent / "db").mkdir()
    moved = database.rename(database.parent / "db" / database.name)
    values = {**settings.model_dump(), "PLUGIN_ISOLATION": "process", "DATABASE_URL": f"sqlite:///{moved}"}
    settings = Settings(_env_file=None, **values)  # type: ignore[call-arg]
    platform = platform_factory(settings)
    platform.host.enable("hello", "acme")
    acme = sign_in(platform, "acme", "a@acme.test")
    assert platform.host.describe(platform.host.get("hello"))["sandbox"]["isolation"] == "process"
    assert greeting(acme) == ("hello", 10, "acme")
    assert sv(settings, "plugins:config", "hello", "--tenant", "acme", "LIMIT=77").exit_code == 0
    assert greeting(acme) == ("hello", 77, "acme")


@pytest.mark.postgres
def test_ctx_config_a_change_through_the_cli_reaches_every_app_sharing_postgresql(postgres_url, tmp_path):
    engine = make_engine(postgres_url)
    try:
        upgrade(engine)
        upgrade_exthost(engine)
    finally:
        engine.dispose()
    apps: list[Platform] = []
    try:
        for index in range(2):
            root = tmp_path / f"app{index}"
            root.mkdir()
            settings = write_hello(
                make_settings(root, DATABASE_URL=postgres_url, PLUGIN_ENTRY_POINTS=False, PLUGIN_POLL_SECONDS=0)
            )
            apps.append(create_platform(settings, argon2_memory_kib=TEST_ARGON2_KIB))
        assert sv(settings, "tenants:create", "acme", "--name", "Acme").exit_code == 0
        apps[0].host.enable("hello", "acme")
        first = sign_in(apps[0], "acme", "a@acme.test")
        second = apps[1].test_client()
        assert second.post("/login", json={"email": "a@acme.test", "password": PASSWORD}).status_code == 200
        assert greeting(first) == greeting(second) == ("hello", 10, "acme")
        changed = sv(settings, "plugins:config", "hello", "--tenant", "acme", "GREETING=hej", "LIMIT=64")
        assert changed.exit_code == 0, changed.output
        assert greeting(first) == greeting(second) == ("hej", 64, "acme")
    finally:
        for app in apps:
            app.close()


@pytest.mark.postgres
def test_ctx_config_in_the_process_sandbox_on_postgresql_reads_through_the_plugins_role(postgres_url, tmp_path):
    """A sandboxed worker logs in as its plugin's role, which may not read `sv_tenant_config`: it reads its own rows
    through the role's view, and picks up a change as inline plugins do."""
    settings = write_hello(
        make_settings(
            tmp_path,
            DATABASE_URL=postgres_url,
            PLUGIN_ENTRY_POINTS=False,
            PLUGIN_POLL_SECONDS=0,
            PLUGIN_ISOLATION="process",
        )
    )
    deployed = sv(settings, "migrate:deploy")
    assert deployed.exit_code == 0 and "role" in deployed.output, deployed.output
    assert sv(settings, "tenants:create", "acme", "--name", "Acme").exit_code == 0
    assert sv(settings, "plugins:config", "hello", "--tenant", "acme", "LIMIT=33").exit_code == 0
    platform = create_platform(settings, argon2_memory_kib=TEST_ARGON2_KIB)
    try:
        platform.host.enable("hello", "acme")
        assert platform.host.describe(platform.host.get("hello"))["sandbox"]["isolation"] == "process"
        acme = sign_in(platform, "acme", "a@acme.test")
        assert greeting(acme) == ("hello", 33, "acme")
        assert sv(settings, "plugins:config", "hello", "--tenant", "acme", "LIMIT=77").exit_code == 0
        assert greeting(acme) == ("hello", 77, "acme")
    finally:
        platform.close()
