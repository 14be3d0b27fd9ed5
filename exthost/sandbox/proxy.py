"""The host side of one plugin's sandbox: a WSGI app that forwards each request over HTTP on the plugin's Unix socket
(the standard library's http.client), behind a bulkhead, and turns a dead or late worker into a 502 or 504.

What crosses to the worker: the request as the client sent it (less any `X-Sv-*` header, which only the host sets),
the caller the host resolved from the session (plain data), the scheme and client address, and for a canary write
or a shadow replay how to run it (guarded, or thrown away with the pinned time and ids).
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from exthost.rollout.isolation import GUARDED_RUN_KEY, ReplayClock, current_pins, in_isolated_run, note_contention
from exthost.sandbox.wire import CONTENDED_ANSWER, ERROR_ANSWER, status_line
from legacy_core.app import RESOLVED_USER_KEY
from legacy_core.clock import SequentialIds

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

    from exthost.sandbox.supervisor import PluginPool

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "transfer-encoding",
        "te",
        "trailer",
        "upgrade",
        "proxy-authenticate",
        "server",
        "date",
    }
)
# Request headers that end at the host: the body goes on whole with a Content-Length of its own, on a new connection.
HOP_BY_HOP_REQUEST = frozenset(
    {
        "HTTP_TRANSFER_ENCODING",
        "HTTP_CONNECTION",
        "HTTP_KEEP_ALIVE",
        "HTTP_TE",
        "HTTP_TRAILER",
        "HTTP_UPGRADE",
        "HTTP_PROXY_AUTHORIZATION",
        "HTTP_PROXY_CONNECTION",
        "HTTP_X_REQUEST_ID",  # sent as the request's id, generated when the caller gave none
    }
)
# How long past the deadline the host waits for an answer (gunicorn's arbiter checks its workers about every second).
GRACE_SECONDS = 5.0
CHUNK = 64 * 1024
# Kinds of failure that count against the plugin (its error budget); the others are the platform's or the load's.
PLUGIN_FAULTS = frozenset({"raised", "memory", "exited", "deadline"})


class UnixHTTPConnection(http.client.HTTPConnection):
    """http.client over a Unix socket."""

    def __init__(self, path: str, timeout: float):
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self.path)
        except BaseException:
            sock.close()
            raise
        self.sock = sock


class PluginProxy:
    """One plugin's app as the host serves it (see the module docstring). `guards_own_writes` tells the router that
    a guarded canary write happens in the worker, not in a transaction of the host."""

    guards_own_writes = True

    def __init__(self, pool: PluginPool, on_event: Callable[[str, str, WSGIEnvironment], None]):
        self.pool = pool
        self.on_event = on_event
        self.slots = threading.BoundedSemaphore(pool.limits.concurrency)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        request_id = str(environ.get("HTTP_X_REQUEST_ID") or f"req_{uuid.uuid4().hex}")
        if not self.slots.acquire(blocking=False):
            # The bulkhead: this plugin already holds its share of the host's threads; answer at once.
            self.on_event("rejected", f"more than {self.pool.limits.concurrency} requests at once", environ)
            return _error(start_response, 503, "Plugin busy, try again", request_id)
        released = False

        def release() -> None:
            nonlocal released
            if not released:
                released = True
                self.slots.release()

        try:
            return self._forward(environ, start_response, request_id, release)
        except BaseException:
            release()
            raise

    def _forward(
        self, environ: WSGIEnvironment, start_response: StartResponse, request_id: str, release: Callable[[], None]
    ) -> Iterable[bytes]:
        limits = self.pool.limits
        method = str(environ.get("REQUEST_METHOD", "GET")).upper()
        body = _body(environ)
        headers = _headers(environ, request_id, self.pool.token)
        if body or environ.get("CONTENT_LENGTH"):
            headers.append(("Content-Length", str(len(body))))
        if environ.get(GUARDED_RUN_KEY):
            headers.append(("X-Sv-Run", "guarded"))
        elif in_isolated_run():
            headers.append(("X-Sv-Run", "throwaway" if method in SAFE_METHODS else "throwaway-write"))
            headers.append(("X-Sv-Pins", _pins()))
        target = quote((str(environ.get("SCRIPT_NAME", "")) + str(environ.get("PATH_INFO", ""))).encode("latin-1"))
        if environ.get("QUERY_STRING"):
            target += "?" + str(environ["QUERY_STRING"])
        if not self.pool.ready(wait=True):
            release()
            self.on_event("unavailable", self.pool.reason or "its workers are not running", environ)
            return _error(start_response, 503, "Plugin unavailable", request_id)
        connection = UnixHTTPConnection(str(self.pool.socket), timeout=limits.deadline_seconds + GRACE_SECONDS)
        try:
            connection.putrequest(method, target or "/", skip_host=True, skip_accept_encoding=True)
            for name, value in headers:
                connection.putheader(name, value)
            connection.endheaders(body)
            response = connection.getresponse()
        except TimeoutError:
            connection.close()
            release()
            self.on_event("deadline", f"no answer within {limits.deadline_seconds} s ({method} {target})", environ)
            return _error(start_response, 504, "Plugin deadline passed", request_id)
        except (ConnectionError, http.client.HTTPException, OSError) as exc:
            connection.close()
            release()
            # The arbiter reports each worker death (and whether it was its timeout) within about a second.
            death = self.pool.worker_death(wait=2.0)
            if death == "deadline":
                self.on_event("deadline", f"killed past {limits.deadline_seconds} s ({method} {target})", environ)
                return _error(start_response, 504, "Plugin deadline passed", request_id)
            self.on_event("exited", f"worker died during {method} {target}: {type(exc).__name__}", environ)
            return _error(start_response, 502, "Plugin worker failed", request_id)
        self.pool.answered += 1
        raised = response.getheader(ERROR_ANSWER)
        if raised:
            kind = "memory" if raised == "MemoryError" else "raised"
            self.on_event(kind, f"{raised} on {method} {target}", environ)
        contended = response.getheader(CONTENDED_ANSWER)
        if contended:
            note_contention(contended)
        answer = [(k, v) for k, v in response.getheaders() if k.lower() not in HOP_BY_HOP and not _ours(k)]
        start_response(status_line(response.status), answer)
        return _Body(response, connection, release)


class _Body:
    """The worker's answer streamed to the caller; closing it frees the connection and the bulkhead slot."""

    def __init__(self, response: http.client.HTTPResponse, connection: http.client.HTTPConnection, release: Any):
        self.response = response
        self.connection = connection
        self.release = release

    def __iter__(self) -> Iterator[bytes]:
        while True:
            chunk = self.response.read(CHUNK)
            if not chunk:
                return
            yield chunk

    def close(self) -> None:
        try:
            self.connection.close()
        finally:
            self.release()


