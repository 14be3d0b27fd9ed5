"""The sandbox as production runs it: the platform under gunicorn (several gthread workers) on PostgreSQL, with
PLUGIN_ISOLATION left unset (process), a hostile plugin beside a good one. A worker that exits, sleeps or loops past
its deadline gets its caller a 502 or 504 with the request id, legacy and the good plugin keep answering, and every
serving process's failures add up in the shared database (`sv plugins:info`)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from exthost.cli import main
from exthost.sandbox.confine import landlock_abi
from tests.exthost.sandbox_plugins import HOSTILE_CODE, hostile_manifest
from tests.fixtures.plugins import write_plugin

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

BIN = Path(sys.executable).parent


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def fetch(url: str, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        body = exc.read()
        try:
            return exc.code, json.loads(body)
        except ValueError:
            return exc.code, body.decode(errors="replace")


@pytest.fixture
def served(postgres_url: str, tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    plugins = tmp_path / "plugins"
    write_plugin(plugins, "hello")
    write_plugin(plugins, "hostile", HOSTILE_CODE, manifest=hostile_manifest())
    with serving(postgres_url, tmp_path, ["hello", "hostile"], "/api/hostile/ok") as running:
        yield running


@contextlib.contextmanager
def serving(postgres_url: str, tmp_path: Path, enable: list[str], ready: str) -> Iterator[tuple[str, dict[str, str]]]:
    """The platform under gunicorn (3 gthread workers of 4 threads) on PostgreSQL, serving the plugins written under
    tmp_path/plugins, `enable`d; yields once `ready` answers 200. Its base URL and the environment of `sv`."""
    plugins = tmp_path / "plugins"
    env = {
        "DATABASE_URL": postgres_url,
        "DATA_DIR": str(tmp_path / "data"),
        "PLUGINS_DIR": str(plugins),
        "PLUGIN_ENTRY_POINTS": "false",
        "PLUGIN_POLL_SECONDS": "0.2",
        "PLUGIN_ERROR_BUDGET": "1000",
        "SHADOW_RUNNER": "thread",
    }
    runner = CliRunner()
    for args in (["migrate:deploy"], *(["plugins:enable", name] for name in enable)):
        result = runner.invoke(main, args, env=env)
        assert result.exit_code == 0, result.output
    port = free_port()
    log = (tmp_path / "gunicorn.log").open("wb")
    command = [
        str(BIN / "gunicorn"),
        "exthost.wsgi:create_app()",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        "3",
        "--worker-class",
        "gthread",
        "--threads",
        "4",
        "--timeout",
        "60",
    ]
    server_env = {key: value for key, value in os.environ.items() if key not in ("PLUGIN_ISOLATION",)} | env
    server = subprocess.Popen(command, env=server_env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        until = time.monotonic() + 90
        while time.monotonic() < until:
            try:
                if fetch(f"{base}{ready}")[0] == 200:
                    break
            except OSError:
                pass
            assert server.poll() is None, (tmp_path / "gunicorn.log").read_text()
            time.sleep(0.3)
        else:
            raise AssertionError("the platform did not serve the plugin within 90 s")
        yield base, env
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(10)
        log.close()


def still_serving(base: str) -> None:
    assert fetch(f"{base}/health")[0] == 200
    assert fetch(f"{base}/api/hello/greet") == (200, {"greeting": "hello", "tenant": "tenant-0"})
    assert fetch(f"{base}/api/hostile/ok")[0] == 200


def recorded(env: dict[str, str]) -> dict[str, int]:
    result = CliRunner().invoke(main, ["plugins:info", "hostile", "--json"], env=env)
    assert result.exit_code == 0, result.output
    sandbox = json.loads(result.output)["sandbox"]
    assert sandbox["isolation"] == "process"
    assert sandbox["limits"]["deadlineSeconds"] == 2
    return dict(sandbox["lastHour"])


def test_sandbox_under_gunicorn_on_postgresql_contains_exits_sleeps_and_loops(served):
    base, env = served
    expected = {
        "exit": (502, "Plugin worker failed"),
        "sleep": (504, "Plugin deadline passed"),
        "loop": (504, "Plugin deadline passed"),
    }
    for route, (status, error) in expected.items():
        for attempt in range(2):
            request_id = f"req_{route}_{attempt}"
            answer = fetch(f"{base}/api/hostile/{route}", {"X-Request-Id": request_id})
            assert answer == (status, {"error": error, "requestId": request_id}), route
            still_serving(base)
    raised = fetch(f"{base}/api/hostile/raise")
    assert raised[0] == 500
    assert raised[1]["error"] == "Internal server error"
    still_serving(base)
    if landlock_abi() == 0:
        pytest.skip("this kernel has no Landlock: files are not confined (the rest above passed)")
    assert fetch(f"{base}/api/hostile/passwd")[0] == 500
    note = Path(env["DATA_DIR"]) / "plugins" / "hello" / "note.txt"
    note.parent.mkdir(parents=True, exist_ok=True)
    note.write_text("hello's own note", encoding="utf-8")
    other = fetch(f"{base}/api/hostile/other")
    assert other == (200, {"folder": "refused:PermissionError", "data": "refused:PermissionError"})
    counts = recorded(env)
    assert counts["exited"] == 2
    assert counts["deadline"] == 4
    assert counts["raised"] == 2  # the RuntimeError and the PermissionError of /etc/passwd
