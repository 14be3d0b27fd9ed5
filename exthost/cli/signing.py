"""`sv keys:generate` and `sv plugins:sign`: make a signing key, and sign a plugin folder with it."""

from __future__ import annotations

from pathlib import Path

import click

from exthost.cli.output import print_json
from exthost.cli.settings import load_settings


@click.command("keys:generate")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("plugin-signing.key"),
    show_default=True,
    help="Private key file to create (mode 0600, never overwritten); the public key goes to the same name + .pub.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def keys_generate_command(out: Path, as_json: bool) -> None:
    """Create an ed25519 signing key; print its public key and key id for PLUGIN_TRUSTED_KEYS and PLUGIN_ALLOWLIST."""
    from exthost.errors import SignatureError
    from exthost.trust import generate_key

    try:
        made = generate_key(out)
    except SignatureError as exc:
        raise click.ClickException(str(exc)) from exc
    if as_json:
        print_json(
            {
                "privateKey": str(made.private_path),
                "publicKeyFile": str(made.public_path),
                "publicKey": made.public_key,
                "keyId": made.key_id,
            }
        )
        return
    click.echo(f"private key: {made.private_path} (mode 0600; keep it secret, it signs plugins)")
    click.echo(f"public key:  {made.public_key} (also in {made.public_path})")
    click.echo(f"key id:      {made.key_id}")
    click.echo(f"trust it with PLUGIN_TRUSTED_KEYS='[\"{made.public_key}\"]'")


@click.command("plugins:sign")
@click.argument("name")
@click.option(
    "--key",
    "key_file",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Private key file from `sv keys:generate`.",
)
def plugins_sign_command(name: str, key_file: Path) -> None:
    """Sign a plugin: write plugin.sig.json (every file's SHA-256 and an ed25519 signature) into its folder."""
    from exthost.catalogue import Catalogue
    from exthost.errors import PluginNotFound, SignatureError
    from exthost.trust import load_private_key, sign_folder

    settings = load_settings()
    catalogue = Catalogue(settings, ())
    catalogue.discover()  # reads manifests only; no plugin code runs
    record = catalogue.plugins.get(name)
    if record is None:
        raise click.UsageError(str(PluginNotFound(name, catalogue.plugins)))
    if not record.folder.is_dir():
        raise click.ClickException(f"plugin {name!r} has no folder to sign ({record.reason or record.folder})")
    try:
        key = load_private_key(key_file)
        path, signed = sign_folder(record.name, record.folder, key)
    except SignatureError as exc:
        raise click.ClickException(str(exc)) from exc
    links = f" and {len(signed.links)} symlink(s)" if signed.links else ""
    click.echo(f"signed {record.name}: {len(signed.files)} files{links} with key {signed.key_id} -> {path}")
    if record.reason:
        click.echo(f"note: the plugin is {record.state}: {record.reason}", err=True)
