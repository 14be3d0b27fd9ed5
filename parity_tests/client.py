"""A request as plain data sent to a platform through WSGI, with a cookie jar the answer updates."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from werkzeug.test import EnvironBuilder

from exthost.evidence.capture import call_wsgi
from exthost.evidence.compare import CapturedRequest, CapturedResponse

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

# Request headers a replay does not pass on: the client's connection, the cookie jar's own business (each side
# keeps its own), and the recording server's name for itself (Origin/Referer would fail the same-origin check).
DROPPED_HEADERS = frozenset(
    {"host", "cookie", "content-length", "connection", "keep-alive", "transfer-encoding", "origin", "referer", "te"}
)


def path_of(*segments: str) -> str:
    """A CapturedRequest path from raw segments: decoded, except '%', '?' and '#', which stay escaped."""
    return "/" + "/".join(
        segment.replace("%", "%25").replace("?", "%3F").replace("#", "%23") for segment in segments if segment
    )


def cookie_updates(headers: Iterable[tuple[str, str]]) -> dict[str, str | None]:
    """Cookie values a response sets (None: deleted, by an empty value or Max-Age=0)."""
    updates: dict[str, str | None] = {}
    for name, value in headers:
        if name.lower() != "set-cookie":
            continue
        first, *attributes = value.split(";")
        key, _, cookie = first.partition("=")
        expired = any(attribute.strip().lower() in ("max-age=0", "max-age=-1") for attribute in attributes)
        updates[key.strip()] = None if expired or not cookie.strip() else cookie.strip()
    return updates


def send(app: WSGIApplication, request: CapturedRequest, cookies: dict[str, str]) -> CapturedResponse:
    """`request` through `app`, with `cookies` in place of its own; the cookies the answer sets go into `cookies`."""
    headers = [(name, value) for name, value in request.headers if name.lower() not in DROPPED_HEADERS]
    if cookies:
        headers.append(("Cookie", "; ".join(f"{name}={value}" for name, value in cookies.items())))
    builder = EnvironBuilder(
        path=request.path, method=request.method, query_string=request.query, headers=headers, data=request.body
    )
    try:
        environ = builder.get_environ()
    finally:
        builder.close()
    response = call_wsgi(app, environ, request.body)
    for name, value in cookie_updates(response.headers).items():
        if value is None:
            cookies.pop(name, None)
        else:
            cookies[name] = value
    return response
