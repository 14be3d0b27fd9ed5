"""Where every schema history of a database stands: core, the plugin registry, each plugin, against their heads.

A history that cannot be read (an unreachable database, a plugin whose manifest or revision files are broken) is
a status with an `error`, never an exception: `sv migrate:status` prints one line for it and goes on.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from sqlalchemy import inspect, select

from exthost.migrate import (
    EXTHOST_VERSION_TABLE,
    EXTHOST_VERSIONS,
    Revision,
    pending_revisions,
    plugin_current_revision,
    script_of,
)
from exthost.migration_log import CORE, EXTHOST, plugin_history
from exthost.tenant_steps import tenant_step_status

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from legacy_core.settings import Settings


@dataclass(frozen=True)
class HistoryStatus:
    """One history: its revision in the database, its head on disk and what lies between."""

    history: str
    current: str | None = None
    head: str | None = None
    pending: list[Revision] = field(default_factory=list)
    tenants: list[str] | None = None  # plugins: the tenants it is enabled for
    error: str | None = None
    # Plugins: per tenant, the per-tenant steps of applied revisions that have not run for it (exthost.tenant_steps).
    tenant_steps: dict[str, list[str]] = field(default_factory=dict)

    @property
    def at_head(self) -> bool:
        return self.error is None and not self.pending and self.current == self.head and not self.tenant_steps

    def as_dict(self) -> dict[str, Any]:
        return {
            "history": self.history,
            "current": self.current,
            "head": self.head,
            "pending": [{"revision": r.id, "description": r.description} for r in self.pending],
            "tenants": self.tenants,
            "pendingTenantSteps": self.tenant_steps,
            "atHead": self.at_head,
            "error": self.error,
        }


def _problem(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def enabled_tenants(engine: Engine) -> dict[str, list[str]]:
    """Each plugin's tenants in the registry (enabled rows only); empty before the registry exists."""
    from exthost.registry import plugin_states

    with engine.connect() as connection:
        if not inspect(connection).has_table(plugin_states.name):
            return {}
        query = select(plugin_states.c.plugin, plugin_states.c.tenant_id).where(plugin_states.c.enabled.is_(True))
        found: dict[str, list[str]] = {}
        for plugin, tenant in connection.execute(query.order_by(plugin_states.c.tenant_id)):
            found.setdefault(plugin, []).append(tenant)
    return found


def _status(history: str, current: str | None, script: Any, tenants: list[str] | None = None) -> HistoryStatus:
    try:
        head = script.get_current_head()
        pending = pending_revisions(script, current)
    except Exception as exc:  # a current revision the files do not know, several heads, …
        return HistoryStatus(history, current, None, tenants=tenants, error=_problem(exc))
    return HistoryStatus(history, current, head, pending, tenants)


def core_status(engine: Engine) -> HistoryStatus:
    from alembic.script import ScriptDirectory

    from legacy_core.migrate import alembic_config, current_revision

    try:
        current = current_revision(engine)
    except Exception as exc:
        shown = engine.url.render_as_string(hide_password=True)
        return HistoryStatus(CORE, error=f"cannot reach the database {shown!r}: {_problem(exc)}")
    return _status(CORE, current, ScriptDirectory.from_config(alembic_config(engine)))


def exthost_status(engine: Engine) -> HistoryStatus:
    from exthost.migrate import exthost_revisions

    try:
        current, _ = exthost_revisions(engine)
        script = script_of(EXTHOST_VERSIONS, engine, EXTHOST_VERSION_TABLE)
    except Exception as exc:
        return HistoryStatus(EXTHOST, error=_problem(exc))
    return _status(EXTHOST, current, script)


def plugin_statuses(settings: Settings, engine: Engine, only: tuple[str, ...] = ()) -> list[HistoryStatus]:
    """Every discovered plugin with a migrations folder (or `only` these), an invalid plugin as an error, and a
    plugin the database has a schema for but that is no longer discovered."""
    from exthost.deploy import migrations_folder
    from exthost.host import ExtensionHost
    from exthost.migrate import plugin_version_table

    tenants = enabled_tenants(engine)
    host = ExtensionHost(settings, name="migrate-status")
    statuses: list[HistoryStatus] = []
    try:
        host.discover()
        for name in sorted(host.plugins):
            if only and name not in only:
                continue
            record = host.plugins[name]
            history = plugin_history(name)
            if record.manifest is None:
                statuses.append(HistoryStatus(history, error=f"{record.state}: {record.reason}"))
                continue
            try:
                folder = migrations_folder(record)
                if folder is None:
                    continue
                current = plugin_current_revision(engine, name)
                script = script_of(folder, engine, plugin_version_table(name))
            except Exception as exc:
                statuses.append(HistoryStatus(history, tenants=tenants.get(name, []), error=_problem(exc)))
                continue
            status = _status(history, current, script, tenants.get(name, []))
            try:
                # Steps belong to applied revisions only: none before the plugin's first (nor the tables they need).
                rows = tenant_step_status(engine, {name: folder}) if current is not None else []
                waiting = {row.tenant: list(row.pending) for row in rows}
                status = replace(status, tenant_steps={tenant: steps for tenant, steps in waiting.items() if steps})
            except Exception as exc:
                status = replace(status, error=f"its tenant steps cannot be read: {_problem(exc)}")
            if record.state == "invalid" and status.error is None:
                status = replace(status, error=f"invalid: {record.reason}")
            statuses.append(status)
        known = set(host.plugins)
    finally:
        host.services.engine.dispose()
    prefix = "alembic_version_"
    for table in sorted(inspect(engine).get_table_names()):
        name = table.removeprefix(prefix)
        if table.startswith(prefix) and name not in known and (not only or name in only):
            statuses.append(
                HistoryStatus(
                    plugin_history(name),
                    current=plugin_current_revision(engine, name),
                    tenants=tenants.get(name, []),
                    error=f"no plugin {name!r} is discovered in PLUGINS_DIR, but the database has its schema "
                    f"({table}); put its folder back to migrate or uninstall it",
                )
            )
    return statuses


def schema_status(settings: Settings, engine: Engine, only: tuple[str, ...] = ()) -> list[HistoryStatus]:
    """Core, registry and plugin histories; when the database cannot be reached, that one error."""
    core = core_status(engine)
    if core.error is not None and core.error.startswith("cannot reach"):
        return [core]
    return [core, exthost_status(engine), *plugin_statuses(settings, engine, only)]
