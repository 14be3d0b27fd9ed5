"""Rolling a plugin's schema back and uninstalling a plugin, with the refusals that keep data safe.

Both are refused while the plugin is enabled for any tenant (a serving plugin would lose its tables under it).
Uninstall is also refused while the plugin owns the tables of a legacy feature that legacy still serves (any flag
of that feature, or a route of it, short of `retired`): legacy would lose its tables. Each runs in one transaction
with its migration log row (and, for uninstall, the removal of the registry rows), so a failure changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, delete, insert, inspect, select, update

from exthost.errors import PluginNotFound, PluginStateError
from exthost.migrate import downgrade_plugin, plugin_current_revision, plugin_version_table, remove_plugin_schema
from exthost.schema_status import enabled_tenants

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from exthost.migration_log import LogBook
    from legacy_core.settings import Settings

BASE = "base"


@dataclass(frozen=True)
class PluginSchema:
    """What removing a plugin's schema needs to know of it."""

    name: str
    folder: Path | None  # its migrations folder; None when it has none
    feature: str | None  # the legacy feature it reimplements


def locate(settings: Settings, name: str) -> PluginSchema:
    """Discover plugin `name` (nothing imported but its revision files later). PluginNotFound for an unknown name,
    PluginStateError for a plugin whose manifest or migrations folder cannot be used."""
    from exthost.deploy import migrations_folder
    from exthost.host import ExtensionHost

    host = ExtensionHost(settings, name="migrate")
    try:
        host.discover()
        record = host.plugins.get(name)
        if record is None:
            raise PluginNotFound(name, host.plugins)
        if record.manifest is None:
            raise PluginStateError(f"plugin {name!r} is {record.state}: {record.reason}; fix its manifest first")
        try:
            folder = migrations_folder(record)
        except Exception as exc:
            raise PluginStateError(f"plugin {name!r}: {type(exc).__name__}: {exc}") from exc
        return PluginSchema(name, folder, record.manifest.sovereign.feature)
    finally:
        host.services.engine.dispose()


def refuse_if_enabled(engine: Engine, name: str, action: str) -> None:
    """PluginStateError naming the tenants `name` is enabled for, and how to disable it, if any."""
    tenants = enabled_tenants(engine).get(name, [])
    if tenants:
        how = "; ".join(f"sv plugins:disable {name} --tenant {tenant}" for tenant in tenants)
        raise PluginStateError(
            f"cannot {action} plugin {name!r}: it is enabled for {', '.join(tenants)}; disable it for every "
            f"tenant first ({how})"
        )


def legacy_serves(engine: Engine, feature: str) -> bool:
    """Whether legacy still answers some route of `feature`: its flag, or a route's, is short of `retired` (no flag
    means legacy)."""
    from exthost.rollout.flagstore import flags_table

    with engine.connect() as connection:
        if not inspect(connection).has_table(flags_table.name):
            return True
        rows = connection.execute(
            select(flags_table.c.route, flags_table.c.mode).where(flags_table.c.feature == feature)
        ).all()
    modes = {route: mode for route, mode in rows}
    if modes.get("", "legacy") != "retired":
        return True
    return any(mode != "retired" for mode in modes.values())


def _check_enabled_in(connection: Connection, name: str, action: str) -> None:
    # Checked again inside the transaction: a plugin enabled since the first check makes the whole change undone.
    from exthost.registry import plugin_states

    query = select(plugin_states.c.tenant_id).where(plugin_states.c.plugin == name, plugin_states.c.enabled.is_(True))
    tenants = list(connection.execute(query).scalars())
    if tenants:
        raise PluginStateError(
            f"cannot {action} plugin {name!r}: it was enabled for {', '.join(tenants)} meanwhile; nothing changed"
        )


def rollback_target(engine: Engine, plugin: PluginSchema, to: str | None) -> tuple[str, str]:
    """(current revision, target) of a rollback one revision down, or to `to` ("base" or a revision below the
    current one); PluginStateError when there is nothing to roll back or `to` is not below."""
    from exthost.migrate import script_of

    if plugin.folder is None:
        raise PluginStateError(f"plugin {plugin.name!r} has no migrations (its manifest names no folder)")
    current = plugin_current_revision(engine, plugin.name)
    if current is None:
        raise PluginStateError(f"plugin {plugin.name!r} has no schema in this database; nothing to roll back")
    script = script_of(plugin.folder, engine, plugin_version_table(plugin.name))
    below = [revision.revision for revision in script.iterate_revisions(current, BASE)][1:]
    if to is None:
        return current, below[0] if below else BASE
    if to == current:
        raise PluginStateError(f"plugin {plugin.name!r} is already at {to}; nothing to roll back")
    if to != BASE and to not in below:
        raise PluginStateError(
            f"{to!r} is not a revision below {current!r} of plugin {plugin.name!r}; "
            f"choose one of: {', '.join([*below, BASE])}"
        )
    return current, to


def rollback(engine: Engine, plugin: PluginSchema, target: str, log: LogBook) -> None:
    """Downgrade the plugin's schema to `target` in one transaction (PluginStateError while it is enabled)."""
    assert plugin.folder is not None
    refuse_if_enabled(engine, plugin.name, "roll back")
    downgrade_plugin(
        engine,
        plugin.name,
        plugin.folder,
        target,
        log,
        then=lambda connection: _check_enabled_in(connection, plugin.name, "roll back"),
    )


def uninstall(engine: Engine, plugin: PluginSchema, log: LogBook) -> None:
    """Downgrade to base (dropping its tables), drop its version table and delete its registry rows, in one
    transaction."""
    from exthost.registry import VERSION_KEY, plugin_states, registry_version

    def forget(connection: Connection) -> None:
        _check_enabled_in(connection, plugin.name, "uninstall")
        if not inspect(connection).has_table(plugin_states.name):
            return
        connection.execute(delete(plugin_states).where(plugin_states.c.plugin == plugin.name))
        # Hosts re-read the registry when its counter moves (exthost.registry.bump_version, for a connection).
        bumped = connection.execute(
            update(registry_version)
            .where(registry_version.c.key == VERSION_KEY)
            .values(version=registry_version.c.version + 1)
        )
        if not bumped.rowcount:
            connection.execute(insert(registry_version).values(key=VERSION_KEY, version=1))

    refuse_if_enabled(engine, plugin.name, "uninstall")
    remove_plugin_schema(engine, plugin.name, plugin.folder, log, forget)
