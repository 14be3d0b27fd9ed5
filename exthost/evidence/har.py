"""HAR 1.2 recordings: captured exchanges as HAR entries and documents, and HAR files (ours or a browser's) read back.

Writing redacts secrets first (`redact`). Text bodies are written as text, other bodies in base64. Reading
takes HAR files as browsers and proxies export them: absolute URLs, `postData.text` or only `params`, base64
content, HTTP/2 pseudo-headers, missing optional fields.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic_core import ErrorDetails

from exthost.errors import HarError
from exthost.evidence.compare import CapturedRequest, CapturedResponse, Headers, header_value, parse_content_type
from exthost.evidence.redact import redact_request, redact_response

HAR_VERSION = "1.2"
CREATOR = "sovereign"
HTTP_VERSION = "HTTP/1.1"
_TEXT_TYPES = ("application/json", "application/xml", "application/javascript", "application/x-www-form-urlencoded")
_PATH_SAFE = "/!$&'()*+,;=:@-._~"  # RFC 3986 pchar and '/': everything else in a path is percent-encoded


def _textual(media: str) -> bool:
    return (
        not media
        or media.startswith(("text/", "multipart/form-data"))
        or media in _TEXT_TYPES
        or media.endswith(("+json", "+xml"))
    )


def _encode_body(body: bytes, content_type: str | None) -> tuple[str, bool]:
    """(text, False) for a body that is text in its charset, else (base64, True); decoding gives back `body`."""
    media, params = parse_content_type(content_type)
    if _textual(media):
        charset = params.get("charset") or "utf-8"
        try:
            text = body.decode(charset)
            if text.encode(charset) == body:
                return text, False
        except (LookupError, UnicodeError):
            pass
    return base64.b64encode(body).decode("ascii"), True


def _decode_body(text: str, is_base64: bool, content_type: str | None) -> bytes:
    if is_base64:
        return base64.b64decode(text, validate=True)
    charset = parse_content_type(content_type)[1].get("charset") or "utf-8"
    try:
        return text.encode(charset)
    except (LookupError, UnicodeError):  # a browser's text is already decoded; keep every character
        return text.encode("utf-8", errors="surrogatepass")


def _pairs(items: Iterable[tuple[str, str]]) -> list[dict[str, str]]:
    return [{"name": name, "value": value} for name, value in items]


def _cookies(header: str | None) -> list[dict[str, str]]:
    pairs = (piece.strip().partition("=") for piece in (header or "").split(";"))
    return [{"name": name, "value": value} for name, equals, value in pairs if equals]


def _set_cookies(headers: Headers) -> list[dict[str, str]]:
    lines = (line for name, value in headers if name.lower() == "set-cookie" for line in value.split("\n"))
    return [cookie for line in lines for cookie in _cookies(line.split(";", 1)[0])]


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def _url(request: CapturedRequest) -> str:
    host = header_value(request.headers, "host") or ""
    host = host if re.fullmatch(r"[A-Za-z0-9.-]+(:\d+)?", host) else "localhost"
    query = f"?{request.query}" if request.query else ""
    return f"http://{host}{quote(request.path, safe=_PATH_SAFE, errors='surrogatepass')}{query}"


def har_entry(
    request: CapturedRequest,
    response: CapturedResponse,
    *,
    started: datetime,
    time_ms: float,
    comment: str = "",
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """One HAR entry of an exchange, secrets redacted; `extra` is kept under `_sovereign` (HAR custom field)."""
    if started.utcoffset() is None:
        raise ValueError(f"started must carry a time zone, got {started!r}; e.g. datetime.now(timezone.utc)")
    request, response = redact_request(request), redact_response(response)
    request_type = header_value(request.headers, "content-type")
    har_request: dict[str, Any] = {
        "method": request.method,
        "url": _url(request),
        "httpVersion": HTTP_VERSION,
        "cookies": _cookies(header_value(request.headers, "cookie")),
        "headers": _pairs(request.headers),
        "queryString": _pairs(parse_qsl(request.query, keep_blank_values=True)),
        "headersSize": -1,
        "bodySize": len(request.body),
    }
    if request.body:
        text, is_base64 = _encode_body(request.body, request_type)
        post = {"mimeType": request_type or "", "text": text}
        if is_base64:
            post["_encoding"] = "base64"  # HAR 1.2 has no postData encoding; custom fields start with '_'
        har_request["postData"] = post
    response_type = header_value(response.headers, "content-type")
    text, is_base64 = _encode_body(response.body, response_type)
    content = {"size": len(response.body), "mimeType": response_type or "", "text": text}
    entry: dict[str, Any] = {
        "startedDateTime": started.isoformat(timespec="milliseconds"),
        "time": time_ms,
        "request": har_request,
        "response": {
            "status": response.status,
            "statusText": _reason(response.status),
            "httpVersion": HTTP_VERSION,
            "cookies": _set_cookies(response.headers),
            "headers": _pairs(response.headers),
            "content": content | ({"encoding": "base64"} if is_base64 else {}),
            "redirectURL": header_value(response.headers, "location") or "",
            "headersSize": -1,
            "bodySize": len(response.body),
        },
        "cache": {},
        "timings": {"send": 0, "wait": time_ms, "receive": 0},
    }
    if comment:
        entry["comment"] = comment
    if extra:
        entry["_sovereign"] = dict(extra)
    return entry


def har_document(entries: Iterable[Mapping[str, Any]], *, creator_version: str) -> dict[str, Any]:
    """A HAR 1.2 document (`{"log": ...}`) of `entries`, created by sovereign `creator_version`."""
    return {
        "log": {
            "version": HAR_VERSION,
            "creator": {"name": CREATOR, "version": creator_version},
            "entries": [dict(entry) for entry in entries],
        }
    }


# --- reading, with pydantic at the trust boundary: browsers add fields of their own, so extras are ignored ---


class _Har(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class _Pair(_Har):
    name: str
    value: str = ""


class _Param(_Har):
    name: str
    value: str = ""
    file_name: str | None = Field(default=None, alias="fileName")
    content_type: str | None = Field(default=None, alias="contentType")


class _PostData(_Har):
    mime_type: str = Field(default="", alias="mimeType")
    text: str | None = None
    params: list[_Param] = []
    encoding: str | None = None
    custom_encoding: str | None = Field(default=None, alias="_encoding")


class _Request(_Har):
    method: str
    url: str
    headers: list[_Pair] = []
    cookies: list[_Pair] = []
    query_string: list[_Pair] = Field(default=[], alias="queryString")
    post_data: _PostData | None = Field(default=None, alias="postData")


class _Content(_Har):
    mime_type: str = Field(default="", alias="mimeType")
    text: str | None = None
    encoding: str | None = None


class _Response(_Har):
    status: int
    headers: list[_Pair] = []
    content: _Content = _Content()


class _Entry(_Har):
    request: _Request
    response: _Response | None = None


class _Log(_Har):
    entries: list[_Entry]


class _Document(_Har):
    log: _Log


def _where(loc: tuple[int | str, ...]) -> str:
    return "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc).lstrip(".") or "(document)"


def _problem(error: ErrorDetails) -> str:
    where, given = _where(tuple(error["loc"])), error["input"]
    if error["type"] == "missing":
        return f"{where}: required field missing; a HAR 1.2 file from a browser or proxy has it"
    shown = repr(given) if len(repr(given)) <= 80 else repr(given)[:77] + "..."
    return f"{where}: {error['msg'][:1].lower()}{error['msg'][1:]}, got {shown}; see the HAR 1.2 format"


def _multipart(post: _PostData) -> bytes:
    """A multipart body rebuilt from `params` (browsers that drop the text keep them; file contents are lost)."""
    boundary = parse_content_type(post.mime_type)[1].get("boundary") or "sovereign-har-boundary"
    parts = []
    for param in post.params:
        disposition = f'form-data; name="{param.name}"' + (
            f'; filename="{param.file_name}"' if param.file_name is not None else ""
        )
        head = f"Content-Disposition: {disposition}\r\n" + (
            f"Content-Type: {param.content_type}\r\n" if param.content_type else ""
        )
        parts.append(f"--{boundary}\r\n{head}\r\n{param.value}\r\n")
    return ("".join(parts) + f"--{boundary}--\r\n").encode("utf-8")


def _request_body(post: _PostData | None) -> bytes:
    if post is None:
        return b""
    if post.text is not None:
        is_base64 = (post.encoding or post.custom_encoding or "").lower() == "base64"
        return _decode_body(post.text, is_base64, post.mime_type)
    if not post.params:
        return b""
    if parse_content_type(post.mime_type)[0].startswith("multipart/"):
        return _multipart(post)
    return urlencode([(param.name, param.value) for param in post.params]).encode("utf-8")


def _captured(entry: _Entry) -> tuple[CapturedRequest, CapturedResponse | None]:
    har_request, har_response = entry.request, entry.response
    url = urlsplit(har_request.url)
    query = url.query or urlencode([(pair.name, pair.value) for pair in har_request.query_string])
    # HTTP/2 pseudo-headers (:authority, :path, ...) are the request line, not headers
    headers = [(pair.name, pair.value) for pair in har_request.headers if not pair.name.startswith(":")]
    if har_request.cookies and header_value(tuple(headers), "cookie") is None:
        headers.append(("Cookie", "; ".join(f"{pair.name}={pair.value}" for pair in har_request.cookies)))
    request = CapturedRequest(
        method=har_request.method.upper(),
        path=unquote(url.path, errors="surrogatepass") or "/",
        query=query,
        headers=tuple(headers),
        body=_request_body(har_request.post_data),
    )
    if har_response is None or har_response.status <= 0:  # status 0: blocked or aborted, nothing came back
        return request, None
    content = har_response.content
    is_base64 = (content.encoding or "").lower() == "base64"
    response = CapturedResponse(
        status=har_response.status,
        headers=tuple((pair.name, pair.value) for pair in har_response.headers if not pair.name.startswith(":")),
        body=_decode_body(content.text or "", is_base64, content.mime_type),
    )
    return request, response


def read_har(
    source: Mapping[str, Any] | str | os.PathLike[str],
) -> list[tuple[CapturedRequest, CapturedResponse | None]]:
    """The exchanges of a HAR document or file, in order; the response is None where the HAR has none."""
    where = "(HAR document)"
    if not isinstance(source, Mapping):
        where = str(source)
        try:
            source = json.loads(Path(source).read_text(encoding="utf-8-sig"))
        except FileNotFoundError:
            raise HarError(where, ["(file): not found; export the HAR again or check the path"]) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise HarError(where, [f"(file): cannot be read as UTF-8 text: {exc}; check the file"]) from None
        except (ValueError, RecursionError) as exc:
            raise HarError(where, [f"(file): invalid JSON: {exc}; a HAR file is one JSON document"]) from None
    try:
        document = _Document.model_validate(source)
    except ValidationError as exc:
        raise HarError(where, list(dict.fromkeys(_problem(error) for error in exc.errors(include_url=False)))) from None
    exchanges: list[tuple[CapturedRequest, CapturedResponse | None]] = []
    problems: list[str] = []
    for index, entry in enumerate(document.log.entries):
        try:
            exchanges.append(_captured(entry))
        except binascii.Error as exc:
            problems.append(f"log.entries[{index}]: body is not valid base64 ({exc}); fix or drop the entry")
    if problems:
        raise HarError(where, problems)
    return exchanges
