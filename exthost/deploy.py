"""The plugin part of a deployment: the registry's revisions, then each valid plugin's own, in dependency order, then
(on PostgreSQL) each plugin's database role and grants.

`upgrade_schema` is the whole schema in one call (core, registry, the feature plugins of a folder named by the
caller), for tests and scripts that build a database without `sv migrate:deploy`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from exthost.access import AccessPolicy
from exthost.errors import ManifestError, PluginMigrationError, PluginNotFound, PluginStateError
from exthost.host import ExtensionHost
from exthost.manifest import LEGACY_FEATURES, MANIFEST_FILENAME, load_manifest, resolve_inside
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
    from collections.abc import Iterable, Sequence

    from sqlalchemy import Engine

    from exthost.migration_log import LogBook
    from exthost.records import PluginRecord
    from legacy_core.features import Feature
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
        owners = {
            record.manifest.sovereign.feature
            for name in order
            if (record := host.plugins[name]).manifest is not None and record.manifest.migrations is not None
        }
        lines.extend(unowned_table_warnings(host.services.features, owners, engine))
    finally:
        host.services.engine.dispose()
    return lines


def unowned_table_warnings(features: Iterable[Feature], owners: set[str | None], engine: Engine) -> list[str]:
    """A warning for each declared feature with tables that no valid plugin's history owns (`owners`: the features
    of the plugins whose revisions ran), saying whether legacy has its tables at all."""
    from sqlalchemy import inspect

    existing = set(inspect(engine).get_table_names())
    lines: list[str] = []
    for feature in features:
        if not feature.tables or feature.name in owners:
            continue
        missing = [table for table in feature.tables if table not in existing]
        if missing:
            state = (
                f"the database lacks {', '.join(missing)}, so legacy's {feature.name} fails on every request that "
                "reads them"
            )
        else:
            state = "its tables exist, but no installed plugin's revisions will create, adopt or change them"
        lines.append(
            f"warning: feature {feature.name!r} has no installed plugin owning its tables "
            f"({', '.join(feature.tables)}): {state}; put the plugin declaring feature {feature.name!r} in "
            "PLUGINS_DIR and run `sv migrate:deploy` again"
        )
    return lines


def feature_plugin_folders(
    plugins_dir: Path, features: Sequence[str] = LEGACY_FEATURES
) -> list[tuple[str, str, Path]]:
    """(name, feature, migrations folder) of each plugin in `plugins_dir` that declares one of `features` and a
    migrations folder, sorted by name. Reads manifests only; a bad one is an error here, not a skipped plugin."""
    found: list[tuple[str, str, Path]] = []
    for manifest_path in sorted(plugins_dir.glob(f"*/{MANIFEST_FILENAME}")):
        manifest = load_manifest(manifest_path, features)
        feature = manifest.sovereign.feature
        if feature is None or manifest.migrations is None:
            continue
        found.append((manifest.name, feature, resolve_inside(manifest_path.parent, manifest.migrations, "migrations")))
    return found


def features_missing_tables(engine: Engine, features: Iterable[Feature]) -> list[str]:
    """The names of `features` that declare tables the database lacks (all or some of them)."""
    from sqlalchemy import inspect

    existing = set(inspect(engine).get_table_names())
    return [feature.name for feature in features if any(table not in existing for table in feature.tables)]


def upgrade_feature_plugins(engine: Engine, feature_plugins: Path, features: Sequence[str] | None = None) -> None:
    """Apply the histories of the feature plugins in `feature_plugins` (only those declaring one of `features`, when
    given), each in a transaction of its own; PluginMigrationError names the plugin that failed."""
    try:
        folders = feature_plugin_folders(feature_plugins)
    except ManifestError as exc:
        raise PluginMigrationError(f"cannot read the feature plugins in {str(feature_plugins)!r}: {exc}") from exc
    for name, feature, folder in folders:
        if features is not None and feature not in features:
            continue
        try:
            upgrade_plugin(engine, name, folder)
        except Exception as exc:
            raise PluginMigrationError(
                f"migration of plugin {name!r} failed: {type(exc).__name__}: {exc}; "
                f"its schema stays at revision {plugin_current_revision(engine, name)!r}"
            ) from exc


def upgrade_schema(engine: Engine, feature_plugins: Path) -> None:
    """The whole schema a legacy app needs: the core's revisions, the registry's, then the histories of the feature
    plugins in `feature_plugins` (usually the repository's `plugins/` folder), which own the features' tables.

    Each history runs in a transaction of its own, as on `sv migrate:deploy`. The folder is the caller's to name:
    a deployment's PLUGINS_DIR, or the bundled plugins for a test or script whose PLUGINS_DIR holds other plugins.
    """
    from legacy_core.migrate import upgrade

    if not feature_plugins.is_dir():
        raise FileNotFoundError(f"no plugins folder at {str(feature_plugins)!r}: the feature tables need their plugins")
    upgrade(engine)
    upgrade_exthost(engine)
    upgrade_feature_plugins(engine, feature_plugins)
