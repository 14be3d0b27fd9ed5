"""Per-tenant migration steps: a revision's `upgrade_tenant` runs once per tenant, by `sv migrate:deploy` for every
tenant and by `sv tenants:create` for the new one; a failing step leaves that tenant's data and the registry as they
were. On SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import text

from exthost.cli import main
from exthost.migrate import upgrade_exthost
from exthost.tenant_steps import TenantStep, TenantStepStatus, run_pending_steps, tenant_step_status
from legacy_core import Settings
from legacy_core.db import make_engine
from legacy_core.migrate import upgrade
from tests.fixtures.app import make_settings
from tests.fixtures.plugins import manifest_for, write_plugin

FIRST_REVISION = '''
"""hello_notes, and a welcome note for each tenant."""

import sqlalchemy as sa
from alembic import op

revision = "hello0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "hello_notes",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
    )


def downgrade():
    op.drop_table("hello_notes")


def upgrade_tenant(connection, tenant_id):
    connection.execute(
        sa.text("INSERT INTO hello_notes (tenant_id, body) VALUES (:t, 'welcome')"), {"t": tenant_id}
    )
'''

# Writes its note, then fails for tenants whose id starts with "doomed": the note must be rolled back.
SECOND_REVISION = '''
"""A second note per tenant; fails half-way for a doomed tenant."""

import sqlalchemy as sa

revision = "hello0002"
down_revision = "hello0001"
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass


def upgrade_tenant(connection, tenant_id):
    connection.execute(
        sa.text("INSERT INTO hello_notes (tenant_id, body) VALUES (:t, 'second')"), {"t": tenant_id}
    )
    if tenant_id.startswith("doomed"):
        raise RuntimeError("the second note cannot be written")
'''


def with_steps(settings: Settings) -> Settings:
    write_plugin(
        settings.PLUGINS_DIR,
        "hello",
        manifest=manifest_for("hello", migrations="migrations"),
        files={"migrations/0001_notes.py": FIRST_REVISION, "migrations/0002_second.py": SECOND_REVISION},
    )
    return settings


def sv(settings: Settings, *args: str) -> Result:
    env = {
        "DATABASE_URL": settings.DATABASE_URL,
        "DATA_DIR": str(settings.DATA_DIR),
        "PLUGINS_DIR": str(settings.PLUGINS_DIR),
        "PLUGIN_ENTRY_POINTS": "false",
    }
    return CliRunner().invoke(main, list(args), env=env)


def query(settings: Settings, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    engine = make_engine(settings.DATABASE_URL)
    try:
        with engine.connect() as connection:
            return [tuple(row) for row in connection.execute(text(sql), params)]
    finally:
        engine.dispose()


def add_tenant_by_sql(settings: Settings, tenant: str) -> None:
    """A tenant made the old way (no steps run for it)."""
    engine = make_engine(settings.DATABASE_URL)
    try:
        with engine.begin() as connection:
            connection.execute(
                text("INSERT INTO tenants (id, name, created_at) VALUES (:t, :t, CURRENT_TIMESTAMP)"), {"t": tenant}
            )
    finally:
        engine.dispose()


def notes(settings: Settings) -> list[tuple[str, str]]:
    return sorted(query(settings, "SELECT tenant_id, body FROM hello_notes"))


def steps_recorded(settings: Settings) -> list[tuple[str, str]]:
    return sorted(query(settings, "SELECT tenant_id, revision FROM sv_tenant_steps WHERE plugin = 'hello'"))


def status(settings: Settings) -> list[TenantStepStatus]:
    engine = make_engine(settings.DATABASE_URL)
    try:
        return tenant_step_status(engine, {"hello": settings.PLUGINS_DIR / "hello" / "migrations"})
    finally:
        engine.dispose()


@pytest.fixture
def sqlite_settings(settings_factory: Callable[..., Settings]) -> Settings:
    return with_steps(settings_factory(PLUGIN_ENTRY_POINTS=False))


@pytest.fixture
def postgres_settings(postgres_url: str, tmp_path: Path) -> Settings:
    engine = make_engine(postgres_url)
    try:
        upgrade(engine)
        upgrade_exthost(engine)
    finally:
        engine.dispose()
    root = tmp_path / "pg"
    root.mkdir()
    return with_steps(make_settings(root, DATABASE_URL=postgres_url, PLUGIN_ENTRY_POINTS=False))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def settings(request: pytest.FixtureRequest) -> Settings:
    return request.getfixturevalue(f"{request.param}_settings")  # type: ignore[no-any-return]


def test_tenant_steps_deploy_runs_each_step_once_for_every_tenant(settings):
    add_tenant_by_sql(settings, "acme")
    add_tenant_by_sql(settings, "globex")
    first = sv(settings, "migrate:deploy")
    assert first.exit_code == 0, first.output
    assert (
        "plugin hello: tenant steps run: hello0001 for acme, hello0002 for acme, hello0001 for globex" in first.output
    )
    again = sv(settings, "migrate:deploy")
    assert again.exit_code == 0, again.output
    assert "tenant steps" not in again.output
    assert notes(settings) == [("acme", "second"), ("acme", "welcome"), ("globex", "second"), ("globex", "welcome")]
    assert steps_recorded(settings) == [
        ("acme", "hello0001"),
        ("acme", "hello0002"),
        ("globex", "hello0001"),
        ("globex", "hello0002"),
    ]
    assert status(settings) == [
        TenantStepStatus("hello", "acme", applied=("hello0001", "hello0002"), pending=()),
        TenantStepStatus("hello", "globex", applied=("hello0001", "hello0002"), pending=()),
    ]


def test_tenant_steps_a_failing_step_leaves_its_tenant_unchanged_and_unrecorded(settings):
    add_tenant_by_sql(settings, "acme")
    add_tenant_by_sql(settings, "doomed")
    result = sv(settings, "migrate:deploy")
    assert result.exit_code == 1
    assert (
        "tenant step of plugin 'hello' revision 'hello0002' failed for tenant 'doomed': "
        "RuntimeError: the second note cannot be written; its changes were rolled back and the step is not recorded; "
        "fix it and run `sv migrate:deploy` again"
    ) in result.output
    # The first step ran for doomed in its own transaction; the second's note is gone with its failure.
    assert notes(settings) == [("acme", "second"), ("acme", "welcome"), ("doomed", "welcome")]
    assert status(settings) == [
        TenantStepStatus("hello", "acme", applied=("hello0001", "hello0002"), pending=()),
        TenantStepStatus("hello", "doomed", applied=("hello0001",), pending=("hello0002",)),
    ]


def test_tenant_steps_status_lists_pending_steps_before_deploy_runs_them(settings):
    assert sv(settings, "migrate:deploy").exit_code == 0  # the schema, no tenant yet
    add_tenant_by_sql(settings, "acme")
    assert status(settings) == [TenantStepStatus("hello", "acme", applied=(), pending=("hello0001", "hello0002"))]


def test_tenant_steps_status_leaves_out_plugins_without_steps(sqlite_settings):
    write_plugin(sqlite_settings.PLUGINS_DIR, "plain")
    add_tenant_by_sql(sqlite_settings, "acme")
    assert sv(sqlite_settings, "migrate:deploy").exit_code == 0
    engine = make_engine(sqlite_settings.DATABASE_URL)
    try:
        rows = tenant_step_status(
            engine,
            {
                "hello": sqlite_settings.PLUGINS_DIR / "hello" / "migrations",
                "plain": sqlite_settings.PLUGINS_DIR / "plain",
            },
        )
    finally:
        engine.dispose()
    assert [(row.plugin, row.tenant) for row in rows] == [("hello", "acme")]


def test_tenants_create_runs_every_step_for_the_new_tenant(settings):
    assert sv(settings, "migrate:deploy").exit_code == 0
    result = sv(settings, "tenants:create", "acme", "--name", "Acme")
    assert result.exit_code == 0, result.output
    assert "tenant step hello hello0001: applied" in result.output
    assert "tenant step hello hello0002: applied" in result.output
    assert notes(settings) == [("acme", "second"), ("acme", "welcome")]
    assert steps_recorded(settings) == [("acme", "hello0001"), ("acme", "hello0002")]


def test_tenants_create_with_a_failing_step_creates_nothing(settings):
    assert sv(settings, "migrate:deploy").exit_code == 0
    result = sv(settings, "tenants:create", "doomed-co", "--name", "Doomed")
    assert result.exit_code == 1
    assert (
        "tenant 'doomed-co' was not created: tenant step of plugin 'hello' revision 'hello0002' failed" in result.output
    )
    assert query(settings, "SELECT id FROM tenants WHERE id = 'doomed-co'") == []
    assert notes(settings) == []
    assert steps_recorded(settings) == []


def test_tenant_steps_run_only_for_revisions_already_applied(sqlite_settings):
    """Before deploy, the plugin's tables do not exist: tenants:create runs no step, deploy runs them later."""
    created = sv(sqlite_settings, "tenants:create", "acme", "--name", "Acme")
    assert created.exit_code == 0, created.output
    assert "tenant step" not in created.output
    deployed = sv(sqlite_settings, "migrate:deploy")
    assert deployed.exit_code == 0, deployed.output
    assert notes(sqlite_settings) == [("acme", "second"), ("acme", "welcome")]


