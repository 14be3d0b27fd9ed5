"""The canary circuit breaker: too many plugin failures of one feature in a window trip it, once per burst."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable


class CircuitBreaker:
    """Counts failures per feature in a sliding window; `failure()` is True for the failure that trips it.

    After tripping, a feature's window starts empty again, so a feature set back to canary by an operator gets a
    fresh budget rather than tripping on its first failure.
    """

    def __init__(self, threshold: int, window_seconds: float, monotonic: Callable[[], float] = time.monotonic):
        self.threshold = threshold
        self.window = window_seconds
        self._monotonic = monotonic
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()
        self.trips: dict[str, int] = {}

    def failure(self, feature: str) -> bool:
        if self.threshold <= 0:
            return False
        now = self._monotonic()
        with self._lock:
            recent = self._failures.setdefault(feature, deque())
            recent.append(now)
            while recent and now - recent[0] > self.window:
                recent.popleft()
            if len(recent) < self.threshold:
                return False
            recent.clear()
            self.trips[feature] = self.trips.get(feature, 0) + 1
            return True

    def recent(self, feature: str) -> int:
        """Failures of `feature` inside the window now."""
        now = self._monotonic()
        with self._lock:
            return sum(1 for moment in self._failures.get(feature, ()) if now - moment <= self.window)
