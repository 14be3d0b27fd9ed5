"""Benchmark: what the plugin sandbox costs on PaperTrail's signed-in `GET board`, side by side (not a test).

Two platforms on one database, both with PaperTrail in plugin mode: one runs the plugin inline, the other in its
sandbox (PLUGIN_ISOLATION=process: the plugin's gunicorn on a Unix socket, reached over HTTP). Each round
times N requests on each side, interleaved, and the report gives the median of the per-round p50 and p99 ratios
(sandbox / inline). Targets: p50 within 1.15x, p99 within 1.25x. Absolute times drift on a shared machine; the
ratios are what to read.

    .venv/bin/python scripts/bench_sandbox.py [--requests 400] [--rounds 7] [--postgres ADMIN_URL]

The database is a SQLite file, or with `--postgres` (production's shape) a new database on that server, deployed as
`sv migrate:deploy` does (the plugin's own role, which its workers log in as) and dropped afterwards.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from werkzeug.test import Client, EnvironBuilder, run_wsgi_app

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from exthost.deploy import migrate_plugins, upgrade_schema  # noqa: E402
from exthost.platform import Platform, create_platform  # noqa: E402
from legacy_core.db import make_engine  # noqa: E402
from legacy_core.settings import Settings  # noqa: E402

FEATURE = "papertrail"
WARMUPS = 20
BOARD = {
    "title": "Harbour case",
    "nodes": [
        {"id": "n1", "type": "note", "x": 10, "y": 20, "w": 200, "h": 120, "title": "Lead", "tags": ["#money"]},
        {"id": "n2", "type": "text", "text": "A witness saw the boat leave at night.", "tags": ["witness"]},
        {"id": "n3", "type": "image", "imageUrl": "https://example.test/a.png", "color": "#ff0000"},
    ],
    "edges": [{"id": "e1", "source": "n1", "target": "n2", "label": "pays"}, {"source": "n2", "target": "n3"}],
}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


def timed(call: Callable[[], object], requests: int) -> list[float]:
    for _ in range(WARMUPS):
        call()
    latencies = []
    for _ in range(requests):
        started = time.perf_counter()
        call()
        latencies.append(time.perf_counter() - started)
    return latencies


def pool_cpu(pid: int) -> float:
    """CPU seconds (user + system) used so far by a pool's gunicorn and its workers, live or reaped (from /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(entry.name) == pid:
            # The arbiter's own time, and that of the workers it has reaped (replaced after maxRequests).
            total += sum(int(value) for value in fields[11:15]) / tick
        elif int(fields[1]) == pid:
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def board_call(platform: Platform, path: str, cookie: str) -> Callable[[], bytes]:
    environ = dict(EnvironBuilder(path=path, headers=[("Cookie", cookie)]).get_environ())

    def call() -> bytes:
        body, status, _ = run_wsgi_app(platform, {**environ, "wsgi.input": io.BytesIO(b"")}, buffered=True)
        if not status.startswith("200"):
            raise SystemExit(f"GET {path} answered {status!r}, expected 200")
        return b"".join(body)

    return call


def seed(platform: Platform) -> tuple[str, str]:
    client = Client(platform)

    def post(path: str, body: dict[str, Any], status: int) -> dict[str, Any]:
        response = client.post(path, json=body)
        if response.status_code != status:
            raise SystemExit(f"{path}: {response.status_code} {response.get_json()}")
        return dict(response.get_json())

    post("/register", {"email": "bench@example.test", "password": "bench pw 12", "name": "Bench"}, 201)
    project_id = str(post("/api/projects", {"name": "Bench", "type": FEATURE}, 201)["id"])
    post(f"/api/projects/{project_id}/papertrail/board", BOARD, 200)
    name = platform.services.settings.AUTH_SESSION_COOKIE_NAME
    cookie = client.get_cookie(name)
    assert cookie is not None
    return project_id, f"{name}={cookie.value}"


