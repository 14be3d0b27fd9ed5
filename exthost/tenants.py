"""Tenants: create one (with every plugin's tenant steps, all or nothing) and list them with what they hold.

A tenant is a row of the core `tenants` table; users and projects belong to one. Creating it runs, in the same
transaction, every installed plugin's per-tenant migration steps (`exthost.tenant_steps`) for it: when one raises,
nothing is created and the error names the plugin, revision and step. Afterwards each loaded plugin's
`on_tenant_created` hook runs; a raising hook is reported, the tenant stays.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError

from exthost.errors import ManifestError, PluginMigrationError, TenantError
from exthost.manifest import resolve_inside
from exthost.registry import plugin_states
from exthost.tenant_steps import TenantStep, apply_step, plugin_steps
from legacy_core.db import transaction_with_ddl
from legacy_core.models import Project, Tenant, User

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from exthost.host import ExtensionHost

TENANT_ID = r"[a-z0-9][a-z0-9_-]{0,63}"
NAME_MAX = 120


@dataclass(frozen=True)
class TenantInfo:
    """A tenant as `sv tenants:list` shows it."""

    id: str
    name: str
    created_at: datetime
    users: int
    projects: int
    plugins: tuple[str, ...]


@dataclass(frozen=True)
class CreatedTenant:
    """What `create_tenant` did: the tenant, the (plugin, revision) steps it ran, and the hooks that raised."""

    tenant: TenantInfo
    steps: tuple[tuple[str, str], ...]
    hook_failures: tuple[str, ...]


def check_tenant(tenant_id: str, name: str) -> str:
    """The stripped name; TenantError naming what is wrong with the id or the name and how to fix it."""
    if not re.fullmatch(TENANT_ID, tenant_id):
        candidate = re.sub(r"[^a-z0-9_-]+", "-", tenant_id.strip().lower()).strip("-_")[:64]
        fix = f"e.g. {candidate!r}" if re.fullmatch(TENANT_ID, candidate) else "e.g. 'acme'"
        raise TenantError(
            f"tenant id {tenant_id!r}: must be 1-64 characters of a-z, 0-9, '-' and '_', starting with a letter or "
            f"digit; {fix}"
        )
    stripped = name.strip()
    if not stripped:
        raise TenantError(f"tenant {tenant_id!r}: --name is empty; give the tenant a display name")
    if len(stripped) > NAME_MAX:
        raise TenantError(f"tenant {tenant_id!r}: --name is {len(stripped)} characters, at most {NAME_MAX} fit")
    return stripped


def list_tenants(connection: Connection) -> list[TenantInfo]:
    """Every tenant with its user and project counts and the plugins enabled for it, by id."""
    tenants = Tenant.__table__.c
    users = dict(connection.execute(select(User.tenant_id, func.count()).group_by(User.tenant_id)).all())
    projects = dict(connection.execute(select(Project.tenant_id, func.count()).group_by(Project.tenant_id)).all())
    enabled: dict[str, list[str]] = {}
    query = select(plugin_states.c.tenant_id, plugin_states.c.plugin).where(plugin_states.c.enabled.is_(True))
    for tenant, plugin in connection.execute(query.order_by(plugin_states.c.plugin)):
        enabled.setdefault(tenant, []).append(plugin)
    return [
        TenantInfo(
            id=row.id,
            name=row.name,
            created_at=row.created_at,
            users=int(users.get(row.id, 0)),
            projects=int(projects.get(row.id, 0)),
            plugins=tuple(enabled.get(row.id, ())),
        )
        for row in connection.execute(select(tenants.id, tenants.name, tenants.created_at).order_by(tenants.id))
    ]


def all_plugin_steps(host: ExtensionHost) -> list[TenantStep]:
    """The tenant steps of every plugin the host accepted (dependency order), for revisions already applied."""
    steps: list[TenantStep] = []
    for name in host.load_order():
        record = host.plugins[name]
        manifest = record.manifest
        if manifest is None or manifest.migrations is None:
            continue
        try:
            folder = resolve_inside(record.folder, manifest.migrations, "migrations")
            steps += plugin_steps(host.services.engine, name, folder)
        except (ManifestError, PluginMigrationError):
            raise
        except Exception as exc:
            raise PluginMigrationError(
                f"plugin {name!r}: its revisions in {manifest.migrations!r} cannot be read: {type(exc).__name__}: {exc}"
            ) from exc
    return steps


def create_tenant(host: ExtensionHost, tenant_id: str, name: str) -> CreatedTenant:
    """Create the tenant and run every plugin's tenant steps for it in one transaction, then fire
    `on_tenant_created`. TenantError for a bad or taken id; PluginMigrationError when a step fails (nothing made)."""
    name = check_tenant(tenant_id, name)
    steps = all_plugin_steps(host)
    engine, clock = host.services.engine, host.services.clock
    try:
        with engine.connect() as connection, transaction_with_ddl(connection):
            if connection.scalar(select(Tenant.__table__.c.id).where(Tenant.__table__.c.id == tenant_id)):
                raise TenantError(f"tenant {tenant_id!r} already exists; nothing was changed")
            now = clock.now()
            connection.execute(insert(Tenant).values(id=tenant_id, name=name, created_at=now))
            for step in steps:
                apply_step(connection, step, tenant_id, now)
    except IntegrityError as exc:  # created by someone else between the check and the insert
        raise TenantError(f"tenant {tenant_id!r} already exists; nothing was changed") from exc
    except PluginMigrationError as exc:
        raise PluginMigrationError(f"tenant {tenant_id!r} was not created: {exc}") from exc
    failures = host.tenant_created(tenant_id)
    with engine.connect() as connection:
        [info] = [tenant for tenant in list_tenants(connection) if tenant.id == tenant_id]
    return CreatedTenant(info, tuple((step.plugin, step.revision) for step in steps), tuple(failures))


__all__ = [
    "CreatedTenant",
    "TenantInfo",
    "all_plugin_steps",
    "check_tenant",
    "create_tenant",
    "list_tenants",
]
