"""Redaction of secrets from captured requests and responses, before anything is stored or exported.

Headers: Cookie and Set-Cookie keep the cookie names and attributes, Authorization and Proxy-Authorization keep the
scheme, and any header named like a secret (X-Api-Key, X-Auth-Token, ...) loses its value. Bodies and query strings:
every value under a key named like a secret (password, passwd, secret, token, api_key, apikey, authorization,
gitAuthToken, ...), at any depth of JSON, in urlencoded forms, query parameters and multipart form fields.
Non-sensitive bytes are kept as they were: a body without secrets comes back identical, and redaction is idempotent.
"""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any
from urllib.parse import quote, unquote_plus

from exthost.evidence.compare import CapturedRequest, CapturedResponse, Headers, header_value, parse_content_type

REDACTED = "[REDACTED]"

_QUOTED = quote(REDACTED, safe="")
# Matched against the name lower-cased with everything but letters and digits removed: `X-Api-Key` is `xapikey`.
_SENSITIVE = re.compile(
    r"password|passwd|passphrase|secret|token|apikey|authorization|credential|privatekey|accesskey|sessionid"
    r"|^pwd$|^auth$|^cookie$|^setcookie$"
)
# Schemes kept in front of a redacted Authorization value; anything else could be part of the secret.
_SCHEMES = ("basic", "bearer", "digest", "token", "negotiate", "ntlm", "apikey", "aws4-hmac-sha256", "hoba", "mutual")
_JSON_STRING = r'"(?:[^"\\]|\\.)*"'
_JSON_PAIR = re.compile(rf"({_JSON_STRING})(\s*:\s*)({_JSON_STRING}|-?\d[\d.eE+-]*)")
_PART_NAME = re.compile(r';\s*name\*?=(?:"((?:[^"\\]|\\.)*)"|([^;\s]+))', re.IGNORECASE)


def is_sensitive(name: str) -> bool:
    """Whether a header, field or key called `name` holds a secret (case and punctuation do not matter)."""
    return _SENSITIVE.search(re.sub(r"[^a-z0-9]", "", name.lower())) is not None


def _cookie_pairs(value: str) -> str:
    """`a=1; b=2` as `a=[REDACTED]; b=[REDACTED]`; a piece without a name is a value, so it goes whole."""
    pieces = value.split(";")
    for index, piece in enumerate(pieces):
        name, equals, _ = piece.partition("=")
        if piece.strip():
            pieces[index] = f"{name}={REDACTED}" if equals else piece[: len(piece) - len(piece.lstrip())] + REDACTED
    return ";".join(pieces)


def _set_cookie(value: str) -> str:
    # Firefox joins several Set-Cookie headers with newlines in one HAR header; each line is one cookie.
    lines = []
    for line in value.split("\n"):
        pair, semicolon, attributes = line.partition(";")
        lines.append(_cookie_pairs(pair) + semicolon + attributes if pair.strip() else line)
    return "\n".join(lines)


def _credentials(value: str) -> str:
    scheme, space, _ = value.strip().partition(" ")
    return f"{scheme} {REDACTED}" if space and scheme.lower() in _SCHEMES else REDACTED


def redact_headers(headers: Headers) -> Headers:
    """The headers with every secret value replaced; names, order and non-secret values kept."""
    result = []
    for name, value in headers:
        key = name.lower()
        if value.strip():
            if key == "cookie":
                value = _cookie_pairs(value)
            elif key == "set-cookie":
                value = _set_cookie(value)
            elif key in ("authorization", "proxy-authorization"):
                value = _credentials(value)
            elif is_sensitive(name):
                value = REDACTED
        result.append((name, value))
    return tuple(result)


def redact_pairs(text: str) -> str:
    """A query string or urlencoded form with sensitive values replaced; every other byte kept."""
    pieces = text.split("&")
    for index, piece in enumerate(pieces):
        name, equals, value = piece.partition("=")
        if equals and value and is_sensitive(unquote_plus(name)):
            pieces[index] = f"{name}={_QUOTED}"
    return "&".join(pieces)


