"""`sv migrate:deploy` and `sv seed`: bring a database to the current schema and give it the demo's data."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from exthost.cli.settings import load_settings, require_database

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from exthost.backup import BackupInfo
    from legacy_core.settings import Settings


@click.command("migrate:deploy")
@click.option("--database-url", default=None, help="Database to migrate; DATABASE_URL by default.")
@click.option(
    "--plugin",
    "plugins",
    multiple=True,
    metavar="NAME",
    help="Migrate only these plugins (repeatable); all by default.",
)
@click.option("--no-backup", is_flag=True, help="Take no backup first (you have your own, or the data is expendable).")
def migrate_deploy_command(database_url: str | None, plugins: tuple[str, ...], no_backup: bool) -> None:
    """Apply every pending migration: the core schema, the plugin registry, then each valid plugin's own."""
    from exthost.cli.backup import restore_command, who
    from exthost.deploy import migrate_plugins
    from exthost.errors import ExtHostError, PluginNotFound
    from exthost.migration_log import CORE, LogBook, Step, now
    from legacy_core.db import make_engine
    from legacy_core.migrate import current_revision, head_revision, upgrade

    settings = load_settings(DATABASE_URL=database_url)
    engine = make_engine(settings.DATABASE_URL)
    log = LogBook(by=who("migrate:deploy"))
    try:
        backup = None if no_backup else _backup_before_deploy(settings, engine, plugins)
        log.backup = str(backup.path) if backup is not None else None
        hint = (
            f"; to return to the database as it was before this deploy: {restore_command(backup)}"
            if backup is not None
            else ""
        )

        def log_core(connection: Any, before: str | None, after: str | None) -> None:
            if before != after:
                log.record(connection, Step(CORE, before, after, "upgrade", now()))

        before = current_revision(engine)
        try:
            upgrade(engine, on_applied=log_core)
        except Exception as exc:
            raise click.ClickException(
                f"migration failed on {engine.url.render_as_string(hide_password=True)!r}: {exc}; "
                f"the database stays at revision {current_revision(engine)!r}{hint}"
            ) from exc
        after = current_revision(engine)
        if before == after:
            click.echo(f"database already at {after} (head {head_revision(engine)})")
        else:
            click.echo(f"migrated {before or '<empty>'} -> {after}")
        try:
            lines = migrate_plugins(settings, engine, plugins, log)
        except PluginNotFound as exc:
            raise click.UsageError(str(exc)) from exc
        except ExtHostError as exc:
            raise click.ClickException(f"{exc}{hint}") from exc
        for line in lines:
            click.echo(line)
    finally:
        engine.dispose()


def _backup_before_deploy(settings: Settings, engine: Engine, plugins: tuple[str, ...]) -> BackupInfo | None:
    """The backup a deploy takes first, or None (printing why) when the database is new or nothing is pending."""
    from exthost.backup import is_empty
    from exthost.cli.backup import take_backup_or_fail
    from exthost.schema_status import schema_status

    try:
        empty = is_empty(engine)
    except Exception as exc:
        where = engine.url.render_as_string(hide_password=True)
        raise click.ClickException(f"cannot reach the database {where!r}: {type(exc).__name__}: {exc}") from exc
    if empty:
        click.echo("backup: none taken, the database is empty (a new database)")
        return None
    # A deploy with nothing to apply changes nothing: no backup (nor a retention slot) for it. A history whose
    # status cannot be read counts as pending.
    if all(status.at_head for status in schema_status(settings, engine, plugins)):
        click.echo("backup: none taken, nothing is pending")
        return None
    return take_backup_or_fail(settings, engine, "pre-deploy")


@click.command("seed")
def seed_command() -> None:
    """Create the demo tenant, user and projects, and the demo blog's git repository (idempotent)."""
    from exthost.deploy import features_missing_tables
    from legacy_core.app import build_services
    from legacy_core.seed import seed_demo

    settings = load_settings()
    require_database(settings)
    services = build_services(settings)
    try:
        missing = features_missing_tables(services.engine, services.features)
        if missing:
            # The feature tables belong to the features' plugins (docs/operations.md, Feature tables and their
            # plugins): without them the demo's projects have nowhere to go.
            raise click.ClickException(
                f"the tables of {', '.join(map(repr, missing))} are missing: their plugins are not in PLUGINS_DIR "
                f"({str(settings.PLUGINS_DIR)!r}) or were not migrated; install them and run `sv migrate:deploy`"
            )
        result = seed_demo(services)
    finally:
        services.engine.dispose()
    state = "created" if result.created else "already present"
    click.echo(
        f"demo user {result.user_email} / {result.password} ({state}); projects: {', '.join(result.project_ids)}"
    )
    if result.blog_remote is not None:
        click.echo(f"demo blog remote: {result.blog_remote} (branch main, a local bare repository)")
