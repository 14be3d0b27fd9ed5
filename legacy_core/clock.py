"""Time and id services: injected everywhere so the parity harness and the shadow runner can pin them."""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    """Wall-clock time in UTC, truncated to milliseconds (what the JSON API shows)."""

    def now(self) -> datetime:
        moment = datetime.now(UTC)
        return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


@dataclass
class FixedClock:
    """A clock that starts at a fixed instant and advances by `step` on every read."""

    start: datetime = datetime(2026, 1, 1, tzinfo=UTC)
    step: timedelta = timedelta(seconds=1)
    _ticks: int = field(default=0, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def now(self) -> datetime:
        with self._lock:
            moment = self.start + self.step * self._ticks
            self._ticks += 1
        return moment


class IdGenerator(Protocol):
    def new(self, prefix: str) -> str: ...

    def token(self) -> str: ...


class RandomIds:
    """Prefixed random ids like `p_3f9a...` and unguessable session tokens."""

    def new(self, prefix: str) -> str:
        return f"{prefix}_{secrets.token_hex(8)}"

    def token(self) -> str:
        return secrets.token_urlsafe(32)


@dataclass
class SequentialIds:
    """Deterministic ids (`p_000001`, ...) for tests, the harness and shadow runs."""

    seed: str = "0"
    _counter: int = field(default=0, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def _next(self) -> int:
        with self._lock:
            self._counter += 1
            return self._counter

    def new(self, prefix: str) -> str:
        return f"{prefix}_{self.seed}{self._next():015d}"

    def token(self) -> str:
        return f"tok{self.seed}{self._next():029d}"


def isoformat(moment: datetime | None) -> str | None:
    """The one timestamp format of the API: UTC with milliseconds and a `Z`."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# The one format of a moment in text meant for people (sv's output, the Markdown summary); JSON keeps ISO 8601.
DISPLAY_FORMAT = "%Y-%m-%d %H:%M:%S UTC"


def display_time(moment: datetime | str) -> str:
    """`moment` as people read it: UTC, to the second, `2026-12-06 18:00:24 UTC`. A naive datetime (SQLite returns
    them) is taken as UTC; an ISO 8601 string is parsed first."""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime(DISPLAY_FORMAT)
