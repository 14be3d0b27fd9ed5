"""`sv plugins:*` commands and the plugin part of `sv migrate:deploy`: they reuse the host, never start HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click

from exthost.cli.output import print_json, print_table
from exthost.cli.settings import load_settings, require_database
from exthost.errors import ExtHostError, PluginNotFound


@contextmanager
def started_host(settings: Any) -> Iterator[Any]:
    """A started host for one command; unknown plugins and host errors become clean CLI errors."""
    from exthost.host import ExtensionHost

    require_database(settings)
    try:
        host = ExtensionHost(settings, name="cli", passive=True).start()
    except ExtHostError as exc:
        raise click.ClickException(str(exc)) from exc
    try:
        yield host
    except PluginNotFound as exc:
        raise click.UsageError(str(exc)) from exc
    except ExtHostError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        host.shutdown()


@click.command("plugins:schema")
def plugins_schema_command() -> None:
    """Print the JSON Schema of plugin.json (point your editor's JSON validation at it)."""
    from exthost.manifest import manifest_json_schema

    print_json(manifest_json_schema())


@click.command("plugins:list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def plugins_list_command(as_json: bool) -> None:
    """Every discovered plugin with its state, version, signature status, mounts, tenants and reason."""
    with started_host(load_settings()) as host:
        rows = [host.describe(record) for record in sorted(host.plugins.values(), key=lambda r: r.name)]
    if as_json:
        print_json(rows)
        return
    print_table(
        f"plugins ({len(rows)})",
        ["name", "state", "version", "signature", "mounts", "tenants", "reason"],
        [
            [
                row["name"],
                row["state"],
                row["version"] or "-",
                _signature_cell(row["signature"]),
                "\n".join(row["mounts"]) or "-",
                ", ".join(row["tenants"]) or "-",
                row["reason"] or "",
            ]
            for row in rows
        ],
    )


def _signature_cell(signature: dict[str, Any] | None) -> str:
    """The signature status, with the signing key's id when there is one."""
    if signature is None:
        return "-"
    return str(signature["status"]) + (f" ({signature['keyId']})" if signature["keyId"] else "")



@click.command("plugins:info")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def plugins_info_command(name: str, as_json: bool) -> None:
    """Everything the host knows of one plugin, including hook timings, health and its sandbox."""
    from exthost.sandbox.supervisor import shared_report

    with started_host(load_settings()) as host:
        record = host.get(name)
        info = host.describe(record, with_health=True)
        info["sandbox"] = shared_report(host, record)
    if as_json:
        print_json(info)
        return
    for key, value in info.items():
        shown = json.dumps(value, default=str) if isinstance(value, (dict, list)) else value
        shown = "-" if shown is None else shown
        click.echo(f"{key}: {shown}")


def _switch_command(enable: bool, help_text: str) -> click.Command:
    verb = "enable" if enable else "disable"

    @click.command(f"plugins:{verb}", help=help_text)
    @click.argument("name")
    @click.option("--tenant", default=None, help=f"Tenant to {verb} it for; TENANT_DEFAULT when omitted.")
    def command(name: str, tenant: str | None) -> None:
        with started_host(load_settings()) as host:
            tenant = tenant or host.settings.TENANT_DEFAULT
            switch = host.enable if enable else host.disable
            switch(name, tenant, changed_by=f"sv plugins:{verb}")
        click.echo(f"{verb}d {name} for {tenant}")

    return command


plugins_enable_command = _switch_command(
    True, "Enable a plugin for a tenant (runs its on_enable hook first; a failure changes nothing)."
)
plugins_disable_command = _switch_command(
    False, "Disable a plugin for a tenant; the legacy routes serve that tenant again."
)


@click.command("plugins:config")
@click.argument("name")
@click.argument("assignments", nargs=-1, metavar="[KEY=VALUE]...")
@click.option("--tenant", default=None, help="Tenant whose values to show or set; TENANT_DEFAULT when omitted.")
@click.option("--unset", "unset", multiple=True, metavar="KEY", help="Remove the tenant's value of KEY (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Print the effective config as JSON.")
def plugins_config_command(
    name: str, assignments: tuple[str, ...], tenant: str | None, unset: tuple[str, ...], as_json: bool
) -> None:
    """Show a plugin's config for a tenant and where each value comes from; KEY=VALUE or --unset changes the
    tenant's own values (checked against the manifest; nothing is stored when any is bad)."""
    from exthost.errors import ManifestError
    from exthost.tenant_config import deployment_config, parse_assignments, unset_keys, write_tenant_config
    from legacy_core.db import transaction

    with started_host(load_settings()) as host:
        host.tenant_config.strict = True  # the command shows what is stored, or fails; never a stale value
        tenant = tenant or host.settings.TENANT_DEFAULT
        record = host.get(name)
        if record.manifest is None:
            raise click.ClickException(f"plugin {name!r} is {record.state}: {record.reason}")
        host.require_tenant(tenant)
        source = f"sv plugins:config {name} --tenant {tenant}"
        try:
            config = deployment_config(record.manifest, host.settings, host.tenant_config, lambda: tenant)
            values = parse_assignments(record.manifest, assignments, unset, source)
        except ManifestError as exc:
            raise click.UsageError(str(exc)) from exc
        unset = tuple(unset_keys(record.manifest, unset))
        if values or unset:
            with transaction(host.services.session_factory) as db:
                write_tenant_config(
                    db, name, tenant, values, unset, changed_by="sv plugins:config", now=host.services.clock.now()
                )
        host.tenant_config.refresh()
        entries = config.entries(tenant)
    if as_json:
        print_json(
            {
                "plugin": name,
                "tenant": tenant,
                "config": {
                    key: {"value": entry.value, "source": entry.source, "ignored": entry.ignored}
                    for key, entry in entries.items()
                },
            }
        )
        return
    for key in values:
        click.echo(f"set {key} for {tenant}")
    for key in unset:
        click.echo(f"unset {key} for {tenant}")
    print_table(
        f"{name} config for {tenant}",
        ["key", "value", "source", "note"],
        [
            [key, json.dumps(entry.value), entry.source, f"ignored {entry.ignored}" if entry.ignored else ""]
            for key, entry in entries.items()
        ],
    )
