"""`ctx.fetch` of a sandboxed plugin: the worker asks, the host fetches. One Unix socket per pool, served by threads
of the serving process; the host checks the call against the manifest it loaded itself (never the worker's).

On the socket, one call per connection: the worker sends one line of JSON (`token`, `method`, `url`, `headers`,
`body` in base64, `follow`), the host answers one line: `{"answer": ...}` or `{"error": ...}` (see
`exthost.fetch.error_to_wire`). The pool's fetch token is what keeps another plugin's worker, which can reach this
socket too (Landlock does not confine connecting to Unix sockets), from fetching under this plugin's allow-list.
"""

from __future__ import annotations

import base64
import contextlib
import hmac
import json
import secrets
import socket
import socketserver
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from exthost.fetch import FetchDenied, Fetcher, FetchError, FetchFailed, FetchResponse, error_from_wire, error_to_wire
from exthost.sandbox.limits import SandboxLimits

# How long past the fetch timeout the worker waits for the host's answer (the host's own deadline ends it first).
GRACE_SECONDS = 5.0
SLACK_BYTES = 64 * 1024  # room for the JSON around a base64 body


class FetchGate:
    """The host's side of one pool's fetch socket: `start`, `spec` (what the worker needs), `stop`."""

    def __init__(
        self,
        path: Path,
        fetcher: Fetcher,
        limits: SandboxLimits,
        on_event: Callable[[str, str], None],
    ):
        self.path = path
        self.fetcher = fetcher
        self.limits = limits
        self.on_event = on_event
        self.token = secrets.token_urlsafe(24)
        # A worker serves one request at a time, but a plugin may start threads: more calls at once than it has
        # workers wait for a turn (up to the fetch timeout), so one plugin holds a bounded share of host threads.
        self.turns = threading.BoundedSemaphore(limits.workers)
        self.calls = 0
        self._server: socketserver.ThreadingUnixStreamServer | None = None

    def spec(self) -> dict[str, Any]:
        return {
            "fetchSocket": str(self.path),
            "fetchToken": self.token,
            "fetchTimeout": self.limits.fetch_timeout_seconds,
        }

    def start(self) -> None:
        gate = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                gate._handle(self.rfile, self.wfile)

        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        server = socketserver.ThreadingUnixStreamServer(str(self.path), Handler)
        server.daemon_threads = True
        self._server = server
        threading.Thread(target=server.serve_forever, name=f"sv-fetch-{self.fetcher.plugin}", daemon=True).start()

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    def _handle(self, rfile: Any, wfile: Any) -> None:
        limit = self.limits.fetch_max_bytes * 4 // 3 + SLACK_BYTES
        line = rfile.readline(limit + 1)
        try:
            call = json.loads(line) if len(line) <= limit and line.endswith(b"\n") else None
        except ValueError:
            call = None
        if not isinstance(call, dict) or not hmac.compare_digest(str(call.get("token", "")), self.token):
            # Not this plugin's worker (no token, a wrong one, or a call too large): no answer at all.
            return
        self.calls += 1
        try:
            answer = self._fetch(call)
            reply: dict[str, Any] = {"answer": answer.to_wire()}
        except FetchError as exc:
            kind = "fetchDenied" if isinstance(exc, FetchDenied) else "fetchFailed"
            self.on_event(kind, str(exc))
            reply = {"error": error_to_wire(exc)}
        except Exception as exc:  # a call the worker shaped badly: its failure, told to it, never the host's
            failed = FetchFailed(f"plugin {self.fetcher.plugin!r}: the fetch call was refused: {exc!r}")
            self.on_event("fetchFailed", str(failed))
            reply = {"error": error_to_wire(failed)}
        wfile.write(json.dumps(reply).encode() + b"\n")

    def _fetch(self, call: Mapping[str, Any]) -> FetchResponse:
        if not self.turns.acquire(timeout=self.limits.fetch_timeout_seconds):
            raise FetchFailed(f"plugin {self.fetcher.plugin!r}: more than {self.limits.workers} fetches at once")
        try:
            headers = call.get("headers") or {}
            body = call.get("body")
            return self.fetcher.fetch(
                str(call.get("method", "GET")),
                str(call.get("url", "")),
                headers={str(k): str(v) for k, v in dict(headers).items()},
                body=None if body is None else base64.b64decode(str(body)),
                follow_redirects=bool(call.get("follow", True)),
            )
        finally:
            self.turns.release()


class RemoteFetcher:
    """The worker's side: `ctx.fetch` sent to the host's gate (same signature as `exthost.fetch.Fetcher.fetch`)."""

    def __init__(self, path: str, token: str, timeout: float):
        self.path = path
        self.token = token
        self.timeout = timeout

    def fetch(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
        follow_redirects: bool = True,
    ) -> FetchResponse:
        call = {
            "token": self.token,
            "method": method,
            "url": url,
            "headers": dict(headers or {}),
            "body": None if body is None else base64.b64encode(body).decode(),
            "follow": follow_redirects,
        }
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(self.timeout + GRACE_SECONDS)
            try:
                sock.connect(self.path)
                sock.sendall(json.dumps(call).encode() + b"\n")
                with sock.makefile("rb") as answer:
                    line = answer.readline()
            except OSError as exc:
                raise FetchFailed(f"the host did not perform the fetch of {url!r}: {exc}") from None
        if not line:
            raise FetchFailed(f"the host refused the fetch of {url!r} (no answer; a call too large?)")
        reply = json.loads(line)
        if "error" in reply:
            raise error_from_wire(reply["error"])
        return FetchResponse.from_wire(reply["answer"])
