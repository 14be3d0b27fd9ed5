"""Shadow replays in a child process at low CPU priority, so they never compete with requests for the GIL.

A replay in a thread of the serving process shares its interpreter lock with the request threads: at 100% sampling
the callers' latency doubles (measured by scripts/bench_router.py). Here each serving process starts one child
(spawned, `os.nice(SHADOW_NICE)`) with its own legacy app and a passive host on the same database and plugin folder,
and hands it plain-data samples through a bounded queue. The operating system gives the child only what the
serving processes leave; when the child falls behind, the queue fills and new samples are dropped and counted,
which is the contract: the callers never wait for shadow work.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import multiprocessing
import os
import queue
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from exthost.rollout.replayer import preparer, replay_runner
from exthost.rollout.results import ShadowResults
from exthost.rollout.shadow import Sample, ShadowRunner

log = logging.getLogger("sovereign.shadow")

# Builds, in the child, the started (passive) host, the legacy server, the results store and the noise rules of one
# platform instance: `exthost.platform.build_platform_parts`, handed in by the platform so that this module never
# imports the platform that imports it. Spawned children receive it pickled by name, so it must be a module-level
# function.
PartsFactory = Callable[..., tuple[Any, Any, ShadowResults, Any]]

# WSGI environ values a sample carries to the child: plain data only (server objects, streams and the server's
# socket stay behind). The resolved user is a frozen dataclass and travels too.
_PLAIN = (str, bytes, int, float, bool, tuple, type(None))


def plain_environ(environ: Any, keep: tuple[str, ...]) -> dict[str, Any]:
    return {key: value for key, value in environ.items() if isinstance(value, _PLAIN) or key in keep}


class ProcessShadowRunner:
    """The ShadowRunner interface (start, poll, submit, drain, stop, queue, workers) over a child process.

    A child that dies (killed, out of memory) is noticed by `poll()`, on the platform's timer: every sample it had
    taken and not yet recorded is counted `lost:shadow-child-died` under its own feature and route, and a new child
    starts, at most `max_restarts` times within `restart_window` seconds; past that budget samples are dropped
    (`dropped:shadow-child-down`) until the window has room again.
    """

    def __init__(
        self,
        *,
        settings: Any,
        build_parts: PartsFactory,
        results: ShadowResults,
        queue_size: int,
        nice: int,
        keep: tuple[str, ...],
        max_restarts: int = 5,
        restart_window: float = 300.0,
        monotonic: Callable[[], float] = time.monotonic,
    ):
        self._context = multiprocessing.get_context("spawn")
        self.settings = settings
        self.build_parts = build_parts
        self.results = results
        self.nice = nice
        self.keep = keep
        self.queue_size = queue_size
        self.workers = 1
        self.max_restarts = max_restarts
        self.restart_window = restart_window
        self._monotonic = monotonic
        self._restarted_at: collections.deque[float] = collections.deque()
        self.restarts = 0
        self.deaths = 0
        self._down = False  # died, and not restarted yet: the budget was spent
        self._stopped = False
        self._stopping = False  # stop() has begun: a child that dies now is not replaced (nor its channel renewed)
        self._process: Any = None
        self._pid = 0  # the process that started the child: only it may use it (gunicorn --preload forks after)
        self._lock = threading.Lock()
        self._fresh_channel()

    def _fresh_channel(self) -> None:
        """A new queue and counters: a killed child may die holding the old queue's lock, so none is reused."""
        old = getattr(self, "queue", None)
        if old is not None:
            # Its feeder thread may be blocked on a pipe nobody reads any more: never wait for it.
            old.cancel_join_thread()
            old.close()
        self.queue: Any = self._context.Queue(maxsize=self.queue_size)
        self._queue_closed = False
        self._done: Any = self._context.Value("q", 0)
        self._processed: Any = self._context.Value("q", 0)
        self._errors: Any = self._context.Value("q", 0)
        self._submitted = 0
        # (feature, route, method, mode) of each sample handed to the child and not yet recorded by it, oldest first:
        # the child takes them in order, so `done` says how many from the left are settled.
        self._pending: collections.deque[tuple[str, str | None, str, str]] = collections.deque()
        self._settled = 0

    @property
    def processed(self) -> int:
        return int(self._processed.value)

    @property
    def errors(self) -> int:
        return int(self._errors.value)

    def _alive(self) -> bool:
        return self._process is not None and self._pid == os.getpid() and self._process.is_alive()

    def start(self) -> None:
        with self._lock:
            self._stopped = self._stopping = False
            if self._queue_closed:  # started again after a stop: the stopped child's queue is closed
                self._fresh_channel()
            if self._pid != os.getpid():
                # Forked since (a preloading server's worker): the parent's child, queue and counters belong to the
                # parent; this process gets its own.
                self._process = None
                self._fresh_channel()
            if self._alive():
                return
            self._spawn()

    def _spawn(self) -> None:
        process = self._context.Process(
            target=child_main,
            args=(self.settings, self.build_parts, self.queue, self._done, self._processed, self._errors, self.nice),
            name="sv-shadow",
            daemon=True,
        )
        # The child is born with SIGINT blocked (a signal mask survives fork and exec) and ignores it once it runs:
        # Ctrl+C at a terminal reaches the whole process group, and a child killed by it while starting would print a
        # traceback and lose its samples; the serving process stops it through the queue instead.
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            process.start()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)
        # Published only once started: a request thread must never see a child that is not running yet.
        self._process = process
        self._pid = os.getpid()

    def _budget_left(self) -> bool:
        now = self._monotonic()
        while self._restarted_at and now - self._restarted_at[0] > self.restart_window:
            self._restarted_at.popleft()
        return len(self._restarted_at) < self.max_restarts

    def _restart(self) -> None:
        self._restarted_at.append(self._monotonic())
        self.restarts += 1
        self._down = False
        self._spawn()

    def poll(self) -> None:
        """Settle what the child recorded; if it died, count what it lost and start another (within the budget); a
        child left down for want of budget is started again once the window has room."""
        with self._lock:
            if self._stopped or self._pid != os.getpid():
                return
            if self._process is None:
                if self._down and self._budget_left() and not self._stopping:
                    self._restart()
                return
            self._settle()
            if self._process.is_alive():
                return
            self.deaths += 1
            lost = list(self._pending)
            self._process = None
            restart = self._budget_left() and not self._stopping
            if not self._stopping:
                self._fresh_channel()
            if restart:
                self._restart()
            else:
                self._down = True
        for feature, route, method, mode in lost:
            self.results.count(feature, route, method, mode, "lost:shadow-child-died")
        log.error(
            "shadow child died with %d sample(s) not recorded; %s",
            len(lost),
            "started another"
            if restart
            else "not restarted: the platform is stopping"
            if self._stopping
            else f"not restarted: {self.max_restarts} restarts within "
            f"{self.restart_window:g} s; samples are dropped until the window has room",
        )

    def _settle(self) -> None:
        done = int(self._done.value)
        while self._settled < done and self._pending:
            self._pending.popleft()
            self._settled += 1

    def submit(self, sample: Sample) -> bool:
        """Queue a plain-data copy of the sample without waiting; a full queue (or no child) drops it, counted."""
        if self._pid != os.getpid() and self._pid:
            self.start()  # the first sample in a forked worker starts that worker's own child
        key = (sample.feature, sample.route, sample.request.method, sample.mode)
        if not self._alive():
            # A dead child is replaced by `poll()` on the platform's timer, never on a caller's request.
            self.results.count(*key, "dropped:shadow-child-down")
            return False
        plain = replace(
            sample,
            environ=plain_environ(sample.environ, self.keep),
            primary_app=None,  # type: ignore[arg-type]
            candidate_app=None,  # type: ignore[arg-type]
        )
        with self._lock:
            try:
                self.queue.put_nowait(plain)
            except queue.Full:
                full = True
            else:
                full = False
                self._submitted += 1
                self._pending.append(key)
        if full:
            self.results.count(*key, "dropped")
            return False
        return True

    def drain(self, timeout: float = 30.0) -> bool:
        """Wait until the child has run and recorded everything submitted so far; False on timeout or when the
        child is gone."""
        deadline = time.monotonic() + timeout
        with self._lock:
            target = self._submitted
            done = self._done
        while done.value < target:
            if time.monotonic() > deadline or not self._alive():
                self.poll()
                self.results.flush()
                return False
            time.sleep(0.01)
        self.poll()
        self.results.flush()
        return True

    def stop(self, timeout: float = 10.0) -> None:
        with self._lock:
            self._stopping = True
        self.drain(timeout)
        with self._lock:
            self._stopped = True
            process, self._process = self._process, None
            mine = self._pid == os.getpid()
        if process is not None and mine and process.is_alive():
            with contextlib.suppress(queue.Full):
                self.queue.put(None, timeout=1)
            process.join(timeout)
            if process.is_alive():
                process.terminate()
                process.join(1)
        if mine:
            # The queue's feeder thread and pipe go now, not at interpreter exit. A child that did not read to the end
            # (it died, or was terminated) may leave the feeder blocked on a full pipe: then it is never waited for.
            clean = process is not None and process.exitcode == 0
            with self._lock:
                if not clean:
                    self.queue.cancel_join_thread()
                self.queue.close()
                self._queue_closed = True
            if clean:
                self.queue.join_thread()
        self.results.flush()


