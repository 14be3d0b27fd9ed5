"""HAR 1.2: entries and documents from captured exchanges, and HAR files (ours and a browser's) read back."""

from __future__ import annotations

import base64
import json
import string
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exthost.errors import HarError
from exthost.evidence.compare import CapturedRequest, CapturedResponse
from exthost.evidence.har import har_document, har_entry, read_har
from exthost.evidence.redact import REDACTED, redact_request, redact_response

STARTED = datetime(2026, 11, 25, 10, 0, 0, 123000, tzinfo=UTC)
CONTENT_TYPES = [
    None,
    "application/json",
    "text/html; charset=utf-8",
    "text/plain; charset=latin-1",
    "text/plain; charset=utf-16",
    "application/zip",
    "application/octet-stream",
    "image/png",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=xyz",
]
no_surrogates = st.characters(exclude_categories=["Cs"])
header_names = st.text(string.ascii_letters + string.digits + "-", min_size=1, max_size=12)
header_values = st.text(no_surrogates, max_size=20)
headers = st.lists(st.tuples(header_names, header_values), max_size=4)
bodies = st.binary(max_size=60) | st.text(no_surrogates, max_size=60).map(lambda text: text.encode("utf-8"))


def with_type(pairs: list[tuple[str, str]], content_type: str | None) -> tuple[tuple[str, str], ...]:
    pairs = [(name, value) for name, value in pairs if name.lower() != "content-type"]
    return tuple(pairs + ([("Content-Type", content_type)] if content_type else []))


