"""Outbound HTTP for plugins (`ctx.fetch`): the manifest's `access.fetch` allow-list, the address checks against
server-side request forgery, and the one client that performs a fetch (urllib3), in whichever process enforces it.

The decisions (`parse_allowed_host`, `parse_target`, `matching_entry`, `address_problem`) are pure functions; the
`Fetcher` does the I/O. In inline mode a plugin's `ctx.fetch` runs a `Fetcher` in the serving process; in process
isolation the worker sends the call to the host (`exthost.sandbox.fetchgate`), which runs the `Fetcher` built from
the manifest it loaded itself, so the worker's word about what it may reach counts for nothing.
"""

from __future__ import annotations

import ipaddress
import json as jsonlib
import logging
import socket
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

from exthost.errors import ExtHostError

log = logging.getLogger("sovereign.fetch")

ACCESS_KEY = "access.fetch"
SCHEMES = {"http": 80, "https": 443}
REDIRECTS = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 5
CHUNK = 64 * 1024
# Headers the fetch sets itself: the plugin cannot aim the request elsewhere (Host) or desynchronise the framing.
OWN_HEADERS = frozenset({"host", "content-length", "transfer-encoding", "connection", "te", "upgrade", "trailer"})
# Dropped when a redirect leaves the host: credentials meant for the first one.
CREDENTIAL_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization"})


class FetchError(ExtHostError):
    """A `ctx.fetch` that did not get an answer: denied by the allow-list (FetchDenied) or failed (FetchFailed)."""


class FetchDenied(FetchError):
    """The URL (or a redirect's) is not one the plugin's manifest allows: names the plugin, the host and the key."""

    def __init__(self, plugin: str, host: str, reason: str, fix: str, *, message: str | None = None):
        self.plugin = plugin
        self.host = host
        self.key = ACCESS_KEY
        self.reason = reason
        super().__init__(message or f"plugin {plugin!r} may not fetch {host!r}: {reason}; {fix}")


class FetchFailed(FetchError):
    """An allowed fetch that failed: no connection, a timeout, an answer too large, too many redirects."""


@dataclass(frozen=True)
class AllowedHost:
    """One `access.fetch` entry: `host` (lower case, brackets stripped), whether it is a `*.` wildcard, the port."""

    host: str
    wildcard: bool
    port: int | None

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return ("*." if self.wildcard else "") + host + ("" if self.port is None else f":{self.port}")


def parse_allowed_host(value: str) -> tuple[AllowedHost | None, str | None]:
    """An `access.fetch` entry and None, or None and what is wrong with it (with the fix)."""
    if not value:
        return None, "is empty; e.g. 'api.example.org'"
    if "://" in value:
        bare = value.split("://", 1)[1].split("/", 1)[0]
        return None, f"must be a host, not a URL (no scheme); use {bare!r}"
    if any(c in value for c in "/?#@ \t"):
        bare = value.split("/", 1)[0].split("?", 1)[0].split("@")[-1].strip()
        return None, f"must be a host or host:port (no path, query, user or spaces); use {bare!r}"
    if value != value.lower():
        return None, f"must be lower case; use {value.lower()!r}"
    if not value.isascii():
        return None, "must be ASCII; write an international name in its IDNA form ('xn--...')"
    host, port = value, None
    if value.startswith("["):
        end = value.find("]")
        host, rest = value[1:end], value[end + 1 :]
        if end < 0 or (rest and not rest.startswith(":")):
            return None, "an IPv6 address goes in brackets, e.g. '[2001:db8::1]:8443'"
        port_text = rest[1:] if rest else None
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            return None, f"{host!r} is not an IPv6 address"
    else:
        host, colon, port_text_found = value.rpartition(":")
        if not colon:
            host, port_text = value, None
        else:
            port_text = port_text_found
    if port_text is not None:
        if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
            return None, f"port must be 1-65535, got {port_text!r}"
        port = int(port_text)
    wildcard = host.startswith("*.")
    name = host[2:] if wildcard else host
    if ":" in name:  # an IPv6 literal, checked above
        return AllowedHost(name, False, port), None
    if "*" in name or not name:
        return None, "a wildcard is '*.' before a domain of two labels or more, e.g. '*.example.org'"
    labels = name.split(".")
    if len(name) > 253 or not all(_label_ok(label) for label in labels):
        return None, "must be a host name (labels of a-z, 0-9, '-', dots between) or an IP address"
    if wildcard and (len(labels) < 2 or _is_ip(name)):
        return None, "a wildcard needs a domain of two labels or more after '*.', e.g. '*.example.org'"
    if labels[-1].isdigit() and not _is_ip(name):
        return None, f"{name!r} is neither a host name nor an IPv4 address"
    return AllowedHost(name, wildcard, port), None


