"""`ctx.fetch`'s allow-list and client: the manifest's `access.fetch` entries, matching URLs against them, the
address checks, and real fetches against a local HTTP server (declared, undeclared, redirected, too large)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exthost.errors import ManifestError
from exthost.fetch import (
    FetchDenied,
    Fetcher,
    FetchFailed,
    FetchResponse,
    address_problem,
    allowed_hosts,
    matching_entry,
    parse_allowed_host,
    parse_target,
)
from exthost.manifest import parse_manifest
from tests.exthost.fetch_server import LocalServer
from tests.fixtures.plugins import manifest_for


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ("https://api.example.org", "not a URL (no scheme); use 'api.example.org'"),
        ("api.example.org/v1", "no path"),
        ("user@api.example.org", "no path, query, user"),
        ("API.example.org", "use 'api.example.org'"),
        ("api.example.org:0", "port must be 1-65535"),
        ("api.example.org:99999", "port must be 1-65535"),
        ("api.example.org:http", "port must be 1-65535"),
        ("*", "a wildcard is '*.'"),
        ("*.org", "two labels or more"),
        ("a.*.example.org", "a wildcard is '*.'"),
        ("-bad-.example.org", "must be a host name"),
        ("[::1", "in brackets"),
        ("[nothex]:80", "not an IPv6 address"),
        ("999.1.1.1", "neither a host name nor an IPv4 address"),
        ("", "is empty"),
        ("bücher.example", "IDNA form"),
        ("api.example.org:\uff18\uff10", "IDNA form"),  # full-width digits
    ],
)
def test_fetch_bad_allowed_hosts_are_refused_with_the_fix(entry, problem):
    assert parse_allowed_host(entry)[0] is None
    assert problem in str(parse_allowed_host(entry)[1])


@pytest.mark.parametrize(
    ("entry", "host", "wildcard", "port"),
    [
        ("api.example.org", "api.example.org", False, None),
        ("api.example.org:8443", "api.example.org", False, 8443),
        ("*.cdn.example.org", "cdn.example.org", True, None),
        ("127.0.0.1:8080", "127.0.0.1", False, 8080),
        ("[::1]:8080", "::1", False, 8080),
        ("localhost", "localhost", False, None),
    ],
)
def test_fetch_good_allowed_hosts_parse(entry, host, wildcard, port):
    parsed, problem = parse_allowed_host(entry)
    assert problem is None
    assert parsed is not None and (parsed.host, parsed.wildcard, parsed.port) == (host, wildcard, port)
    assert str(parsed) == entry


def test_fetch_manifest_access_errors_name_the_field_and_value():
    data = manifest_for("fetcher", access={"fetch": ["api.example.org", "https://x.example.org/"]})
    with pytest.raises(ManifestError) as caught:
        parse_manifest(data, "plugins/fetcher/plugin.json")
    text = str(caught.value)
    assert "access.fetch[1]" in text and "'https://x.example.org/'" in text and "use 'x.example.org'" in text
    twice = manifest_for("fetcher", access={"fetch": ["api.example.org", "api.example.org"]})
    with pytest.raises(ManifestError, match=r"access\.fetch: lists a name twice, got \['api\.example\.org'\]"):
        parse_manifest(twice, "plugins/fetcher/plugin.json")
    with pytest.raises(ManifestError, match=r"access.*unknown field"):
        parse_manifest(manifest_for("fetcher", access={"fetches": []}), "plugins/fetcher/plugin.json")
    assert parse_manifest(manifest_for("fetcher"), "p").access.fetch == []


label = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?", fullmatch=True)
hostname = st.lists(label, min_size=2, max_size=4).map(".".join).filter(lambda h: not h.split(".")[-1].isdigit())


@given(host=hostname, port=st.none() | st.integers(1, 65535), wildcard=st.booleans())
def test_fetch_every_valid_entry_parses_back_to_itself(host, port, wildcard):
    entry = ("*." if wildcard else "") + host + ("" if port is None else f":{port}")
    parsed, problem = parse_allowed_host(entry)
    assert problem is None, problem
    assert str(parsed) == entry


@given(host=hostname, sub=label, scheme=st.sampled_from(["http", "https"]), port=st.none() | st.integers(1, 65535))
def test_fetch_matching_follows_host_wildcard_and_port(host, sub, scheme, port):
    url = f"{scheme}://{host}" + ("" if port is None else f":{port}") + "/x"
    default = {"http": 80, "https": 443}[scheme]
    exact = allowed_hosts([host])
    target = parse_target("p", url)
    # An entry without a port allows the scheme's default port only.
    assert (matching_entry(exact, target) is not None) == (port in (None, default))
    # A wildcard allows subdomains, never the domain itself.
    assert matching_entry(allowed_hosts([f"*.{host}"]), target) is None
    sub_target = parse_target("p", f"{scheme}://{sub}.{host}/x")
    assert matching_entry(allowed_hosts([f"*.{host}"]), sub_target) is not None
    assert matching_entry(allowed_hosts([f"{host}:{default}"]), sub_target) is None
    # A look-alike host is another host.
    assert matching_entry(exact, parse_target("p", f"{scheme}://{host}.evil.example/")) is None


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://api.example.org/file", "scheme 'ftp' is not allowed"),
        ("file:///etc/passwd", "scheme 'file' is not allowed"),
        ("http://user:pw@api.example.org/", "user info"),
        ("/relative", "scheme '' is not allowed"),
        ("http:///nohost", "names no host"),
        ("http://api.example.org:99999/", "cannot be read"),
    ],
)
def test_fetch_urls_other_than_http_are_denied(url, reason):
    with pytest.raises(FetchDenied, match=reason):
        parse_target("p", url)


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("192.168.0.1", False),
        ("172.16.0.1", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),
        ("0.0.0.0", False),
        ("::1", False),
        ("fe80::1", False),
        ("fd00::1", False),
        ("::ffff:127.0.0.1", False),
        ("224.0.0.1", False),
        ("93.184.215.14", True),
        ("2606:4700::1111", True),
    ],
)
def test_fetch_address_problem_knows_non_public_addresses(address, public):
    assert (address_problem(address) is None) == public


@pytest.fixture
def server() -> Any:
    with LocalServer() as running:
        yield running


def fetcher_for(server: LocalServer, *extra: str, **kwargs: Any) -> Fetcher:
    options = {"timeout": 5.0, "max_bytes": 4096, **kwargs}
    return Fetcher("fetcher", [f"127.0.0.1:{server.port}", *extra], **options)


def test_fetch_a_declared_host_answers(server):
    answer = fetcher_for(server).fetch("POST", f"{server.url}/echo?x=1", headers={"X-Note": "hi"}, body=b"data")
    assert isinstance(answer, FetchResponse)
    assert answer.status == 200 and answer.ok
    assert answer.json() == {"method": "POST", "path": "/echo?x=1", "body": "data", "note": "hi"}
    assert answer.header("content-type") == "application/json"
    with pytest.raises(AttributeError):
        answer.status = 500  # type: ignore[misc]
    missing = fetcher_for(server).fetch("GET", f"{server.url}/missing")
    assert missing.status == 404 and not missing.ok


def test_fetch_an_undeclared_host_is_denied_before_any_connection(server):
    fetcher = Fetcher("fetcher", ["api.example.org"], timeout=5.0, max_bytes=4096)
    with pytest.raises(FetchDenied) as caught:
        fetcher.fetch("GET", f"{server.url}/echo")
    denied = caught.value
    assert (denied.plugin, denied.host, denied.key) == ("fetcher", f"127.0.0.1:{server.port}", "access.fetch")
    assert f"add '127.0.0.1:{server.port}' to access.fetch in its plugin.json" in str(denied)
    assert server.requests == []


def test_fetch_a_redirect_to_an_undeclared_host_is_refused(server):
    # localhost reaches the same server, but only 127.0.0.1:<port> is declared.
    with pytest.raises(FetchDenied, match=f"'localhost:{server.port}' is not in access.fetch"):
        fetcher_for(server).fetch("GET", f"{server.url}/redirect?to=http://localhost:{server.port}/echo")
    assert server.requests == [f"/redirect?to=http://localhost:{server.port}/echo"]
    # Within the declared host a redirect is followed; not following it returns the 3xx itself.
    inside = fetcher_for(server).fetch("GET", f"{server.url}/redirect?to=/echo")
    assert inside.status == 200 and inside.json()["path"] == "/echo"
    kept = fetcher_for(server).fetch("GET", f"{server.url}/redirect?to=/echo", follow_redirects=False)
    assert kept.status == 302 and kept.header("location") == "/echo"


def test_fetch_a_wildcard_never_reaches_a_private_address(server):
    # A name under a declared wildcard that resolves to loopback (a DNS answer the plugin's author controls).
    fetcher = Fetcher(
        "fetcher",
        [f"*.example.org:{server.port}"],
        timeout=5.0,
        max_bytes=4096,
        resolver=lambda host, port: ["127.0.0.1"],
    )
    with pytest.raises(FetchDenied, match=r"127\.0\.0\.1 is a loopback address.*name the exact host"):
        fetcher.fetch("GET", f"http://evil.example.org:{server.port}/echo")
    assert server.requests == []


def test_fetch_connects_to_the_address_it_checked(server):
    # The exact host is declared; the resolver's answer is the address used (no second lookup to race).
    fetcher = Fetcher(
        "fetcher",
        [f"pinned.example.org:{server.port}"],
        timeout=5.0,
        max_bytes=4096,
        resolver=lambda host, port: ["127.0.0.1"],
    )
    answer = fetcher.fetch("GET", f"http://pinned.example.org:{server.port}/echo")
    assert answer.status == 200
    assert server.hosts[-1] == f"pinned.example.org:{server.port}"


def test_fetch_an_answer_larger_than_the_cap_fails(server):
    with pytest.raises(FetchFailed, match="larger than 4096 bytes"):
        fetcher_for(server).fetch("GET", f"{server.url}/big?size=5000")
    with pytest.raises(FetchFailed, match="larger than 4096 bytes"):
        fetcher_for(server).fetch("GET", f"{server.url}/big?size=5000&chunked=1")
    assert len(fetcher_for(server).fetch("GET", f"{server.url}/big?size=4096").body) == 4096


def test_fetch_a_slow_answer_fails_at_the_timeout(server):
    with pytest.raises(FetchFailed, match=r"timed out|past 1 s"):
        fetcher_for(server, timeout=1.0).fetch("GET", f"{server.url}/slow")


def test_fetch_nothing_listening_is_a_fetch_failed():
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(FetchFailed, match="failed"):
        Fetcher("p", [f"127.0.0.1:{port}"], timeout=5.0, max_bytes=4096).fetch("GET", f"http://127.0.0.1:{port}/")


def test_fetch_a_header_that_would_split_the_request_fails_before_sending(server):
    with pytest.raises(FetchFailed, match="cannot send the request"):
        fetcher_for(server).fetch("GET", f"{server.url}/echo", headers={"X-Note": "a\r\nInjected: 1"})
    assert server.requests == []


def test_fetch_redirects_are_bounded_and_change_method_as_browsers_do(server):
    with pytest.raises(FetchFailed, match="more than 5 redirects"):
        fetcher_for(server).fetch("GET", f"{server.url}/loop")
    assert server.requests.count("/loop") == 6
    after_303 = fetcher_for(server).fetch("POST", f"{server.url}/redirect?code=303&to=/echo", body=b"form")
    assert after_303.json()["method"] == "GET" and after_303.json()["body"] == ""
    after_307 = fetcher_for(server).fetch("POST", f"{server.url}/redirect?code=307&to=/echo", body=b"form")
    assert after_307.json()["method"] == "POST" and after_307.json()["body"] == "form"


def test_fetch_credentials_stay_with_the_host_they_were_meant_for(server):
    both = fetcher_for(server, f"localhost:{server.port}")
    same = both.fetch("GET", f"{server.url}/redirect?to=/echo", headers={"Authorization": "Bearer t"})
    assert same.json()["auth"] == "Bearer t"
    elsewhere = f"http://localhost:{server.port}/echo"
    moved = both.fetch("GET", f"{server.url}/redirect?to={elsewhere}", headers={"Authorization": "Bearer t"})
    assert moved.url == elsewhere
    assert "auth" not in moved.json()


@given(address=st.ip_addresses(), exact=st.booleans())
def test_fetch_a_wildcard_reaches_public_addresses_only_and_an_exact_host_any(address, exact):
    fetcher = Fetcher(
        "p",
        ["api.example.org" if exact else "*.example.org"],
        timeout=1.0,
        max_bytes=1024,
        resolver=lambda host, port: [str(address)],
    )
    target = parse_target("p", "https://api.example.org/")
    try:
        chosen = fetcher._check(target)
    except FetchDenied:
        assert not exact and address_problem(str(address)) is not None
    else:
        assert chosen == str(address)
        assert exact or address_problem(str(address)) is None
