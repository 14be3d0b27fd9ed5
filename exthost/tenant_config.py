"""Tenant-scoped plugin config: values set with `sv plugins:config NAME --tenant T KEY=VALUE`, layered over the
deployment's config when a request of that tenant reads `ctx.config`.

Three layers, the later winning: the manifest's `default`, the deployment's `PLUGIN_CONFIG` (settings and
environment, the same for every tenant), then the tenant's own values in `sv_tenant_config`. A value is checked
against the manifest (type, enum, bounds) when it is set; one that no longer fits after the plugin changed its
manifest is ignored when read (the deployment's value applies) and `sv plugins:config` shows it as ignored.

The table is shared by every process; each change bumps the `tenant_config` counter of `sv_registry_version`, and a
`TenantConfigStore` re-reads the table only when that counter moved (checked at most every PLUGIN_POLL_SECONDS).
Parsing and layering are pure functions over plain data; the store and `write_tenant_config` do the I/O.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any

from sqlalchemy import Column, DateTime, MetaData, String, Table, Text, delete, select
from sqlalchemy.orm import Session

from exthost.errors import ManifestError, did_you_mean
from exthost.manifest import Manifest, coerce_option, option_problem, validate_plugin_config
from exthost.registry import PolledStore, bump_version
from legacy_core.db import upsert_insert
from legacy_core.settings import Settings

VERSION_KEY = "tenant_config"
DEFAULT, DEPLOYMENT, TENANT = "default", "deployment", "tenant"

metadata = MetaData()

tenant_config = Table(
    "sv_tenant_config",
    metadata,
    Column("plugin", String(40), primary_key=True),
    Column("tenant_id", String(64), primary_key=True),
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
    Column("changed_at", DateTime(timezone=True), nullable=False),
    Column("changed_by", String(200), nullable=False),
)
# A plugin role's own rows of it (PostgreSQL; exthost_0009): what a sandboxed worker reads.
own_config = Table(
    "sv_platform_plugin_config",
    MetaData(),
    Column("plugin", String(40)),
    Column("tenant_id", String(64)),
    Column("key", String(64)),
    Column("value", Text),
)


# -- parsing and layering (no I/O) -------------------------------------------------------------------------------------


def parse_assignments(
    manifest: Manifest, assignments: Sequence[str], unset: Sequence[str], source: str
) -> dict[str, Any]:
    """`KEY=VALUE` strings as typed values checked against the manifest's options; ManifestError (naming `source`)
    listing every bad one, so nothing is stored when any is bad. `unset` keys must be declared options too."""
    options = manifest.config
    declared = ", ".join(sorted(options)) or "none"
    problems: list[str] = []
    values: dict[str, Any] = {}

    def unknown(key: str) -> str:
        return f"{key}: unknown option of plugin {manifest.name!r}{did_you_mean(key, options)}; declared: {declared}"

    def named(key: str) -> str:
        # Option names match without regard to case, as in PLUGIN_CONFIG.
        key = key.strip()
        return key.upper() if key.upper() in options else key

    for assignment in assignments:
        key, equals, text = assignment.partition("=")
        key = named(key)
        if not equals or not key:
            problems.append(f"{assignment!r}: expected KEY=VALUE, e.g. {next(iter(sorted(options)), 'KEY')}=VALUE")
            continue
        if key not in options:
            problems.append(unknown(key))
            continue
        if key in values:
            problems.append(f"{key}: set twice; give each option once")
            continue
        value, problem = coerce_option(options[key], text)
        if problem is not None:
            problems.append(f"{key}: {problem}")
            continue
        values[key] = value
    for key in map(named, unset):
        if key not in options:
            problems.append(unknown(key))
        elif key in values:
            problems.append(f"{key}: both set and unset; choose one")
    if problems:
        raise ManifestError(source, problems)
    return values


def unset_keys(manifest: Manifest, unset: Sequence[str]) -> list[str]:
    """The option names `--unset` gave, matched without regard to case (after `parse_assignments` checked them)."""
    return [key.strip().upper() if key.strip().upper() in manifest.config else key.strip() for key in unset]


@dataclass(frozen=True)
class ConfigEntry:
    """One option as a tenant sees it: the value in force and the layer it comes from; `ignored` is a stored tenant
    value that no longer fits the manifest (and why)."""

    key: str
    value: Any
    source: str
    ignored: str | None = None


def layered(
    manifest: Manifest, deployment: Mapping[str, Any], overridden: frozenset[str], stored: Mapping[str, Any]
) -> dict[str, ConfigEntry]:
    """Every declared option with its value and source. `deployment` is the plugin's validated deployment config
    (defaults and PLUGIN_CONFIG), `overridden` the keys PLUGIN_CONFIG set, `stored` the tenant's own values."""
    entries: dict[str, ConfigEntry] = {}
    for key, option in manifest.config.items():
        if key not in deployment:
            continue
        base = ConfigEntry(key, deployment[key], DEPLOYMENT if key in overridden else DEFAULT)
        if key not in stored:
            entries[key] = base
            continue
        # Stored values are typed JSON, written by parse_assignments: checked as they are, never converted.
        problem = option_problem(option, stored[key])
        if problem is None:
            entries[key] = ConfigEntry(key, stored[key], TENANT)
        else:
            entries[key] = ConfigEntry(key, base.value, base.source, ignored=f"tenant value {problem}")
    return entries


