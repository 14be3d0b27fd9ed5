"""A plugin's `ctx.db`: a session factory over an engine of the plugin's own whose every connection is confined to
the plugin's `access` block (exthost.access), and whose refusals become `AccessDenied` naming table and manifest key.

SQLite: each new connection of the plugin's pool gets the authorizer when it is made (the pool's `connect` event),
before the pool can hand it out. PostgreSQL: each connection starts as the plugin's role (`-c role=...` in its
startup packet), so a ROLLBACK, `RESET ROLE` or `DISCARD ALL` returns to that role, not to the platform's.

An isolated run (a shadow replay, a guarded canary write: exthost.rollout.isolation) runs every session of the
thread on one connection of the platform's engine. A plugin session joining it confines that connection while it is
open (SQLite: the authorizer; PostgreSQL: `SET LOCAL ROLE`, undone with the transaction at the latest) and frees it
when closed; `isolated` also drops any authorizer before the connection goes back to the platform's pool.
"""

from __future__ import annotations

import contextlib
from typing import Any

from sqlalchemy import Connection, Engine, event, text
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from exthost.access import AccessPolicy, postgres_refusal, sqlite_authorizer
from exthost.errors import AccessDenied
from exthost.rollout.isolation import IsolatingSessionFactory, isolated_connection
from legacy_core.db import make_engine

_POLICY = "sv_access_policy"
_REFUSALS = "sv_access_refusals"
_DEPTH = "sv_access_depth"


