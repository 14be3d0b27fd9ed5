"""Recording of live traffic: HAR 1.2 files, one per client session, secrets redacted, switched on in the database.

The switch is the one row of `sv_recording` (enabled, folder, features, expiry); `sv parity:record` or
`set_recording` writes it and bumps the `recording` row of `sv_registry_version`. Each worker checks that counter at
most every `poll_seconds`, never waiting for another thread's check (as the flag store does for flags), so a
switch reaches every worker within about a second. While off, `Recorder` passes requests through after one cached
check.

While on, the request path does only what shadow mode does: copy the request body and tee the response body as it
streams out (`capture.tee`); the caller's bytes are unchanged. Redacting, building the HAR entry and writing the
file happen on a writer thread; a full queue or a failed write is logged and counted, never raised to the caller.

A session's file is `<folder>/<YYYYMMDD>-<key>.har`, key a short hash of the session cookie's value. An exchange
whose response sets a new session cookie (login, register) belongs to the new session, so a file starts with the
request that made its cookie. Requests without a session go to `<YYYYMMDD>-anonymous-<pid>.har`, one per process
and day. Several workers may write one session: each write takes `fcntl.flock` on the file, reads it, inserts the
entry in start-time order and replaces the file whole (write beside, then rename), so a reader always finds a
complete, valid HAR document.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import queue
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Boolean, Column, DateTime, Engine, Integer, MetaData, String, Table, Text, insert, select, update
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.http import parse_cookie

from exthost.errors import ExtHostError, did_you_mean
from exthost.evidence.capture import INCOMPLETE, capture_request, is_host_path, read_body, tee
from exthost.evidence.compare import CapturedRequest, CapturedResponse
from exthost.evidence.har import har_document, har_entry
from exthost.registry import PolledStore, bump_version
from exthost.version import host_version
from legacy_core.clock import Clock, SystemClock
from legacy_core.db import session_factory_of, transaction
from legacy_core.features import FEATURES

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment


VERSION_KEY = "recording"
ANONYMOUS = "anonymous"
log = logging.getLogger("sovereign.recorder")
metadata = MetaData()

recording_table = Table(
    "sv_recording",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("enabled", Boolean, nullable=False),
    Column("directory", Text, nullable=False),
    Column("features", Text, nullable=False),
    Column("until", DateTime(timezone=True), nullable=True),
    Column("changed_by", String(200), nullable=False),
    Column("changed_at", DateTime(timezone=True), nullable=False),
)


class RecordingError(ExtHostError):
    """A recording switch that cannot be made: an unknown feature, no folder to record to."""


def _utc(moment: datetime | None) -> datetime | None:
    # SQLite gives back naive datetimes for DateTime(timezone=True); everything stored here is UTC.
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@dataclass(frozen=True)
class RecordingState:
    """The recording switch as stored: on or off, where, which features (empty: all), until when, set by whom."""

    enabled: bool = False
    directory: Path | None = None
    features: tuple[str, ...] = ()
    until: datetime | None = None
    changed_by: str = ""
    changed_at: datetime | None = None
    version: int = 0

    def active(self, now: datetime) -> bool:
        """Whether requests are recorded at `now`: switched on and not past its expiry."""
        return self.enabled and (self.until is None or now < self.until)

    def as_dict(self, now: datetime) -> dict[str, Any]:
        return {
            "enabled": self.enabled,
            "active": self.active(now),
            "directory": str(self.directory) if self.directory is not None else None,
            "features": list(self.features),
            "until": self.until.isoformat() if self.until is not None else None,
            "changedBy": self.changed_by,
            "changedAt": self.changed_at.isoformat() if self.changed_at is not None else None,
        }


def _state(row: Mapping[str, Any], version: int) -> RecordingState:
    return RecordingState(
        enabled=bool(row["enabled"]),
        directory=Path(row["directory"]) if row["directory"] else None,
        features=tuple(json.loads(row["features"] or "[]")),
        until=_utc(row["until"]),
        changed_by=str(row["changed_by"]),
        changed_at=_utc(row["changed_at"]),
        version=version,
    )


class RecordingStore(PolledStore[RecordingState]):
    """Reads (cached, version-checked; see `PolledStore`) and writes the recording switch of one database."""

    version_key = VERSION_KEY

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        *,
        default_directory: Path | None = None,
        features: Sequence[str] = FEATURES,
        poll_seconds: float = 1.0,
        clock: Clock | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        strict: bool = False,
    ):
        self.default_directory = default_directory
        self.features = tuple(features)
        self.clock = clock or SystemClock()  # wall time: when people switched, and when an expiry passes
        super().__init__(
            session_factory, initial=RecordingState(), poll_seconds=poll_seconds, monotonic=monotonic, strict=strict
        )

    def _version_of(self, value: RecordingState) -> int:
        return value.version

    def _load(self, db: Session, version: int) -> RecordingState:
        row = db.execute(select(recording_table).where(recording_table.c.id == 1)).first()
        return _state(dict(row._mapping), version) if row is not None else RecordingState(version=version)

    def set(
        self,
        enabled: bool,
        *,
        directory: str | os.PathLike[str] | None = None,
        features: Iterable[str] | None = None,
        until: datetime | None = None,
        changed_by: str,
    ) -> RecordingState:
        """Store the switch and bump the counter, in one transaction; every worker follows within poll_seconds.

        `directory` and `features` keep their stored values when None (the folder then defaults to
        `default_directory`); `features` empty records every feature. `until` (aware) is replaced on every call: None
        records until switched off.
        """
        if until is not None and until.utcoffset() is None:
            raise RecordingError(
                f"until must carry a time zone, got {until!r}; e.g. datetime.now(UTC) + timedelta(...)"
            )
        wanted = None if features is None else tuple(dict.fromkeys(f.strip() for f in features if f.strip()))
        for feature in wanted or ():
            if feature not in self.features:
                hint = did_you_mean(feature, self.features)
                raise RecordingError(f"unknown feature {feature!r}{hint}; one of {', '.join(self.features)}")
        with transaction(self.session_factory) as db:
            # The bump comes first: it takes the write lock (SQLite) or row lock (PostgreSQL) before the row is read,
            # so two switches run one after the other.
            bump_version(db, VERSION_KEY)
            row = db.execute(select(recording_table).where(recording_table.c.id == 1)).first()
            old = _state(dict(row._mapping), 0) if row is not None else RecordingState()
            folder = Path(directory) if directory is not None else old.directory or self.default_directory
            if folder is None and enabled:
                raise RecordingError("no folder to record to; pass directory= (the CLI uses RECORDING_DIR)")
            values = {
                "enabled": enabled,
                # Workers run in other working directories: the folder is made absolute once, here.
                "directory": str(folder.expanduser().absolute()) if folder is not None else "",
                "features": json.dumps(list(old.features if wanted is None else wanted)),
                "until": _utc(until),
                "changed_by": changed_by[:200],
                "changed_at": _utc(self.clock.now()),
            }
            if row is None:
                db.execute(insert(recording_table).values(id=1, **values))
            else:
                db.execute(update(recording_table).where(recording_table.c.id == 1).values(**values))
        return self.refresh()


def set_recording(
    target: Engine | sessionmaker[Session],
    enabled: bool = True,
    *,
    directory: str | os.PathLike[str] | None = None,
    features: Iterable[str] | None = None,
    until: datetime | timedelta | None = None,
    changed_by: str = "api",
) -> RecordingState:
    """Switch recording on (or off) for every platform on the database of `target` (an engine or session factory).

    Running platforms follow within FLAGS_POLL_SECONDS. `directory` is the folder of the HAR files (kept from the
    stored switch when None; required the first time), `features` limits recording to those features (None keeps
    the stored list, empty records all), `until` ends recording at that instant or after that long from now.
    """
    store = RecordingStore(session_factory_of(target), strict=True)
    if isinstance(until, timedelta):
        until = store.clock.now() + until
    return store.set(enabled, directory=directory, features=features, until=until, changed_by=changed_by)


def recording_state(target: Engine | sessionmaker[Session]) -> RecordingState:
    """The stored recording switch of the database of `target` (read now, not cached)."""
    return RecordingStore(session_factory_of(target), strict=True).refresh()


# --- files ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HarFile:
    """A recording on disk, for status listings; `entries` is None when the file is not a readable HAR."""

    path: Path
    entries: int | None
    size: int
    modified: datetime


def har_files(directory: Path) -> list[HarFile]:
    """The HAR files of a recording folder, by name, with their entry counts."""
    found = []
    for path in sorted(directory.glob("*.har")) if directory.is_dir() else ():
        try:
            stat = path.stat()
            with path.open("rb") as handle:
                entries: int | None = len(json.load(handle)["log"]["entries"])
        except FileNotFoundError:
            continue
        except (OSError, ValueError, KeyError, TypeError):
            entries = None
        found.append(HarFile(path, entries, stat.st_size, datetime.fromtimestamp(stat.st_mtime, UTC)))
    return found


def _started(entry: Mapping[str, Any]) -> datetime | None:
    try:
        return _utc(datetime.fromisoformat(str(entry["startedDateTime"])))
    except (KeyError, ValueError):
        return None


def _create(path: Path, creator_version: str) -> None:
    """Make `path` a HAR document with no entries, unless it exists; readers never see an empty file."""
    _write_beside(path, har_document([], creator_version=creator_version), link=True)


def _write_beside(path: Path, document: Mapping[str, Any], *, link: bool = False) -> None:
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            json.dump(document, handle, separators=(",", ":"))
        if link:
            with contextlib.suppress(FileExistsError):  # another writer created it first
                os.link(temporary, path)
        else:
            os.replace(temporary, path)
    finally:
        if os.path.lexists(temporary):
            os.unlink(temporary)


def append_har_entry(path: Path, entry: Mapping[str, Any], *, creator_version: str) -> None:
    """Add `entry` to the HAR file at `path` (created when missing), in start-time order, safely across processes.

    The lock is taken on the file itself; since the file is replaced whole on every write, a writer that locked a
    file someone else has replaced since tries again on the new one.
    """
    started = _started(entry)
    while True:
        if not path.exists():
            _create(path, creator_version)
        with path.open("rb") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                if os.fstat(handle.fileno()).st_ino != path.stat().st_ino:
                    continue
            except FileNotFoundError:
                continue
            document = json.load(handle)
            entries = document["log"]["entries"]
            index = len(entries)
            # Entries finish out of order (a slow request, another worker): each goes after every earlier start.
            while index and started is not None and (_started(entries[index - 1]) or started) > started:
                index -= 1
            entries.insert(index, dict(entry))
            _write_beside(path, document)
            return


def session_key(token: str) -> str:
    """The short, one-way name of a session in file names; the cookie's value is never written anywhere."""
    return hashlib.sha256(b"sv-recording:" + token.encode("utf-8", "surrogateescape")).hexdigest()[:16]


