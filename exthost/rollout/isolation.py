"""Isolated runs: a request handled inside a database transaction that is always rolled back, with pinned time and ids.

The platform's services get a session factory, clock and id generator that consult context variables: outside an
isolated run they behave exactly like the plain ones; inside `isolated(...)` (in that thread only) every session
joins one connection's transaction through a savepoint, and `now()`/`new()` come from the pinned services. So the
same legacy and plugin code runs unchanged against a throw-away view of the stored state, which is how the shadow
runner executes candidates without ever changing stored data.

A throw-away run must also never hurt live traffic, and must know when it lost to it. With `lock_timeout_ms` it
gives up a lock wait after that long instead of holding its own locks while it waits (on PostgreSQL a `lock_timeout`
well under `deadlock_timeout`, so in a lock cycle with a live request the replay is the one that fails, long before
PostgreSQL would pick a victim; on SQLite a short busy timeout). On PostgreSQL it reads one snapshot (REPEATABLE
READ), so every run inside it sees the same rows whatever commits meanwhile. `contention()` collects the database
errors of this thread that mean "lost to other traffic" (lock timeout, deadlock, serialization failure, SQLite's
busy or locked database), so a caller can tell a replay that lost a race from one whose code misbehaved.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, event
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.orm import Session, sessionmaker

from legacy_core.clock import Clock, IdGenerator

_CONNECTION: ContextVar[Connection | None] = ContextVar("sv_isolated_connection", default=None)
_CLOCK: ContextVar[Clock | None] = ContextVar("sv_pinned_clock", default=None)
_IDS: ContextVar[IdGenerator | None] = ContextVar("sv_pinned_ids", default=None)
_REPLAY: ContextVar[bool] = ContextVar("sv_throwaway_run", default=False)
_RECORDING: ContextVar[list[datetime] | None] = ContextVar("sv_recorded_instants", default=None)
_CONTENDED: ContextVar[list[str] | None] = ContextVar("sv_contention", default=None)
_AFTER: ContextVar[list[Callable[[], None]] | None] = ContextVar("sv_after_isolated", default=None)

# PostgreSQL's SQLSTATEs for losing to other transactions: lock_not_available (lock_timeout), serialization_failure
# (REPEATABLE READ found a row changed since its snapshot), deadlock_detected.
CONTENTION_SQLSTATES = frozenset({"55P03", "40001", "40P01"})
# SQLite's primary result codes for the same: SQLITE_BUSY (another connection holds the lock, or the snapshot is
# stale: SQLITE_BUSY_SNAPSHOT) and SQLITE_LOCKED.
_SQLITE_CONTENTION = frozenset({5, 6})
_listening_lock = threading.Lock()
# The WSGI environ key by which the router asks an app that runs its plugin elsewhere (a sandboxed plugin's proxy,
# `guards_own_writes`) for a guarded run: the write is kept only when the answer is below 500.
GUARDED_RUN_KEY = "sovereign.guarded_run"


def contention_of(error: BaseException | None) -> str | None:
    """Why `error` (a DBAPI exception) means lost to other traffic, or None when it means something else."""
    sqlstate = getattr(error, "sqlstate", None)
    if sqlstate in CONTENTION_SQLSTATES:
        return f"sqlstate {sqlstate}"
    code = getattr(error, "sqlite_errorcode", None)
    if isinstance(code, int) and code & 0xFF in _SQLITE_CONTENTION:
        return f"sqlite {getattr(error, 'sqlite_errorname', code)}"
    return None


def _note_contention(context: ExceptionContext) -> None:
    found = _CONTENDED.get()
    if found is not None:
        why = contention_of(context.original_exception)
        if why is not None:
            found.append(why)


def _watch(engine: Engine) -> None:
    """Listen once per engine for the errors `contention()` collects."""
    with _listening_lock:
        if not event.contains(engine, "handle_error", _note_contention):
            event.listen(engine, "handle_error", _note_contention)


@contextmanager
def contention() -> Iterator[list[str]]:
    """Inside the block (this thread only), every database error of an isolated run that means it lost to other
    traffic is appended to the list (caught by the app or not)."""
    found: list[str] = []
    token = _CONTENDED.set(found)
    try:
        yield found
    finally:
        _CONTENDED.reset(token)


class SwitchableClock:
    """The platform clock, unless this thread is inside `pinned(clock=...)`."""

    def __init__(self, base: Clock):
        self.base = base

    def now(self) -> datetime:
        moment = (_CLOCK.get() or self.base).now()
        recording = _RECORDING.get()
        if recording is not None:
            recording.append(moment)
        return moment


class ReplayClock:
    """Answers the instants another run read, in the same order, then keeps answering the last one.

    The shadow runner gives a candidate the times the primary saw, so a timestamp in an answer (an export's date)
    agrees when both implementations read the clock at the same points, without changing what the primary reads.
    """

    def __init__(self, instants: tuple[datetime, ...]):
        if not instants:
            raise ValueError("a replay clock needs at least one instant")
        self._instants = instants
        self._next = 0

    @property
    def instants(self) -> tuple[datetime, ...]:
        return self._instants

    def now(self) -> datetime:
        index = min(self._next, len(self._instants) - 1)
        self._next += 1
        return self._instants[index]


class SwitchableIds:
    """The platform id generator, unless this thread is inside `pinned(ids=...)`."""

    def __init__(self, base: IdGenerator):
        self.base = base

    def new(self, prefix: str) -> str:
        return (_IDS.get() or self.base).new(prefix)

    def token(self) -> str:
        return (_IDS.get() or self.base).token()


class IsolatingSessionFactory(sessionmaker[Session]):
    """A sessionmaker whose sessions join the isolated run's connection (via a savepoint) when there is one."""

    def __call__(self, **local_kw: Any) -> Session:
        connection = _CONNECTION.get()
        if connection is not None and connection.engine is self.kw.get("bind"):
            local_kw.setdefault("bind", connection)
            local_kw.setdefault("join_transaction_mode", "create_savepoint")
        return super().__call__(**local_kw)


def isolated_connection() -> Connection | None:
    """The connection this thread's isolated run works on, if it is inside one (a plugin's ctx.db joins it)."""
    return _CONNECTION.get()


def in_isolated_run() -> bool:
    """Whether this thread is inside a throw-away `isolated(...)` run: a shadow replay, whose effects no caller
    sees (a guarded canary run, with `keep`, is real traffic)."""
    return _REPLAY.get()


def current_pins() -> tuple[Clock | None, IdGenerator | None]:
    """The clock and id generator this thread is pinned to, if any (a sandboxed plugin's replay gets the same)."""
    return _CLOCK.get(), _IDS.get()


def note_contention(why: str) -> None:
    """Count a lost lock of work done elsewhere for this thread (a sandboxed plugin's replay in its worker)."""
    found = _CONTENDED.get()
    if found is not None:
        found.append(why)


def after_isolated_run(action: Callable[[], None]) -> None:
    """Run `action` once this thread's isolated run has ended (committed or rolled back), or now outside one.

    For writes that must outlive the run whatever becomes of it: a plugin error inside a guarded canary write is
    charged to the plugin's error budget after the run is rolled back, not inside the transaction that rolls back.
    """
    pending = _AFTER.get()
    if pending is None:
        action()
    else:
        pending.append(action)


@contextmanager
def pinned(*, clock: Clock | None = None, ids: IdGenerator | None = None) -> Iterator[None]:
    """Inside the block (this thread only), switchable clocks and id generators answer from these."""
    clock_token = _CLOCK.set(clock) if clock is not None else None
    ids_token = _IDS.set(ids) if ids is not None else None
    try:
        yield
    finally:
        if ids_token is not None:
            _IDS.reset(ids_token)
        if clock_token is not None:
            _CLOCK.reset(clock_token)


@contextmanager
def recording() -> Iterator[list[datetime]]:
    """Inside the block (this thread only), every instant a switchable clock answers is appended to the list."""
    instants: list[datetime] = []
    token = _RECORDING.set(instants)
    try:
        yield instants
    finally:
        _RECORDING.reset(token)


@contextmanager
def isolated(
    engine: Engine,
    *,
    immediate: bool = False,
    keep: Callable[[], bool] | None = None,
    lock_timeout_ms: int | None = None,
) -> Iterator[Connection]:
    """Inside the block, this thread's sessions of `engine` work in one transaction, rolled back at the end.

    `keep` turns the throw-away run into a guarded one: the transaction is committed when the block ends without
    an exception and `keep()` is true (the canary keeps a plugin's write only when it answered well).
    `immediate` takes SQLite's write lock at the start: a run that writes after reading must not find its snapshot
    overtaken by another writer (SQLite refuses that upgrade at once, whatever the busy timeout).
    `lock_timeout_ms` makes the run give up a lock wait after that long (see the module docstring); a throw-away run
    on PostgreSQL also reads one snapshot (REPEATABLE READ).
    """
    _watch(engine)
    with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        postgresql = connection.dialect.name == "postgresql"
        if postgresql and keep is None:
            # Set before the transaction begins; the pool resets the level when the connection goes back.
            connection.execution_options(isolation_level="REPEATABLE READ")
        driver: Any = connection.connection.driver_connection
        saved = driver.isolation_level if sqlite else None
        saved_busy: int | None = None
        if sqlite:
            # pysqlite opens transactions itself, only before writes, and would end them at a savepoint; an explicit
            # BEGIN makes the whole run one transaction that the rollback below undoes.
            driver.isolation_level = None
            if lock_timeout_ms is not None:
                saved_busy = int(driver.execute("PRAGMA busy_timeout").fetchone()[0])
                driver.execute(f"PRAGMA busy_timeout = {int(lock_timeout_ms)}")
        transaction = connection.begin()
        token = _CONNECTION.set(connection)
        replay = _REPLAY.set(keep is None)
        after: list[Callable[[], None]] = []
        after_token = _AFTER.set(after)
        try:
            if sqlite:
                connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
            elif postgresql and lock_timeout_ms is not None:
                connection.exec_driver_sql(f"SET LOCAL lock_timeout = '{int(lock_timeout_ms)}ms'")
            yield connection
        except BaseException:
            if transaction.is_active:
                transaction.rollback()
            raise
        else:
            if keep is not None and keep():
                transaction.commit()
            elif transaction.is_active:
                transaction.rollback()
        finally:
            _AFTER.reset(after_token)
            _REPLAY.reset(replay)
            _CONNECTION.reset(token)
            # A plugin session that joined the run and was never closed leaves its confinement behind
            # (exthost.plugin_db): the platform's pool must not get it back so. On PostgreSQL the SET LOCAL ROLE
            # ended with the transaction.
            for key in [key for key in connection.info if str(key).startswith("sv_access")]:
                del connection.info[key]
            if sqlite:
                driver.set_authorizer(None)
                driver.isolation_level = saved
                if saved_busy is not None:
                    driver.execute(f"PRAGMA busy_timeout = {saved_busy}")
    for action in after:
        try:
            action()
        except Exception:
            logging.getLogger("sovereign.rollout").exception("an action deferred past an isolated run failed")