def _parent_keys(dbapi_connection: Any, policy: AccessPolicy) -> frozenset[tuple[str, str]]:
    """The (table, column) pairs the plugin's own tables reference with foreign keys (read before the authorizer
    is installed)."""
    cursor = dbapi_connection.cursor()
    try:
        names = [row[0] for row in cursor.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        found: set[tuple[str, str]] = set()
        for name in names:
            if policy.owns(name.lower()):
                for row in cursor.execute(f'PRAGMA foreign_key_list("{name}")'):
                    found.add((str(row[2]).lower(), str(row[4] or "id").lower()))
        return frozenset(found)
    finally:
        cursor.close()


def _confine_sqlite(dbapi_connection: Any, info: dict[str, Any], policy: AccessPolicy) -> None:
    refusals: list[str] = []
    dbapi_connection.set_authorizer(sqlite_authorizer(policy, _parent_keys(dbapi_connection, policy), refusals))
    info[_POLICY], info[_REFUSALS] = policy, refusals


def explain_refusal(context: ExceptionContext) -> BaseException | None:
    """An engine's `handle_error` listener: a refusal on a confined connection becomes AccessDenied."""
    connection = context.connection
    if connection is None or connection.closed:
        return None
    try:
        info = connection.info
    except SQLAlchemyError:
        return None
    policy = info.get(_POLICY)
    if not isinstance(policy, AccessPolicy):
        return None
    original = context.original_exception
    if context.engine is not None and context.engine.dialect.name == "sqlite":
        refusals = info.get(_REFUSALS) or []
        if refusals and ("not authorized" in str(original) or "prohibited" in str(original)):
            message = refusals[0]  # the first: a DROP TABLE is refused, then the write to sqlite_master it implies
            refusals.clear()
            return AccessDenied(message)
        return None
    if getattr(original, "sqlstate", None) == "42501":
        message = postgres_refusal(policy, str(original), context.statement)
        return AccessDenied(message) if message else None
    return None


def _fresh_refusals(connection: Connection, *_args: Any) -> None:
    # A refusal met through a bare DBAPI cursor was never explained: it must not explain the next statement's.
    refusals = connection.info.get(_REFUSALS)
    if refusals:
        refusals.clear()


def _listen_errors(engine: Engine) -> None:
    if not event.contains(engine, "handle_error", explain_refusal):
        event.listen(engine, "handle_error", explain_refusal, retval=True)
    if engine.dialect.name == "sqlite" and not event.contains(engine, "before_cursor_execute", _fresh_refusals):
        event.listen(engine, "before_cursor_execute", _fresh_refusals)


def plugin_engine(url: str, policy: AccessPolicy, role: str | None) -> Engine:
    """An engine for `url` whose every connection is confined to `policy` (on PostgreSQL: starts as `role`)."""
    if url.startswith("sqlite"):
        engine = make_engine(url)

        @event.listens_for(engine, "connect")
        def _confine(dbapi_connection: Any, record: Any) -> None:
            _confine_sqlite(dbapi_connection, record.info, policy)

    else:
        assert role is not None
        # libpq takes the role as a startup option: the session's default role, which a ROLLBACK restores.
        engine = make_engine(url, connect_args={"options": f"-c role={role}"})

        @event.listens_for(engine, "connect")
        def _mark(_dbapi_connection: Any, record: Any) -> None:
            record.info[_POLICY] = policy

    _listen_errors(engine)
    return engine


class PluginSession(Session):
    """A plugin's session; one that joined an isolated run frees the shared connection when closed."""

    sv_confined: Connection | None = None

    def close(self) -> None:
        try:
            super().close()
        finally:
            connection, self.sv_confined = self.sv_confined, None
            if connection is not None:
                _release(connection)


def _confine_shared(connection: Connection, policy: AccessPolicy, role: str | None) -> None:
    info = connection.info
    current = info.get(_POLICY)
    if current is not None and current != policy:
        raise AccessDenied(f"plugin {policy.plugin!r} opened a session inside plugin {current.plugin!r}'s session")
    depth = int(info.get(_DEPTH, 0))
    if depth == 0:
        if connection.dialect.name == "sqlite":
            _confine_sqlite(connection.connection.driver_connection, info, policy)
        else:
            assert role is not None
            quoted = connection.dialect.identifier_preparer.quote(role)
            connection.exec_driver_sql(f"SET LOCAL ROLE {quoted}")
            info[_POLICY] = policy
    info[_DEPTH] = depth + 1


def _release(connection: Connection) -> None:
    info = connection.info
    depth = int(info.get(_DEPTH, 0)) - 1
    if depth > 0:
        info[_DEPTH] = depth
        return
    for key in (_DEPTH, _POLICY, _REFUSALS):
        info.pop(key, None)
    if connection.closed:
        return
    if connection.dialect.name == "sqlite":
        connection.connection.driver_connection.set_authorizer(None)  # type: ignore[union-attr]
    else:
        # An aborted transaction refuses this; its rollback (isolated's) undoes the SET LOCAL anyway.
        with contextlib.suppress(SQLAlchemyError):
            connection.exec_driver_sql("RESET ROLE")


class PluginSessionFactory(IsolatingSessionFactory):
    """`ctx.db`: sessions on the plugin's confined engine; inside an isolated run of the platform's engine, sessions
    that join the run's connection, confined while they are open."""

    def __init__(self, policy: AccessPolicy, platform_engine: Engine, role: str | None, *, missing: str | None = None):
        url = platform_engine.url.render_as_string(hide_password=False)
        self.policy = policy
        self.role = role
        self.platform_engine = platform_engine
        self.missing = missing
        self.engine = plugin_engine(url, policy, role) if missing is None else platform_engine
        _listen_errors(platform_engine)
        super().__init__(bind=self.engine, class_=PluginSession, expire_on_commit=False)

    def __call__(self, **local_kw: Any) -> Session:
        if self.missing is not None:
            raise AccessDenied(self.missing)
        connection = isolated_connection()
        if connection is None or connection.engine is not self.platform_engine:
            return super().__call__(**local_kw)
        _confine_shared(connection, self.policy, self.role)
        local_kw.setdefault("bind", connection)
        local_kw.setdefault("join_transaction_mode", "create_savepoint")
        session = super().__call__(**local_kw)
        assert isinstance(session, PluginSession)
        session.sv_confined = connection
        return session

    def dispose(self) -> None:
        if self.engine is not self.platform_engine:
            self.engine.dispose()


def recorded_role(session_factory: Any, plugin: str) -> str | None:
    """The role `sv migrate:deploy` made for `plugin` in this database (exthost.roles), or None."""
    with session_factory() as db:
        value = db.execute(text("SELECT role FROM sv_plugin_roles WHERE plugin = :p"), {"p": plugin}).scalar()
    return None if value is None else str(value)


def build_plugin_db(policy: AccessPolicy, platform_engine: Engine, session_factory: Any) -> PluginSessionFactory:
    """The plugin's `ctx.db` on the platform's database; on PostgreSQL without a role yet, every session is refused
    with what to run."""
    if platform_engine.dialect.name == "sqlite":
        return PluginSessionFactory(policy, platform_engine, None)
    try:
        role = recorded_role(session_factory, policy.plugin)
    except SQLAlchemyError:
        role = None
    if role is None:
        missing = (
            f"plugin {policy.plugin!r} has no database role in this database yet, so its ctx.db is refused; "
            "run `sv migrate:deploy`, which makes one per plugin with the grants of its access block"
        )
        return PluginSessionFactory(policy, platform_engine, None, missing=missing)
    return PluginSessionFactory(policy, platform_engine, role)


def dispose_plugin_db(factory: object) -> None:
    """Close the idle connections of a plugin's own engine (a host shutting down, a reloaded plugin's old version)."""
    if isinstance(factory, PluginSessionFactory):
        factory.dispose()
