"""Outbound HTTP of a plugin, inline and sandboxed: `ctx.fetch` reaches the hosts its manifest declares (a local
server on 127.0.0.1), and for each misbehaviour (an undeclared host, a redirect to one, a raw socket) the caller's
answer, the reason logged, the accounting, and legacy and a good plugin still serving."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from exthost.platform import Platform
from exthost.sandbox.confine import NETWORK_ABI, landlock_abi, seccomp_available
from legacy_core import Settings
from tests.exthost.fetch_server import LocalServer
from tests.exthost.sandbox_plugins import FETCH_CODE, fetch_manifest
from tests.fixtures.plugins import write_plugin

MODES = ["inline", "process"]
needs_network_rules = pytest.mark.skipif(
    landlock_abi() < NETWORK_ABI,
    reason=f"Landlock ABI {landlock_abi()} has no network rules (needs {NETWORK_ABI}): sandboxed TCP is not confined",
)


@pytest.fixture
def server() -> Iterator[LocalServer]:
    with LocalServer() as running:
        yield running
        running.release.set()


@pytest.fixture
def fetching(
    settings_factory: Callable[..., Settings], platform_factory: Callable[..., Platform], server: LocalServer
) -> Callable[..., tuple[Platform, Any, list[tuple[str, str]]]]:
    """A platform serving hello and the fetcher plugin (inline or sandboxed); the errors its host counted."""

    def build(isolation: str, **overrides: Any) -> tuple[Platform, Any, list[tuple[str, str]]]:
        settings = settings_factory(PLUGIN_ENTRY_POINTS=False, PLUGIN_POLL_SECONDS=0, **overrides)
        write_plugin(settings.PLUGINS_DIR, "hello")
        write_plugin(settings.PLUGINS_DIR, "fetcher", FETCH_CODE, manifest=fetch_manifest(server.port))
        database = Path(settings.DATABASE_URL.removeprefix("sqlite:///"))
        (database.parent / "db").mkdir()
        moved = database.rename(database.parent / "db" / database.name)
        values = {**settings.model_dump(), "PLUGIN_ISOLATION": isolation, "DATABASE_URL": f"sqlite:///{moved}"}
        platform = platform_factory(Settings(_env_file=None, **values))  # type: ignore[call-arg]
        platform.host.enable("hello")
        platform.host.enable("fetcher")
        errors: list[tuple[str, str]] = []
        platform.host.error_listeners.append(lambda plugin, kind: errors.append((plugin, kind)))
        return platform, platform.test_client(), errors

    return build


def assert_still_serving(client: Any) -> None:
    assert client.get("/health").status_code == 200
    greet = client.get("/api/hello/greet")
    assert greet.status_code == 200, greet.data
    assert greet.get_json()["greeting"] == "hello"


def sandbox_events(platform: Platform) -> dict[str, int]:
    return platform.host.describe(platform.host.get("fetcher"))["sandbox"]["events"]


def charged_kind(isolation: str) -> str:
    # An unhandled error is the plugin's: counted where it ran (inline: the handler; sandboxed: its worker).
    return "handler" if isolation == "inline" else "worker"


@pytest.mark.parametrize("isolation", MODES)
def test_fetch_a_declared_host_answers_the_plugin(fetching, server, isolation):
    platform, client, errors = fetching(isolation)
    answer = client.get("/api/fetcher/declared")
    assert answer.status_code == 200, answer.data
    assert answer.get_json() == {
        "status": 200,
        "echo": {"method": "POST", "path": "/echo", "body": '{"n": 1}', "note": "from the plugin"},
    }
    assert server.hosts == [f"127.0.0.1:{server.port}"]
    assert errors == []
    if isolation == "process":
        assert platform.host.describe(platform.host.get("fetcher"))["sandbox"]["fetches"] == 1  # the host made it
    assert_still_serving(client)


@pytest.mark.parametrize("isolation", MODES)
def test_fetch_an_undeclared_host_is_a_500_logged_with_the_fix_and_counted(fetching, server, isolation, caplog):
    platform, client, errors = fetching(isolation)
    with caplog.at_level(logging.WARNING, logger="sovereign.fetch"):
        answer = client.get("/api/fetcher/undeclared", headers={"X-Request-Id": "req_undeclared"})
    assert answer.status_code == 500
    assert answer.get_json() == {"error": "Internal server error", "requestId": "req_undeclared"}
    # The reason is in the host's log (in process isolation the host performed the check, not the worker).
    assert f"plugin 'fetcher' may not fetch 'localhost:{server.port}'" in caplog.text
    assert f"add 'localhost:{server.port}' to access.fetch in its plugin.json" in caplog.text
    assert server.requests == []  # nothing reached the server
    assert errors == [("fetcher", charged_kind(isolation))]
    if isolation == "process":
        assert sandbox_events(platform) == {"fetchDenied": 1, "raised": 1}
    assert_still_serving(client)


@pytest.mark.parametrize("isolation", MODES)
def test_fetch_a_plugin_may_catch_fetch_denied_and_answer_itself(fetching, server, isolation):
    _platform, client, errors = fetching(isolation)
    answer = client.get("/api/fetcher/caught")
    assert answer.status_code == 403
    data = answer.get_json()
    assert data["host"] == f"localhost:{server.port}" and data["key"] == "access.fetch"
    assert "is not in access.fetch" in data["message"]
    assert errors == []  # handled by the plugin: no error of its own
    assert_still_serving(client)


@pytest.mark.parametrize("isolation", MODES)
def test_fetch_a_redirect_to_an_undeclared_host_is_refused(fetching, server, isolation):
    platform, client, errors = fetching(isolation)
    answer = client.get("/api/fetcher/redirect")
    assert answer.status_code == 500
    assert server.requests == [f"/redirect?to=http://localhost:{server.port}/echo"]  # the redirect was not followed
    assert errors == [("fetcher", charged_kind(isolation))]
    if isolation == "process":
        assert sandbox_events(platform)["fetchDenied"] == 1
    assert_still_serving(client)


@pytest.mark.parametrize("isolation", MODES)
def test_fetch_in_flight_holds_no_other_plugin_or_legacy(fetching, server, isolation):
    _platform, client, _errors = fetching(isolation)
    answers: list[Any] = []
    held = threading.Thread(target=lambda: answers.append(client.application.test_client().get("/api/fetcher/hold")))
    held.start()
    try:
        while "/hold" not in server.requests and held.is_alive():
            threading.Event().wait(0.01)
        assert "/hold" in server.requests  # the fetch is waiting on the server now
        assert_still_serving(client)
        assert held.is_alive()
    finally:
        server.release.set()
        held.join(60)
    assert answers[0].status_code == 200 and answers[0].get_json() == {"body": "released"}


@needs_network_rules
def test_fetch_a_sandboxed_raw_socket_to_an_undeclared_port_is_refused(fetching, server):
    platform, client, _errors = fetching("process")
    answer = client.get("/api/fetcher/raw")
    assert answer.status_code == 200
    assert answer.get_json() == {"raw": "refused:PermissionError"}
    assert server.requests == []
    assert "TCP connect only" not in platform.host.describe(platform.host.get("fetcher"))["sandbox"]["network"]
    assert "no TCP connect" in platform.host.describe(platform.host.get("fetcher"))["sandbox"]["network"]
    # ctx.fetch to the same server still works: the host performs it.
    assert client.get("/api/fetcher/declared").status_code == 200
    assert_still_serving(client)


needs_seccomp = pytest.mark.skipif(not seccomp_available(), reason="no seccomp: UDP is not confined")


@needs_seccomp
@pytest.mark.parametrize("isolation", MODES)
def test_udp_datagrams_raw_and_packet_sockets_of_a_sandboxed_plugin_are_refused(fetching, isolation):
    """No way out past ctx.fetch over UDP (DNS tunnels, QUIC) or raw sockets from a worker; inline nothing stops the
    datagram (as docs/plugin-sdk.md says)."""
    import errno
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.settimeout(0.5)
        port = listener.getsockname()[1]
        platform, client, _errors = fetching(isolation)
        refused = {"datagram": f"refused:PermissionError:{errno.EACCES}"}  # the filter's EACCES, not the kernel's EPERM
        for kind in ("udp", "udp-high-bits"):
            sent = client.get(f"/api/fetcher/datagram?kind={kind}&port={port}").get_json()
            if isolation == "inline":
                assert sent == {"datagram": "sent"}
                assert listener.recv(64) == b"exfiltrated"
                continue
            assert sent == refused, kind
            with pytest.raises(TimeoutError):
                listener.recv(64)
    if isolation == "inline":
        return
    for kind in ("udp6", "raw", "packet", "mptcp", "inet-packet"):
        assert client.get(f"/api/fetcher/datagram?kind={kind}").get_json() == refused, kind
    network = platform.host.describe(platform.host.get("fetcher"))["sandbox"]["network"]
    assert "no UDP" in network and "no other socket kind" in network
    # TCP through ctx.fetch and the database still work.
    assert client.get("/api/fetcher/declared").status_code == 200
    assert client.get("/api/fetcher/db").get_json() == {"one": 1}
    assert_still_serving(client)


def test_fetch_inline_a_raw_socket_is_not_stopped(fetching, server):
    # What docs/plugin-sdk.md says: inline there is no network confinement at all.
    _platform, client, _errors = fetching("inline")
    assert client.get("/api/fetcher/raw").get_json() == {"raw": "connected"}


@pytest.mark.postgres
@needs_network_rules
def test_fetch_sandboxed_on_postgresql_the_database_port_alone_stays_open(
    settings_factory: Callable[..., Settings],
    platform_factory: Callable[..., Platform],
    postgres_url: str,
    server: LocalServer,
) -> None:
    from sqlalchemy.engine import make_url

    from exthost.deploy import migrate_plugins
    from legacy_core.db import make_engine
    from legacy_core.migrate import upgrade

    plugins = settings_factory().PLUGINS_DIR
    write_plugin(plugins, "hello")
    write_plugin(plugins, "fetcher", FETCH_CODE, manifest=fetch_manifest(server.port))
    # The database by host name, as a compose file names it: the confined worker must resolve it.
    by_name = make_url(postgres_url).set(host="localhost").render_as_string(hide_password=False)
    settings = settings_factory(
        DATABASE_URL=by_name,
        PLUGINS_DIR=plugins,
        PLUGIN_ENTRY_POINTS=False,
        PLUGIN_POLL_SECONDS=0,
        PLUGIN_ISOLATION="process",
    )
    # `sv migrate:deploy`: the core, the registry, and each plugin's role, which its workers log in as.
    engine = make_engine(postgres_url)
    upgrade(engine)
    migrate_plugins(settings, engine, ())
    engine.dispose()
    platform = platform_factory(settings)
    platform.host.enable("hello")
    platform.host.enable("fetcher")
    client = platform.test_client()
    database_port = make_url(postgres_url).port or 5432
    assert client.get("/api/fetcher/db").get_json() == {"one": 1}
    assert client.get("/api/fetcher/raw").get_json() == {"raw": "refused:PermissionError"}
    # Landlock rules are by port: the database's port is open on any address (docs/plugin-sdk.md says so).
    assert client.get(f"/api/fetcher/raw?port={database_port}").get_json() == {"raw": "connected"}
    network = platform.host.describe(platform.host.get("fetcher"))["sandbox"]["network"]
    assert f"TCP connect only to port {database_port}" in network
    # The worker (no UDP, so no DNS) was handed the address the serving process reached for "localhost".
    worker_url = make_url(platform.host.sandbox.pools["fetcher"].spec["settings"]["DATABASE_URL"])
    assert worker_url.host == "localhost" and worker_url.query["hostaddr"] in ("127.0.0.1", "::1")
    assert client.get("/api/fetcher/declared").status_code == 200
    assert_still_serving(client)


def test_fetch_gate_answers_only_its_pool_and_carries_denials_whole(server, tmp_path):
    from exthost.fetch import FetchDenied, Fetcher, FetchFailed
    from exthost.sandbox.fetchgate import FetchGate, RemoteFetcher
    from exthost.sandbox.limits import SandboxLimits

    limits = SandboxLimits(
        deadline_seconds=30, memory_mb=512, cpu_seconds=60, open_files=64, workers=1, concurrency=1, max_requests=0
    )
    events: list[tuple[str, str]] = []
    fetcher = Fetcher("fetcher", [f"127.0.0.1:{server.port}"], timeout=5.0, max_bytes=4096)
    gate = FetchGate(tmp_path / "fetcher.fetch", fetcher, limits, lambda kind, why: events.append((kind, why)))
    gate.start()
    try:
        path = str(gate.path)
        mine = RemoteFetcher(path, gate.token, timeout=5.0)
        assert mine.fetch("GET", f"{server.url}/echo").json()["path"] == "/echo"
        # Another plugin's worker can reach the socket, but without this pool's token it gets nothing fetched.
        with pytest.raises(FetchFailed, match="refused the fetch"):
            RemoteFetcher(path, "another pool's token", timeout=5.0).fetch("GET", f"{server.url}/echo?other")
        assert server.requests == ["/echo"]
        with pytest.raises(FetchDenied) as caught:
            mine.fetch("GET", f"http://localhost:{server.port}/echo")
        denied = caught.value
        assert (denied.plugin, denied.host, denied.key) == ("fetcher", f"localhost:{server.port}", "access.fetch")
        assert "is not in access.fetch" in denied.reason
        assert f"add 'localhost:{server.port}' to access.fetch" in str(denied)
        assert [kind for kind, _ in events] == ["fetchDenied"]
        # A call the worker shaped badly is answered with FetchFailed, and the gate keeps serving.
        import json
        import socket

        with socket.socket(socket.AF_UNIX) as raw:
            raw.connect(path)
            call = {"token": gate.token, "method": "POST", "url": f"{server.url}/echo", "body": "not base64!"}
            raw.sendall(json.dumps(call).encode() + b"\n")
            reply = json.loads(raw.makefile("rb").readline())
        assert reply["error"]["type"] == "FetchFailed" and "refused" in reply["error"]["message"]
        assert mine.fetch("GET", f"{server.url}/echo").status == 200
    finally:
        gate.stop()


@pytest.mark.parametrize(
    ("url", "ports"),
    [
        ("sqlite:////tmp/sv/sovereign.db", []),
        ("postgresql+psycopg://u@127.0.0.1/sv", [5432]),
        ("postgresql+psycopg://u@db.internal:6543/sv", [6543]),
        ("postgresql+psycopg://u@/sv?host=/var/run/postgresql", []),
        ("postgresql+psycopg:///sv", []),
        ("postgresql+psycopg://u@/sv?host=a:5432&host=b:5433", [5432, 5433]),
        ("postgresql+psycopg://u@/sv?host=a&host=b:6000", [5432, 6000]),
    ],
)
def test_fetch_a_worker_may_connect_to_the_database_port_alone(url, ports):
    from exthost.sandbox.supervisor import database_ports

    assert database_ports(url) == ports


@pytest.mark.parametrize("network_remotes", [False, True])
def test_fetch_the_sandboxed_blog_reaches_git_ports_only_when_network_remotes_are_on(
    settings_factory, platform_factory, network_remotes
):
    from tests.fixtures.twins import REPO_PLUGINS

    settings = settings_factory(
        PLUGINS_DIR=REPO_PLUGINS,
        PLUGIN_ENTRY_POINTS=False,
        PLUGIN_POLL_SECONDS=0,
        PLUGIN_ISOLATION="process",
        BLOG_NETWORK_REMOTES=network_remotes,
    )
    platform = platform_factory(settings)
    platform.host.enable("blog")
    spec = platform.host.sandbox.pools["blog"].spec
    assert spec["connectPorts"] == ([22, 80, 443, 9418] if network_remotes else [])
    # git's network remotes are named by host: DNS (UDP) is allowed for the blog's workers only then.
    assert spec["udp"] == network_remotes
    network = platform.host.describe(platform.host.get("blog"))["sandbox"]["network"]
    if landlock_abi() >= NETWORK_ABI:
        assert ("TCP connect only to port 22, 80, 443, 9418" in network) == network_remotes
    if seccomp_available():
        assert ("UDP allowed" in network) == network_remotes and ("no UDP" in network) != network_remotes


@pytest.mark.parametrize(
    ("url", "address", "expected", "needs_dns"),
    [
        # A name: the worker gets the address the serving process reached, the name kept for TLS.
        (
            "postgresql+psycopg://r:p@db.internal:6432/app",
            "10.0.0.7",
            "postgresql+psycopg://r:p@db.internal:6432/app?hostaddr=10.0.0.7",
            False,
        ),
        (
            "postgresql+psycopg://r:p@localhost/app?sslmode=require",
            "127.0.0.1",
            "postgresql+psycopg://r:p@localhost/app?hostaddr=127.0.0.1&sslmode=require",
            False,
        ),
        # Already an address, a socket folder, a hostaddr of the operator's: unchanged, nothing to resolve.
        ("postgresql+psycopg://r:p@127.0.0.1/app", "127.0.0.1", "postgresql+psycopg://r:p@127.0.0.1/app", False),
        ("postgresql+psycopg://r:p@[::1]/app", "::1", "postgresql+psycopg://r:p@[::1]/app", False),
        (
            "postgresql+psycopg://r:p@/app?host=/run/postgresql",
            None,
            "postgresql+psycopg://r:p@/app?host=/run/postgresql",
            False,
        ),
        (
            "postgresql+psycopg://r:p@db/app?hostaddr=10.0.0.9",
            "10.0.0.7",
            "postgresql+psycopg://r:p@db/app?hostaddr=10.0.0.9",
            False,
        ),
        # A name whose address is unknown, or several hosts: unchanged, and the workers keep DNS (UDP).
        ("postgresql+psycopg://r:p@db/app", None, "postgresql+psycopg://r:p@db/app", True),
        (
            "postgresql+psycopg://r:p@/app?host=a:5432&host=b:5433",
            "10.0.0.7",
            "postgresql+psycopg://r:p@/app?host=a:5432&host=b:5433",
            True,
        ),
        (
            "postgresql+psycopg://r:p@/app?host=10.0.0.1:5432&host=10.0.0.2:5433",
            None,
            "postgresql+psycopg://r:p@/app?host=10.0.0.1:5432&host=10.0.0.2:5433",
            False,
        ),
    ],
)
def test_a_worker_reaches_the_database_by_the_address_the_host_reached(url, address, expected, needs_dns):
    """Workers may not send UDP, so they never ask DNS for the database's name (unless it cannot be pinned)."""
    from exthost.sandbox.supervisor import with_server_address

    assert with_server_address(url, address) == (expected, needs_dns)


