"""Benchmark: what the platform dispatcher costs, measured side by side in one run (not a test).

Prints ratios, since absolute times drift on a shared machine:
  legacy route through the dispatcher   vs  the bare legacy Flask app
  plugin route through the dispatcher   vs  the plugin's own Flask app
  signed-in plugin route through the dispatcher vs the plugin's own app (the dispatcher reads the session to
  find the tenant and hands the user on, so the session is read once either way)
Each pair is measured in interleaved rounds and the median round is reported.

    .venv/bin/python scripts/bench_dispatch.py [--requests 2000] [--rounds 7]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from werkzeug.test import Client

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from exthost.deploy import upgrade_schema  # noqa: E402
from exthost.platform import create_platform  # noqa: E402
from legacy_core.db import make_engine  # noqa: E402
from legacy_core.settings import Settings  # noqa: E402

PLUGIN = """
from exthost.sdk import hookimpl

class Plugin:
    @hookimpl
    def register(self, ctx):
        @ctx.router.get("/api/bench/ping")
        def ping():
            return {"ok": True}
"""
MANIFEST = {
    "name": "bench",
    "version": "1.0.0",
    "sovereign": {"engine": ">=0.1.0", "entry": "plugin:Plugin", "api": 1},
    "mounts": {"api": "/api/bench"},
}


def timed(call: Callable[[], object], requests: int) -> float:
    started = time.perf_counter()
    for _ in range(requests):
        call()
    return (time.perf_counter() - started) / requests


def compare(name: str, baseline: Callable[[], object], candidate: Callable[[], object], requests: int, rounds: int):
    base_times, cand_times = [], []
    for _ in range(rounds):
        base_times.append(timed(baseline, requests))
        cand_times.append(timed(candidate, requests))
    base, cand = statistics.median(base_times), statistics.median(cand_times)
    print(f"{name:58s} {base * 1e6:8.1f} us  {cand * 1e6:8.1f} us  ratio {cand / base:5.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "plugins" / "bench").mkdir(parents=True)
        (root / "plugins" / "bench" / "plugin.py").write_text(PLUGIN)
        (root / "plugins" / "bench" / "plugin.json").write_text(json.dumps(MANIFEST))
        url = f"sqlite:///{root / 'bench.db'}"
        engine = make_engine(url)
        upgrade_schema(engine, ROOT / "plugins")
        engine.dispose()
        settings = Settings(  # type: ignore[call-arg]
            _env_file=None,
            DATABASE_URL=url,
            DATA_DIR=root / "data",
            PLUGINS_DIR=root / "plugins",
            PLUGIN_ENTRY_POINTS=False,
            PLUGIN_SIGNATURES="off",  # the plugins measured are unsigned working copies
            LOG_LEVEL="WARNING",
        )
        platform = create_platform(settings, argon2_memory_kib=1024)
        platform.host.enable("bench")
        through, legacy = Client(platform), Client(platform.legacy.app)
        plugin_app = platform.host.plugins["bench"].app
        assert plugin_app is not None
        direct = Client(plugin_app)
        signed_in = Client(platform)
        signed_in.post("/register", json={"email": "b@example.test", "password": "bench password 1", "name": "b"})
        assert through.get("/api/bench/ping").status_code == 200
        print(f"{args.requests} requests x {args.rounds} rounds, median round; per-request times")
        print(f"{'pair':58s} {'baseline':>11s} {'candidate':>11s}")
        compare(
            "legacy GET /login: bare legacy app -> dispatcher",
            lambda: legacy.get("/login"),
            lambda: through.get("/login"),
            args.requests,
            args.rounds,
        )
        compare(
            "plugin GET /api/bench/ping: plugin app -> dispatcher",
            lambda: direct.get("/api/bench/ping"),
            lambda: through.get("/api/bench/ping"),
            args.requests,
            args.rounds,
        )
        # The metrics layer alone: the recorder and router without, then with, the counting and timing around them.
        unmeasured = Client(platform.recorder)
        compare(
            "plugin GET /api/bench/ping: without -> with request metrics",
            lambda: unmeasured.get("/api/bench/ping"),
            lambda: through.get("/api/bench/ping"),
            args.requests,
            args.rounds,
        )
        cookie = signed_in.get_cookie(settings.AUTH_SESSION_COOKIE_NAME)
        assert cookie is not None
        direct_signed_in = Client(plugin_app)
        direct_signed_in.set_cookie(settings.AUTH_SESSION_COOKIE_NAME, cookie.value)
        compare(
            "signed-in plugin GET: plugin app -> dispatcher",
            lambda: direct_signed_in.get("/api/bench/ping"),
            lambda: signed_in.get("/api/bench/ping"),
            args.requests,
            args.rounds,
        )
        platform.close()


if __name__ == "__main__":
    main()
