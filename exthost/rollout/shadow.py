"""The shadow runner: replays copies of served requests on the other implementation, off the request path, and
compares.

A sample is queued after the caller has its response (the router submits it when the response is closed); a full
queue drops the sample and counts it. Worker threads run each sample on an isolated view of the stored state (a
transaction always rolled back, see `isolation.py`) with the clock replaying the instants the primary read and
ids pinned to a sequence of the sample's own:

- a safe request (GET, HEAD, OPTIONS): the candidate runs once and is compared with the response the caller got.
  On a difference the primary side is re-run on the same isolated state first: if that re-run no longer matches
  what the caller got, the stored state moved in between and the sample is skipped ("state-moved"), not blamed.
- an unsafe request whose writes stay in the database: both sides run, one after the other, on the same isolated
  state (savepoints inside one transaction) with the same pinned ids, and their answers are compared; the primary's
  real write is not repeated, and nothing of either run is kept.
- an unsafe request that writes files or pushes to git is skipped before it is ever queued (the router decides).
"""

from __future__ import annotations

import logging
import queue
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import Engine

from exthost.evidence.capture import call_wsgi
from exthost.evidence.compare import CapturedRequest, CapturedResponse, Comparison, compare, header_value
from exthost.evidence.rules import RuleSet
from exthost.rollout.isolation import ReplayClock, contention, isolated, pinned
from exthost.rollout.results import ShadowResults
from legacy_core.clock import SequentialIds

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
log = logging.getLogger("sovereign.shadow")


@dataclass(frozen=True)
class Sample:
    """One served request with the response its caller got, to run on the other side."""

    feature: str
    route: str | None
    mode: str
    environ: Mapping[str, Any]
    request: CapturedRequest
    primary_side: str
    primary_app: WSGIApplication
    candidate_app: WSGIApplication
    primary: CapturedResponse
    started: datetime
    instants: tuple[datetime, ...] = ()  # what the primary's clock answered, in order, replayed to the other side
    tenant: str | None = None
    submitted: float = field(default_factory=time.monotonic)

    @property
    def safe(self) -> bool:
        return self.request.method in SAFE_METHODS





class ShadowSink(Protocol):
    """Where the router hands samples: a runner in this process (`ShadowRunner`) or one that replays elsewhere
    (`exthost.rollout.shadow_process.ProcessShadowRunner`). The attributes feed `/diagnostics`."""

    queue: Any
    queue_size: int
    workers: int
    deaths: int
    restarts: int

    @property
    def processed(self) -> int: ...
    @property
    def errors(self) -> int: ...
    def start(self) -> None: ...
    def poll(self) -> None:
        """Notice what went wrong since the last call (a dead worker) and count what it lost; off the request path."""

    def submit(self, sample: Sample) -> bool: ...
    def drain(self, timeout: float = 30.0) -> bool: ...
    def stop(self, timeout: float = 10.0) -> None: ...


def mode_unchanged(current_mode: Callable[[str, str | None], str]) -> Callable[[Sample], bool]:
    """Whether a sample's route is still in the mode that took it, by `current_mode(feature, route)`."""
    return lambda sample: current_mode(sample.feature, sample.route) == sample.mode


