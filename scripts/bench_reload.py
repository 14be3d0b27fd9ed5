"""Benchmark (not a test): how long from saving a plugin file to the new answer over loopback HTTP, with
`sv serve --watch-plugins`, beside werkzeug's own reloader (`run_simple(use_reloader=True)`) on a tiny app given the
same kind of edit.

Each side serves a JSON answer `{"n": N}` from one Python file. An edit rewrites that file with the next N (open,
write, close, as an editor saving in place does); the time runs from just before the write until a GET over
loopback first answers the new N (polled every millisecond or so, a new connection each time). Edits are spaced
apart, so each is a first change, not part of a burst. Prints each side's median, fastest and slowest, and the
ratio of the medians.

    .venv/bin/python scripts/bench_reload.py [--edits 15]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SV = [sys.executable, "-c", "from exthost.cli import main; main()"]

PLUGIN = """
from exthost.sdk import hookimpl


class Plugin:
    @hookimpl
    def register(self, ctx):
        @ctx.router.get("/api/bench/answer")
        def answer():
            return {{"n": {n}}}
"""

WERKZEUG_APP = """
import json
import sys

from werkzeug.serving import run_simple
from werkzeug.wrappers import Response

ANSWER = {n}


def app(environ, start_response):
    return Response(json.dumps({{"n": ANSWER}}), mimetype="application/json")(environ, start_response)


if __name__ == "__main__":
    run_simple("127.0.0.1", int(sys.argv[1]), app, use_reloader=True, reloader_type=sys.argv[2])
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def answer(port: int, path: str) -> int | None:
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        connection.request("GET", path)
        response = connection.getresponse()
        body = response.read()
        connection.close()
        return int(json.loads(body)["n"]) if response.status == 200 else None
    except (OSError, http.client.HTTPException, ValueError, KeyError):
        return None


def wait_for(port: int, path: str, n: int, timeout: float = 60) -> float:
    """Seconds until `path` answers `n`; raises on timeout."""
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        if answer(port, path) == n:
            return time.perf_counter() - started
        time.sleep(0.001)
    raise SystemExit(f"no answer {n} on :{port}{path} within {timeout} s")


def measure(edit: Callable[[int], None], port: int, path: str, edits: int, pause: float) -> list[float]:
    times = []
    for n in range(1, edits + 1):
        time.sleep(pause)
        started = time.perf_counter()
        edit(n)
        wait_for(port, path, n)
        times.append(time.perf_counter() - started)
    return times


def write(path: Path, text: str) -> None:
    with open(path, "w", encoding="utf-8") as stream:  # in place: open, write, close
        stream.write(text)


def sovereign(folder: Path, edits: int, pause: float) -> list[float]:
    plugins = folder / "plugins"
    (plugins / "bench").mkdir(parents=True)
    manifest = {
        "name": "bench",
        "version": "1.0.0",
        "description": "reload benchmark",
        "sovereign": {"engine": ">=0.1 <1", "entry": "plugin:Plugin", "api": 1},
        "mounts": {"api": "/api/bench"},
    }
    (plugins / "bench" / "plugin.json").write_text(json.dumps(manifest))
    source = plugins / "bench" / "plugin.py"
    write(source, textwrap.dedent(PLUGIN.format(n=0)))
    env = os.environ | {
        "DATABASE_URL": f"sqlite:///{folder / 'sovereign.db'}",
        "DATA_DIR": str(folder / "data"),
        "PLUGINS_DIR": str(plugins),
        "PLUGIN_ENTRY_POINTS": "false",
        "SHADOW_RUNNER": "thread",
        # The plugin is rewritten on every edit: no signature could hold (development policy: warn).
        "ENVIRONMENT": "development",
    }
    for command in (["migrate:deploy"], ["plugins:enable", "bench"]):
        subprocess.run(SV + command, env=env, cwd=folder, check=True, capture_output=True)
    port = free_port()
    log = open(folder / "serve.log", "w")  # noqa: SIM115 - closed below, after the server
    server = subprocess.Popen(
        [*SV, "serve", "--watch-plugins", "--port", str(port)], env=env, cwd=folder, stdout=log, stderr=log
    )
    try:
        wait_for(port, "/api/bench/answer", 0)
        return measure(
            lambda n: write(source, textwrap.dedent(PLUGIN.format(n=n))), port, "/api/bench/answer", edits, pause
        )
    finally:
        server.terminate()
        server.wait(30)
        log.close()


def werkzeug(folder: Path, reloader: str, edits: int, pause: float) -> list[float]:
    folder.mkdir(parents=True)
    source = folder / "app.py"
    write(source, WERKZEUG_APP.format(n=0))
    port = free_port()
    env = os.environ | {"PYTHONDONTWRITEBYTECODE": "1"}
    server = subprocess.Popen(
        [sys.executable, str(source), str(port), reloader],
        cwd=folder,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_for(port, "/", 0)
        return measure(lambda n: write(source, WERKZEUG_APP.format(n=n)), port, "/", edits, pause)
    finally:
        os.killpg(server.pid, 15)  # the reloader's child serves; stop both
        server.wait(30)


def summary(name: str, times: list[float]) -> str:
    ms = [t * 1000 for t in times]
    return f"{name:44s} median {statistics.median(ms):8.1f} ms   fastest {min(ms):8.1f}   slowest {max(ms):8.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--edits", type=int, default=15, help="edits per side (default 15)")
    parser.add_argument("--pause", type=float, default=1.0, help="seconds between edits (default 1.0)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sv-bench-reload-") as scratch:
        root = Path(scratch)
        ours = sovereign(root / "sovereign", args.edits, args.pause)
        theirs = werkzeug(root / "werkzeug-watchdog", "watchdog", args.edits, args.pause)
        polling = werkzeug(root / "werkzeug-stat", "stat", args.edits, args.pause)
    print(f"edit -> new answer over loopback, {args.edits} edits per side, {args.pause:g} s apart")
    print(summary("sv serve --watch-plugins (plugin reload)", ours))
    print(summary("werkzeug run_simple reloader=watchdog", theirs))
    print(summary("werkzeug run_simple reloader=stat", polling))
    base = statistics.median(ours)
    print(
        f"ratio of medians: werkzeug watchdog / sv {statistics.median(theirs) / base:.1f}x, "
        f"werkzeug stat / sv {statistics.median(polling) / base:.1f}x"
    )


if __name__ == "__main__":
    main()