def child_main(
    settings: Any, build_parts: PartsFactory, samples: Any, done: Any, processed: Any, errors: Any, nice: int
) -> None:
    """The child: a passive copy of the platform's apps on the same database, replaying samples until None."""
    # Ctrl+C at a terminal reaches the whole process group: the serving process stops this child through the queue
    # (it runs what is queued first). Born with SIGINT blocked (`_spawn`), it ignores it before unblocking it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    with contextlib.suppress(OSError):  # not permitted here: run at the same priority rather than not at all
        os.nice(nice)
    host, legacy, results, rules = build_parts(settings, name="shadow", passive=True)
    runner = replay_runner(settings, host, results, rules)
    prepare = preparer(host, legacy.app)
    finished = 0
    last_flush = time.monotonic()
    parent = multiprocessing.parent_process()
    try:
        while True:
            try:
                item: Sample | None = samples.get(timeout=0.2)
                idle = False
            except queue.Empty:
                item, idle = None, True
                if parent is not None and not parent.is_alive():
                    break  # the serving process is gone (killed, not stopped): nothing will come any more
            if item is None and not idle:
                break  # the parent's stop signal
            if item is not None:
                try:
                    _replay(runner, prepare, results, item, processed, errors)
                except Exception:  # this sample is counted lost by the parent; the child lives on
                    log.exception("shadow child: a sample failed outside its replay")
                finished += 1
            # Counts reach the database before `done` moves, so a parent that drained sees them; while they cannot be
            # written `done` stays, and a child killed meanwhile has those samples counted lost by its parent.
            if finished and (idle or time.monotonic() - last_flush > 1.0):
                results.flush()
                last_flush = time.monotonic()
                if not results.pending():
                    with done.get_lock():
                        done.value += finished
                    finished = 0
    finally:
        results.flush()
        with done.get_lock():
            done.value += finished
        host.shutdown()


def _replay(
    runner: ShadowRunner,
    prepare: Callable[[Sample], Sample | None],
    results: ShadowResults,
    item: Sample,
    processed: Any,
    errors: Any,
) -> None:
    ready = prepare(item)
    if ready is None:
        results.count(item.feature, item.route, item.request.method, item.mode, "skipped:plugin-unavailable")
        return
    before = runner.errors
    runner.run(ready)
    counter = errors if runner.errors > before else processed
    with counter.get_lock():
        counter.value += 1