@st.composite
def exchanges(draw):
    request = CapturedRequest(
        method=draw(st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE"])),
        path="/" + draw(st.text(no_surrogates, max_size=20)),
        query=draw(st.text(string.ascii_letters + string.digits + "-._~%&=+;:,/?@!$'()*", max_size=20)),
        headers=with_type(draw(headers), draw(st.sampled_from(CONTENT_TYPES))),
        body=draw(bodies),
    )
    response = CapturedResponse(
        status=draw(st.sampled_from([200, 201, 204, 302, 400, 404, 418, 500, 299, 599])),
        headers=with_type(draw(headers), draw(st.sampled_from(CONTENT_TYPES))),
        body=draw(bodies),
    )
    return request, response


@given(exchanges())
def test_har_round_trip_gives_back_the_redacted_exchange(exchange):
    request, response = exchange
    document = har_document([har_entry(request, response, started=STARTED, time_ms=1.5)], creator_version="0.1.0")
    document = json.loads(json.dumps(document))  # what a file holds
    assert read_har(document) == [(redact_request(request), redact_response(response))]


def test_har_round_trip_through_a_file(tmp_path):
    request = CapturedRequest("GET", "/api/projects/p1/papertrail/board", "include=comments", (("Host", "sv"),))
    response = CapturedResponse(200, (("Content-Type", "application/zip"),), b"PK\x03\x04\x00\xff")
    path = tmp_path / "board.har"
    entry = har_entry(request, response, started=STARTED, time_ms=3.0)
    path.write_text(json.dumps(har_document([entry], creator_version="0.1.0")), encoding="utf-8")
    assert read_har(path) == [(request, response)]
    assert read_har(str(path)) == [(request, response)]


def test_har_entry_has_the_fields_har_1_2_requires():
    request = CapturedRequest(
        "POST",
        "/api/projects/p 1/papertrail/board",
        "a=1&a=2&b=",
        (("Host", "localhost:8000"), ("Content-Type", "application/json"), ("Cookie", "sv_session=s1; theme=dark")),
        b'{"title": "x", "password": "hunter2"}',
    )
    response = CapturedResponse(
        201,
        (("Content-Type", "image/png"), ("Location", "/next"), ("Set-Cookie", "sv_session=s2; Path=/")),
        b"\x89PNG\x00",
    )
    entry = har_entry(
        request, response, started=STARTED, time_ms=12.5, comment="shadow sample", extra={"feature": "papertrail"}
    )
    assert entry["startedDateTime"] == "2026-11-25T10:00:00.123+00:00"
    assert entry["time"] == 12.5
    assert entry["timings"] == {"send": 0, "wait": 12.5, "receive": 0}
    assert entry["cache"] == {}
    assert entry["comment"] == "shadow sample"
    assert entry["_sovereign"] == {"feature": "papertrail"}
    har_request = entry["request"]
    assert har_request["url"] == "http://localhost:8000/api/projects/p%201/papertrail/board?a=1&a=2&b="
    assert har_request["httpVersion"] == "HTTP/1.1"
    assert har_request["queryString"] == [
        {"name": "a", "value": "1"},
        {"name": "a", "value": "2"},
        {"name": "b", "value": ""},
    ]
    assert har_request["cookies"] == [{"name": "sv_session", "value": REDACTED}, {"name": "theme", "value": REDACTED}]
    assert json.loads(har_request["postData"]["text"]) == {"title": "x", "password": REDACTED}
    assert har_request["postData"]["mimeType"] == "application/json"
    assert (har_request["headersSize"], har_request["bodySize"]) == (-1, len(request.body))
    har_response = entry["response"]
    assert har_response["statusText"] == "Created"
    assert har_response["redirectURL"] == "/next"
    assert har_response["cookies"] == [{"name": "sv_session", "value": REDACTED}]
    assert har_response["content"] == {
        "size": 5,
        "mimeType": "image/png",
        "text": base64.b64encode(b"\x89PNG\x00").decode(),
        "encoding": "base64",
    }
    assert "hunter2" not in json.dumps(entry) and "s2" not in json.dumps(entry)


def test_har_document_is_har_1_2_by_sovereign():
    document = har_document([], creator_version="0.1.0")
    assert document == {"log": {"version": "1.2", "creator": {"name": "sovereign", "version": "0.1.0"}, "entries": []}}


def test_har_entry_refuses_a_naive_start_time():
    with pytest.raises(ValueError, match="time zone"):
        har_entry(CapturedRequest("GET", "/"), CapturedResponse(200), started=datetime(2026, 1, 1), time_ms=0)


def test_har_entry_keeps_the_offset_of_the_start_time():
    started = datetime(2026, 1, 1, 12, tzinfo=timezone(timedelta(hours=1)))
    entry = har_entry(CapturedRequest("GET", "/"), CapturedResponse(200), started=started, time_ms=0)
    assert entry["startedDateTime"] == "2026-01-01T12:00:00.000+01:00"


# A browser's export, shaped as Chrome and Firefox write them: HTTP/2 pseudo-headers, absolute URLs, extra `_`
# fields, a multipart upload with text, a form with only params, base64 content, content never captured, a
# request blocked by the client (status 0), and Firefox's newline-joined Set-Cookie.
BROWSER_HAR = {
    "log": {
        "version": "1.2",
        "creator": {"name": "WebInspector", "version": "537.36"},
        "pages": [
            {
                "startedDateTime": "2026-11-25T10:00:00.000Z",
                "id": "page_1",
                "title": "https://sv.example.com/projects/p1/board",
                "pageTimings": {"onContentLoad": 120.5, "onLoad": 250.1},
            }
        ],
        "entries": [
            {
                "_initiator": {"type": "script"},
                "_priority": "High",
                "_resourceType": "fetch",
                "cache": {},
                "connection": "443",
                "pageref": "page_1",
                "request": {
                    "method": "GET",
                    "url": "https://sv.example.com/api/projects/p1/papertrail/board?include=comments&q=a%20b",
                    "httpVersion": "http/2.0",
                    "headers": [
                        {"name": ":authority", "value": "sv.example.com"},
                        {"name": ":method", "value": "GET"},
                        {"name": ":path", "value": "/api/projects/p1/papertrail/board?include=comments&q=a%20b"},
                        {"name": ":scheme", "value": "https"},
                        {"name": "accept", "value": "application/json"},
                        {"name": "cookie", "value": "sv_session=abc123"},
                    ],
                    "queryString": [{"name": "include", "value": "comments"}, {"name": "q", "value": "a%20b"}],
                    "cookies": [
                        {
                            "name": "sv_session",
                            "value": "abc123",
                            "path": "/",
                            "domain": "sv.example.com",
                            "expires": "2026-12-25T10:00:00.000Z",
                            "httpOnly": True,
                            "secure": True,
                        }
                    ],
                    "headersSize": -1,
                    "bodySize": 0,
                },
                "response": {
                    "status": 200,
                    "statusText": "",
                    "httpVersion": "http/2.0",
                    "headers": [
                        {"name": "content-type", "value": "application/json"},
                        {"name": "content-encoding", "value": "gzip"},
                    ],
                    "cookies": [],
                    "content": {
                        "size": 22,
                        "mimeType": "application/json",
                        "compression": 5,
                        "text": '{"board":{"nodes":[]}}',
                    },
                    "redirectURL": "",
                    "headersSize": -1,
                    "bodySize": 17,
                    "_transferSize": 212,
                    "_error": None,
                },
                "serverIPAddress": "127.0.0.1",
                "startedDateTime": "2026-11-25T10:00:00.100Z",
                "time": 12.3,
                "timings": {
                    "blocked": 1.2,
                    "dns": -1,
                    "ssl": -1,
                    "connect": -1,
                    "send": 0.1,
                    "wait": 10.0,
                    "receive": 1.0,
                    "_blocked_queueing": 0.5,
                },
            },
            {
                "startedDateTime": "2026-11-25T10:00:01.000Z",
                "time": 40,
                "request": {
                    "method": "POST",
                    "url": "https://sv.example.com/api/projects/p1/papertrail/import",
                    "httpVersion": "HTTP/1.1",
                    "headers": [{"name": "Content-Type", "value": "multipart/form-data; boundary=----WebKitB"}],
                    "cookies": [],
                    "queryString": [],
                    "postData": {
                        "mimeType": "multipart/form-data; boundary=----WebKitB",
                        "text": '------WebKitB\r\nContent-Disposition: form-data; name="file"; filename="b.json"\r\n'
                        'Content-Type: application/json\r\n\r\n{"title":"B"}\r\n------WebKitB--\r\n',
                    },
                    "headersSize": -1,
                    "bodySize": 120,
                },
                "response": {
                    "status": 302,
                    "statusText": "Found",
                    "httpVersion": "HTTP/1.1",
                    "headers": [
                        {"name": "Location", "value": "/projects/p1/board"},
                        {"name": "Set-Cookie", "value": "flash=1; Path=/\ntheme=dark; Path=/"},
                    ],
                    "cookies": [],
                    "content": {"size": 0, "mimeType": "x-unknown"},
                    "redirectURL": "/projects/p1/board",
                    "headersSize": -1,
                    "bodySize": 0,
                },
                "cache": {},
                "timings": {"send": 1, "wait": 38, "receive": 1},
            },
            {
                "startedDateTime": "2026-11-25T10:00:02.000Z",
                "time": 5,
                "request": {
                    "method": "post",
                    "url": "http://localhost:8000/login",
                    "httpVersion": "HTTP/1.1",
                    "headers": [{"name": "Content-Type", "value": "application/x-www-form-urlencoded"}],
                    "cookies": [{"name": "theme", "value": "dark"}],
                    "queryString": [],
                    "postData": {
                        "mimeType": "application/x-www-form-urlencoded",
                        "params": [{"name": "email", "value": "ann@example.com"}, {"name": "next", "value": "/a b"}],
                    },
                },
                "response": {
                    "status": 200,
                    "headers": [{"name": "Content-Type", "value": "image/png"}],
                    "content": {"mimeType": "image/png", "text": "iVBORw0KGgo=", "encoding": "base64"},
                },
                "timings": {"send": 0, "wait": 5, "receive": 0},
            },
            {
                "startedDateTime": "2026-11-25T10:00:03.000Z",
                "time": 0,
                "request": {"method": "GET", "url": "https://tracker.example.com/pixel.gif", "headers": []},
                "response": {
                    "status": 0,
                    "statusText": "",
                    "headers": [],
                    "content": {"size": 0, "mimeType": "x-unknown"},
                    "_error": "net::ERR_BLOCKED_BY_CLIENT",
                },
                "timings": {"send": 0, "wait": 0, "receive": 0},
            },
            {
                "startedDateTime": "2026-11-25T10:00:04.000Z",
                "time": 1,
                "request": {"method": "GET", "url": "/relative/path?x=1", "headers": []},
            },
        ],
    }
}


def test_har_reads_a_browser_export_as_it_is(tmp_path):
    path = tmp_path / "chrome.har"
    path.write_text("\ufeff" + json.dumps(BROWSER_HAR, indent=2), encoding="utf-8")  # some tools write a BOM
    fetch, upload, login, blocked, relative = read_har(path)

    request, response = fetch
    assert request == CapturedRequest(
        "GET",
        "/api/projects/p1/papertrail/board",
        "include=comments&q=a%20b",
        (("accept", "application/json"), ("cookie", "sv_session=abc123")),
        b"",
    )
    assert response == CapturedResponse(
        200,
        (("content-type", "application/json"), ("content-encoding", "gzip")),
        b'{"board":{"nodes":[]}}',
    )

    request, response = upload
    assert request.method == "POST" and request.path == "/api/projects/p1/papertrail/import"
    assert request.body.startswith(b"------WebKitB\r\n") and b'{"title":"B"}' in request.body
    assert response == CapturedResponse(
        302,
        (("Location", "/projects/p1/board"), ("Set-Cookie", "flash=1; Path=/\ntheme=dark; Path=/")),
        b"",
    )

    request, response = login
    assert request.method == "POST"
    assert request.body == b"email=ann%40example.com&next=%2Fa+b"
    assert request.headers[-1] == ("Cookie", "theme=dark")  # rebuilt from `cookies` when no Cookie header was kept
    assert response is not None and response.body == base64.b64decode("iVBORw0KGgo=")

    assert blocked[1] is None
    assert relative == (CapturedRequest("GET", "/relative/path", "x=1"), None)


def test_har_rebuilds_a_multipart_body_from_params():
    document = {
        "log": {
            "entries": [
                {
                    "request": {
                        "method": "POST",
                        "url": "http://h/upload",
                        "postData": {
                            "mimeType": "multipart/form-data; boundary=XX",
                            "params": [
                                {"name": "title", "value": "T"},
                                {"name": "file", "fileName": "a.txt", "contentType": "text/plain"},
                            ],
                        },
                    }
                }
            ]
        }
    }
    [(request, _)] = read_har(document)
    assert request.body == (
        b'--XX\r\nContent-Disposition: form-data; name="title"\r\n\r\nT\r\n'
        b'--XX\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\nContent-Type: text/plain\r\n\r\n\r\n'
        b"--XX--\r\n"
    )


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ({}, ["log: required field missing; a HAR 1.2 file from a browser or proxy has it"]),
        (
            {"log": {"entries": [{"request": {"method": "GET"}}]}},
            ["log.entries[0].request.url: required field missing; a HAR 1.2 file from a browser or proxy has it"],
        ),
        (
            {"log": {"entries": [{"request": {"method": "GET", "url": "/"}, "response": {"status": "OK"}}]}},
            [
                "log.entries[0].response.status: input should be a valid integer, unable to parse string as an "
                "integer, got 'OK'; see the HAR 1.2 format"
            ],
        ),
        (
            {
                "log": {
                    "entries": [
                        {
                            "request": {"method": "GET", "url": "/"},
                            "response": {"status": 200, "content": {"text": "!!", "encoding": "base64"}},
                        }
                    ]
                }
            },
            ["log.entries[0]: body is not valid base64 (Only base64 data is allowed); fix or drop the entry"],
        ),
    ],
    ids=["no-log", "no-url", "status-not-a-number", "bad-base64"],
)
def test_har_bad_document_names_the_entry_and_field(document, expected):
    with pytest.raises(HarError) as caught:
        read_har(document)
    assert caught.value.path == "(HAR document)"
    assert caught.value.problems == expected


def test_har_bad_files_name_the_file(tmp_path):
    with pytest.raises(HarError, match="not found"):
        read_har(tmp_path / "missing.har")
    broken = tmp_path / "broken.har"
    broken.write_text('{"log": ', encoding="utf-8")
    with pytest.raises(HarError) as caught:
        read_har(broken)
    assert caught.value.path == str(broken)
    assert caught.value.problems[0].startswith("(file): invalid JSON: ")
