"""The `sv` command line: one click group; state is built lazily so `sv --help` stays instant."""

from __future__ import annotations

from typing import Any

import click


def _settings(**overrides: Any) -> Any:
    """Settings from defaults, `.env` and the environment; a bad value is a usage error naming the setting."""
    from pydantic import ValidationError

    from legacy_core.settings import Settings

    try:
        return Settings(**{key: value for key, value in overrides.items() if value is not None})
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors(include_url=False))
        raise click.UsageError(f"invalid settings: {problems}") from exc


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Sovereign: run legacy and plugin code side by side and prove they behave the same."""


@main.command("migrate:deploy")
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
    from exthost.plugin_commands import migrate_plugins
    from legacy_core.db import make_engine
    from legacy_core.migrate import current_revision, head_revision, upgrade

    settings = _settings(DATABASE_URL=database_url)
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
        for line in migrate_plugins(settings, engine, plugins):
            click.echo(line)
    finally:
        engine.dispose()


@main.command("seed")
def seed_command() -> None:
    """Create the demo tenant, user and projects, and the demo blog's git repository (idempotent)."""
    from legacy_core.app import build_services
    from legacy_core.seed import seed_demo

    services = build_services(_settings())
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


@main.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8000, show_default=True, type=int, help="TCP port to listen on.")
@click.option("--reload/--no-reload", default=False, help="Restart when source files change (development).")
@click.option(
    "--watch-plugins/--no-watch-plugins",
    default=False,
    help="Reload a plugin in place when a file in its folder changes, without restarting (development).",
)
def serve_command(host: str, port: int, reload: bool, watch_plugins: bool) -> None:
    """Serve the platform (legacy routes and enabled plugins) with werkzeug's development server."""
    from werkzeug.serving import run_simple

    from exthost.errors import ExtHostError
    from exthost.platform import create_platform

    try:
        platform = create_platform(_settings())
    except ExtHostError as exc:
        raise click.ClickException(str(exc)) from exc
    for record in sorted(platform.host.plugins.values(), key=lambda r: r.name):
        click.echo(f"plugin {record.name}: {record.display_state()}" + (f" ({record.reason})" if record.reason else ""))
    watcher = None
    if watch_plugins:
        from exthost.watch import PluginWatcher

        def report(folder: str, error: str | None) -> None:
            click.echo(f"plugin folder {folder}: " + (error or "reloaded"), err=error is not None)

        watcher = PluginWatcher(platform.host, on_result=report).start()
        click.echo(f"watching {platform.host.settings.PLUGINS_DIR} for plugin changes")
    click.echo(f"serving on http://{host}:{port}/ (Ctrl+C stops)")
    try:
        run_simple(host, port, platform, use_reloader=reload, threaded=True)
    finally:
        if watcher is not None:
            watcher.stop()
        platform.close()


def _register_command_groups() -> None:
    from exthost import flag_commands, phase_commands, plugin_commands, record_commands

    plugin_commands.register(main, _settings)
    flag_commands.register(main, _settings)
    phase_commands.register(main, _settings)
    record_commands.register(main, _settings)

    # The composition root is the one exthost module that may import the harness (docs/architecture.md).
    from parity_tests.cli import parity_run_command

    main.add_command(parity_run_command)


_register_command_groups()
