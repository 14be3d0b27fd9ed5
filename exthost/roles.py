"""PostgreSQL roles of plugins: one per plugin and database, made or brought up to date by `sv migrate:deploy` after
the plugins' revisions, with privileges on exactly what the manifest's `access` block names.

The role may read and write the tables its `access.tables` patterns match (and use their sequences), read the
platform views its `access.platform` names, and nothing else: its earlier grants in the schema are revoked first,
so a table taken out of the manifest is taken from the role too. A view runs with its owner's privileges, so the
role reads `sv_platform_users` without any privilege on `users`. The deploying user becomes a member of each role
(SET ROLE needs it) and the role gets LOGIN with a password derived from SECRET_KEY (exthost.access.role_password),
which a sandboxed plugin's workers connect with.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import SQLAlchemyError

from exthost.access import AccessPolicy, role_name, role_password, view_name

_TABLES = """
SELECT c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
"""
# Sequences owned by a column of the table (serial and identity columns).
_SEQUENCES = """
SELECT s.relname FROM pg_class s JOIN pg_depend d ON d.objid = s.oid AND d.classid = 'pg_class'::regclass
JOIN pg_class t ON t.oid = d.refobjid JOIN pg_namespace n ON n.oid = s.relnamespace
WHERE s.relkind = 'S' AND t.relname = :table AND n.nspname = current_schema()
"""


# Read by the SDK itself in a sandboxed worker logged in as the role (exthost.tenant_config).
SDK_READS = ("sv_platform_plugin_config", "sv_registry_version")


def _quote(connection: Connection, name: str) -> str:
    return connection.dialect.identifier_preparer.quote_identifier(name)


def grant_plugin_role(connection: Connection, policy: AccessPolicy, secret_key: str) -> str:
    """Make or update `policy`'s role in the connection's database; the line to print."""
    database = str(connection.execute(text("SELECT current_database()")).scalar())
    recorded = connection.execute(
        text("SELECT role FROM sv_plugin_roles WHERE plugin = :p"), {"p": policy.plugin}
    ).scalar()
    # A database made from a template keeps the template's role (and the grants its copy carries).
    role = str(recorded) if recorded is not None else role_name(database, policy.plugin)
    quoted = _quote(connection, role)
    exists = connection.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role}).scalar()
    if not exists:
        connection.exec_driver_sql(f"CREATE ROLE {quoted}")
    password = role_password(secret_key, role)
    # NOINHERIT: the role has its own grants only, never those of a role it might be made a member of.
    connection.exec_driver_sql(
        f"ALTER ROLE {quoted} WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOREPLICATION "
        f"NOBYPASSRLS PASSWORD '{password}'"
    )
    is_member = connection.execute(text("SELECT pg_has_role(current_user, :r, 'MEMBER')"), {"r": role}).scalar()
    if not is_member:
        connection.exec_driver_sql(f"GRANT {quoted} TO CURRENT_USER")
    connection.exec_driver_sql(f"GRANT CONNECT ON DATABASE {_quote(connection, database)} TO {quoted}")
    schema = _quote(connection, str(connection.execute(text("SELECT current_schema()")).scalar()))
    connection.exec_driver_sql(f"GRANT USAGE ON SCHEMA {schema} TO {quoted}")
    connection.exec_driver_sql(f"REVOKE ALL ON ALL TABLES IN SCHEMA {schema} FROM {quoted}")
    connection.exec_driver_sql(f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA {schema} FROM {quoted}")
    relations = {str(name): str(kind) for name, kind in connection.execute(text(_TABLES))}
    owned = sorted(name for name, kind in relations.items() if kind in ("r", "p", "f") and policy.owns(name))
    for table in owned:
        connection.exec_driver_sql(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {_quote(connection, table)} TO {quoted}")
        for (sequence,) in connection.execute(text(_SEQUENCES), {"table": table}):
            connection.exec_driver_sql(
                f"GRANT USAGE, SELECT, UPDATE ON SEQUENCE {_quote(connection, sequence)} TO {quoted}"
            )
    views = sorted(view_name(platform) for platform in policy.platform)
    for view in views:
        connection.exec_driver_sql(f"GRANT SELECT ON {_quote(connection, view)} TO {quoted}")
    # What the host's SDK reads as the role in a sandboxed worker: the plugin's own tenant config (a view that
    # shows each role its own plugin's rows) and the counter that says when it changed.
    for platform_read in SDK_READS:
        connection.exec_driver_sql(f"GRANT SELECT ON {platform_read} TO {quoted}")
    # A privilege granted to PUBLIC would reach the role too: take it off every relation the role may not use.
    allowed = set(owned) | set(views) | set(SDK_READS)
    public = connection.execute(
        text(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "CROSS JOIN LATERAL aclexplode(coalesce(c.relacl, acldefault('r', c.relowner))) a "
            "WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p', 'v', 'm', 'f') AND a.grantee = 0"
        )
    ).scalars()
    for name in sorted(set(public) - allowed):
        connection.exec_driver_sql(f"REVOKE ALL ON {_quote(connection, name)} FROM PUBLIC")
    connection.execute(
        text(
            "INSERT INTO sv_plugin_roles (plugin, role) VALUES (:p, :r) "
            "ON CONFLICT (plugin) DO UPDATE SET role = excluded.role"
        ),
        {"p": policy.plugin, "r": role},
    )
    return f"plugin {policy.plugin}: role {role}: {len(owned)} table(s), views {', '.join(views) or 'none'}"


def grant_plugin_roles(engine: Engine, policies: Iterable[AccessPolicy], secret_key: str) -> list[str]:
    """Every plugin's role, in one transaction (PostgreSQL only; SQLite needs none); the lines to print."""
    if engine.dialect.name != "postgresql":
        return []
    with engine.begin() as connection:
        return [grant_plugin_role(connection, policy, secret_key) for policy in policies]


def drop_plugin_roles(connection: Connection, database: str) -> list[str]:
    """Drop the roles made for plugins in `database` (named `<database>__<plugin>`) once no database holds a grant
    to them (tests and the parity harness, whose databases come and go); the names dropped. Needs an autocommit
    connection: a role another database still names is left, and the others are dropped."""
    like = database.replace("\\", "\\\\").replace("_", "\\_").replace("%", "\\%") + "\\_\\_%"
    query = text("SELECT rolname FROM pg_roles WHERE rolname LIKE :n")
    dropped: list[str] = []
    for name in [str(found) for found in connection.execute(query, {"n": like}).scalars()]:
        try:
            connection.exec_driver_sql(f"DROP ROLE IF EXISTS {_quote(connection, name)}")
        except SQLAlchemyError:
            continue  # a copy of the database still grants it something
        dropped.append(name)
    return dropped
