"""The per-tenant migration registry: a plugin revision's optional `upgrade_tenant(connection, tenant_id)` step, run
once per (plugin, revision, tenant) and recorded in `sv_tenant_steps`.

A revision changes the schema once for everyone (`upgrade()`); its tenant step prepares one tenant's data for it
(default rows, a backfill scoped to the tenant). `sv migrate:deploy` runs every pending step for every tenant of the
`tenants` table, oldest revision first, each step in its own transaction with its registry row: a step that raises
leaves that tenant's data as it was and the step unrecorded, so the next deploy runs it again. `sv tenants:create`
runs every plugin's steps for the new tenant in the transaction that creates it. Only the steps of revisions already
applied to the database run: a step may rely on its revision's tables.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Column, Connection, DateTime, Engine, MetaData, String, Table, insert, select
from sqlalchemy.exc import IntegrityError

from exthost.errors import PluginMigrationError
from exthost.migrate import ENV_DIR, plugin_current_revision, plugin_version_table
from legacy_core.db import transaction_with_ddl
from legacy_core.models import Tenant

STEP_FUNCTION = "upgrade_tenant"

metadata = MetaData()

tenant_steps = Table(
    "sv_tenant_steps",
    metadata,
    Column("plugin", String(40), primary_key=True),
    Column("revision", String(64), primary_key=True),
    Column("tenant_id", String(64), primary_key=True),
    Column("applied_at", DateTime(timezone=True), nullable=False),
)


@dataclass(frozen=True)
class TenantStep:
    """One revision's tenant step."""

    plugin: str
    revision: str
    run: Callable[[Connection, str], None]


@dataclass(frozen=True)
class TenantStepStatus:
    """Which tenant steps of one plugin ran for one tenant, and which are pending (both oldest first)."""

    plugin: str
    tenant: str
    applied: tuple[str, ...]
    pending: tuple[str, ...]


def plugin_steps(engine: Engine, plugin: str, folder: Path) -> list[TenantStep]:
    """The tenant steps of the plugin's revisions that are applied to the database, oldest first."""
    current = plugin_current_revision(engine, plugin)
    if current is None:
        return []
    config = Config()
    config.set_main_option("script_location", str(ENV_DIR))
    config.set_main_option("version_locations", str(folder))
    config.set_main_option("path_separator", "os")
    config.attributes["version_table"] = plugin_version_table(plugin)
    script = ScriptDirectory.from_config(config)
    steps: list[TenantStep] = []
    for revision in reversed(list(script.iterate_revisions(current, "base"))):
        function = getattr(revision.module, STEP_FUNCTION, None)
        if function is None:
            continue
        if not callable(function):
            raise PluginMigrationError(
                f"plugin {plugin!r}: revision {revision.revision!r} ({revision.path}): {STEP_FUNCTION} is "
                f"{type(function).__name__}, not a function; define `def {STEP_FUNCTION}(connection, tenant_id):`"
            )
        steps.append(TenantStep(plugin, revision.revision, function))
    return steps


def tenant_ids(connection: Connection) -> list[str]:
    """Every tenant of the `tenants` table, sorted."""
    return list(connection.scalars(select(Tenant.__table__.c.id).order_by(Tenant.__table__.c.id)))


def applied_steps(connection: Connection, plugin: str) -> dict[str, set[str]]:
    """tenant -> revisions whose step ran for it, for one plugin."""
    found: dict[str, set[str]] = {}
    query = select(tenant_steps.c.tenant_id, tenant_steps.c.revision).where(tenant_steps.c.plugin == plugin)
    for tenant, revision in connection.execute(query):
        found.setdefault(tenant, set()).add(revision)
    return found


def apply_step(connection: Connection, step: TenantStep, tenant: str, now: datetime) -> None:
    """Record one step for one tenant and run it, in the caller's transaction; PluginMigrationError when it raises
    (the caller rolls the transaction back, so the tenant's data stays as it was).

    The record is written first: a second deploy running the same step at once waits on that row (PostgreSQL) or on
    the write lock (SQLite) and then fails on its key with IntegrityError, before running the step a second time.
    """
    connection.execute(
        insert(tenant_steps).values(plugin=step.plugin, revision=step.revision, tenant_id=tenant, applied_at=now)
    )
    try:
        step.run(connection, tenant)
    except Exception as exc:
        raise PluginMigrationError(
            f"tenant step of plugin {step.plugin!r} revision {step.revision!r} failed for tenant {tenant!r}: "
            f"{type(exc).__name__}: {exc}; its changes were rolled back and the step is not recorded"
        ) from exc


def run_pending_steps(
    engine: Engine, steps: Sequence[TenantStep], now: Callable[[], datetime], tenants: Iterable[str] | None = None
) -> list[tuple[str, str]]:
    """Run every pending step of `steps` (one plugin's) for `tenants` (every tenant by default), each in its own
    transaction; the (revision, tenant) pairs that ran. A failure raises PluginMigrationError after rolling that step
    back; the steps that ran before it stay recorded."""
    if not steps:
        return []
    plugin = steps[0].plugin
    with engine.connect() as connection:
        done = applied_steps(connection, plugin)
        wanted = list(tenants) if tenants is not None else tenant_ids(connection)
    ran: list[tuple[str, str]] = []
    for tenant in wanted:
        for step in steps:
            if step.revision in done.get(tenant, set()):
                continue
            try:
                with engine.connect() as connection, transaction_with_ddl(connection):
                    apply_step(connection, step, tenant, now())
            except IntegrityError:
                continue  # another deploy ran and recorded it meanwhile
            except PluginMigrationError as exc:
                raise PluginMigrationError(f"{exc}; fix it and run `sv migrate:deploy` again") from exc
            ran.append((step.revision, tenant))
    return ran


def tenant_step_status(engine: Engine, folders: Mapping[str, Path]) -> list[TenantStepStatus]:
    """Per (plugin, tenant): the tenant steps applied and pending, for every plugin of `folders` (plugin -> its
    migrations folder) and every tenant of the `tenants` table. Plugins without steps are left out."""
    rows: list[TenantStepStatus] = []
    with engine.connect() as connection:
        tenants = tenant_ids(connection)
        for plugin in sorted(folders):
            steps = plugin_steps(engine, plugin, folders[plugin])
            if not steps:
                continue
            done = applied_steps(connection, plugin)
            for tenant in tenants:
                ran = done.get(tenant, set())
                rows.append(
                    TenantStepStatus(
                        plugin,
                        tenant,
                        applied=tuple(s.revision for s in steps if s.revision in ran),
                        pending=tuple(s.revision for s in steps if s.revision not in ran),
                    )
                )
    return rows
