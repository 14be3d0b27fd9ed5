"""`sv tenants:*` commands: create a tenant (with every plugin's tenant steps) and list them."""

from __future__ import annotations

import click

from exthost.cli.output import print_json, print_table, when
from exthost.cli.plugins import started_host
from exthost.cli.settings import load_settings, require_database


@click.command("tenants:create")
@click.argument("tenant_id", metavar="ID")
@click.option("--name", required=True, help="The tenant's display name (at most 120 characters).")
@click.option("--json", "as_json", is_flag=True, help="Print the new tenant as JSON.")
def tenants_create_command(tenant_id: str, name: str, as_json: bool) -> None:
    """Create a tenant and run every plugin's tenant steps for it, all in one transaction (a failure creates
    nothing); then each plugin's on_tenant_created hook runs."""
    from exthost.errors import TenantError
    from exthost.tenants import check_tenant, create_tenant

    try:
        check_tenant(tenant_id, name)  # before starting a host: a typo is answered at once
    except TenantError as exc:
        raise click.UsageError(str(exc)) from exc
    with started_host(load_settings()) as host:
        created = create_tenant(host, tenant_id, name)
    info = created.tenant
    if as_json:
        print_json(
            {
                "id": info.id,
                "name": info.name,
                "created": info.created_at.isoformat(),
                "steps": [{"plugin": plugin, "revision": revision} for plugin, revision in created.steps],
                "hookFailures": list(created.hook_failures),
            }
        )
    else:
        click.echo(f"created tenant {info.id} ({info.name})")
        for plugin, revision in created.steps:
            click.echo(f"  tenant step {plugin} {revision}: applied")
    for failure in created.hook_failures:
        click.echo(f"warning: {failure}; the tenant stays created", err=True)


@click.command("tenants:list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def tenants_list_command(as_json: bool) -> None:
    """Every tenant: id, name, when it was created, its users and projects, and the plugins enabled for it."""
    from exthost.tenants import list_tenants
    from legacy_core.db import make_engine

    settings = load_settings()
    require_database(settings)
    engine = make_engine(settings.DATABASE_URL)
    try:
        with engine.connect() as connection:
            tenants = list_tenants(connection)
    finally:
        engine.dispose()
    if as_json:
        print_json(
            [
                {
                    "id": t.id,
                    "name": t.name,
                    "created": t.created_at.isoformat(),
                    "users": t.users,
                    "projects": t.projects,
                    "plugins": list(t.plugins),
                }
                for t in tenants
            ]
        )
        return
    print_table(
        f"tenants ({len(tenants)})",
        ["id", "name", "created", "users", "projects", "plugins"],
        [
            [t.id, t.name, when(t.created_at), str(t.users), str(t.projects), ", ".join(t.plugins) or "-"]
            for t in tenants
        ],
    )