class ShadowRunner:
    """A bounded queue of samples and the worker threads that run and compare them."""

    def __init__(
        self,
        *,
        engine: Engine,
        results: ShadowResults,
        rules: Callable[[], RuleSet],
        queue_size: int = 1000,
        workers: int = 1,
        lock_timeout_ms: int = 100,
        max_age_seconds: float = 0.0,
        wanted: Callable[[Sample], bool] | None = None,
    ):
        self.engine = engine
        self.lock_timeout_ms = lock_timeout_ms
        # A sample older than this (0: no bound), or one whose route is no longer in the mode that took it, is dropped
        # (counted), not replayed: a backlog never outlives the reason it was taken.
        self.max_age_seconds = max_age_seconds
        self.wanted = wanted
        self.results = results
        self.rules = rules
        self.queue: queue.Queue[Sample | None] = queue.Queue(maxsize=queue_size)
        self.queue_size = queue_size
        self.workers = workers
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self.processed = 0
        self.errors = 0
        self.deaths = self.restarts = 0  # threads do not die: every error of a sample is caught
        self.keep_errors = 0

    # -- queue -----------------------------------------------------------------------------------------------------

    def start(self) -> None:
        with self._lock:
            if self._threads:
                return
            for index in range(self.workers):
                thread = threading.Thread(target=self._work, name=f"sv-shadow-{index}", daemon=True)
                thread.start()
                self._threads.append(thread)

    def poll(self) -> None:
        """Nothing to notice: the worker threads catch every error of a sample."""

    def submit(self, sample: Sample) -> bool:
        """Queue a sample without waiting; a full queue drops it (counted)."""
        try:
            self.queue.put_nowait(sample)
        except queue.Full:
            self.results.count(sample.feature, sample.route, sample.request.method, sample.mode, "dropped")
            return False
        return True

    def drain(self, timeout: float = 30.0) -> bool:
        """Wait until every queued sample has run (tests, shutdown); False on timeout or with no worker running."""
        deadline = time.monotonic() + timeout
        while self.queue.unfinished_tasks and self._threads:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.005)
        self.results.flush()
        return not self.queue.unfinished_tasks

    def stop(self, timeout: float = 10.0) -> None:
        """Run what is queued (up to `timeout`), then end the workers; later samples wait for `start()`."""
        self.drain(timeout)
        with self._lock:
            threads, self._threads = self._threads, []
        for _ in threads:
            self.queue.put(None)
        for thread in threads:
            thread.join(timeout)
        self.results.flush()

    def _work(self) -> None:
        last_flush = time.monotonic()
        while True:
            try:
                sample = self.queue.get(timeout=0.5)
            except queue.Empty:
                self.results.flush()
                last_flush = time.monotonic()
                continue
            if sample is None:
                self.queue.task_done()
                return
            try:
                self.run(sample)
            except Exception:
                self.errors += 1
                log.exception("shadow run of %s %s failed", sample.request.method, sample.request.path)
            finally:
                self.queue.task_done()
            if time.monotonic() - last_flush > 1.0:
                self.results.flush()
                last_flush = time.monotonic()

    # -- one sample ------------------------------------------------------------------------------------------------

    def run(self, sample: Sample) -> str:
        """Run one sample, record its outcome and return it.

        A replay that lost a lock or its snapshot to live traffic (a lock timeout, a deadlock, a serialization
        failure, SQLite's busy database) is `skipped:contended`, never a mismatch, whatever the apps answered. A
        replay that raises past the apps' own error handling (a failing streamed body) is a candidate error, and
        counted as one: every sample ends in exactly one outcome.
        """
        unwanted = self._unwanted(sample)
        if unwanted is not None:
            return self._outcome(sample, unwanted)
        with contention() as lost:
            try:
                outcome, kept = self._run(sample)
            except Exception:
                if lost:
                    return self._outcome(sample, "skipped:contended")
                self.errors += 1
                log.exception("shadow replay of %s %s raised", sample.request.method, sample.request.path)
                return self._outcome(sample, "candidate_error")
        if lost:
            return self._outcome(sample, "skipped:contended")
        if kept is not None:
            try:
                self.results.keep(**kept)
            except Exception:  # the outcome is still counted; only the exchange kept for export is missing
                self.keep_errors += 1
                log.exception("shadow %s of %s %s not kept", outcome, sample.request.method, sample.request.path)
        return self._outcome(sample, outcome)

    def _unwanted(self, sample: Sample) -> str | None:
        if self.max_age_seconds and (datetime.now(UTC) - sample.started).total_seconds() > self.max_age_seconds:
            return "dropped:stale"
        if self.wanted is not None and not self.wanted(sample):
            return "dropped:mode-changed"
        return None

    def _replay(self, app: WSGIApplication, sample: Sample, connection: Any, seed: str) -> CapturedResponse:
        """One side's run in a savepoint of the replay's transaction, rolled back: the next run starts from the same
        snapshot, and nothing is kept."""
        savepoint = connection.begin_nested()
        try:
            with pinned(clock=ReplayClock(sample.instants or (sample.started,)), ids=SequentialIds(seed)):
                return call_wsgi(app, sample.environ, sample.request.body)
        finally:
            if savepoint.is_active:
                savepoint.rollback()

    def _run(self, sample: Sample) -> tuple[str, dict[str, Any] | None]:
        """The outcome of one sample, and the mismatch to keep if any (stored by `run` once no contention showed)."""
        # Ids are pinned for every run, reads included (a GET may create a row): a candidate must not draw from the
        # live id generator, whose sequence the primary side goes on using. Both sides get the same sequence.
        seed = secrets.token_hex(4)
        primary = sample.primary
        # Every run gets the caller's request id, so an error answer (which quotes it) can match.
        request_id = header_value(primary.headers, "x-request-id")
        environ = dict(sample.environ)
        if request_id:
            environ["HTTP_X_REQUEST_ID"] = request_id
        sample = replace(sample, environ=environ)
        # One transaction for every run of the sample: both sides see one snapshot of the stored state (REPEATABLE
        # READ on PostgreSQL; on SQLite a transaction always reads one snapshot), and the replay gives up on a lock
        # rather than wait for one a live request holds (lock_timeout_ms).
        timeout = self.lock_timeout_ms
        if sample.safe:
            with isolated(self.engine, lock_timeout_ms=timeout) as connection:
                candidate = self._replay(sample.candidate_app, sample, connection, seed)
                comparison = self._compare(sample, sample.primary, candidate)
                if not comparison.match:
                    again = self._replay(sample.primary_app, sample, connection, seed)
                    if not self._compare(sample, sample.primary, again, same_side=True).match:
                        return "skipped:state-moved", None
        else:
            with isolated(self.engine, immediate=True, lock_timeout_ms=timeout) as connection:
                primary = self._replay(sample.primary_app, sample, connection, seed)
                candidate = self._replay(sample.candidate_app, sample, connection, seed)
            if primary.status != sample.primary.status:
                # Replayed on the state after the caller's own write, legacy answers otherwise (a DELETE now finds
                # nothing): comparing two such answers would be evidence of nothing.
                return "skipped:not-replayable", None
            comparison = self._compare(sample, primary, candidate)
        self.processed += 1
        if comparison.match:
            return "match", None
        outcome = "candidate_error" if candidate.status >= 500 and primary.status < 500 else "mismatch"
        kept = {
            "feature": sample.feature,
            "route": sample.route,
            "mode": sample.mode,
            "outcome": outcome,
            "request": sample.request,
            "primary_side": sample.primary_side,
            "primary": primary,
            "candidate": candidate,
            "differences": comparison.differences,
            "started": sample.started,
            "rules_applied": comparison.rules_applied,
        }
        return outcome, kept

    def _compare(
        self, sample: Sample, primary: CapturedResponse, other: CapturedResponse, *, same_side: bool = False
    ) -> Comparison:
        legacy, plugin = (primary, other) if sample.primary_side == "legacy" or same_side else (other, primary)
        return compare(
            legacy,
            plugin,
            self.rules(),
            feature=sample.feature,
            method=sample.request.method,
            route=sample.route or "*",
        )

    def _outcome(self, sample: Sample, outcome: str) -> str:
        self.results.count(sample.feature, sample.route, sample.request.method, sample.mode, outcome)
        return outcome
