"""`sv plugins:new`: write a working plugin skeleton (exthost.scaffold) into the plugins folder."""

from __future__ import annotations

from pathlib import Path

import click

from exthost.cli.settings import load_settings


@click.command("plugins:new")
@click.argument("name")
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Plugins folder to write into; PLUGINS_DIR when omitted.",
)
def plugins_new_command(name: str, directory: Path | None) -> None:
    """Write a working plugin skeleton: manifest, one route, one migration, one test and a README."""
    from exthost.scaffold import ScaffoldError, check_mount, legacy_routes, skeleton, write

    settings = load_settings()
    try:
        made = skeleton(name)
        check_mount(made, legacy_routes(settings))
        folder = write(made, (directory or settings.PLUGINS_DIR).resolve())
    except ScaffoldError as exc:
        raise click.UsageError(str(exc)) from exc
    except OSError as exc:
        raise click.ClickException(f"cannot write the plugin: {exc}") from exc
    click.echo(f"created {folder}")
    for relative in sorted(made.files):
        click.echo(f"  {relative}")
    click.echo("next:")
    click.echo(f"  sv migrate:deploy --plugin {name}")
    click.echo(f"  sv plugins:enable {name}")
    click.echo(f"  curl http://127.0.0.1:8000{made.route}    # with `sv serve` running")
    click.echo(f"  cd {folder} && python -m pytest tests/")
