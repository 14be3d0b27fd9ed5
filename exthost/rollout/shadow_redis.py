"""Shadow replays on other machines: samples go to a Redis Stream, and `sv shadow:worker` processes replay them.

With `SHADOW_RUNNER=redis` a serving process does no replay work at all. Its request threads hand each sample to a
bounded in-memory queue (no I/O on the request path); one sender thread writes them to the stream `SHADOW_STREAM` in
pipelined batches, dropping (and counting) samples while the stream holds `SHADOW_QUEUE_SIZE` samples not yet
counted, or while Redis cannot be reached. Any number of workers, anywhere that reaches the database and Redis, read
the stream through one consumer group, so each sample goes to one worker; a worker replays a batch, writes its
counts to the database, and only then acknowledges the batch and deletes it from the stream (so the stream's length
is the backlog). A worker that dies leaves its batch pending: another worker claims entries idle for longer than
`SHADOW_CLAIM_IDLE_SECONDS` and replays them (or drops them as stale, counted). So every sample is counted at least
once; a batch is counted twice when its worker is killed between writing the counts and acknowledging them, or when
another worker claims it while its own worker is still on it (a batch that takes longer than the claim bound).

Samples travel as JSON (never pickle: a stream is data, not code). The resolved user stays behind: the worker's apps
resolve the session from the request's cookie, as the serving process did.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import queue
import socket
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from exthost.evidence.compare import CapturedRequest, CapturedResponse
from exthost.rollout.results import ShadowResults
from exthost.rollout.shadow import Sample, ShadowRunner

log = logging.getLogger("sovereign.shadow")

GROUP = "sv-shadow-workers"
_FIELD = "sample"


# -- samples as JSON --------------------------------------------------------------------------------------------------


def _encode_value(value: Any) -> dict[str, Any] | None:
    if isinstance(value, bool):
        return {"o": value}
    if isinstance(value, str):
        return {"s": value}
    if isinstance(value, bytes):
        return {"b": base64.b64encode(value).decode("ascii")}
    if isinstance(value, int):
        return {"i": value}
    if isinstance(value, float):
        return {"f": value}
    if value is None:
        return {"n": 1}
    if isinstance(value, tuple):
        items = [_encode_value(item) for item in value]
        return None if any(item is None for item in items) else {"t": items}
    return None  # server objects, streams, the resolved user: stay behind


def _decode_value(data: Mapping[str, Any]) -> Any:
    kind, value = next(iter(data.items()))
    if kind == "b":
        return base64.b64decode(value)
    if kind == "n":
        return None
    if kind == "t":
        return tuple(_decode_value(item) for item in value)
    return value


def _pairs(headers: Iterable[tuple[str, str]]) -> list[list[str]]:
    return [[name, value] for name, value in headers]


def sample_to_json(sample: Sample) -> str:
    """The plain data of a sample: environ values of plain types, request, the answer the caller got, times."""
    environ = {}
    for key, value in sample.environ.items():
        encoded = _encode_value(value)
        if encoded is not None:
            environ[key] = encoded
    return json.dumps(
        {
            "feature": sample.feature,
            "route": sample.route,
            "mode": sample.mode,
            "environ": environ,
            "request": {
                "method": sample.request.method,
                "path": sample.request.path,
                "query": sample.request.query,
                "headers": _pairs(sample.request.headers),
                "body": base64.b64encode(sample.request.body).decode("ascii"),
            },
            "primarySide": sample.primary_side,
            "primary": {
                "status": sample.primary.status,
                "headers": _pairs(sample.primary.headers),
                "body": base64.b64encode(sample.primary.body).decode("ascii"),
            },
            "started": sample.started.isoformat(),
            "instants": [moment.isoformat() for moment in sample.instants],
            "tenant": sample.tenant,
        },
        separators=(",", ":"),
    )


def sample_from_json(text: str | bytes) -> Sample:
    """A sample read back from the stream, without apps (the worker sets its own); ValueError when malformed."""
    try:
        data = json.loads(text)
        request, primary = data["request"], data["primary"]
        return Sample(
            feature=str(data["feature"]),
            route=data["route"],
            mode=str(data["mode"]),
            environ={key: _decode_value(value) for key, value in data["environ"].items()},
            request=CapturedRequest(
                method=request["method"],
                path=request["path"],
                query=request["query"],
                headers=tuple((name, value) for name, value in request["headers"]),
                body=base64.b64decode(request["body"]),
            ),
            primary_side=str(data["primarySide"]),
            primary_app=None,  # type: ignore[arg-type]
            candidate_app=None,  # type: ignore[arg-type]
            primary=CapturedResponse(
                status=int(primary["status"]),
                headers=tuple((name, value) for name, value in primary["headers"]),
                body=base64.b64decode(primary["body"]),
            ),
            started=datetime.fromisoformat(data["started"]),
            instants=tuple(datetime.fromisoformat(moment) for moment in data["instants"]),
            tenant=data["tenant"],
        )
    except (KeyError, TypeError, ValueError, StopIteration, AttributeError) as exc:
        raise ValueError(f"not a shadow sample: {type(exc).__name__}: {exc}") from exc


def connect(url: str) -> Any:
    """A Redis client for `url` (imported here: only this runner and the worker need the package)."""
    import redis

    return redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=2)


# -- the serving side -------------------------------------------------------------------------------------------------


class RedisShadowSink:
    """The router's shadow sink when replays run elsewhere: a bounded local queue and a sender thread."""

    def __init__(
        self,
        *,
        results: ShadowResults,
        url: str,
        stream: str,
        queue_size: int,
        client: Any = None,
        batch: int = 64,
    ):
        self.results = results
        self.url = url
        self.stream = stream
        self.queue_size = queue_size
        self.workers = 0  # replays run in `sv shadow:worker` processes, not here
        self.deaths = self.restarts = 0
        self.processed = self.errors = 0
        self.queue: queue.Queue[Sample | None] = queue.Queue(maxsize=queue_size)
        self.sent = 0
        self._client = client
        self._batch = batch
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._stopped = False
        self._lock = threading.Lock()

    def _redis(self) -> Any:
        if self._client is None:
            self._client = connect(self.url)
        return self._client

    def start(self) -> None:
        with self._lock:
            if self._pid == os.getpid() and self._thread is not None and self._thread.is_alive():
                return
            if self._pid != os.getpid():
                self.queue = queue.Queue(maxsize=self.queue_size)  # a forked worker's own queue and client
                self._client = None
            self._pid = os.getpid()
            self._thread = threading.Thread(target=self._send_loop, name="sv-shadow-sender", daemon=True)
            self._thread.start()

    def poll(self) -> None:
        """Restart the sender if it is not running in this process (a fork, or a crash); never after `stop()`."""
        if self._stopped:
            return
        if self._thread is None or self._pid != os.getpid() or not self._thread.is_alive():
            self.start()

    def submit(self, sample: Sample) -> bool:
        """Queue the sample for the sender without waiting; a full queue drops it (counted)."""
        if self._pid != os.getpid():
            self.start()
        try:
            self.queue.put_nowait(sample)
        except queue.Full:
            self.results.count(sample.feature, sample.route, sample.request.method, sample.mode, "dropped")
            return False
        return True

    def _send_loop(self) -> None:
        while True:
            item = self.queue.get()
            if item is None:
                self.queue.task_done()
                return
            batch = [item]
            while len(batch) < self._batch:
                try:
                    more = self.queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self.queue.task_done()
                    self._send(batch)
                    return
                batch.append(more)
            self._send(batch)

    def _send(self, batch: list[Sample]) -> None:
        try:
            client = self._redis()
            backlog = int(client.xlen(self.stream))
            room = max(0, self.queue_size - backlog)
            pipe = client.pipeline(transaction=False)
            for sample in batch[:room]:
                pipe.xadd(self.stream, {_FIELD: sample_to_json(sample)})
            pipe.execute()
            for sample in batch[room:]:
                self._count(sample, "dropped:stream-full")
            self.sent += min(room, len(batch))
        except Exception as exc:  # Redis down or refusing: the callers are served, the samples counted as lost
            log.warning("shadow samples not sent to %s: %s", self.stream, exc)
            for sample in batch:
                self._count(sample, "dropped:redis-unavailable")
        finally:
            for _ in batch:
                self.queue.task_done()

    def _count(self, sample: Sample, outcome: str) -> None:
        self.results.count(sample.feature, sample.route, sample.request.method, sample.mode, outcome)

    def drain(self, timeout: float = 30.0) -> bool:
        """Wait until every queued sample has been written to the stream (or counted as dropped)."""
        deadline = time.monotonic() + timeout
        while self.queue.unfinished_tasks:
            if time.monotonic() > deadline or self._thread is None or not self._thread.is_alive():
                return False
            time.sleep(0.005)
        self.results.flush()
        return True

    def stop(self, timeout: float = 10.0) -> None:
        self._stopped = True
        self.drain(timeout)
        thread = self._thread
        if thread is not None and thread.is_alive() and self._pid == os.getpid():
            self.queue.put(None)
            thread.join(timeout)
        self._thread = None
        self.results.flush()


