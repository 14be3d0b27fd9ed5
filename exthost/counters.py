"""Events counted over a sliding window: in this process's memory, or shared by every process through the database.

The canary circuit breaker (failures of a feature) and the plugins' error budget (unhandled errors of a plugin for a
tenant) count this way. Shared, N gunicorn workers trip together at the threshold instead of after N times it. Only
the events themselves (a failure, an error) cost a write; requests that go well never touch the table.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import timedelta
from typing import Protocol

from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, delete, func, insert, select, text
from sqlalchemy.orm import Session, sessionmaker

from legacy_core.clock import Clock, SystemClock
from legacy_core.db import transaction

log = logging.getLogger("sovereign.counters")

metadata = MetaData()

window_events = Table(
    "sv_window_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
)


class Windows(Protocol):
    def hit(self, name: str, threshold: int, window: float) -> bool:
        """Count one event of `name`; True for the event that makes `threshold` events within the last `window`
        seconds, after which the count of `name` starts again from nothing."""

    def recent(self, name: str, window: float) -> int:
        """Events of `name` within the last `window` seconds."""


class LocalWindows:
    """Counts in this process's memory (tests, and the fallback while the database cannot be written)."""

    def __init__(self, monotonic: Callable[[], float] = time.monotonic):
        self._monotonic = monotonic
        self._events: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, name: str, threshold: int, window: float) -> bool:
        now = self._monotonic()
        with self._lock:
            recent = self._events.setdefault(name, deque())
            recent.append(now)
            while recent and now - recent[0] > window:
                recent.popleft()
            if len(recent) < threshold:
                return False
            recent.clear()
            return True

    def recent(self, name: str, window: float) -> int:
        now = self._monotonic()
        with self._lock:
            return sum(1 for moment in self._events.get(name, ()) if now - moment <= window)


class SharedWindows:
    """Counts in `sv_window_events`, shared by every process on the database.

    One transaction per event: insert it, forget the events of that name older than the window, count, and on
    reaching the threshold delete them all (the trip). On PostgreSQL a transaction-scoped advisory lock on the name
    serialises the events of one name, so exactly one event trips; SQLite has one writer at a time anyway. While the
    database cannot be written, events are counted in memory instead (logged), so a budget still trips.
    """

    def __init__(self, session_factory: sessionmaker[Session], clock: Clock | None = None):
        self.session_factory = session_factory
        self.clock = clock or SystemClock()  # wall time: the only time every machine agrees on
        self.fallback = LocalWindows()

    def hit(self, name: str, threshold: int, window: float) -> bool:
        now = self.clock.now()
        try:
            with transaction(self.session_factory) as db:
                if db.get_bind().dialect.name == "postgresql":
                    db.execute(text("SELECT pg_advisory_xact_lock(hashtext(:name))"), {"name": name})
                db.execute(insert(window_events).values(name=name, at=now))
                db.execute(
                    delete(window_events).where(
                        window_events.c.name == name, window_events.c.at < now - timedelta(seconds=window)
                    )
                )
                count = db.scalar(select(func.count()).select_from(window_events).where(window_events.c.name == name))
                if (count or 0) < threshold:
                    return False
                db.execute(delete(window_events).where(window_events.c.name == name))
                return True
        except Exception:
            log.exception("event %r not counted in the shared database; counted in this process instead", name)
            return self.fallback.hit(name, threshold, window)

    def recent(self, name: str, window: float) -> int:
        since = self.clock.now() - timedelta(seconds=window)
        with self.session_factory() as db:
            count = db.scalar(
                select(func.count())
                .select_from(window_events)
                .where(window_events.c.name == name, window_events.c.at >= since)
            )
        return int(count or 0) + self.fallback.recent(name, window)
