"""`sv serve` end to end: a real server process over loopback serves legacy routes and enabled plugins, and picks
up `sv plugins:enable` / `disable` run from another process without a restart."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from tests.exthost.test_cli_plugins import _env, _sv
from tests.fixtures.plugins import write_plugin

STARTUP_WAIT = 60  # seconds; a bound for a loaded machine, not a speed claim


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def status_of(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def eventually(check, timeout: float = STARTUP_WAIT):
    deadline = time.monotonic() + timeout
    while True:
        try:
            if check():
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not reached within {timeout} s")
        time.sleep(0.1)


@pytest.mark.slow
def test_sv_serve_serves_plugins_and_follows_the_registry(settings_factory):
    settings = settings_factory(PLUGIN_ENTRY_POINTS=False)
    write_plugin(settings.PLUGINS_DIR, "hello")
    port = free_port()
    env = os.environ | _env(settings, PLUGIN_POLL_SECONDS="0.2")
    command = [sys.executable, "-c", "from exthost.cli import main; main()", "serve", "--port", str(port)]
    server = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        eventually(lambda: status_of(f"{base}/health") == 200)
        assert status_of(f"{base}/api/hello/greet") == 404
        assert _sv(settings, "plugins:enable", "hello").exit_code == 0
        eventually(lambda: status_of(f"{base}/api/hello/greet") == 200, timeout=10)
        with urllib.request.urlopen(f"{base}/api/hello/greet") as response:
            assert json.load(response) == {"greeting": "hello", "tenant": "tenant-0"}
        assert _sv(settings, "plugins:disable", "hello").exit_code == 0
        eventually(lambda: status_of(f"{base}/api/hello/greet") == 404, timeout=10)
    finally:
        server.terminate()
        output, _ = server.communicate(timeout=30)
    assert "plugin hello: registered" in output


def test_sv_serve_on_a_busy_port_says_so_before_starting(settings_factory):
    import socket

    from click.testing import CliRunner

    from exthost.cli import main

    settings = settings_factory()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {"DATABASE_URL": settings.DATABASE_URL, "DATA_DIR": str(settings.DATA_DIR)}
        result = CliRunner().invoke(main, ["serve", "--port", str(port)], env=env)
    assert result.exit_code == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.output and "--port" in result.output
    assert "serving on" not in result.output and "Traceback" not in result.output
