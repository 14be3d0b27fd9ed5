"""The canary circuit breaker: too many plugin failures of one feature in a window trip it, once per burst."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from exthost.counters import LocalWindows, Windows


class CircuitBreaker:
    """Counts failures per feature in a sliding window; `failure()` is True for the failure that trips it.

    The platform counts in the shared database (`exthost.counters.SharedWindows`), so every worker's failures add
    up to one threshold; by default (tests) in memory. After tripping, a feature's window starts empty again, so a
    feature set back to canary by an operator gets a fresh budget rather than tripping on its first failure.
    """

    def __init__(
        self,
        threshold: int,
        window_seconds: float,
        monotonic: Callable[[], float] = time.monotonic,
        *,
        windows: Windows | None = None,
    ):
        self.threshold = threshold
        self.window = window_seconds
        self.windows: Windows = windows or LocalWindows(monotonic)
        self._lock = threading.Lock()
        self.trips: dict[str, int] = {}

    def failure(self, feature: str) -> bool:
        if self.threshold <= 0:
            return False
        if not self.windows.hit(f"breaker:{feature}", self.threshold, self.window):
            return False
        with self._lock:
            self.trips[feature] = self.trips.get(feature, 0) + 1
        return True

    def recent(self, feature: str) -> int:
        """Failures of `feature` inside the window now (every worker's, when shared)."""
        return self.windows.recent(f"breaker:{feature}", self.window)
