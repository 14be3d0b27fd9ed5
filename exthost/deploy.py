"""The plugin part of a deployment: the registry's revisions, then each valid plugin's own, in dependency order, then
(on PostgreSQL) each plugin's database role and grants."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from exthost.access import AccessPolicy
from exthost.errors import PluginMigrationError, PluginNotFound, PluginStateError
from exthost.host import ExtensionHost
from exthost.manifest import resolve_inside
from exthost.migrate import (
    exthost_revisions,
    plugin_current_revision,
    plugin_revisions,
    upgrade_exthost,
    upgrade_plugin,
)
from exthost.roles import grant_plugin_roles
from exthost.tenant_steps import plugin_steps, run_pending_steps

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from exthost.migration_log import LogBook
    from exthost.records import PluginRecord
    from legacy_core.settings import Settings


def migrations_folder(record: PluginRecord) -> Path | None:
    """The plugin's migrations folder, None when its manifest names none. Raises ManifestError for a folder
    leading out of the plugin and FileNotFoundError for one that does not exist."""
    manifest = record.manifest
    if manifest is None or manifest.migrations is None:
        return None
    folder = resolve_inside(record.folder, manifest.migrations, "migrations")
    if not folder.is_dir():
        raise FileNotFoundError(f"the manifest's migrations folder {str(folder)!r} does not exist")
    return folder


def migrate_plugins(settings: Settings, engine: Engine, only: tuple[str, ...], log: LogBook | None = None) -> list[str]:
    """Apply the host's registry revisions, then each valid plugin's (dependency order); the lines to print.

    Raises PluginNotFound for a name in `only` that is no plugin, PluginStateError for one that cannot be migrated
    (invalid), and PluginMigrationError when a plugin's revisions fail (its schema stays where it was). Each
    applied step is written to `log`'s migration log.
    """

    lines: list[str] = []
    before, _ = exthost_revisions(engine)
    upgrade_exthost(engine, log)
    if log is not None:
        log.flush(engine)  # the core's step, when the log table did not exist before
    after, _ = exthost_revisions(engine)
    lines.append(
        f"plugin registry: already at {after}"
        if before == after
        else f"plugin registry: {before or '<empty>'} -> {after}"
    )
    host = ExtensionHost(settings, name="migrate")
    try:
        host.discover()
        order = host.validated_order()
        for name in only:
            record = host.get(name) if name in host.plugins else None
            if record is None:
                raise PluginNotFound(name, host.plugins)
            if name not in order:
                raise PluginStateError(f"plugin {name!r} is {record.state}: {record.reason}")
        for name in order:
            record = host.plugins[name]
            manifest = record.manifest
            if (only and name not in only) or manifest is None or manifest.migrations is None:
                continue
            try:
                # A symlinked folder may lead out of the plugin, and reading the revision files runs the plugin's
                # code: both can fail as much as applying the revisions.
                folder = migrations_folder(record)
                assert folder is not None
                before, _head = plugin_revisions(engine, name, folder)
                upgrade_plugin(engine, name, folder, log)
            except Exception as exc:
                raise PluginMigrationError(
                    f"migration of plugin {name!r} failed: {type(exc).__name__}: {exc}; "
                    f"its schema stays at revision {plugin_current_revision(engine, name)!r}"
                ) from exc
            after, _ = plugin_revisions(engine, name, folder)
            lines.append(
                f"plugin {name}: already at {after}"
                if before == after
                else f"plugin {name}: {before or '<empty>'} -> {after}"
            )
            ran = run_pending_steps(engine, plugin_steps(engine, name, folder), host.services.clock.now)
            if ran:
                lines.append(f"plugin {name}: tenant steps run: " + ", ".join(f"{r} for {t}" for r, t in ran))
        # After every revision: the roles' grants name the tables as they now are (exthost.roles, PostgreSQL only).
        policies = [
            AccessPolicy.of(host.plugins[name].manifest, str(host.plugins[name].manifest_path))  # type: ignore[arg-type]
            for name in order
            if not only or name in only
        ]
        lines.extend(grant_plugin_roles(engine, policies, settings.SECRET_KEY))
        for record in host.plugins.values():
            if record.state == "invalid" and (not only or record.name in only):
                lines.append(f"plugin {record.name}: skipped, invalid: {record.reason}")
    finally:
        host.services.engine.dispose()
    return lines
