"""WSGI requests and responses captured as plain data: what the shadow runner, the router and the recorder compare,
replay and store.

Plain WSGI (PEP 3333); no Flask, no werkzeug.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from exthost.evidence.compare import CapturedRequest, CapturedResponse

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication, WSGIEnvironment

# The platform's diagnostics endpoint and admin pages (exthost.admin): neither recorded nor routed to a feature.
DIAGNOSTICS_PATH = "/diagnostics"
ADMIN_PATH = "/admin"


def is_host_path(path: str) -> bool:
    """Whether `path` is one the platform serves itself: /diagnostics, /admin and every path under /admin."""
    return path in (DIAGNOSTICS_PATH, ADMIN_PATH) or path.startswith(ADMIN_PATH + "/")


def call_wsgi(app: WSGIApplication, environ: Mapping[str, Any], body: bytes) -> CapturedResponse:
    """Run a WSGI app on a copy of `environ` with `body` as its input; its whole response as plain data."""
    env: WSGIEnvironment = dict(environ)
    env["wsgi.input"] = io.BytesIO(body)
    env["wsgi.errors"] = io.StringIO()
    started: list[Any] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], object]:
        started[:] = [status, headers]
        return lambda data: None

    iterable = app(env, start_response)
    try:
        data = b"".join(iterable)
    finally:
        close = getattr(iterable, "close", None)
        if close is not None:
            close()
    status, headers = started
    return CapturedResponse(status=int(status.split(" ", 1)[0]), headers=tuple(headers), body=data)


def capture_request(environ: Mapping[str, Any], body: bytes) -> CapturedRequest:
    """The request of a WSGI environ as plain data (headers from HTTP_* keys and the content headers)."""
    headers: list[tuple[str, str]] = []
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            headers.append((key[5:].replace("_", "-").title(), str(value)))
        elif key in ("CONTENT_TYPE", "CONTENT_LENGTH") and value:
            headers.append((key.replace("_", "-").title(), str(value)))
    return CapturedRequest(
        method=str(environ.get("REQUEST_METHOD", "GET")).upper(),
        path=str(environ.get("PATH_INFO", "") or "/"),
        query=str(environ.get("QUERY_STRING", "")),
        headers=tuple(sorted(headers)),
        body=body,
    )


def tee(iterable: Iterable[bytes], limit: int, on_close: Callable[[bytes | None], None]) -> Iterable[bytes]:
    """Pass a response body through unchanged while keeping a copy for `on_close`: the whole body, None past
    `limit` bytes, or `INCOMPLETE` when the response was closed before its end."""
    return _Tee(iterable, limit, on_close)


class _Tee:
    def __init__(self, iterable: Iterable[bytes], limit: int, on_close: Callable[[bytes | None], None]):
        self._iterable = iterable
        self._limit = limit
        self._on_close = on_close
        self._chunks: list[bytes] | None = []
        self._size = 0
        self._done = False

    def __iter__(self) -> Any:
        for chunk in self._iterable:
            if self._chunks is not None:
                self._size += len(chunk)
                if self._size > self._limit:
                    self._chunks = None
                else:
                    self._chunks.append(chunk)
            yield chunk
        # The server asks for the next chunk only after writing the last one: the caller has the whole answer.
        self._finish(b"".join(self._chunks) if self._chunks is not None else None)

    def _finish(self, body: bytes | None) -> None:
        if not self._done:
            self._done = True
            self._on_close(body)

    def close(self) -> None:
        try:
            close = getattr(self._iterable, "close", None)
            if close is not None:
                close()
        finally:
            # Closed before the end (the client went away): what was copied is a prefix, not the answer.
            self._finish(INCOMPLETE)


# What the tee hands over for a response closed before its end; distinct from None (over the size limit).
INCOMPLETE = b"\x00sv-incomplete"


def _content_length(environ: WSGIEnvironment) -> int | None:
    try:
        return int(environ["CONTENT_LENGTH"]) if environ.get("CONTENT_LENGTH") else None
    except ValueError:
        return None


def read_body(environ: WSGIEnvironment, limit: int) -> bytes | None:
    """The request body, read once and put back as a fresh stream for the app; None when over `limit` (the stream
    is then put back whole, unread bytes included, and nothing is kept).

    A body without Content-Length (chunked) is read only when the server marks its input as terminated
    (`wsgi.input_terminated`); otherwise, as in werkzeug, there is no body to read.
    """
    stream = environ.get("wsgi.input")
    length = _content_length(environ)
    if stream is None or (length is None and not environ.get("wsgi.input_terminated")):
        return b""
    if length is not None and length > limit:
        return None
    wanted = length if length is not None else limit + 1
    chunks: list[bytes] = []
    size = 0
    while size < wanted:
        # A stream may hand over less than asked at a time (a raw socket file, a chunked decoder).
        chunk = bytes(stream.read(wanted - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    data = b"".join(chunks)
    if length is None and len(data) > limit:
        environ["wsgi.input"] = _Prefixed(data, stream)
        return None
    environ["wsgi.input"] = io.BytesIO(data)
    return data


class _Prefixed(io.RawIOBase):
    """Bytes already read, then the rest of the original stream: what the app reads is the whole body."""

    def __init__(self, head: bytes, rest: Any):
        self._head = io.BytesIO(head)
        self._rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._head.read(len(buffer)) or self._rest.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)