# -- reading: one snapshot per process, re-read when the counter moved -------------------------------------------------


@dataclass(frozen=True)
class ConfigSnapshot:
    """Every tenant value of every plugin, as read at `version` of the counter: (plugin, tenant) -> {key: value}."""

    version: int
    values: Mapping[tuple[str, str], Mapping[str, Any]] = field(default_factory=dict)

    def stored(self, plugin: str, tenant: str) -> Mapping[str, Any]:
        return self.values.get((plugin, tenant), {})


class TenantConfigStore(PolledStore[ConfigSnapshot]):
    """The tenant values this process serves with; see `PolledStore` for the polling and read-error rules.

    `plugin` limits it to one plugin's rows: a sandbox worker reads only its own plugin's values, as it gets only
    its own PLUGIN_CONFIG.
    """

    version_key = VERSION_KEY

    def __init__(self, *args: Any, plugin: str | None = None, own_view: bool = False, **kwargs: Any):
        """`own_view`: read the plugin role's view of its own rows (a sandboxed worker on PostgreSQL, logged in as
        the plugin's role, may not read the table)."""
        super().__init__(*args, **kwargs)
        self.plugin = plugin
        self.source = own_config if own_view else tenant_config

    def _version_of(self, value: ConfigSnapshot) -> int:
        return value.version

    def _load(self, db: Session, version: int) -> ConfigSnapshot:
        columns = self.source.c
        query = select(columns.plugin, columns.tenant_id, columns.key, columns.value)
        if self.plugin is not None:
            query = query.where(columns.plugin == self.plugin)
        values: dict[tuple[str, str], dict[str, Any]] = {}
        for row in db.execute(query):
            values.setdefault((row.plugin, row.tenant_id), {})[row.key] = json.loads(row.value)
        return ConfigSnapshot(version, values)


