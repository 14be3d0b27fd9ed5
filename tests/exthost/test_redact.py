"""Redaction: no secret survives in headers, query strings, JSON, form or multipart bodies; the rest is untouched."""

from __future__ import annotations

import json
import string
from typing import Any
from urllib.parse import parse_qsl, quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exthost.evidence.compare import CapturedRequest, CapturedResponse
from exthost.evidence.redact import REDACTED, is_sensitive, redact_body, redact_request, redact_response

SENSITIVE_KEYS = [
    "password",
    "Password",
    "newPassword",
    "passwd",
    "client_secret",
    "token",
    "accessToken",
    "gitAuthToken",
    "git_auth_token",
    "api_key",
    "apiKey",
    "APIKEY",
    "X-Api-Key",
    "authorization",
]
secrets = st.text(string.ascii_letters + string.digits, min_size=6, max_size=12).map(lambda text: f"S3CR3T{text}")
plain_keys = st.text(string.ascii_letters + "_", min_size=1, max_size=8).filter(lambda key: not is_sensitive(key))
scalars = st.none() | st.booleans() | st.integers() | st.text(max_size=8)
documents = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(plain_keys, inner, max_size=3),
    max_leaves=12,
)


def request(body: bytes = b"", content_type: str | None = None, query: str = "", headers=()) -> CapturedRequest:
    extra = (("Content-Type", content_type),) if content_type else ()
    return CapturedRequest("POST", "/api/login", query, (*headers, *extra), body)


@st.composite
def documents_with_a_secret(draw: Any) -> tuple[Any, str]:
    """A JSON document with a secret under a sensitive key at a random depth, possibly inside lists."""
    secret = draw(secrets)
    value: Any = draw(st.sampled_from([secret, [secret], {"value": secret}, [1, {"deep": [secret]}]]))
    value = {draw(st.sampled_from(SENSITIVE_KEYS)): value}
    for _ in range(draw(st.integers(0, 4))):
        around = draw(st.dictionaries(plain_keys, documents, max_size=2))
        if draw(st.booleans()):
            value = [*draw(st.lists(documents, max_size=2)), value]
        else:
            value = {**around, draw(plain_keys): value}  # a clash replaces a sibling: the secret stays in
    return value, secret


@given(documents_with_a_secret())
def test_redact_json_secret_at_any_depth_never_survives(case):
    document, secret = case
    redacted = redact_request(request(json.dumps(document).encode(), "application/json"))
    assert secret.encode() not in redacted.body
    assert REDACTED.encode() in redacted.body


@given(documents_with_a_secret(), st.sampled_from(SENSITIVE_KEYS))
def test_redact_secret_in_query_form_multipart_and_headers_never_survives(case, key):
    document, secret = case
    boundary = "----WebKitFormBoundary7MA4YWxkTrZu0gW"
    multipart = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n{secret}\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="doc"; filename="d.json"\r\n'
        f"Content-Type: application/json\r\n\r\n{json.dumps(document)}\r\n--{boundary}--\r\n"
    ).encode()
    captured = [
        request(query=f"page=1&{quote(key)}={secret}"),
        request(f"user=a&{quote(key)}={secret}".encode(), "application/x-www-form-urlencoded"),
        request(multipart, f"multipart/form-data; boundary={boundary}"),
        request(headers=((key, secret), ("Cookie", f"sv_session={secret}"), ("Authorization", f"Bearer {secret}"))),
    ]
    for item in captured:
        redacted = redact_request(item)
        assert secret not in repr(redacted)


@given(documents)
def test_redact_leaves_a_body_without_secrets_byte_for_byte(document):
    body = json.dumps(document, indent=1).encode()
    assert redact_body(body, "application/json") == body


@given(documents_with_a_secret())
def test_redact_is_idempotent(case):
    document, _ = case
    once = redact_request(request(json.dumps(document).encode(), "application/json", query="token=x&a=1"))
    assert redact_request(once) == once


def test_redact_json_keeps_booleans_nulls_empty_strings_and_other_fields():
    body = json.dumps(
        {"hasToken": True, "password": "", "secret": None, "tokens": ["a", 2], "title": "token", "n": 1}
    ).encode()
    assert json.loads(redact_body(body, "application/json; charset=utf-8")) == {
        "hasToken": True,
        "password": "",
        "secret": None,
        "tokens": [REDACTED, REDACTED],
        "title": "token",
        "n": 1,
    }


