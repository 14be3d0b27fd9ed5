"""`sv migrate:rollback --plugin` and `sv plugins:uninstall`: refused while the plugin serves, backed up first,
one transaction each, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from legacy_core import Settings
from tests.exthost.schema_plugins import (
    HELLO_TABLES,
    TAGS_FAILING_DOWNGRADE,
    backup_path,
    execute,
    scalar,
    sv,
    tables,
    write_hello,
)


@pytest.fixture(params=["sqlite", "postgresql"])
def make_deployed(request: pytest.FixtureRequest, settings_factory: Callable[..., Settings]) -> Callable[..., Settings]:
    """Settings of each database kind, with the hello plugin written by `write_hello(**kwargs)` and deployed."""

    def make(**kwargs: object) -> Settings:
        if request.param == "postgresql":
            url = request.getfixturevalue("postgres_url")
            settings = settings_factory(PLUGIN_ENTRY_POINTS=False, DATABASE_URL=url)
        else:
            settings = settings_factory(PLUGIN_ENTRY_POINTS=False)
        write_hello(settings, **kwargs)  # type: ignore[arg-type]
        result = sv(settings, "migrate:deploy")
        assert result.exit_code == 0, result.output
        execute(settings, "INSERT INTO hello_notes (id, tenant_id, body) VALUES (1, 't', 'kept')")
        return settings

    return make


def _version(settings: Settings) -> object:
    return scalar(settings, "SELECT version_num FROM alembic_version_hello")


def _log(settings: Settings) -> list[dict]:
    return json.loads(sv(settings, "migrate:status", "--json").output)["history"]


def test_rollback_is_refused_while_enabled_and_works_once_disabled(make_deployed):
    settings = make_deployed()
    assert sv(settings, "plugins:enable", "hello").exit_code == 0
    backups = set(settings.backup_dir.glob("*")) if settings.backup_dir.exists() else set()

    refused = sv(settings, "migrate:rollback", "--plugin", "hello")
    assert refused.exit_code == 1, refused.output
    assert "cannot roll back plugin 'hello': it is enabled for tenant-0" in refused.output
    assert "sv plugins:disable hello --tenant tenant-0" in refused.output
    assert _version(settings) == "hello0002"
    assert (set(settings.backup_dir.glob("*")) if settings.backup_dir.exists() else set()) == backups  # no backup

    assert sv(settings, "plugins:disable", "hello").exit_code == 0
    rolled = sv(settings, "migrate:rollback", "--plugin", "hello")
    assert rolled.exit_code == 0, rolled.output
    assert "plugin hello: hello0002 -> hello0001" in rolled.output
    backup = backup_path(rolled.output)
    assert json.loads(backup.with_name(backup.name + ".json").read_text())["revisions"]["plugin:hello"] == "hello0002"
    assert _version(settings) == "hello0001"
    assert "hello_tags" not in tables(settings)
    assert scalar(settings, "SELECT body FROM hello_notes") == "kept"
    step = _log(settings)[-1]
    assert (step["history"], step["from_revision"], step["to_revision"]) == ("plugin:hello", "hello0002", "hello0001")
    assert (step["direction"], step["backup"]) == ("downgrade", str(backup))

    # Enabling is refused until deployed again (its schema lags its head).
    assert sv(settings, "plugins:enable", "hello").exit_code == 1
    assert sv(settings, "migrate:deploy").exit_code == 0
    assert _version(settings) == "hello0002"


def test_rollback_to_base_and_to_a_revision_that_is_not_below(make_deployed):
    settings = make_deployed()
    wrong = sv(settings, "migrate:rollback", "--plugin", "hello", "--to", "hello0003")
    assert wrong.exit_code == 1
    assert "'hello0003' is not a revision below 'hello0002' of plugin 'hello'; choose one of: hello0001, base" in (
        wrong.output
    )
    based = sv(settings, "migrate:rollback", "--plugin", "hello", "--to", "base")
    assert based.exit_code == 0, based.output
    assert "plugin hello: hello0002 -> base (no schema)" in based.output
    assert not {"hello_notes", "hello_tags"} & tables(settings)
    nothing = sv(settings, "migrate:rollback", "--plugin", "hello")
    assert nothing.exit_code == 1
    assert "nothing to roll back" in nothing.output


def test_a_failing_downgrade_leaves_the_schema_as_it_was(make_deployed):
    settings = make_deployed(tags=TAGS_FAILING_DOWNGRADE)
    before = tables(settings)
    result = sv(settings, "migrate:rollback", "--plugin", "hello")
    assert result.exit_code == 1, result.output
    assert "rollback of plugin 'hello' failed: RuntimeError: cannot archive the tags" in result.output
    assert "its schema stays at 'hello0002'" in result.output
    assert "sv db:restore" in result.output
    assert "Traceback" not in result.output
    assert tables(settings) == before  # the DROP TABLE of the failed downgrade is undone
    assert _version(settings) == "hello0002"
    assert [step for step in _log(settings) if step["direction"] == "downgrade"] == []


def test_rollback_of_an_unknown_plugin_is_a_usage_error(make_deployed):
    settings = make_deployed()
    result = sv(settings, "migrate:rollback", "--plugin", "helo")
    assert result.exit_code == 2
    assert "no plugin named 'helo' (did you mean 'hello'?)" in result.output


def test_uninstall_drops_only_that_plugins_tables_after_a_backup(make_deployed):
    settings = make_deployed()
    write_hello(settings, name="notes")
    assert sv(settings, "migrate:deploy").exit_code == 0
    assert sv(settings, "plugins:enable", "hello").exit_code == 0
    assert sv(settings, "plugins:enable", "notes").exit_code == 0

    refused = sv(settings, "plugins:uninstall", "hello")
    assert refused.exit_code == 1
    assert "cannot uninstall plugin 'hello': it is enabled for tenant-0" in refused.output
    assert tables(settings) >= HELLO_TABLES

    assert sv(settings, "plugins:disable", "hello").exit_code == 0
    others = tables(settings) - HELLO_TABLES
    result = sv(settings, "plugins:uninstall", "hello")
    assert result.exit_code == 0, result.output
    backup = backup_path(result.output)
    assert "uninstalled hello: dropped its schema (hello0002 -> base), removed its registry rows" in result.output
    assert tables(settings) == others
    assert {"notes_notes", "notes_tags", "alembic_version_notes"} <= others
    assert scalar(settings, "SELECT count(*) FROM sv_plugin_states WHERE plugin = 'hello'") == 0
    assert scalar(settings, "SELECT count(*) FROM sv_plugin_states WHERE plugin = 'notes' AND enabled") == 1

    # The backup holds what was dropped.
    assert sv(settings, "plugins:disable", "notes").exit_code == 0
    restored = sv(settings, "db:restore", str(backup))
    assert restored.exit_code == 0, restored.output
    assert scalar(settings, "SELECT body FROM hello_notes") == "kept"


def _set_flag(settings: Settings, feature: str, mode: str) -> None:
    at = datetime.now(UTC).isoformat()
    execute(
        settings,
        "INSERT INTO sv_flags (feature, route, mode, percent, tenants, sample, updated_by, updated_at, reason) "
        f"VALUES ('{feature}', '', '{mode}', 0, '[]', 100, 'test', '{at}', 'test')",
    )


def test_uninstall_refuses_to_drop_a_feature_legacy_still_serves_unless_forced(make_deployed):
    sovereign = {"engine": ">=0.1.0 <1.0.0", "entry": "plugin:Plugin", "api": 1, "feature": "blog"}
    settings = make_deployed(sovereign=sovereign)
    refused = sv(settings, "plugins:uninstall", "hello")
    assert refused.exit_code == 1, refused.output
    assert "owns the tables of the legacy feature 'blog', which legacy still serves" in refused.output
    assert "sv flags:set blog retired" in refused.output
    assert tables(settings) >= HELLO_TABLES

    forced = sv(settings, "plugins:uninstall", "hello", "--force")
    assert forced.exit_code == 0, forced.output
    assert not HELLO_TABLES & tables(settings)


def test_uninstall_of_a_retired_feature_plugin_needs_no_force(make_deployed):
    sovereign = {"engine": ">=0.1.0 <1.0.0", "entry": "plugin:Plugin", "api": 1, "feature": "blog"}
    settings = make_deployed(sovereign=sovereign)
    _set_flag(settings, "blog", "retired")
    result = sv(settings, "plugins:uninstall", "hello")
    assert result.exit_code == 0, result.output
    assert not HELLO_TABLES & tables(settings)


def test_an_enable_that_slips_past_the_first_check_undoes_the_rollback(make_deployed, monkeypatch):
    settings = make_deployed()
    assert sv(settings, "plugins:enable", "hello").exit_code == 0
    # The check before the backup misses it (as if the enable came just after): the one inside the transaction
    # must still undo the whole downgrade.
    monkeypatch.setattr("exthost.plugin_removal.refuse_if_enabled", lambda *args: None)
    result = sv(settings, "migrate:rollback", "--plugin", "hello")
    assert result.exit_code == 1, result.output
    assert "it was enabled for tenant-0 meanwhile; nothing changed" in result.output
    assert _version(settings) == "hello0002"
    assert "hello_tags" in tables(settings)
