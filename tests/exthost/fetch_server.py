"""A local HTTP server for the `ctx.fetch` tests, on 127.0.0.1 and a free port, in a thread of the test process."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit


class LocalServer:
    """`/echo` (what it got), `/redirect?to=URL[&code=N]` (302 or N), `/loop` (to itself),
    `/big?size=N[&chunked=1]`, `/slow` (answers after 3 s), `/hold` (answers once `release` is set).
    `requests` lists the paths it received, `hosts` their Host headers."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        self.hosts: list[str] = []
        self.release = threading.Event()  # what `/hold` waits for
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                self._serve()

            def do_POST(self) -> None:
                self._serve()

            def _serve(self) -> None:
                server.requests.append(self.path)
                server.hosts.append(self.headers.get("Host", ""))
                parts = urlsplit(self.path)
                query = {key: values[0] for key, values in parse_qs(parts.query).items()}
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                if parts.path == "/echo":
                    data = {"method": self.command, "path": self.path, "body": body.decode(), "note": None}
                    data["note"] = self.headers.get("X-Note")
                    if self.headers.get("Authorization"):
                        data["auth"] = self.headers["Authorization"]
                    self._answer(200, json.dumps(data).encode(), "application/json")
                elif parts.path == "/loop":
                    self.send_response(302)
                    self.send_header("Location", "/loop")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                elif parts.path == "/redirect":
                    self.send_response(int(query.get("code", "302")))
                    self.send_header("Location", query["to"])
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                elif parts.path == "/big":
                    payload = b"x" * int(query["size"])
                    if query.get("chunked"):
                        self.send_response(200)
                        self.send_header("Transfer-Encoding", "chunked")
                        self.end_headers()
                        for start in range(0, len(payload), 1000):
                            piece = payload[start : start + 1000]
                            self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
                        self.wfile.write(b"0\r\n\r\n")
                    else:
                        self._answer(200, payload, "application/octet-stream")
                elif parts.path == "/hold":
                    self.release_wait()
                    self._answer(200, b"released", "text/plain")
                elif parts.path == "/slow":
                    time.sleep(3)
                    with contextlib.suppress(OSError):  # the fetch gave up waiting and closed the connection
                        self._answer(200, b"late", "text/plain")
                else:
                    self._answer(404, b"{}", "application/json")

            def release_wait(self) -> None:
                server.release.wait(60)

            def _answer(self, status: int, body: bytes, kind: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = int(self.httpd.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> LocalServer:
        threading.Thread(target=self.httpd.serve_forever, name="fetch-test-server", daemon=True).start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
