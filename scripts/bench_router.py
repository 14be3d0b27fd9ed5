"""Benchmark: what the feature-flag router and shadow mode cost, measured side by side in one run (not a test).

Prints ratios, since absolute times drift on a shared machine. Each pair runs in interleaved rounds (the order flips
every round); a figure is the median over rounds, a ratio the median of the per-round ratios.
  1. router overhead: a legacy route through the platform (flag mode legacy) vs the bare legacy app, for anonymous
     GET /login and the signed-in PaperTrail GET /api/projects/<id>/papertrail/board, as direct WSGI calls on a
     prebuilt environ (no test client cost to dilute the ratio)
  2. that board GET in mode plugin (the real plugins/papertrail) vs mode legacy
  3. shadow at 100% sampling vs legacy: the caller's p50/p99 and throughput, and the samples compared, dropped or
     skipped; (a) in-process, one caller thread, plus shadow with its runner paused (the request path's own cost:
     body copies and tee); (b) over loopback HTTP against gunicorn, modes switched in the server's flag store,
     first saturated by back-to-back requests, then paced at a steady rate both modes can carry
gunicorn runs `--worker-class gthread --workers 2 --threads 4` (a process per core) on a copy of the in-process
database: the sync worker closes the connection after each response, so every request would also pay a TCP
handshake; gthread keeps connections alive and runs request threads beside each process's shadow thread, as a
production deployment would.

    .venv/bin/python scripts/bench_router.py [--quick] [--rounds 7] [--requests 400] [--http-requests 800]
                                             [--connections 8] [--skip-http]
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import io
import os
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from werkzeug.test import Client, EnvironBuilder, run_wsgi_app

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from exthost.deploy import upgrade_schema  # noqa: E402
from exthost.platform import Platform, create_platform  # noqa: E402
from exthost.rollout.flagstore import FlagStore  # noqa: E402
from exthost.rollout.results import ShadowResults  # noqa: E402
from legacy_core.db import make_engine, make_session_factory  # noqa: E402
from legacy_core.features import FEATURES  # noqa: E402
from legacy_core.settings import Settings  # noqa: E402

FEATURE = "papertrail"
POLL_SECONDS = 0.5  # FLAGS_POLL_SECONDS: a flag check every half second, as in production, not one per request
WARMUPS = 20  # untimed requests per side and round in-process: caches, pooled connections, the flag check
PACED_SHARE = 0.4  # paced HTTP rounds offer this share of legacy's saturated throughput
HTTP_WARMUPS = 3  # per connection and round: a new connection, and each worker's flag check after a switch
BOARD = {
    "title": "Harbour case",
    "nodes": [
        {"id": "n1", "type": "note", "x": 10, "y": 20, "w": 200, "h": 120, "title": "Lead", "tags": ["#money"]},
        {"id": "n2", "type": "text", "text": "A witness saw the boat leave at night.", "tags": ["witness"]},
        {"id": "n3", "type": "image", "imageUrl": "https://example.test/a.png", "color": "#ff0000"},
    ],
    "edges": [{"id": "e1", "source": "n1", "target": "n2", "label": "pays"}, {"source": "n2", "target": "n3"}],
}

Call = Callable[[], object]


@dataclass(frozen=True)
class Round:
    """One side's per-request latencies (seconds) in one round, and the round's wall time."""

    latencies: tuple[float, ...]
    wall: float

    def pct(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


def _time(s: float) -> str:
    return f"{s * 1e6:.1f} us" if s < 1e-3 else f"{s * 1e3:.2f} ms"


# name -> (the figure of one round, how to show it)
METRICS: dict[str, tuple[Callable[[Round], float], Callable[[float], str]]] = {
    "mean": (lambda r: statistics.fmean(r.latencies), _time),
    "p50": (lambda r: r.pct(50), _time),
    "p99": (lambda r: r.pct(99), _time),
    "throughput": (lambda r: len(r.latencies) / r.wall, lambda v: f"{v:.0f} req/s"),
}


@dataclass
class Side:
    """One thing measured: `run(requests)` times a round; `before` and `after` set up and settle it, untimed."""

    name: str
    run: Callable[[int], Round]
    before: Call = lambda: None
    after: Call = lambda: None


def timed(call: Call, requests: int) -> Round:
    for _ in range(WARMUPS):
        call()
    latencies = []
    started = time.perf_counter()
    for _ in range(requests):
        t = time.perf_counter()
        call()
        latencies.append(time.perf_counter() - t)
    return Round(tuple(latencies), time.perf_counter() - started)


def interleave(sides: list[Side], rounds: int, requests: int) -> dict[str, list[Round]]:
    results: dict[str, list[Round]] = {side.name: [] for side in sides}
    for index in range(rounds):
        for side in sides if index % 2 == 0 else sides[::-1]:
            side.before()
            try:
                results[side.name].append(side.run(requests))
            finally:
                side.after()
    return results


def wsgi_call(app: Any, environ: dict[str, Any]) -> Call:
    """One request on a copy of `environ`, its body read and closed as a server does (the shadow tee submits then)."""

    def call() -> None:
        _, status, _ = run_wsgi_app(app, {**environ, "wsgi.input": io.BytesIO(b"")}, buffered=True)
        if not status.startswith("200"):
            raise RuntimeError(f"{environ['PATH_INFO']!r} answered {status!r}, expected 200")

    return call


def environ_for(path: str, cookie: str | None = None) -> dict[str, Any]:
    return dict(EnvironBuilder(path=path, headers=[("Cookie", cookie)] if cookie else []).get_environ())


def compare(label: str, rounds: dict[str, list[Round]], base: str, cand: str, metric: str) -> float:
    """Print a row: median baseline, median candidate, median of the per-round ratios; return that ratio."""
    value, shown = METRICS[metric]
    ratio = statistics.median(value(c) / value(b) for b, c in zip(rounds[base], rounds[cand], strict=True))
    base_text, cand_text = (shown(statistics.median(map(value, rounds[side]))) for side in (base, cand))
    print(f"  {f'{label}: {metric}':56s} {base_text:>12s} {cand_text:>12s}  {ratio:6.3f}", flush=True)
    return ratio


def verdict(name: str, ratio: float, limit: float) -> str:
    excess = ratio - 1
    if excess <= limit:
        return f"{name}: met ({excess:+.1%}, target {limit:.0%})"
    return f"{name}: NOT met ({excess:+.1%}, target {limit:.0%}: missed by {(excess - limit) * 100:.1f} points)"


def shadow_outcomes(results: ShadowResults) -> Counter[str]:
    totals: Counter[str] = Counter()
    for row in results.counts():
        if row["feature"] == FEATURE and row["mode"] == "shadow":
            totals[row["outcome"]] += row["count"]
    return totals


def describe(outcomes: Counter[str], served: str) -> str:
    compared = sum(outcomes[o] for o in ("match", "mismatch", "candidate_error"))
    skipped = sum(n for o, n in outcomes.items() if o.startswith("skipped"))
    detail = ", ".join(f"{o} {n}" for o, n in sorted(outcomes.items())) or "no outcomes"
    dropped = outcomes["dropped"]
    return f"{served} served in shadow mode: compared {compared}, dropped {dropped}, skipped {skipped} ({detail})"


def seed(platform: Platform) -> tuple[str, str]:
    """A user and a PaperTrail project with a small board; the project id and the `Cookie` header value."""
    client = Client(platform)

    def post(path: str, body: dict[str, Any], status: int) -> dict[str, Any]:
        response = client.post(path, json=body)
        assert response.status_code == status, (path, response.status_code, response.get_json())
        return dict(response.get_json())

    post("/register", {"email": "bench@example.test", "password": "bench pw 12", "name": "Bench"}, 201)
    project_id = str(post("/api/projects", {"name": "Bench", "type": FEATURE}, 201)["id"])
    post(f"/api/projects/{project_id}/papertrail/board", BOARD, 200)
    name = platform.services.settings.AUTH_SESSION_COOKIE_NAME
    cookie = client.get_cookie(name)
    assert cookie is not None
    return project_id, f"{name}={cookie.value}"


def enable_plugin(platform: Platform, board: Call) -> str | None:
    """Enable the papertrail plugin and check that it answers in plugin mode: None when it does, else why not."""
    if FEATURE not in platform.host.plugins:
        return f"no plugin {FEATURE!r} under {platform.services.settings.PLUGINS_DIR}"
    try:
        platform.host.enable(FEATURE)
        platform.set_mode(FEATURE, "plugin")
        board()
        fallbacks = [r for r in platform.results.counts() if r["outcome"].startswith("fallback")]
        return f"plugin mode fell back to legacy: {fallbacks}" if fallbacks else None
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    finally:
        platform.set_mode(FEATURE, "legacy")


RUNNER = ["process"]  # --runner: where shadow samples are replayed (SHADOW_RUNNER)


def settings_for(root: Path, database: Path) -> dict[str, Any]:
    """The settings both the in-process platform and the server run with."""
    return {
        "DATABASE_URL": f"sqlite:///{database}",
        "DATA_DIR": root / "data",
        "PLUGINS_DIR": ROOT / "plugins",
        "PLUGIN_ENTRY_POINTS": False,
        "PLUGIN_SIGNATURES": "off",  # the working tree's plugins are unsigned
        "FLAGS_POLL_SECONDS": POLL_SECONDS,
        "LOG_LEVEL": "WARNING",
        "SHADOW_RUNNER": RUNNER[0],
    }


def start_server(root: Path, database: Path, port: int) -> subprocess.Popen[bytes]:
    # The server reads its settings from the environment only: drop any the caller's shell sets.
    env = {k: v for k, v in os.environ.items() if k.upper().split("__")[0] not in Settings.model_fields}
    env.update({key: str(value) for key, value in settings_for(root, database).items()}, PYTHONPATH=str(ROOT))
    command = [str(Path(sys.executable).parent / "gunicorn"), "exthost.wsgi:create_app()", "--bind"]
    command += [f"127.0.0.1:{port}", "--worker-class", "gthread", "--workers", "2", "--threads", "4"]
    command += ["--keep-alive", "30", "--log-level", "warning"]
    with open(root / "gunicorn.log", "wb") as log:  # the child has its own descriptor
        return subprocess.Popen(command, cwd=root, env=env, stdout=log, stderr=log, start_new_session=True)


def stop_server(server: subprocess.Popen[bytes]) -> None:
    """End the server's own process group (its master and workers): TERM, then KILL after 15 s."""
    for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            server.wait(wait)
            return