# -- the worker -------------------------------------------------------------------------------------------------------


def default_consumer() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


class ShadowWorker:
    """One consumer of the stream's group: claims abandoned entries, reads new ones, replays, counts, acknowledges.

    `prepare(sample)` gives a sample read from the stream its apps (legacy and the tenant's plugin), or None when
    the plugin cannot serve it here (counted as skipped:plugin-unavailable).
    """

    def __init__(
        self,
        *,
        client: Any,
        stream: str,
        runner: ShadowRunner,
        results: ShadowResults,
        prepare: Callable[[Sample], Sample | None],
        consumer: str | None = None,
        batch: int = 16,
        block_ms: int = 1000,
        claim_idle_ms: int = 30_000,
    ):
        self.client = client
        self.stream = stream
        self.runner = runner
        self.results = results
        self.prepare = prepare
        self.consumer = consumer or default_consumer()
        self.batch = batch
        self.block_ms = block_ms
        self.claim_idle_ms = claim_idle_ms
        self.replayed = 0
        self._unacked: list[Any] = []
        self.stopping = threading.Event()
        self._ensure_group()

    def _ensure_group(self) -> None:
        import redis

        try:
            self.client.xgroup_create(self.stream, GROUP, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def run(self, *, until_idle: bool = False) -> None:
        """Work until `stopping` is set (SIGTERM), or, with `until_idle`, until a read finds nothing (tests)."""
        while not self.stopping.is_set():
            handled = self.step()
            if until_idle and not handled:
                return

    def step(self) -> int:
        """One batch: entries abandoned by a dead worker first, else new ones; how many were handled."""
        entries = self._claim() or self._read()
        if not entries:
            return 0
        for entry_id, fields in entries:
            self._unacked.append(entry_id)
            try:
                self._handle(fields)
            except Exception:  # this entry's sample ends uncounted, but the batch and the worker go on
                log.exception("stream %s: entry %r failed", self.stream, entry_id)
                self.results.count("-", None, "-", "-", "skipped:worker-error")
        # Counts reach the database before the entries are acknowledged: a worker that dies in between leaves them
        # pending, and another worker counts them (at least once, never zero times). While the counts cannot be
        # written, the entries stay this worker's and are acknowledged after the next flush that succeeds.
        self.results.flush()
        if self.results.pending():
            log.error("shadow counts not written; %d entries wait for the next flush", len(self._unacked))
            return len(entries)
        self._acknowledge()
        return len(entries)

    def _acknowledge(self) -> None:
        """Acknowledge and delete what was counted: the stream holds only samples not yet counted, so its length is
        the backlog the serving side bounds."""
        if not self._unacked:
            return
        pipe = self.client.pipeline(transaction=False)
        pipe.xack(self.stream, GROUP, *self._unacked)
        pipe.xdel(self.stream, *self._unacked)
        pipe.execute()
        self._unacked = []

    def _claim(self) -> list[tuple[Any, Any]]:
        found = self.client.xautoclaim(
            self.stream, GROUP, self.consumer, min_idle_time=self.claim_idle_ms, start_id="0-0", count=self.batch
        )
        return [(entry_id, fields) for entry_id, fields in found[1] if fields is not None]

    def _read(self) -> list[tuple[Any, Any]]:
        found = self.client.xreadgroup(
            GROUP, self.consumer, {self.stream: ">"}, count=self.batch, block=self.block_ms
        )
        return [entry for _, entries in found or [] for entry in entries]

    def _handle(self, fields: Mapping[Any, Any]) -> None:
        raw = fields.get(_FIELD.encode(), fields.get(_FIELD))
        try:
            if not isinstance(raw, (str, bytes)):
                raise ValueError(f"no {_FIELD!r} field")
            sample = sample_from_json(raw)
        except ValueError as exc:
            log.error("stream %s: entry skipped: %s", self.stream, exc)
            self.results.count("-", None, "-", "-", "skipped:malformed-sample")
            return
        ready = self.prepare(sample)
        if ready is None:
            self.results.count(
                sample.feature, sample.route, sample.request.method, sample.mode, "skipped:plugin-unavailable"
            )
            return
        self.runner.run(ready)
        self.replayed += 1