def _label_ok(label: str) -> bool:
    return 0 < len(label) <= 63 and label[0] != "-" and label[-1] != "-" and all(c.isalnum() or c == "-" for c in label)


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def allowed_hosts(entries: Sequence[str]) -> tuple[AllowedHost, ...]:
    """The manifest's validated `access.fetch` entries, parsed."""
    parsed = [parse_allowed_host(entry)[0] for entry in entries]
    return tuple(entry for entry in parsed if entry is not None)


@dataclass(frozen=True)
class Target:
    """Where a URL points: scheme, host (lower case, no brackets), port (the scheme's when absent), path and query."""

    scheme: str
    host: str
    port: int
    explicit_port: bool
    path: str

    @property
    def authority(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if not self.explicit_port else f"{host}:{self.port}"


def parse_target(plugin: str, url: str) -> Target:
    """The URL's parts; FetchDenied for a scheme other than http(s), user info, or no host."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise FetchDenied(plugin, url, f"the URL cannot be read ({exc})", "pass an absolute http(s) URL") from None
    scheme = parts.scheme.lower()
    host = parts.hostname or ""
    if scheme not in SCHEMES:
        raise FetchDenied(plugin, host or url, f"scheme {parts.scheme!r} is not allowed", "use http:// or https://")
    if not host:
        raise FetchDenied(plugin, url, "the URL names no host", "pass an absolute URL, e.g. 'https://api.example.org/'")
    if parts.username is not None or parts.password is not None:
        raise FetchDenied(plugin, host, "user info in the URL is refused", "send credentials in a header instead")
    if not host.isascii():
        raise FetchDenied(plugin, host, "the host is not ASCII", "use its IDNA form (xn--...), in the manifest too")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(scheme, host, port if port is not None else SCHEMES[scheme], port is not None, path)


def matching_entry(entries: Sequence[AllowedHost], target: Target) -> AllowedHost | None:
    """The first entry allowing `target`: same host (or a subdomain, for a wildcard) and the entry's port, or the
    scheme's default port when the entry names none."""
    for entry in entries:
        host_ok = (
            target.host.endswith("." + entry.host) if entry.wildcard else target.host == _canonical_host(entry.host)
        )
        port_ok = target.port == entry.port if entry.port is not None else target.port == SCHEMES[target.scheme]
        if host_ok and port_ok:
            return entry
    return None


def _canonical_host(host: str) -> str:
    # An IPv6 entry and an IPv6 URL may spell one address differently ('::1' and '0:0::1').
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return host


def address_problem(address: str) -> str | None:
    """Why an address is not a public one (loopback, private, link-local, shared, reserved, multicast, unspecified),
    or None. IPv4 addresses mapped into IPv6 are judged as IPv4."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_multicast:
        return f"{ip} is a multicast address"
    if not ip.is_global:
        kind = "loopback" if ip.is_loopback else "link-local" if ip.is_link_local else "private or reserved"
        return f"{ip} is a {kind} address"
    return None


@dataclass(frozen=True)
class FetchResponse:
    """An answer to `ctx.fetch`: status, headers (in order, as sent), the whole body and the final URL."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes
    url: str

    def header(self, name: str) -> str | None:
        """The first header called `name` (any case), or None."""
        wanted = name.lower()
        return next((value for key, value in self.headers if key.lower() == wanted), None)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def text(self) -> str:
        """The body decoded as UTF-8 (undecodable bytes replaced)."""
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The body parsed as JSON (ValueError when it is not JSON)."""
        return jsonlib.loads(self.body)

    def to_wire(self) -> dict[str, Any]:
        import base64

        return {
            "status": self.status,
            "headers": [list(pair) for pair in self.headers],
            "body": base64.b64encode(self.body).decode(),
            "url": self.url,
        }

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> FetchResponse:
        import base64

        return cls(
            status=int(data["status"]),
            headers=tuple((str(k), str(v)) for k, v in data["headers"]),
            body=base64.b64decode(data["body"]),
            url=str(data["url"]),
        )


Resolver = Callable[[str, int], list[str]]


def system_resolver(host: str, port: int) -> list[str]:
    """Every address `host` resolves to (the system's resolver: /etc/hosts, then DNS)."""
    return [str(info[4][0]) for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)]


class Fetcher:
    """Performs one plugin's fetches under its allow-list (see the module docstring)."""

    def __init__(
        self,
        plugin: str,
        entries: Sequence[str],
        *,
        timeout: float,
        max_bytes: int,
        resolver: Resolver = system_resolver,
    ):
        self.plugin = plugin
        self.entries = allowed_hosts(entries)
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.resolver = resolver

    def fetch(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
        follow_redirects: bool = True,
    ) -> FetchResponse:
        """Send one request; follow up to MAX_REDIRECTS redirects, each checked like the first URL."""
        method = _method(method)
        sent = {str(k): str(v) for k, v in (headers or {}).items() if str(k).lower() not in OWN_HEADERS}
        deadline = time.monotonic() + self.timeout
        for _ in range(MAX_REDIRECTS + 1):
            target = parse_target(self.plugin, url)
            address = self._check(target)
            answer = self._send(target, address, method, sent, body, deadline)
            location = answer.header("location")
            if not follow_redirects or answer.status not in REDIRECTS or not location:
                return answer
            following = urljoin(url, location)
            if answer.status == 303 or (answer.status in (301, 302) and method == "POST"):
                method, body = ("GET" if method != "HEAD" else "HEAD"), None
            if parse_target(self.plugin, following).host != target.host:
                sent = {k: v for k, v in sent.items() if k.lower() not in CREDENTIAL_HEADERS}
            url = following
        raise FetchFailed(f"plugin {self.plugin!r}: more than {MAX_REDIRECTS} redirects fetching {url!r}")

    def _check(self, target: Target) -> str:
        """The address to connect to: the URL must match an entry, and every address its host resolves to must be
        public unless the entry names that exact host (no wildcard). Connecting to the address checked here, not
        resolving again, is what keeps a second DNS answer from pointing the request elsewhere."""
        entry = matching_entry(self.entries, target)
        if entry is None:
            raise self._denied(target, f"{target.authority!r} is not in {ACCESS_KEY}", f"add {target.authority!r}")
        try:
            addresses = [target.host] if _is_ip(target.host) else self.resolver(target.host, target.port)
        except OSError as exc:
            raise FetchFailed(f"plugin {self.plugin!r}: cannot resolve {target.host!r}: {exc}") from None
        if not addresses:
            raise FetchFailed(f"plugin {self.plugin!r}: {target.host!r} resolves to no address")
        if entry.wildcard:
            for address in addresses:
                problem = address_problem(address)
                if problem is not None:
                    raise self._denied(
                        target,
                        f"{target.host!r} resolves to {problem}, and {str(entry)!r} is a wildcard",
                        f"name the exact host {target.authority!r} to allow a non-public address",
                    )
        return addresses[0]

    def _denied(self, target: Target, reason: str, fix: str) -> FetchDenied:
        denied = FetchDenied(self.plugin, target.authority, reason, f"{fix} to {ACCESS_KEY} in its plugin.json")
        log.warning("%s", denied)
        return denied

    def _send(
        self,
        target: Target,
        address: str,
        method: str,
        headers: dict[str, str],
        body: bytes | None,
        deadline: float,
    ) -> FetchResponse:
        import urllib3

        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise FetchFailed(f"plugin {self.plugin!r}: no answer within {self.timeout:g} s")
        timeout = urllib3.Timeout(connect=remaining, read=remaining)
        pool: urllib3.HTTPConnectionPool
        if target.scheme == "https":
            pool = urllib3.HTTPSConnectionPool(
                address,
                target.port,
                timeout=timeout,
                retries=False,
                maxsize=1,
                server_hostname=target.host,
                assert_hostname=target.host,
                cert_reqs="CERT_REQUIRED",
            )
        else:
            pool = urllib3.HTTPConnectionPool(address, target.port, timeout=timeout, retries=False, maxsize=1)
        url = f"{target.scheme}://{target.authority}{target.path}"
        try:
            with pool:
                response = pool.urlopen(
                    method,
                    target.path,
                    body=body,
                    headers={**headers, "Host": target.authority},
                    redirect=False,
                    retries=False,
                    preload_content=False,
                    assert_same_host=False,
                )
                try:
                    declared = response.headers.get("content-length")
                    if declared and declared.isdigit() and int(declared) > self.max_bytes:
                        raise self._too_large(url)
                    chunks: list[bytes] = []
                    size = 0
                    while True:
                        if time.monotonic() > deadline:
                            raise FetchFailed(f"plugin {self.plugin!r}: {url!r} answered past {self.timeout:g} s")
                        chunk = response.read(CHUNK)
                        if not chunk:
                            break
                        size += len(chunk)
                        if size > self.max_bytes:
                            raise self._too_large(url)
                        chunks.append(chunk)
                finally:
                    response.release_conn()
                    response.close()
        except urllib3.exceptions.HTTPError as exc:
            raise FetchFailed(f"plugin {self.plugin!r}: fetching {url!r} failed: {type(exc).__name__}: {exc}") from None
        except OSError as exc:
            raise FetchFailed(f"plugin {self.plugin!r}: fetching {url!r} failed: {exc}") from None
        except ValueError as exc:  # http.client refuses control characters in the target or a header
            raise FetchFailed(f"plugin {self.plugin!r}: cannot send the request to {url!r}: {exc}") from None
        return FetchResponse(
            status=response.status,
            headers=tuple((str(k), str(v)) for k, v in response.headers.items()),
            body=b"".join(chunks),
            url=url,
        )

    def _too_large(self, url: str) -> FetchFailed:
        return FetchFailed(f"plugin {self.plugin!r}: the answer of {url!r} is larger than {self.max_bytes} bytes")


def _method(method: str) -> str:
    upper = str(method).upper()
    if not upper.isascii() or not upper.isalpha():
        raise FetchFailed(f"not an HTTP method: {method!r}")
    return upper


def error_to_wire(error: FetchError) -> dict[str, Any]:
    """A fetch error as plain data, for the worker to raise again."""
    if isinstance(error, FetchDenied):
        return {
            "type": "FetchDenied",
            "plugin": error.plugin,
            "host": error.host,
            "reason": error.reason,
            "message": str(error),
        }
    return {"type": "FetchFailed", "message": str(error)}


def error_from_wire(data: Mapping[str, Any]) -> FetchError:
    message = str(data.get("message", "fetch failed"))
    if data.get("type") == "FetchDenied":
        return FetchDenied(str(data["plugin"]), str(data["host"]), str(data.get("reason", "")), "", message=message)
    return FetchFailed(message)
