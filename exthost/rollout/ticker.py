"""A periodic action on a background thread of the process that started it: how counts are flushed and the shadow
child is watched off the request path."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable

log = logging.getLogger("sovereign.rollout")


class Ticker:
    """Runs `action` every `interval` seconds on a daemon thread until `stop()`; errors are logged, never raised.

    A thread does not survive a fork: a server that forks its workers after building the app (gunicorn --preload)
    calls `ensure()` in each worker, which starts that process's own thread.
    """

    def __init__(self, interval: float, action: Callable[[], None], *, name: str):
        self.interval = interval
        self.action = action
        self.name = name
        self.pid = 0
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def ensure(self) -> None:
        """Start the thread in this process unless it runs here already (or the ticker was stopped)."""
        with self._lock:
            if self.pid == os.getpid() or self._stopped.is_set():
                return
            self.pid = os.getpid()
            self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while not self._stopped.wait(self.interval):
            self.tick()

    def tick(self) -> None:
        """Run the action once, now."""
        try:
            self.action()
        except Exception:
            log.exception("%s failed; retried in %g s", self.name, self.interval)

    def stop(self) -> None:
        """End the thread (after its current action) and run the action one last time."""
        self._stopped.set()
        thread = self._thread
        if thread is not None and self.pid == os.getpid() and thread is not threading.current_thread():
            thread.join(30)
        self.tick()