def _ours(name: str) -> bool:
    return name.lower().startswith("x-sv-")


def _body(environ: WSGIEnvironment) -> bytes:
    stream = environ.get("wsgi.input")
    if stream is None:
        return b""
    length = environ.get("CONTENT_LENGTH")
    if length:
        wanted = int(length)
        chunks, size = [], 0
        while size < wanted:
            chunk = stream.read(wanted - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        return b"".join(chunks)
    if environ.get("wsgi.input_terminated"):
        return bytes(stream.read())
    return b""


def _headers(environ: WSGIEnvironment, request_id: str, token: str) -> list[tuple[str, str]]:
    headers: list[tuple[str, str]] = []
    for key, value in environ.items():
        if key.startswith("HTTP_") and not key.startswith("HTTP_X_SV_") and key not in HOP_BY_HOP_REQUEST:
            headers.append((key[5:].replace("_", "-").title(), str(value)))
    if environ.get("CONTENT_TYPE"):
        headers.append(("Content-Type", str(environ["CONTENT_TYPE"])))
    headers.append(("X-Request-Id", request_id))
    headers.append(("X-Sv-Sandbox-Token", token))
    headers.append(("X-Sv-Scheme", str(environ.get("wsgi.url_scheme", "http"))))
    headers.append(("X-Sv-Remote-Addr", str(environ.get("REMOTE_ADDR", ""))))
    if environ.get("SCRIPT_NAME"):
        headers.append(("X-Sv-Script-Name", quote(str(environ["SCRIPT_NAME"]).encode("latin-1"))))
    if RESOLVED_USER_KEY in environ:
        user = environ[RESOLVED_USER_KEY]
        plain = (
            None
            if user is None
            else {
                "id": user.id,
                "email": user.email,
                "name": user.name,
                "tenant": user.tenant_id,
                "roles": sorted(user.roles),
            }
        )
        headers.append(("X-Sv-User", json.dumps(plain)))
    return headers


def _pins() -> str:
    clock, ids = current_pins()
    pins: dict[str, Any] = {}
    if isinstance(clock, ReplayClock):
        pins["instants"] = [moment.isoformat() for moment in clock.instants]
    if isinstance(ids, SequentialIds):
        pins["seed"] = ids.seed
    return json.dumps(pins)


def _error(start_response: StartResponse, status: int, message: str, request_id: str) -> Iterable[bytes]:
    body = json.dumps({"error": message, "requestId": request_id}).encode()
    start_response(
        status_line(status),
        [("Content-Type", "application/json"), ("Content-Length", str(len(body))), ("X-Request-Id", request_id)],
    )
    return [body]
