"""`sv migrate:status` and the backup `sv migrate:deploy` takes first: pending, clean, the log, failures."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from exthost.cli import main
from legacy_core import Settings
from tests.exthost.schema_plugins import (
    TAGS_FAILING_UPGRADE,
    backup_path,
    content_digest,
    execute,
    sv,
    tables,
    write_hello,
)


@pytest.fixture(params=["sqlite", "postgresql"])
def settings(request: pytest.FixtureRequest, settings_factory: Callable[..., Settings]) -> Settings:
    """An empty PostgreSQL database or a migrated SQLite one (core and registry at head), with the hello plugin."""
    if request.param == "postgresql":
        settings = settings_factory(PLUGIN_ENTRY_POINTS=False, DATABASE_URL=request.getfixturevalue("postgres_url"))
    else:
        settings = settings_factory(PLUGIN_ENTRY_POINTS=False)
    write_hello(settings)
    return settings


def _status(settings: Settings) -> tuple[int, dict]:
    result = sv(settings, "migrate:status", "--json")
    assert "Traceback" not in result.output
    return result.exit_code, json.loads(result.output)


def _history(report: dict, name: str) -> dict:
    [found] = [h for h in report["histories"] if h["history"] == name]
    return found


def test_status_shows_pending_then_is_clean_after_deploy(settings: Settings):
    if settings.DATABASE_URL.startswith("postgresql"):
        assert sv(settings, "migrate:deploy", "--plugin", "hello").exit_code == 0
        execute(settings, "DELETE FROM alembic_version_hello")  # hello's schema "not there yet" on PostgreSQL too
        execute(settings, "DROP TABLE hello_tags", "DROP TABLE hello_notes")
    code, report = _status(settings)
    assert code == 1
    assert report["pending"] is True and report["atHead"] is False
    hello = _history(report, "plugin:hello")
    assert hello["current"] is None
    assert hello["head"] == "hello0002"
    assert hello["pending"] == [
        {"revision": "hello0001", "description": "Create hello_notes: the notes the hello plugin keeps per tenant."},
        {"revision": "hello0002", "description": "Create hello_tags and tag every note."},
    ]
    assert hello["tenants"] == []
    assert _history(report, "core")["atHead"] is True
    assert _history(report, "exthost")["atHead"] is True

    deployed = sv(settings, "migrate:deploy")
    assert deployed.exit_code == 0, deployed.output
    backup = backup_path(deployed.output)
    assert sv(settings, "plugins:enable", "hello").exit_code == 0

    code, report = _status(settings)
    assert code == 0, report
    assert report["atHead"] is True
    hello = _history(report, "plugin:hello")
    assert (hello["current"], hello["pending"], hello["tenants"]) == ("hello0002", [], ["tenant-0"])
    # The newest step of hello's history (the feature plugins' first deploy on PostgreSQL logs steps too).
    step = [entry for entry in report["history"] if entry["history"] == "plugin:hello"][-1]
    assert (step["from_revision"], step["to_revision"], step["direction"]) == (None, "hello0002", "upgrade")
    assert step["backup"] == str(backup)
    assert step["tenant_id"] is None
    assert "migrate:deploy" in step["by"]


def test_status_table_and_exit_code_for_people(settings_factory):
    settings = settings_factory(PLUGIN_ENTRY_POINTS=False)
    write_hello(settings)
    result = sv(settings, "migrate:status")
    assert result.exit_code == 1
    assert "plugin:hello" in result.output
    assert "hello0001 Create hello_notes" in result.output
    assert "revisions are pending: run `sv migrate:deploy`" in result.output


def test_first_deploy_of_an_empty_database_logs_every_history_and_takes_no_backup(tmp_path: Path):
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'new.db'}", "DATA_DIR": str(tmp_path / "data")}
    env["PLUGINS_DIR"] = str(tmp_path / "plugins")
    result = CliRunner().invoke(main, ["migrate:deploy"], env=env)
    assert result.exit_code == 0, result.output
    assert "backup: none taken, the database is empty" in result.output
    assert not (tmp_path / "data" / "backups").exists()
    status = CliRunner().invoke(main, ["migrate:status", "--json"], env=env)
    assert status.exit_code == 0, status.output
    log = json.loads(status.output)["history"]
    assert [(step["history"], step["from_revision"], step["backup"]) for step in log] == [
        ("core", None, None),
        ("exthost", None, None),
    ]


def test_deploy_backs_up_first_and_a_failing_plugin_migration_prints_the_restore_command(settings: Settings):
    (settings.PLUGINS_DIR / "hello" / "migrations" / "0002_tags.py").unlink()
    assert sv(settings, "migrate:deploy").exit_code == 0
    execute(settings, "INSERT INTO hello_notes (id, tenant_id, body) VALUES (1, 't', 'kept')")
    write_hello(settings, tags=TAGS_FAILING_UPGRADE)
    before = content_digest(settings)

    result = sv(settings, "migrate:deploy")
    assert result.exit_code == 1, result.output
    backup = backup_path(result.output)
    assert backup.is_file() and backup.with_name(backup.name + ".json").is_file()
    assert "backup failed" not in result.output
    assert "migration of plugin 'hello' failed: RuntimeError: backfill of hello_tags failed" in result.output
    assert f"sv db:restore {backup}" in result.output
    assert "Traceback" not in result.output
    assert content_digest(settings) == before
    assert "hello_tags" not in tables(settings)

    # The command it printed works.
    restored = sv(settings, "db:restore", str(backup))
    assert restored.exit_code == 0, restored.output
    assert content_digest(settings) == before


def test_deploy_with_nothing_pending_takes_no_backup(settings_factory):
    settings = settings_factory(PLUGIN_ENTRY_POINTS=False)
    write_hello(settings)
    first = sv(settings, "migrate:deploy")
    assert first.exit_code == 0
    backup_path(first.output)
    again = sv(settings, "migrate:deploy")
    assert again.exit_code == 0, again.output
    assert "backup: none taken, nothing is pending" in again.output
    assert len(list(settings.backup_dir.glob("*.json"))) == 1


def test_deploy_no_backup_skips_it(settings_factory):
    settings = settings_factory(PLUGIN_ENTRY_POINTS=False)
    write_hello(settings)
    result = sv(settings, "migrate:deploy", "--no-backup")
    assert result.exit_code == 0, result.output
    assert "backup" not in result.output
    assert not settings.backup_dir.exists()


def test_status_names_a_broken_plugin_and_an_unreachable_database_in_one_line(settings_factory):
    settings = settings_factory(PLUGIN_ENTRY_POINTS=False)
    write_hello(settings)
    (settings.PLUGINS_DIR / "broken").mkdir()
    (settings.PLUGINS_DIR / "broken" / "plugin.json").write_text("{not json", encoding="utf-8")
    code, report = _status(settings)
    assert code == 3
    broken = _history(report, "plugin:broken")
    assert broken["error"] and "plugin.json" in broken["error"]
    assert _history(report, "plugin:hello")["error"] is None

    env = {"DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:1/none", "PLUGINS_DIR": str(settings.PLUGINS_DIR)}
    unreachable = CliRunner().invoke(main, ["migrate:status"], env=env)
    assert unreachable.exit_code == 3
    assert "cannot reach the database 'postgresql+psycopg://nobody@127.0.0.1:1/none'" in unreachable.output
    assert "Traceback" not in unreachable.output


def test_a_backup_that_fails_stops_the_deploy_before_anything_changes(settings_factory, tmp_path: Path):
    not_a_folder = tmp_path / "backups-is-a-file"
    not_a_folder.write_text("")
    settings = settings_factory(PLUGIN_ENTRY_POINTS=False, BACKUP_DIR=not_a_folder)
    write_hello(settings)
    before = tables(settings)
    result = sv(settings, "migrate:deploy")
    assert result.exit_code == 1, result.output
    assert "failed, nothing was changed" in result.output
    assert "Traceback" not in result.output
    assert tables(settings) == before


def test_status_names_a_plugin_schema_whose_folder_is_gone(settings_factory):
    import shutil

    settings = settings_factory(PLUGIN_ENTRY_POINTS=False)
    write_hello(settings)
    assert sv(settings, "migrate:deploy").exit_code == 0
    shutil.rmtree(settings.PLUGINS_DIR / "hello")
    code, report = _status(settings)
    assert code == 3
    hello = _history(report, "plugin:hello")
    assert hello["current"] == "hello0002"
    assert "no plugin 'hello' is discovered in PLUGINS_DIR, but the database has its schema" in hello["error"]
