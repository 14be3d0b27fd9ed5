"""`sv serve`: the platform on werkzeug's development server, with plugin hot reload on request."""

from __future__ import annotations

import click

from exthost.cli.settings import load_settings, require_database


@click.command("serve")
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

    _check_port(host, port)
    settings = load_settings()
    require_database(settings)  # a fresh checkout gets "run sv migrate:deploy", not an empty SQLite file
    try:
        if settings.PLUGIN_ISOLATION is None:
            # Plugins run in their own supervised worker processes unless PLUGIN_ISOLATION says otherwise.
            settings = settings.model_copy(update={"PLUGIN_ISOLATION": "process"})
        platform = create_platform(settings)
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


def _check_port(host: str, port: int) -> None:
    """Fail before anything starts, saying how, when the address cannot be listened on (another server has it)."""
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        family, kind, proto, _, address = infos[0]
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(address)
    except OSError as exc:
        raise click.ClickException(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}; is another server running there? "
            f"choose another port with --port (and the interface with --host)"
        ) from exc
