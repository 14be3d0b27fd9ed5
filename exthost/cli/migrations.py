"""`sv migrate:status`, `sv migrate:rollback` and `sv plugins:uninstall`: where each schema stands, and taking a
plugin's schema back down (after a backup, never while it serves)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import click

from exthost.cli.output import print_json, print_table
from exthost.cli.settings import load_settings, require_database

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from exthost.plugin_removal import PluginSchema
    from legacy_core.settings import Settings

# Exit codes of `sv migrate:status`, for CI and scripts.
AT_HEAD = 0
PENDING = 1
UNKNOWN = 3


@contextmanager
def _engine(settings: Settings) -> Iterator[Engine]:
    from legacy_core.db import make_engine

    engine = make_engine(settings.DATABASE_URL)
    try:
        yield engine
    finally:
        engine.dispose()


@click.command("migrate:status")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (histories, and the migration log as 'history').")
@click.option("--database-url", default=None, help="Database to read; DATABASE_URL by default.")
def migrate_status_command(as_json: bool, database_url: str | None) -> None:
    """Each schema history (core, registry, every plugin) with its revision, head and pending revisions.

    Exit status: 0 when every history is at its head, 1 when some revision is pending, 3 when a history cannot be
    read (the database is unreachable, a plugin's manifest or revision files are broken).
    """
    from exthost.migration_log import read_log
    from exthost.schema_status import schema_status

    settings = load_settings(DATABASE_URL=database_url)
    with _engine(settings) as engine:
        statuses = schema_status(settings, engine)
        reachable = not (len(statuses) == 1 and statuses[0].error)
        try:
            log = read_log(engine) if reachable else []
        except Exception:  # an unreadable log must not hide the statuses
            log = []
    unknown = any(status.error for status in statuses)
    pending = any(not status.at_head for status in statuses if not status.error)
    code = UNKNOWN if unknown else PENDING if pending else AT_HEAD
    if as_json:
        print_json(
            {
                "database": engine.url.render_as_string(hide_password=True),
                "atHead": code == AT_HEAD,
                "pending": pending,
                "histories": [status.as_dict() for status in statuses],
                "history": log,
            }
        )
    else:
        rows = []
        for status in statuses:
            if status.error:
                waiting = f"cannot tell: {status.error}"
            else:
                lines = [f"{r.id} {r.description}".strip() for r in status.pending]
                lines += [f"tenant {t}: {', '.join(steps)}" for t, steps in sorted(status.tenant_steps.items())]
                waiting = "\n".join(lines) or "-"
            tenants = "-" if status.tenants is None else ", ".join(status.tenants) or "none"
            rows.append([status.history, status.current or "<empty>", status.head or "-", waiting, tenants])
        print_table(
            f"schema of {engine.url.render_as_string(hide_password=True)}",
            ["history", "current", "head", "pending", "enabled for"],
            rows,
        )
        verdict = {
            AT_HEAD: "every history is at its head",
            PENDING: "revisions are pending: run `sv migrate:deploy`",
            UNKNOWN: "some history cannot be read (see above)",
        }
        click.echo(verdict[code])
    sys.exit(code)


def _plugin_or_fail(settings: Settings, name: str) -> PluginSchema:
    from exthost.errors import PluginNotFound, PluginStateError
    from exthost.plugin_removal import locate

    try:
        return locate(settings, name)
    except PluginNotFound as exc:
        raise click.UsageError(str(exc)) from exc
    except PluginStateError as exc:
        raise click.ClickException(str(exc)) from exc


@click.command("migrate:rollback")
@click.option("--plugin", "name", required=True, metavar="NAME", help="The plugin whose schema to roll back.")
@click.option(
    "--to", "to", default=None, metavar="REV", help="Revision to go down to ('base': none); one down by default."
)
def migrate_rollback_command(name: str, to: str | None) -> None:
    """Downgrade a plugin's schema (one revision, or --to REV) after a backup; refused while it is enabled."""
    from exthost.cli.backup import restore_command, take_backup_or_fail, who
    from exthost.errors import PluginStateError
    from exthost.migrate import plugin_current_revision
    from exthost.migration_log import LogBook
    from exthost.plugin_removal import refuse_if_enabled, rollback, rollback_target

    settings = load_settings()
    require_database(settings)
    plugin = _plugin_or_fail(settings, name)
    with _engine(settings) as engine:
        try:
            current, target = rollback_target(engine, plugin, to)
            refuse_if_enabled(engine, name, "roll back")
        except PluginStateError as exc:
            raise click.ClickException(str(exc)) from exc
        backup = take_backup_or_fail(settings, engine, "pre-rollback")
        try:
            rollback(engine, plugin, target, LogBook(by=who("migrate:rollback"), backup=str(backup.path)))
        except Exception as exc:
            raise click.ClickException(
                f"rollback of plugin {name!r} failed: {type(exc).__name__}: {exc}; its schema stays at "
                f"{plugin_current_revision(engine, name)!r} (the backup taken first: {restore_command(backup)})"
            ) from exc
        click.echo(f"plugin {name}: {current} -> {plugin_current_revision(engine, name) or 'base (no schema)'}")


@click.command("plugins:uninstall")
@click.argument("name")
@click.option(
    "--force",
    is_flag=True,
    help="Uninstall even though the plugin owns the tables of a legacy feature legacy still serves.",
)
def plugins_uninstall_command(name: str, force: bool) -> None:
    """Drop a plugin's tables (after a backup) and its registry rows; refused while it is enabled for any tenant."""
    from exthost.cli.backup import restore_command, take_backup_or_fail, who
    from exthost.errors import PluginStateError
    from exthost.migrate import plugin_current_revision
    from exthost.migration_log import LogBook
    from exthost.plugin_removal import legacy_serves, refuse_if_enabled, uninstall

    settings = load_settings()
    require_database(settings)
    plugin = _plugin_or_fail(settings, name)
    with _engine(settings) as engine:
        try:
            refuse_if_enabled(engine, name, "uninstall")
        except PluginStateError as exc:
            raise click.ClickException(str(exc)) from exc
        feature = plugin.feature
        if feature is not None and plugin.folder is not None and legacy_serves(engine, feature) and not force:
            raise click.ClickException(
                f"plugin {name!r} owns the tables of the legacy feature {feature!r}, which legacy still serves "
                f"(its flag is short of 'retired'): dropping them would break legacy; "
                f"`sv flags:set {feature} retired` first, or uninstall anyway with --force"
            )
        before = plugin_current_revision(engine, name)
        backup = take_backup_or_fail(settings, engine, "pre-uninstall")
        try:
            uninstall(engine, plugin, LogBook(by=who("plugins:uninstall"), backup=str(backup.path)))
        except Exception as exc:
            raise click.ClickException(
                f"uninstall of plugin {name!r} failed, nothing changed: {type(exc).__name__}: {exc} "
                f"(the backup taken first: {restore_command(backup)})"
            ) from exc
    dropped = f"dropped its schema ({before} -> base)" if before else "it had no schema"
    click.echo(
        f"uninstalled {name}: {dropped}, removed its registry rows; its folder stays in PLUGINS_DIR: delete it, "
        "or it is discovered again (and `sv migrate:deploy` re-creates its tables)"
    )
