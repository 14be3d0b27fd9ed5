"""Stopping `sv serve` with Ctrl+C, as a terminal sends it (SIGINT to the whole process group, the shadow child
included): the server stops cleanly, the shadow child runs what was queued and exits without a traceback, and nothing
is left for multiprocessing's resource tracker to warn about."""

from __future__ import annotations

import http.cookiejar
import json
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.exthost.test_cli_plugins import _env, _sv
from tests.exthost.test_serve import eventually, free_port, status_of

REPO = Path(__file__).resolve().parents[2]


def _shadowed_requests(base: str) -> None:
    """A signed-in caller's requests on a feature in shadow mode: each is a sample for the shadow child."""
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    def call(method: str, path: str, body: object = None) -> dict:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"{base}{path}", data=data, method=method, headers={"Content-Type": "application/json"}
        )
        with opener.open(request, timeout=30) as response:
            return json.load(response)

    call("POST", "/register", {"email": "ctrl-c@example.test", "password": "a long enough password", "name": "C"})
    project = call("POST", "/api/projects", {"name": "Board", "type": "papertrail"})["id"]
    for _ in range(3):
        call("GET", f"/api/projects/{project}/papertrail/board")


@pytest.mark.slow
@pytest.mark.parametrize("when", ["while the shadow child starts", "after shadow samples"])
def test_sv_serve_stopped_by_ctrl_c_prints_no_traceback_nor_leak_warning(settings_factory, when: str) -> None:
    settings = settings_factory(PLUGIN_ENTRY_POINTS=False, PLUGINS_DIR=REPO / "plugins")
    assert _sv(settings, "migrate:deploy").exit_code == 0
    assert _sv(settings, "plugins:enable", "papertrail").exit_code == 0
    port = free_port()
    env = os.environ | _env(settings, SHADOW_RUNNER="process", FEATURE_FLAGS__papertrail="shadow")
    command = [sys.executable, "-c", "from exthost.cli import main; main()", "serve", "--port", str(port)]
    server = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    base = f"http://127.0.0.1:{port}"
    try:
        eventually(lambda: status_of(f"{base}/health") == 200)
        assert status_of(f"{base}/favicon.ico") == 200  # browsers ask for it on every page load
        if when == "after shadow samples":
            _shadowed_requests(base)
    finally:
        os.killpg(server.pid, signal.SIGINT)  # what Ctrl+C at a terminal does
        output, _ = server.communicate(timeout=60)
    assert server.returncode == 0, output
    for unwanted in ("resource_tracker", "leaked", "Traceback", "KeyboardInterrupt", "shadow child died"):
        assert unwanted not in output, output
    if when == "after shadow samples":
        status = json.loads(_sv(settings, "shadow:status", "--json").output)
        assert sum(c["count"] for c in status["counts"] if c["outcome"] == "match") == 3, status
