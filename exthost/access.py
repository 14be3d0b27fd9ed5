"""What a plugin's `ctx.db` may reach, decided without I/O: the policy from its manifest's `access` block, the SQLite
authorizer callback that applies it, the PostgreSQL role name and password, and the clear error a refusal becomes.

The connection-level glue (pool events, isolated runs) is in `exthost.plugin_db`; the PostgreSQL grants in
`exthost.roles`.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass

from exthost.manifest import PLATFORM_TABLES, PLATFORM_VIEWS, Manifest, table_matches

VIEW_PREFIX = "sv_platform_"
# PostgreSQL identifiers are at most 63 bytes; a longer role name is cut and given a digest of the whole.
MAX_ROLE = 63

# sqlite3 authorizer action codes, by what they do to a table.
_READS = {sqlite3.SQLITE_READ}
_WRITES = {sqlite3.SQLITE_INSERT, sqlite3.SQLITE_UPDATE, sqlite3.SQLITE_DELETE}
_ALWAYS = {
    sqlite3.SQLITE_SELECT,
    sqlite3.SQLITE_TRANSACTION,
    sqlite3.SQLITE_SAVEPOINT,
    sqlite3.SQLITE_FUNCTION,
    sqlite3.SQLITE_RECURSIVE,
}
# Pragmas that only read or set the connection's own behaviour (the engine sets the first ones on connect).
_PRAGMAS = frozenset({"foreign_keys", "busy_timeout", "journal_mode", "schema_version", "data_version"})
# SQLite's own catalogue: table names and their SQL, no rows of platform data.
_CATALOGUE = frozenset(
    {"sqlite_master", "sqlite_schema", "sqlite_temp_master", "sqlite_temp_schema", "sqlite_sequence"}
)


def view_name(platform: str) -> str:
    """The read-only view a platform grant reads: `users` -> `sv_platform_users`."""
    return f"{VIEW_PREFIX}{platform}"


def role_name(database: str, plugin: str) -> str:
    """The PostgreSQL role of `plugin` in `database`: roles are cluster-wide, so the database is in the name."""
    name = f"{database}__{plugin}"
    if len(name.encode()) <= MAX_ROLE:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:10]
    return f"{name.encode()[: MAX_ROLE - 11].decode(errors='ignore')}_{digest}"


def role_password(secret_key: str, role: str) -> str:
    """The role's password, derived from SECRET_KEY: nothing to store, and `sv migrate:deploy` sets it again after
    a key change. A plugin worker gets its own role's password only, from which the key cannot be recovered."""
    return hmac.new(secret_key.encode(), f"sovereign-plugin-role:{role}".encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class AccessPolicy:
    """One plugin's access: its own tables (names or `prefix_*`) and the platform views it reads."""

    plugin: str
    manifest_path: str
    tables: tuple[str, ...]
    platform: tuple[str, ...]

    @classmethod
    def of(cls, manifest: Manifest, manifest_path: str) -> AccessPolicy:
        return cls(manifest.name, manifest_path, tuple(manifest.access.tables), tuple(manifest.access.platform))

    def owns(self, table: str) -> bool:
        return any(table_matches(pattern, table) for pattern in self.tables)

    @property
    def views(self) -> frozenset[str]:
        return frozenset(view_name(platform) for platform in self.platform)

    def refusal(self, action: str, table: str) -> str:
        """Why `action` ("read", "write", "change") of `table` is refused, and the manifest key that would allow it."""
        where = f"in {self.manifest_path}"
        head = (
            f"plugin {self.plugin!r} may not {action} {'view' if table.startswith(VIEW_PREFIX) else 'table'} {table!r}"
        )
        if action == "change":
            return f"{head}: schema changes belong in the plugin's migrations (run by sv migrate:deploy), not ctx.db"
        platform = table.removeprefix(VIEW_PREFIX)
        if table in PLATFORM_TABLES or (table.startswith(VIEW_PREFIX) and platform in PLATFORM_VIEWS):
            if platform not in PLATFORM_VIEWS:
                grantable = ", ".join(PLATFORM_VIEWS)
                return f"{head}: it is not a platform view the SDK grants (grantable in access.platform: {grantable})"
            if action == "write":
                return f"{head}: platform data is read-only to plugins (access.platform grants reads of its views)"
            if table in PLATFORM_TABLES and platform in self.platform:
                return (
                    f"{head}: read platform data through its view {view_name(platform)!r}, which access.platform grants"
                )
            return (
                f"{head}: add {platform!r} to access.platform {where} and read the view {view_name(platform)!r} "
                "(platform tables are reached only through their read-only views)"
            )
        if table.startswith(("sv_", "alembic_version", "exthost_alembic_version", "sqlite_")):
            return f"{head}: it is the host's or the database's own; no manifest key grants it"
        return (
            f"{head}: it is not one of the plugin's own tables; add it (or a 'prefix_*' pattern) to access.tables "
            f"{where} if the plugin owns it (another plugin's tables stay that plugin's)"
        )


def sqlite_authorizer(
    policy: AccessPolicy, parent_keys: frozenset[tuple[str, str]], refusals: list[str]
) -> Callable[[int, str | None, str | None, str | None, str | None], int]:
    """The `sqlite3.Connection.set_authorizer` callback of a plugin's connection; each refusal's message is appended
    to `refusals` (SQLite itself only says "not authorized").

    `parent_keys` are the (table, column) pairs an owned table's foreign keys reference: SQLite's foreign-key check
    reads them through the authorizer like any query, so they stay readable.
    """
    views = policy.views

    def decide(action: int, first: str | None, second: str | None, _db: str | None, source: str | None) -> int:
        if action in _ALWAYS:
            return sqlite3.SQLITE_OK
        table = (first or "").lower()
        if action in _READS:
            # Inside a granted view, SQLite authorizes the view's reads of its base table with the view as source.
            if source is not None and source.startswith(VIEW_PREFIX) and source not in views:
                refusals.append(policy.refusal("read", source))  # name the view, not the table behind it
                return sqlite3.SQLITE_DENY
            if policy.owns(table) or table in views or source in views or table in _CATALOGUE:
                return sqlite3.SQLITE_OK
            if source is not None and policy.owns(source.lower()):
                return sqlite3.SQLITE_OK  # a trigger on an owned table
            # No column: SQLite's count(*) (also a count over a flattened view). It reads no value, only how many
            # rows there are, and SQLite cannot tell a count over a granted view from one over its table.
            if second == "" or (table, (second or "").lower()) in parent_keys:
                return sqlite3.SQLITE_OK
            refusals.append(policy.refusal("read", table))
            return sqlite3.SQLITE_DENY
        if action in _WRITES:
            # SQLite's catalogue is written by the DDL it implies, which is refused on its own (and SQLite refuses
            # a direct write to sqlite_master unless a pragma this authorizer refuses is on).
            if policy.owns(table) or (source is not None and policy.owns(source.lower())) or table in _CATALOGUE:
                return sqlite3.SQLITE_OK
            refusals.append(policy.refusal("write", table))
            return sqlite3.SQLITE_DENY
        if action == sqlite3.SQLITE_PRAGMA and table in _PRAGMAS and second is None:
            return sqlite3.SQLITE_OK
        if action == sqlite3.SQLITE_PRAGMA:
            refusals.append(f"plugin {policy.plugin!r} may not run PRAGMA {table}{'=' + second if second else ''}")
        elif action in (sqlite3.SQLITE_ATTACH, sqlite3.SQLITE_DETACH):
            refusals.append(f"plugin {policy.plugin!r} may not attach or detach a database through ctx.db")
        else:
            refusals.append(policy.refusal("change", table or "?"))
        return sqlite3.SQLITE_DENY

    return decide


_PG_DENIED = re.compile(r"permission denied for (table|view|sequence|relation|schema) \"?([A-Za-z0-9_.]+)\"?")


def postgres_refusal(policy: AccessPolicy, message: str, statement: str | None) -> str | None:
    """The clear message for PostgreSQL's `permission denied for table users` (SQLSTATE 42501), else None."""
    found = _PG_DENIED.search(message)
    if found is None:
        if "must be owner of" in message:
            table = message.rsplit(" ", 1)[-1].strip('"')
            return policy.refusal("change", table)
        return None
    kind, name = found.groups()
    if kind == "schema":
        return (
            f"plugin {policy.plugin!r} may not change schema {name!r}: schema changes belong in the plugin's "
            "migrations (run by sv migrate:deploy), not ctx.db"
        )
    verb = (statement or "").lstrip().split(None, 1)[0].upper() if (statement or "").strip() else "SELECT"
    action = "read" if verb in ("SELECT", "WITH", "TABLE", "VALUES") else "write"
    table = name.rsplit(".", 1)[-1]
    if kind == "sequence":
        return f"plugin {policy.plugin!r} may not use sequence {table!r}: only the sequences of its own tables"
    if policy.owns(table):
        # Its own table, yet refused: the role's grants predate the table (or the access block's change).
        return (
            f"plugin {policy.plugin!r} may not {action} table {table!r} yet: access.tables names it, but its "
            "database role has no grant on it; run `sv migrate:deploy` (it grants the tables as they now are)"
        )
    return policy.refusal(action, table)