@pytest.mark.postgres
@pytest.mark.slow
def test_fetch_under_gunicorn_on_postgresql_the_serving_processes_fetch_and_count_denials(
    postgres_url: str, tmp_path: Path, server: LocalServer
) -> None:
    import json

    from click.testing import CliRunner

    from exthost.cli import main
    from tests.exthost.test_sandbox_gunicorn import fetch, serving

    write_plugin(tmp_path / "plugins", "hello")
    write_plugin(tmp_path / "plugins", "fetcher", FETCH_CODE, manifest=fetch_manifest(server.port))
    with serving(postgres_url, tmp_path, ["hello", "fetcher"], "/api/fetcher/declared") as (base, env):
        for _ in range(3):  # several requests: gunicorn spreads them over its serving processes
            status, data = fetch(f"{base}/api/fetcher/declared")
            assert status == 200 and data["echo"]["note"] == "from the plugin"
            status, data = fetch(f"{base}/api/fetcher/undeclared", {"X-Request-Id": "req_out"})
            assert (status, data) == (500, {"error": "Internal server error", "requestId": "req_out"})
            assert fetch(f"{base}/api/hello/greet")[0] == 200
            assert fetch(f"{base}/health")[0] == 200
        if landlock_abi() >= NETWORK_ABI:
            assert fetch(f"{base}/api/fetcher/raw") == (200, {"raw": "refused:PermissionError"})
        assert fetch(f"{base}/api/fetcher/db") == (200, {"one": 1})
        assert set(server.hosts) == {f"127.0.0.1:{server.port}"}  # the undeclared localhost was never reached
        result = CliRunner().invoke(main, ["plugins:info", "fetcher", "--json"], env=env)
        assert result.exit_code == 0, result.output
        counts = json.loads(result.output)["sandbox"]["lastHour"]
        # Each serving process counted its own denials in the shared database: they add up.
        assert counts["fetchDenied"] == 3 and counts["raised"] == 3
