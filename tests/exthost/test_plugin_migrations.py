"""Plugin schema migrations: `sv migrate:deploy` applies them; the host refuses a plugin whose schema lags."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import inspect, text

from exthost.cli import main
from exthost.errors import PluginStateError
from exthost.host import ExtensionHost
from legacy_core import Settings
from legacy_core.db import make_engine
from legacy_core.migrate import current_revision
from tests.fixtures.plugins import manifest_for, write_plugin

NOTES_REVISION = '''
"""Create hello_notes: the notes the hello plugin keeps per tenant."""

import sqlalchemy as sa
from alembic import op

revision = "hello0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "hello_notes",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
    )


def downgrade():
    op.drop_table("hello_notes")
'''

# Creates its table, then fails: the create must be rolled back with the rest of the revision.
HALFWAY_REVISION = '''
"""Create hello_tags, then fail before the revision completes."""

import sqlalchemy as sa
from alembic import op

revision = "hello0002"
down_revision = "hello0001"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table("hello_tags", sa.Column("id", sa.Integer, primary_key=True))
    raise RuntimeError("backfill of hello_tags failed")


def downgrade():
    op.drop_table("hello_tags")
'''


@pytest.fixture
def settings(settings_factory: Callable[..., Settings]) -> Settings:
    """Settings whose plugin folder holds `hello` with one revision in its `migrations` folder."""
    settings = settings_factory(PLUGIN_ENTRY_POINTS=False)
    write_plugin(
        settings.PLUGINS_DIR,
        "hello",
        manifest=manifest_for("hello", migrations="migrations"),
        files={"migrations/0001_notes.py": NOTES_REVISION},
    )
    return settings


def _sv(settings: Settings, *args: str) -> Result:
    env = {
        "DATABASE_URL": settings.DATABASE_URL,
        "DATA_DIR": str(settings.DATA_DIR),
        "PLUGINS_DIR": str(settings.PLUGINS_DIR),
        "PLUGIN_ENTRY_POINTS": "false",
    }
    return CliRunner().invoke(main, list(args), env=env)


def _tables(settings: Settings) -> set[str]:
    engine = make_engine(settings.DATABASE_URL)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def _plugin_version(settings: Settings) -> str | None:
    engine = make_engine(settings.DATABASE_URL)
    try:
        with engine.connect() as connection:
            return connection.execute(text("SELECT version_num FROM alembic_version_hello")).scalar_one_or_none()
    finally:
        engine.dispose()


def _core_revision(settings: Settings) -> str | None:
    engine = make_engine(settings.DATABASE_URL)
    try:
        return current_revision(engine)
    finally:
        engine.dispose()


def test_the_host_refuses_to_enable_a_plugin_whose_migrations_are_pending(
    settings, host_factory: Callable[..., ExtensionHost]
):
    host = host_factory(settings)
    with pytest.raises(PluginStateError, match=r"run `sv migrate:deploy --plugin hello` first"):
        host.enable("hello")
    assert host.get("hello").tenants == set()
    assert host.registry.rows() == []
    result = _sv(settings, "plugins:enable", "hello")
    assert result.exit_code == 1, result.output
    assert "its schema is at nothing, head is hello0001" in result.output


def test_migrate_deploy_applies_plugin_revisions_in_their_own_version_table(settings):
    tables_before = _tables(settings)
    core_before = _core_revision(settings)
    assert "hello_notes" not in tables_before

    result = _sv(settings, "migrate:deploy")
    assert result.exit_code == 0, result.output
    assert "plugin hello: <empty> -> hello0001" in result.output
    assert _tables(settings) - tables_before == {"hello_notes", "alembic_version_hello"}
    assert _plugin_version(settings) == "hello0001"
    # The core schema and its version table are not the plugin's to touch.
    assert _core_revision(settings) == core_before
    assert f"database already at {core_before}" in result.output

    enabled = _sv(settings, "plugins:enable", "hello")
    assert enabled.exit_code == 0, enabled.output
    assert "enabled hello for tenant-0" in enabled.output


def test_migrate_deploy_of_one_plugin_leaves_the_others_alone(settings):
    write_plugin(
        settings.PLUGINS_DIR,
        "notes",
        manifest=manifest_for("notes", migrations="migrations"),
        files={"migrations/0001_notes.py": NOTES_REVISION.replace("hello", "notes")},
    )
    result = _sv(settings, "migrate:deploy", "--plugin", "hello")
    assert result.exit_code == 0, result.output
    assert "plugin hello: <empty> -> hello0001" in result.output
    assert "plugin notes" not in result.output
    tables = _tables(settings)
    assert "hello_notes" in tables
    assert "notes_notes" not in tables
    assert "alembic_version_notes" not in tables


def test_migrate_deploy_twice_says_already_at(settings):
    assert _sv(settings, "migrate:deploy").exit_code == 0
    again = _sv(settings, "migrate:deploy")
    assert again.exit_code == 0, again.output
    assert "plugin hello: already at hello0001" in again.output
    assert _plugin_version(settings) == "hello0001"


def test_migrate_deploy_of_an_unknown_plugin_is_a_usage_error(settings):
    result = _sv(settings, "migrate:deploy", "--plugin", "helo")
    assert result.exit_code == 2, result.output
    assert "no plugin named 'helo' (did you mean 'hello'?)" in result.output
    assert "Traceback" not in result.output
    assert "hello_notes" not in _tables(settings)


def test_a_revision_failing_halfway_is_rolled_back_whole(settings):
    assert _sv(settings, "migrate:deploy").exit_code == 0
    (settings.PLUGINS_DIR / "hello" / "migrations" / "0002_tags.py").write_text(HALFWAY_REVISION, encoding="utf-8")

    result = _sv(settings, "migrate:deploy")
    assert result.exit_code == 1, result.output
    assert "migration of plugin 'hello' failed: RuntimeError: backfill of hello_tags failed" in result.output
    assert "its schema stays at revision 'hello0001'" in result.output
    assert "Traceback" not in result.output
    # SQLite DDL is transactional: the CREATE TABLE of the failed revision is undone with it.
    tables = _tables(settings)
    assert "hello_tags" not in tables
    assert "hello_notes" in tables
    assert _plugin_version(settings) == "hello0001"


def test_a_first_revision_failing_halfway_leaves_no_schema_at_all(settings):
    (settings.PLUGINS_DIR / "hello" / "migrations" / "0001_notes.py").write_text(
        HALFWAY_REVISION.replace('down_revision = "hello0001"', "down_revision = None"), encoding="utf-8"
    )
    result = _sv(settings, "migrate:deploy")
    assert result.exit_code == 1, result.output
    assert "migration of plugin 'hello' failed" in result.output
    assert "its schema stays at revision None" in result.output
    tables = _tables(settings)
    assert "hello_tags" not in tables
    assert "alembic_version_hello" not in tables


UNREADABLE_REVISION = "import hello_helpers_that_do_not_exist\n" + HALFWAY_REVISION


def test_a_revision_file_that_cannot_be_imported_is_a_clear_error(settings):
    assert _sv(settings, "migrate:deploy").exit_code == 0
    (settings.PLUGINS_DIR / "hello" / "migrations" / "0002_tags.py").write_text(UNREADABLE_REVISION, encoding="utf-8")
    result = _sv(settings, "migrate:deploy")
    assert result.exit_code == 1, result.output
    assert "migration of plugin 'hello' failed: ModuleNotFoundError:" in result.output
    assert "hello_helpers_that_do_not_exist" in result.output
    assert "its schema stays at revision 'hello0001'" in result.output
    assert isinstance(result.exception, SystemExit)  # a ClickException, not an escaped ImportError


def test_an_enabled_plugin_with_unreadable_revisions_fails_alone(settings):
    assert _sv(settings, "migrate:deploy").exit_code == 0
    assert _sv(settings, "plugins:enable", "hello").exit_code == 0
    (settings.PLUGINS_DIR / "hello" / "migrations" / "0002_tags.py").write_text(UNREADABLE_REVISION, encoding="utf-8")
    result = _sv(settings, "plugins:list", "--json")
    assert result.exit_code == 0, result.output
    [row] = json.loads(result.output)
    assert row["state"] == "failed"
    assert "hello_helpers_that_do_not_exist" in row["reason"]