def http_get(conn: http.client.HTTPConnection, path: str, cookie: str) -> None:
    conn.request("GET", path, headers={"Cookie": cookie} if cookie else {})
    response = conn.getresponse()
    response.read()
    if response.status != 200:
        raise RuntimeError(f"GET {path!r} answered {response.status}")


def wait_ready(server: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"gunicorn exited ({server.returncode}):\n{log.read_text()[-3000:]}")
        with contextlib.suppress(OSError, RuntimeError, http.client.HTTPException):
            return http_get(http.client.HTTPConnection("127.0.0.1", port, timeout=5), "/health", "")
        time.sleep(0.2)
    raise RuntimeError(f"gunicorn did not answer within 90 s:\n{log.read_text()[-3000:]}")


def http_round(port: int, path: str, cookie: str, requests: int, connections: int, rate: float = 0) -> Round:
    """`connections` threads, each on its own keep-alive connection, send `requests` GETs in all: back to back, or
    at `rate` per second in all, each timed from when it was due (a late start counts against the server)."""
    latencies: list[list[float]] = [[] for _ in range(connections)]
    errors: list[BaseException] = []
    barrier = threading.Barrier(connections + 1)

    def client(index: int, mine: list[float]) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        try:
            for _ in range(HTTP_WARMUPS):
                http_get(conn, path, cookie)
            barrier.wait()
            start, gap = time.perf_counter(), connections / rate if rate else 0.0
            for i in range(requests // connections):
                t = time.perf_counter()
                if gap:
                    t = start + (i + index / connections) * gap
                    time.sleep(max(0.0, t - time.perf_counter()))
                http_get(conn, path, cookie)
                mine.append(time.perf_counter() - t)
        except BaseException as exc:
            errors.append(exc)
            barrier.abort()
        finally:
            conn.close()

    threads = [threading.Thread(target=client, args=pair, daemon=True) for pair in enumerate(latencies)]
    for thread in threads:
        thread.start()
    with contextlib.suppress(threading.BrokenBarrierError):
        barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return Round(tuple(t for mine in latencies for t in mine), time.perf_counter() - started)


def settle(results: ShadowResults, quiet: float = 2.5, timeout: float = 180) -> Counter[str]:
    """The server's shadow counts once they stopped moving for `quiet` s (its workers flush about once a second)."""
    last, since, deadline = shadow_outcomes(results), time.monotonic(), time.monotonic() + timeout
    while time.monotonic() - since < quiet and time.monotonic() < deadline:
        time.sleep(0.5)
        if (now := shadow_outcomes(results)) != last:
            last, since = now, time.monotonic()
    return last


def bench_in_process(platform: Platform, board: dict[str, Any], args: argparse.Namespace, verdicts: list[str]) -> None:
    """Parts 1 (router overhead), 2 (plugin vs legacy) and 3a (shadow vs legacy, in-process)."""
    legacy, n, rounds = platform.legacy.app, args.requests, args.rounds
    page, via_router = environ_for("/login"), wsgi_call(platform, board)

    def on_router(k: int) -> Round:
        return timed(via_router, k)

    def mode(name: str) -> Call:
        return lambda: platform.set_mode(FEATURE, name, sample=100)

    print("-- 1. router overhead, in-process, flag mode legacy: bare legacy app -> platform")
    sides = [Side("bare", lambda k: timed(wsgi_call(legacy, page), 4 * k))]
    sides.append(Side("router", lambda k: timed(wsgi_call(platform, page), 4 * k)))
    ratio = compare("GET /login, anonymous", interleave(sides, rounds, n), "bare", "router", "mean")
    verdicts.append(verdict("router overhead < 5%, GET /login anonymous", ratio, 0.05))
    sides = [Side("bare", lambda k: timed(wsgi_call(legacy, board), k)), Side("router", on_router)]
    ratio = compare("GET board, signed in", interleave(sides, rounds, n), "bare", "router", "mean")
    verdicts.append(verdict("router overhead < 5%, GET board signed in", ratio, 0.05))
    if args.plugin_problem:
        print(f"!! the {FEATURE} plugin does not serve ({args.plugin_problem}): parts 2 and 3 skipped")
        return

    print("-- 2. board GET through the platform: mode legacy -> mode plugin (plugins/papertrail)")
    results = interleave(
        [Side("legacy", on_router, mode("legacy")), Side("plugin", on_router, mode("plugin"))], rounds, n
    )
    for metric in ("mean", "p99"):
        compare("board", results, "legacy", "plugin", metric)

    runner = "1 shadow child process (nice 10)" if RUNNER[0] == "process" else "1 shadow worker thread"
    print(f"-- 3a. shadow (sample 100%) vs legacy, in-process: 1 caller thread, {runner}")
    outcomes: dict[str, Counter[str]] = {"shadow": Counter(), "paused": Counter()}
    mark: list[Counter[str]] = []

    def shadow(name: str) -> Side:
        def before() -> None:
            platform.set_mode(FEATURE, "shadow", sample=100)
            mark[:] = [shadow_outcomes(platform.results)]
            if name == "paused":
                platform.shadow.stop()  # samples wait in the queue: what is left is the request path's own work

        def after() -> None:
            platform.shadow.start()
            if not platform.shadow.drain(180):
                print("!! the shadow queue did not drain within 180 s")
            outcomes[name] += shadow_outcomes(platform.results) - mark[0]

        return Side(name, on_router, before, after)

    results = interleave([Side("legacy", on_router, mode("legacy")), shadow("shadow"), shadow("paused")], rounds, n)
    compare("shadow", results, "legacy", "shadow", "p50")
    ratio = compare("shadow", results, "legacy", "shadow", "p99")
    compare("shadow", results, "legacy", "shadow", "throughput")
    compare("shadow, runner paused (request path only)", results, "legacy", "paused", "p50")
    compare("shadow, runner paused (request path only)", results, "legacy", "paused", "p99")
    served = str(rounds * (n + WARMUPS))
    print(f"  samples, shadow: {describe(outcomes['shadow'], served)}")
    print(f"  samples, paused runner (replayed after its rounds): {describe(outcomes['paused'], served)}")
    verdicts.append(verdict("shadow p99 within 10% of legacy, in-process", ratio, 0.10))


def bench_http(root: Path, path: str, cookie: str, args: argparse.Namespace, verdicts: list[str]) -> None:
    """Part 3b: shadow vs legacy over loopback HTTP against gunicorn, rounds interleaved on one server."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    database = root / "server.db"
    server = start_server(root, database, port)
    engine = make_engine(f"sqlite:///{database}")
    try:
        wait_ready(server, port, root / "gunicorn.log")
        factory = make_session_factory(engine)
        store = FlagStore(factory, features=FEATURES, poll_seconds=POLL_SECONDS)
        results = ShadowResults(factory)
        outcomes: Counter[str] = Counter()
        mark: list[Counter[str]] = []

        def switch(mode: str) -> Call:
            def before() -> None:
                store.set(FEATURE, mode, sample=100, changed_by="bench_router", reason="benchmark")
                mark[:] = [shadow_outcomes(results)]
                time.sleep(POLL_SECONDS * 2 + 0.2)  # longer than FLAGS_POLL_SECONDS: every worker will see it

            return before

        def settled() -> None:
            outcomes.update(settle(results) - mark[0])

        def run(k: int, rate: float = 0) -> Round:
            return http_round(port, path, cookie, k, args.connections, rate)

        print(f"-- 3b. shadow (sample 100%) vs legacy over HTTP: gunicorn gthread 2x4, {args.connections} connections")
        run(10 * args.connections)  # both workers up and warm
        sides = [Side("legacy", run, switch("legacy")), Side("shadow", run, switch("shadow"), settled)]
        rounds = interleave(sides, args.http_rounds, args.http_requests)
        compare("saturated, shadow", rounds, "legacy", "shadow", "p50")
        ratio = compare("saturated, shadow", rounds, "legacy", "shadow", "p99")
        compare("saturated, shadow", rounds, "legacy", "shadow", "throughput")
        # The same at a steady load the server can carry in both modes: latency, not capacity.
        rate = PACED_SHARE * statistics.median(len(r.latencies) / r.wall for r in rounds["legacy"])
        sides = [Side(s.name, lambda k: run(k, rate), s.before, s.after) for s in sides]
        paced = interleave(sides, args.http_rounds, args.http_requests)
        compare(f"paced at {rate:.0f} req/s, shadow", paced, "legacy", "shadow", "p50")
        paced_ratio = compare(f"paced at {rate:.0f} req/s, shadow", paced, "legacy", "shadow", "p99")
        served = 2 * args.http_rounds * (args.http_requests // args.connections + HTTP_WARMUPS) * args.connections
        print(f"  samples: {describe(outcomes, f'~{served}')}; a few warm-ups may straddle a switch")
        verdicts.append(verdict("shadow p99 within 10% of legacy, HTTP saturated", ratio, 0.10))
        verdicts.append(verdict(f"shadow p99 within 10% of legacy, HTTP paced at {rate:.0f} req/s", paced_ratio, 0.10))
    finally:
        stop_server(server)
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short run: 3 rounds, few requests (under a minute)")
    parser.add_argument("--rounds", type=int, default=7, help="interleaved rounds in-process (HTTP: 2 fewer)")
    parser.add_argument("--requests", type=int, default=400, help="in-process requests per side and round")
    parser.add_argument("--http-requests", type=int, default=800, help="HTTP requests per side and round")
    parser.add_argument("--connections", type=int, default=8, help="concurrent keep-alive HTTP connections")
    parser.add_argument("--skip-http", action="store_true", help="in-process parts only, no gunicorn")
    parser.add_argument(
        "--runner", choices=("process", "thread"), default="process", help="SHADOW_RUNNER of both platforms"
    )
    args = parser.parse_args()
    RUNNER[0] = args.runner
    if args.quick:
        args.rounds, args.requests, args.http_requests = 3, 100, 240
    args.http_rounds = max(2, args.rounds - 2)  # an HTTP round also waits for flag polls and the shadow backlog
    verdicts: list[str] = []
    with tempfile.TemporaryDirectory(prefix="bench_router_") as folder:
        root = Path(folder)
        database = root / "bench.db"
        engine = make_engine(f"sqlite:///{database}")
        upgrade_schema(engine, ROOT / "plugins")
        engine.dispose()
        settings = Settings(_env_file=None, **settings_for(root, database))  # type: ignore[call-arg]
        platform = create_platform(settings, argon2_memory_kib=1024)
        try:
            project_id, cookie = seed(platform)
            path = f"/api/projects/{project_id}/papertrail/board"
            board = environ_for(path, cookie)
            args.plugin_problem = enable_plugin(platform, wsgi_call(platform, board))
            # The server's copy of the state: plugin enabled, no counts yet (sqlite's backup is a consistent copy).
            with closing(sqlite3.connect(database)) as source, closing(sqlite3.connect(root / "server.db")) as target:
                source.backup(target)
            sizes = (
                f"{args.requests} requests per side and round in-process (/login 4x), {args.http_requests} over HTTP"
            )
            print(f"{args.rounds} interleaved rounds in-process, {args.http_rounds} over HTTP; {sizes}")
            print("figures: medians over rounds; ratio: median of per-round candidate/baseline (> 1: candidate slower)")
            print(f"  {'measurement':56s} {'baseline':>12s} {'candidate':>12s}  {'ratio':>6s}")
            bench_in_process(platform, board, args, verdicts)
            if not args.skip_http and not args.plugin_problem:
                bench_http(root, path, cookie, args, verdicts)
        finally:
            platform.close()
            platform.services.engine.dispose()
            if verdicts:
                print("-- verdicts")
                print("\n".join(verdicts))


if __name__ == "__main__":
    main()