@contextmanager
def database(root: Path, postgres: str | None) -> Iterator[str]:
    """The URL of a database with the whole schema: a SQLite file under `root`, or a new PostgreSQL database on the
    server of `postgres` (an admin URL), deployed with the plugins' roles and dropped (with them) at the end."""
    if postgres is None:
        (root / "db").mkdir()
        url = f"sqlite:///{root / 'db' / 'bench.db'}"
        engine = make_engine(url)
        upgrade_schema(engine, ROOT / "plugins")
        engine.dispose()
        yield url
        return
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from exthost.roles import drop_plugin_roles

    name = f"sv_bench_sandbox_{uuid.uuid4().hex[:8]}"
    admin = create_engine(postgres, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        url = make_url(postgres).set(database=name).render_as_string(hide_password=False)
        engine = make_engine(url)
        upgrade_schema(engine, ROOT / "plugins")
        settings = Settings(_env_file=None, DATABASE_URL=url, PLUGINS_DIR=ROOT / "plugins", PLUGIN_SIGNATURES="off")  # type: ignore[call-arg]
        migrate_plugins(settings, engine, ())  # the plugins' roles (`sv migrate:deploy`)
        engine.dispose()
        yield url
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            drop_plugin_roles(connection, name)
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument(
        "--postgres",
        metavar="ADMIN_URL",
        help="Run on a new database of this PostgreSQL server, e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder, database(Path(folder), args.postgres) as url:
        root = Path(folder)
        common: dict[str, Any] = {
            "DATABASE_URL": url,
            "DATA_DIR": root / "data",
            "PLUGINS_DIR": ROOT / "plugins",
            "PLUGIN_ENTRY_POINTS": False,
            "FLAGS_POLL_SECONDS": 0.5,
            "LOG_LEVEL": "WARNING",
            "SHADOW_RUNNER": "thread",
            "PLUGIN_SIGNATURES": "off",  # the working tree's plugins are unsigned
        }
        inline = create_platform(Settings(_env_file=None, PLUGIN_ISOLATION="inline", **common))  # type: ignore[call-arg]
        sandboxed = create_platform(Settings(_env_file=None, PLUGIN_ISOLATION="process", **common))  # type: ignore[call-arg]
        try:
            project_id, cookie = seed(inline)
            inline.host.enable(FEATURE)
            inline.set_mode(FEATURE, "plugin")
            sandboxed.host.sync(force=True)
            sandboxed.flags.refresh()
            path = f"/api/projects/{project_id}/papertrail/board"
            sides = {"inline": board_call(inline, path, cookie), "sandbox": board_call(sandboxed, path, cookie)}
            if sides["inline"]() != sides["sandbox"]():
                raise SystemExit("the two sides answer different bodies: nothing to compare")
            rounds: dict[str, list[list[float]]] = {name: [] for name in sides}
            cpu = {name: 0.0 for name in sides}
            pool = sandboxed.host.sandbox.pools[FEATURE]
            for index in range(args.rounds):
                order = list(sides) if index % 2 == 0 else list(sides)[::-1]
                for name in order:
                    # CPU per request: this process's, plus the plugin workers' on the sandboxed side.
                    before = time.process_time() + (pool_cpu(pool.process.pid) if name == "sandbox" else 0.0)
                    rounds[name].append(timed(sides[name], args.requests))
                    after = time.process_time() + (pool_cpu(pool.process.pid) if name == "sandbox" else 0.0)
                    cpu[name] += (after - before) / (args.requests + WARMUPS)
            answered = sandboxed.host.describe(sandboxed.host.get(FEATURE))["sandbox"]["answered"]
            backend = "PostgreSQL" if args.postgres else "SQLite"
            sizes = f"{args.rounds} rounds x {args.requests} requests per side"
            print(f"PaperTrail signed-in GET board on {backend}, {sizes}")
            print(f"  (the sandboxed side's plugin workers answered {answered} requests)")
            load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
            print(f"  load average {load} on {os.cpu_count()} CPUs: a busy machine adds the wait for the worker's turn")
            print(f"  {'':8s} {'inline':>12s} {'sandbox':>12s}  {'ratio':>6s}  target")
            for label, q, target in (("p50", 50, 1.15), ("p99", 99, 1.25)):
                ratio = statistics.median(
                    percentile(s, q) / percentile(i, q)
                    for i, s in zip(rounds["inline"], rounds["sandbox"], strict=True)
                )
                base = statistics.median(percentile(r, q) for r in rounds["inline"]) * 1e3
                cand = statistics.median(percentile(r, q) for r in rounds["sandbox"]) * 1e3
                met = "met" if ratio <= target else "NOT met"
                print(f"  {label:8s} {base:9.3f} ms {cand:9.3f} ms  {ratio:6.3f}  {target:.2f}x {met}")
            base, cand = (cpu[name] / args.rounds * 1e3 for name in ("inline", "sandbox"))
            print(f"  {'CPU/req':8s} {base:9.3f} ms {cand:9.3f} ms  {cand / base:6.3f}  (host + plugin workers)")
        finally:
            sandboxed.close()
            inline.close()


if __name__ == "__main__":
    main()
