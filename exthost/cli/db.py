"""`sv migrate:deploy` and `sv seed`: bring a database to the current schema and give it the demo's data."""

from __future__ import annotations

import click

from exthost.cli.settings import load_settings, require_database


@click.command("migrate:deploy")
@click.option("--database-url", default=None, help="Database to migrate; DATABASE_URL by default.")
@click.option(
    "--plugin",
    "plugins",
    multiple=True,
    metavar="NAME",
    help="Migrate only these plugins (repeatable); all by default.",
)
def migrate_deploy_command(database_url: str | None, plugins: tuple[str, ...]) -> None:
    """Apply every pending migration: the core schema, the plugin registry, then each valid plugin's own."""
    from exthost.deploy import migrate_plugins
    from exthost.errors import ExtHostError, PluginNotFound
    from legacy_core.db import make_engine
    from legacy_core.migrate import current_revision, head_revision, upgrade

    settings = load_settings(DATABASE_URL=database_url)
    engine = make_engine(settings.DATABASE_URL)
    try:
        before = current_revision(engine)
        try:
            upgrade(engine)
        except Exception as exc:
            raise click.ClickException(
                f"migration failed on {engine.url.render_as_string(hide_password=True)!r}: {exc}; "
                f"the database stays at revision {current_revision(engine)!r}"
            ) from exc
        after = current_revision(engine)
        if before == after:
            click.echo(f"database already at {after} (head {head_revision(engine)})")
        else:
            click.echo(f"migrated {before or '<empty>'} -> {after}")
        try:
            lines = migrate_plugins(settings, engine, plugins)
        except PluginNotFound as exc:
            raise click.UsageError(str(exc)) from exc
        except ExtHostError as exc:
            raise click.ClickException(str(exc)) from exc
        for line in lines:
            click.echo(line)
    finally:
        engine.dispose()


@click.command("seed")
def seed_command() -> None:
    """Create the demo tenant, user and projects, and the demo blog's git repository (idempotent)."""
    from legacy_core.app import build_services
    from legacy_core.seed import seed_demo

    settings = load_settings()
    require_database(settings)
    services = build_services(settings)
    try:
        result = seed_demo(services)
    finally:
        services.engine.dispose()
    state = "created" if result.created else "already present"
    click.echo(
        f"demo user {result.user_email} / {result.password} ({state}); projects: {', '.join(result.project_ids)}"
    )
    if result.blog_remote is not None:
        click.echo(f"demo blog remote: {result.blog_remote} (branch main, a local bare repository)")