class TenantConfig(Mapping[str, Any]):
    """`ctx.config`: a read-only mapping that resolves, at each read, for the tenant of the current request (outside
    a request: the default tenant). `for_tenant(t)` gives one tenant's config as a plain read-only mapping, e.g. in
    `on_enable(ctx, tenant)`."""

    def __init__(
        self,
        manifest: Manifest,
        deployment: Mapping[str, Any],
        overridden: frozenset[str],
        store: TenantConfigStore | None,
        tenant: Callable[[], str],
    ):
        self._manifest = manifest
        self._deployment = MappingProxyType(dict(deployment))
        self._overridden = overridden
        self._store = store
        self._tenant = tenant
        self._cache: tuple[int, dict[str, Mapping[str, Any]]] = (-1, {})

    def entries(self, tenant: str) -> dict[str, ConfigEntry]:
        """Each option for `tenant` with its source (what `sv plugins:config` prints)."""
        snapshot = self._store.current() if self._store is not None else ConfigSnapshot(0)
        return self._entries(snapshot, tenant)

    def _entries(self, snapshot: ConfigSnapshot, tenant: str) -> dict[str, ConfigEntry]:
        return layered(self._manifest, self._deployment, self._overridden, snapshot.stored(self._manifest.name, tenant))

    def for_tenant(self, tenant: str) -> Mapping[str, Any]:
        """The config in force for `tenant`."""
        if self._store is None:
            return self._deployment
        snapshot = self._store.current()
        version, cached = self._cache
        if version != snapshot.version:
            cached = {}
            self._cache = (snapshot.version, cached)
        found = cached.get(tenant)
        if found is None:
            entries = self._entries(snapshot, tenant)
            found = cached[tenant] = MappingProxyType({key: entry.value for key, entry in entries.items()})
        return found

    def __getitem__(self, key: str) -> Any:
        return self.for_tenant(self._tenant())[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.for_tenant(self._tenant()))

    def __len__(self) -> int:
        return len(self.for_tenant(self._tenant()))

    def __repr__(self) -> str:
        return f"TenantConfig({dict(self)!r})"


def deployment_config(
    manifest: Manifest, settings: Settings, store: TenantConfigStore | None, tenant: Callable[[], str]
) -> TenantConfig:
    """The plugin's `ctx.config`: its deployment config (defaults and PLUGIN_CONFIG, checked against the manifest;
    ManifestError when it does not fit) with the tenant layer of `store` over it, for the tenant `tenant()` names
    (the SDK's `request_tenant`)."""
    raw = settings.PLUGIN_CONFIG.get(manifest.name, {})
    overrides = {key.upper(): value for key, value in raw.items()}
    config = validate_plugin_config(manifest, overrides, f"PLUGIN_CONFIG.{manifest.name}")
    overridden = frozenset(key for key, value in overrides.items() if value is not None)
    return TenantConfig(manifest, config, overridden, store, tenant)


# -- writing -------------------------------------------------------------------------------------------------------


def write_tenant_config(
    db: Session,
    plugin: str,
    tenant: str,
    values: Mapping[str, Any],
    unset: Sequence[str],
    *,
    changed_by: str,
    now: datetime,
) -> None:
    """Store `values` and remove `unset` for (plugin, tenant), and bump the counter, in the caller's transaction."""
    dialect = db.get_bind().dialect.name
    for key, value in values.items():
        row = {
            "plugin": plugin,
            "tenant_id": tenant,
            "key": key,
            "value": json.dumps(value),
            "changed_at": now,
            "changed_by": changed_by[:200],
        }
        if dialect in ("postgresql", "sqlite"):
            statement = upsert_insert(dialect, tenant_config).values(**row)
            changes = {name: row[name] for name in ("value", "changed_at", "changed_by")}
            db.execute(statement.on_conflict_do_update(index_elements=["plugin", "tenant_id", "key"], set_=changes))
        else:  # other databases: delete and insert in the caller's transaction
            db.execute(_row_filter(delete(tenant_config), plugin, tenant, key))
            db.execute(tenant_config.insert().values(**row))
    for key in unset:
        db.execute(_row_filter(delete(tenant_config), plugin, tenant, key))
    bump_version(db, VERSION_KEY)


def _row_filter(statement: Any, plugin: str, tenant: str, key: str) -> Any:
    return statement.where(
        tenant_config.c.plugin == plugin, tenant_config.c.tenant_id == tenant, tenant_config.c.key == key
    )