def _scrub(value: Any, sensitive: bool) -> tuple[Any, bool]:
    """`value` with every string or number under a sensitive key replaced, and whether anything was."""
    if isinstance(value, dict):
        items = {key: _scrub(item, sensitive or is_sensitive(key)) for key, item in value.items()}
        return {key: item for key, (item, _) in items.items()}, any(changed for _, changed in items.values())
    if isinstance(value, list):
        scrubbed = [_scrub(item, sensitive) for item in value]
        return [item for item, _ in scrubbed], any(changed for _, changed in scrubbed)
    # true/false/null reveal nothing (`hasToken: true` stays comparable); an empty string hides nothing either
    if sensitive and isinstance(value, str | int | float) and not isinstance(value, bool) and value != "":
        return REDACTED, value != REDACTED
    return value, False


def _json_text(body: bytes) -> bytes:
    # Not JSON after all: catch `"password": "..."` pairs in the text, the best that can be done without a parser.
    text = body.decode("utf-8", errors="surrogateescape")

    def pair(match: re.Match[str]) -> str:
        try:
            key = json.loads(match[1])
        except ValueError:
            return match[0]
        return f"{match[1]}{match[2]}{json.dumps(REDACTED)}" if is_sensitive(key) else match[0]

    return _JSON_PAIR.sub(pair, text).encode("utf-8", errors="surrogateescape")


def _json(body: bytes) -> bytes:
    try:
        scrubbed, changed = _scrub(json.loads(body), sensitive=False)
    except (ValueError, RecursionError):  # not JSON, or nested deeper than Python recurses
        return _json_text(body)
    if not changed:
        return body
    return json.dumps(scrubbed, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _multipart(body: bytes, boundary: str) -> bytes:
    delimiter = b"--" + boundary.encode("latin-1", errors="replace")
    chunks = body.split(delimiter)
    for index in range(1, len(chunks)):
        if chunks[index].startswith(b"--"):
            break  # the close delimiter; what follows is the epilogue
        separator = b"\r\n\r\n" if b"\r\n\r\n" in chunks[index] else b"\n\n"
        head, found, content = chunks[index].partition(separator)
        if not found:
            continue
        # the line break before the next delimiter belongs to the delimiter, not to the field's value
        ending = b"\r\n" if content.endswith(b"\r\n") else b"\n" if content.endswith(b"\n") else b""
        value = content[: len(content) - len(ending)]
        name = _PART_NAME.search(head.decode("latin-1"))
        if name is not None and is_sensitive(name[1] if name[1] is not None else name[2]) and value:
            value = REDACTED.encode()
        else:
            part_type = re.search(rb"(?im)^content-type:([^\r\n]*)", head)
            value = redact_body(value, part_type[1].decode("latin-1") if part_type else "text/plain")
        chunks[index] = head + found + value + ending
    return delimiter.join(chunks)


def redact_body(body: bytes, content_type: str | None) -> bytes:
    """The body with sensitive fields replaced, by its content type (JSON, urlencoded form, multipart form)."""
    media, params = parse_content_type(content_type)
    if not body:
        return body
    if media in ("application/json", "text/json") or media.endswith("+json"):
        return _json(body)
    if media == "application/x-www-form-urlencoded":
        return redact_pairs(body.decode("latin-1")).encode("latin-1")
    if media.startswith("multipart/") and params.get("boundary"):
        return _multipart(body, params["boundary"])
    if not media and body.lstrip()[:1] in (b"{", b"["):
        return _json(body)  # no content type: what looks like JSON is treated as JSON, to be safe
    return body


def redact_request(request: CapturedRequest) -> CapturedRequest:
    """The request with secrets in its headers, query string and body replaced by "[REDACTED]"."""
    return dataclasses.replace(
        request,
        query=redact_pairs(request.query),
        headers=redact_headers(request.headers),
        body=redact_body(request.body, header_value(request.headers, "content-type")),
    )


def redact_response(response: CapturedResponse) -> CapturedResponse:
    """The response with secrets in its headers (Set-Cookie, ...) and body replaced by "[REDACTED]"."""
    return dataclasses.replace(
        response,
        headers=redact_headers(response.headers),
        body=redact_body(response.body, header_value(response.headers, "content-type")),
    )