def _set_cookie(headers: Iterable[tuple[str, str]], name: str) -> str | None:
    """The value a response gives cookie `name`; None when it sets none or deletes it."""
    value = None
    for header, line in headers:
        if header.lower() == "set-cookie":
            found = parse_cookie(line.split(";", 1)[0]).get(name)
            if found is not None:
                value = found or None
    return value


# --- the middleware -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Exchange:
    directory: Path
    key: str | None
    started: datetime
    time_ms: float
    request: CapturedRequest
    response: CapturedResponse
    # The session cookie's value, in memory only: the writer thread looks its session up (`session_of`).
    token: str | None = None


# Who a session's caller is, as a replay needs it, without secrets: {"user": id, "tenant": id, "sessionStarted": ISO
# time}; None when the token names no session (signed out, expired).
SessionOf = Callable[[str], Mapping[str, Any] | None]


# Requests that start, end or create a session: recorded even when the switch names only some features.
SESSION_PATHS = frozenset({"/login", "/logout", "/register"})


class Recorder:
    """WSGI middleware that records exchanges while the stored switch is on; see the module docstring."""

    def __init__(
        self,
        app: WSGIApplication,
        *,
        store: RecordingStore,
        cookie_name: str,
        feature_of: Callable[[str, str], str | None] = lambda path, method: None,
        max_body: int = 1024 * 1024,
        queue_size: int = 1000,
        clock: Clock | None = None,
        session_of: SessionOf | None = None,
    ):
        self.app = app
        self.session_of = session_of
        self._sessions: dict[str, Mapping[str, Any] | None] = {}  # the writer thread's own: session key -> caller
        self.store = store
        self.cookie_name = cookie_name
        self.feature_of = feature_of
        self.max_body = max_body
        self.clock = clock or SystemClock()
        self.counts: Counter[str] = Counter()
        self._counting = threading.Lock()
        self._queue: queue.Queue[_Exchange | None] = queue.Queue(maxsize=queue_size)
        self._thread: threading.Thread | None = None
        self._starting = threading.Lock()
        self._paths: dict[tuple[Path, str], Path] = {}  # the writer thread's own: session key -> its file
        self._logged_at = float("-inf")
        self._unlogged = 0
        self.creator_version = host_version()

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        state = self.store.current()
        if not state.enabled:
            return self.app(environ, start_response)
        return self._record(state, environ, start_response)

    def _count(self, outcome: str) -> None:
        with self._counting:
            self.counts[outcome] += 1

    def _record(
        self, state: RecordingState, environ: WSGIEnvironment, start_response: StartResponse
    ) -> Iterable[bytes]:
        started = self.clock.now()
        path = str(environ.get("PATH_INFO", "") or "/")
        method = str(environ.get("REQUEST_METHOD", "GET")).upper()
        if not state.active(started) or state.directory is None or is_host_path(path):
            return self.app(environ, start_response)
        # A session's sign-in is kept whatever the feature filter: a replay starts with it, or replays signed out.
        if state.features and path not in SESSION_PATHS and self.feature_of(path, method) not in state.features:
            return self.app(environ, start_response)
        body = read_body(environ, self.max_body)
        if body is None:
            self._count("skipped:body-too-large")
            return self.app(environ, start_response)
        request = capture_request(environ, body)
        token = parse_cookie(environ).get(self.cookie_name) or None
        clock_start = time.perf_counter()
        captured: list[Any] = []

        def capture_start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            captured[:] = [status, list(headers)]
            return start_response(status, headers, exc_info) if exc_info else start_response(status, headers)

        def finish(response_body: bytes | None) -> None:
            try:
                self._finish(state, request, token, started, clock_start, captured, response_body)
            except Exception:  # recording must never break the caller's response
                self._count("dropped")
                log.exception("recording of %s %s not taken", method, path)

        return tee(self.app(environ, capture_start), self.max_body, finish)

    def _finish(
        self,
        state: RecordingState,
        request: CapturedRequest,
        token: str | None,
        started: datetime,
        clock_start: float,
        captured: list[Any],
        response_body: bytes | None,
    ) -> None:
        time_ms = round((time.perf_counter() - clock_start) * 1000, 3)
        if response_body is INCOMPLETE or not captured:
            self._count("skipped:incomplete-response")
            return
        if response_body is None:
            self._count("skipped:body-too-large")
            return
        headers = tuple(captured[1])
        response = CapturedResponse(int(captured[0].split(" ", 1)[0]), headers, response_body)
        # A response that starts a session (login, register) opens that session's file.
        token = _set_cookie(headers, self.cookie_name) or token
        key = session_key(token) if token else None
        if state.directory is not None:
            self._submit(_Exchange(state.directory, key, started, time_ms, request, response, token))

    # -- the writer thread -----------------------------------------------------------------------------------------

    def _submit(self, exchange: _Exchange) -> None:
        with self._starting:
            if self._thread is None or not self._thread.is_alive():  # first use, or a forked worker
                self._thread = threading.Thread(target=self._work, name="sv-recorder", daemon=True)
                self._thread.start()
        try:
            self._queue.put_nowait(exchange)
        except queue.Full:
            self._count("dropped")
            self._warn("recording queue full (%d); exchange of %s dropped", self._queue.maxsize, exchange.request.path)

    def _work(self) -> None:
        while True:
            exchange = self._queue.get()
            if exchange is None:
                self._queue.task_done()
                return
            try:
                self._write(exchange)
                self._count("recorded")
            except Exception as exc:
                self._count("write_errors")
                request = exchange.request
                self._warn("recording %s %s to %s failed: %r", request.method, request.path, exchange.directory, exc)
            finally:
                self._queue.task_done()

    def _warn(self, message: str, *args: Any) -> None:
        # At most one line every 10 s: a full disk must not flood the log once per request.
        now = time.monotonic()
        if now - self._logged_at < 10:
            self._unlogged += 1
            return
        if self._unlogged:
            message += f" ({self._unlogged} more since the last report)"
        self._logged_at, self._unlogged = now, 0
        log.error(message, *args)

    def _write(self, exchange: _Exchange) -> None:
        exchange.directory.mkdir(parents=True, exist_ok=True)
        caller = self._caller(exchange)
        entry = har_entry(
            exchange.request,
            exchange.response,
            started=exchange.started,
            time_ms=exchange.time_ms,
            # Present (None for an anonymous or ended session) whenever callers can be named: the harness replays
            # such a file as live traffic, from a snapshot.
            extra={"caller": dict(caller) if caller else None} if self.session_of is not None else None,
        )
        append_har_entry(self._file(exchange), entry, creator_version=self.creator_version)

    def _caller(self, exchange: _Exchange) -> Mapping[str, Any] | None:
        """Who the session's caller is (looked up once per session, off the request path): a replay of a session
        that signed in before the recording began mints a session for this user instead of replaying a login."""
        if self.session_of is None or exchange.token is None or exchange.key is None:
            return None
        if exchange.key not in self._sessions:
            if len(self._sessions) > 10_000:
                self._sessions.clear()
            try:
                self._sessions[exchange.key] = self.session_of(exchange.token)
            except Exception as exc:  # the exchange is still recorded, without its caller
                self._warn("looking up the session of %s failed: %r", exchange.request.path, exc)
                return None
        return self._sessions[exchange.key]

    def _file(self, exchange: _Exchange) -> Path:
        day = exchange.started.astimezone(UTC).strftime("%Y%m%d")
        if exchange.key is None:
            return exchange.directory / f"{day}-{ANONYMOUS}-{os.getpid()}.har"
        known = self._paths.get((exchange.directory, exchange.key))
        if known is not None and known.exists():
            return known
        # A session that began on an earlier day (or in another worker) keeps its first file.
        existing = sorted(exchange.directory.glob(f"*-{exchange.key}.har"))
        path = existing[-1] if existing else exchange.directory / f"{day}-{exchange.key}.har"
        if len(self._paths) > 10_000:
            self._paths.clear()
        self._paths[(exchange.directory, exchange.key)] = path
        return path

    def drain(self, timeout: float = 30.0) -> bool:
        """Wait until every queued exchange is written (tests, shutdown); False on timeout."""
        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks:
            if time.monotonic() > deadline or self._thread is None or not self._thread.is_alive():
                return False
            time.sleep(0.005)
        return True

    def close(self, timeout: float = 10.0) -> None:
        """Write what is queued (up to `timeout`), then end the writer thread."""
        with self._starting:
            thread, self._thread = self._thread, None
        if thread is not None and thread.is_alive():
            try:
                self._queue.put(None, timeout=timeout)
            except queue.Full:
                return  # the writer is stuck (a hung file system); it is a daemon thread and ends with the process
            thread.join(timeout)