def test_redact_invalid_json_still_loses_quoted_secret_pairs():
    body = b'{"password": "hunter2", "user": "ann", "apiKey" : "k-1", "token": 42'
    assert redact_body(body, "application/json") == (
        b'{"password": "[REDACTED]", "user": "ann", "apiKey" : "[REDACTED]", "token": "[REDACTED]"'
    )


def test_redact_body_without_content_type_that_looks_like_json():
    assert json.loads(redact_body(b'{"token": "t"}', None)) == {"token": REDACTED}
    assert redact_body(b"token=t", None) == b"token=t"  # not a form without the form's content type


def test_redact_headers_keep_cookie_names_attributes_and_auth_scheme():
    captured = CapturedRequest(
        "GET",
        "/",
        headers=(
            ("Cookie", "sv_session=abc; theme=dark;flag"),
            ("Authorization", "Basic dXNlcjpwYXNz"),
            ("Proxy-Authorization", "opaque-secret with spaces"),
            ("X-Api-Key", "k1"),
            ("X-Auth-Token", "t1"),
            ("Accept", "application/json"),
            ("X-Empty-Token", ""),
        ),
    )
    assert redact_request(captured).headers == (
        ("Cookie", f"sv_session={REDACTED}; theme={REDACTED};{REDACTED}"),
        ("Authorization", f"Basic {REDACTED}"),
        ("Proxy-Authorization", REDACTED),
        ("X-Api-Key", REDACTED),
        ("X-Auth-Token", REDACTED),
        ("Accept", "application/json"),
        ("X-Empty-Token", ""),
    )


def test_redact_response_set_cookie_and_json_token():
    response = CapturedResponse(
        200,
        (
            ("Set-Cookie", "sv_session=abc123; Path=/; HttpOnly; SameSite=Lax; Expires=Wed, 21 Oct 2026 07:28:00 GMT"),
            ("set-cookie", "a=1; Path=/\nb=2; Secure"),
            ("Content-Type", "application/json"),
        ),
        b'{"user": {"name": "ann"}, "sessionToken": "abc123"}',
    )
    redacted = redact_response(response)
    assert redacted.headers[:2] == (
        ("Set-Cookie", f"sv_session={REDACTED}; Path=/; HttpOnly; SameSite=Lax; Expires=Wed, 21 Oct 2026 07:28:00 GMT"),
        ("set-cookie", f"a={REDACTED}; Path=/\nb={REDACTED}; Secure"),
    )
    assert json.loads(redacted.body) == {"user": {"name": "ann"}, "sessionToken": REDACTED}
    assert redacted.status == 200


def test_redact_query_and_form_keep_every_other_byte():
    query = "q=a+b%20c&password=p%40ss&flag&token=&Api-Key=k"
    redacted = redact_request(request(query=query)).query
    assert redacted == "q=a+b%20c&password=%5BREDACTED%5D&flag&token=&Api-Key=%5BREDACTED%5D"
    assert dict(parse_qsl(redacted, keep_blank_values=True))["password"] == REDACTED
    form = redact_request(request(b"user=ann&passwd=x%26y", "application/x-www-form-urlencoded")).body
    assert form == b"user=ann&passwd=%5BREDACTED%5D"


def test_redact_multipart_replaces_sensitive_fields_and_keeps_files():
    boundary = "b0undary"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="password"\r\n\r\nhunter2\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="password.png"\r\n'
        f"Content-Type: image/png\r\n\r\n\x89PNG\r\n--{boundary}--\r\n"
    ).encode("latin-1")
    redacted = redact_body(body, f'multipart/form-data; boundary="{boundary}"')
    assert redacted == body.replace(b"hunter2", REDACTED.encode())


@pytest.mark.parametrize(
    ("name", "sensitive"),
    [
        ("password", True),
        ("gitAuthToken", True),
        ("X-API-KEY", True),
        ("api-key", True),
        ("Proxy-Authorization", True),
        ("client_secret", True),
        ("pwd", True),
        ("title", False),
        ("author", False),
        ("content-type", False),
        ("WWW-Authenticate", False),
    ],
    ids=lambda value: str(value),
)
def test_redact_is_sensitive_ignores_case_and_punctuation(name, sensitive):
    assert is_sensitive(name) is sensitive
