"""Isolated runs: a request handled inside a database transaction that is always rolled back, with pinned time and ids.

The platform's services get a session factory, clock and id generator that consult context variables: outside an
isolated run they behave exactly like the plain ones; inside `isolated(...)` (in that thread only) every session
joins one connection's transaction through a savepoint, and `now()`/`new()` come from the pinned services. So the
same legacy and plugin code runs unchanged against a throw-away view of the stored state, which is how the shadow
runner executes candidates without ever changing stored data.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker

from legacy_core.clock import Clock, IdGenerator

_CONNECTION: ContextVar[Connection | None] = ContextVar("sv_isolated_connection", default=None)
_CLOCK: ContextVar[Clock | None] = ContextVar("sv_pinned_clock", default=None)
_IDS: ContextVar[IdGenerator | None] = ContextVar("sv_pinned_ids", default=None)
_REPLAY: ContextVar[bool] = ContextVar("sv_throwaway_run", default=False)
_RECORDING: ContextVar[list[datetime] | None] = ContextVar("sv_recorded_instants", default=None)


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


def in_isolated_run() -> bool:
    """Whether this thread is inside a throw-away `isolated(...)` run: a shadow replay, whose effects no caller
    sees (a guarded canary run, with `keep`, is real traffic)."""
    return _REPLAY.get()


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
    engine: Engine, *, immediate: bool = False, keep: Callable[[], bool] | None = None
) -> Iterator[Connection]:
    """Inside the block, this thread's sessions of `engine` work in one transaction, rolled back at the end.

    `keep` turns the throw-away run into a guarded one: the transaction is committed when the block ends without
    an exception and `keep()` is true (the canary keeps a plugin's write only when it answered well).
    `immediate` takes SQLite's write lock at the start: a run that writes after reading must not find its snapshot
    overtaken by another writer (SQLite refuses that upgrade at once, whatever the busy timeout).
    """
    with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        driver: Any = connection.connection.driver_connection
        saved = driver.isolation_level if sqlite else None
        if sqlite:
            # pysqlite opens transactions itself, only before writes, and would end them at a savepoint; an explicit
            # BEGIN makes the whole run one transaction that the rollback below undoes.
            driver.isolation_level = None
        transaction = connection.begin()
        token = _CONNECTION.set(connection)
        replay = _REPLAY.set(keep is None)
        try:
            if sqlite:
                connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
            yield connection
        except BaseException:
            transaction.rollback()
            raise
        else:
            if keep is not None and keep():
                transaction.commit()
            else:
                transaction.rollback()
        finally:
            _REPLAY.reset(replay)
            _CONNECTION.reset(token)
            if sqlite:
                driver.isolation_level = saved