def test_tenant_steps_a_step_that_is_not_a_function_is_a_clear_error(sqlite_settings):
    folder = sqlite_settings.PLUGINS_DIR / "hello" / "migrations"
    (folder / "0002_second.py").write_text(
        SECOND_REVISION.split("def upgrade_tenant")[0] + "upgrade_tenant = 'not a function'\n", encoding="utf-8"
    )
    add_tenant_by_sql(sqlite_settings, "acme")
    result = sv(sqlite_settings, "migrate:deploy")
    assert result.exit_code == 1
    assert "revision 'hello0002'" in result.output
    assert "upgrade_tenant is str, not a function" in result.output


@pytest.mark.postgres
def test_tenant_steps_two_deploys_at_once_run_a_step_once(postgres_settings):
    """The second deploy waits on the first's record of the step, then skips it instead of running it again."""
    add_tenant_by_sql(postgres_settings, "acme")
    started, release = threading.Event(), threading.Event()
    calls: list[str] = []

    def step(connection: Any, tenant: str) -> None:
        calls.append(tenant)
        started.set()
        release.wait(30)

    engine = make_engine(postgres_settings.DATABASE_URL, pool_size=4)
    steps = [TenantStep("hello", "hello0001", step)]
    ran: dict[str, list[tuple[str, str]]] = {}

    def deploy(name: str) -> None:
        ran[name] = run_pending_steps(engine, steps, lambda: datetime.now(UTC))

    try:
        first = threading.Thread(target=deploy, args=("first",))
        first.start()
        assert started.wait(30)
        second = threading.Thread(target=deploy, args=("second",))
        second.start()
        # Until the second waits on the first's uncommitted record (or, were it not recorded first, runs the step).
        with engine.connect() as connection:
            while (
                len(calls) < 2
                and not connection.execute(text("SELECT count(*) FROM pg_locks WHERE NOT granted")).scalar()
            ):
                connection.rollback()
        release.set()
        first.join(30)
        second.join(30)
    finally:
        release.set()
        engine.dispose()
    assert calls == ["acme"]
    assert ran == {"first": [("hello0001", "acme")], "second": []}
    assert steps_recorded(postgres_settings) == [("acme", "hello0001")]


def test_migrate_status_names_the_tenant_steps_still_pending(sqlite_settings: Settings) -> None:
    import json

    from tests.exthost.schema_plugins import with_feature_plugins

    settings = sqlite_settings
    with_feature_plugins(settings.PLUGINS_DIR)  # the feature schemas the test database has, with their plugins
    assert sv(settings, "migrate:deploy").exit_code == 0
    add_tenant_by_sql(settings, "late")  # made the old way: its steps have not run
    waiting = sv(settings, "migrate:status", "--json")
    assert waiting.exit_code == 1, waiting.output
    (hello,) = [h for h in json.loads(waiting.output)["histories"] if h["history"] == "plugin:hello"]
    assert hello["pendingTenantSteps"] == {"late": ["hello0001", "hello0002"]} and hello["atHead"] is False
    shown = sv(settings, "migrate:status")
    assert "tenant late: hello0001, hello0002" in shown.output
    assert sv(settings, "migrate:deploy").exit_code == 0
    done = sv(settings, "migrate:status", "--json")
    assert done.exit_code == 0, done.output
    (hello,) = [h for h in json.loads(done.output)["histories"] if h["history"] == "plugin:hello"]
    assert hello["pendingTenantSteps"] == {} and hello["atHead"] is True
