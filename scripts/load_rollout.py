"""Load-and-fault test of the rollout, in the shape production runs: gunicorn workers on PostgreSQL, real HTTP.

Starts gunicorn (gthread, `--workers 3 --threads 4`) on loopback over a fresh PostgreSQL database, with the real
PaperTrail plugin (a copy that raises on `?sv-fault=1`, so canary fallbacks can be provoked and counted). Signed-in
clients read and write three shared boards for a bounded time while the feature goes through
legacy -> shadow (100%) -> canary (50%) -> plugin -> legacy, the plugin is disabled and enabled again in plugin mode,
and a gunicorn worker and a shadow child are killed with SIGKILL during shadow mode. gunicorn is then stopped
gracefully, and the database is checked:

  - every write answered 2xx is stored exactly once (comments by their unique body, nodes by their id);
  - no write answered 4xx is stored, and none is stored twice;
  - no caller got a 5xx (legacy alone gives none of these requests one; shadow must not add any);
  - no mismatch or candidate error was reported (the plugin is the real, proven-equal one: any would be false);
  - every fault the plugin raised in canary mode is counted as a canary fallback.

Prints a table of the phases and the checks, and exits 1 when a check fails. `--quick` is the version CI runs
(about a minute); the default is the longer benchmark run. A worker killed with SIGKILL loses the counts it had not
flushed yet (at most SHADOW_FLUSH_SECONDS' worth): the worker is killed in shadow mode, whose counts are not
checked one by one, and the canary checks cover only live workers.

    .venv/bin/python scripts/load_rollout.py [--quick] [--duration 150] [--clients 12] [--database-url URL]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
DEFAULT_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
PASSWORD = "load-test-password-1"
# The canary phase provokes plugin faults until at least this many were raised (or the limit passes).
MIN_FAULTS = 10
FAULT_WINDOW_LIMIT = 60.0
FAULT = """
        @ctx.router.before_request
        def injected_fault() -> None:
            # scripts/load_rollout.py: a failure on demand, logged, so canary fallbacks can be counted.
            if request.args.get("sv-fault"):
                # In the plugin's own data folder: a sandboxed worker (the default under gunicorn) may write only there.
                with open(ctx.data_dir / "faults.log", "a", encoding="utf-8") as log:
                    log.write("fault\\n")
                raise RuntimeError("injected fault")
"""


# -- the server -------------------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def database(url: str | None, admin_url: str) -> Iterator[str]:
    """`url` as given, or a new database on the admin URL's server, dropped afterwards."""
    if url is not None:
        yield url
        return
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    name = f"sv_load_{uuid.uuid4().hex[:10]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def faulty_plugins(folder: Path) -> Path:
    """A copy of the repository's PaperTrail plugin that raises on `?sv-fault=1` (and logs each time it does)."""
    target = folder / "plugins"
    shutil.copytree(
        ROOT / "plugins" / "papertrail", target / "papertrail", ignore=shutil.ignore_patterns("__pycache__")
    )
    entry = target / "papertrail" / "plugin.py"
    source = entry.read_text(encoding="utf-8")
    anchor = "        feature = Feature(ctx)\n"
    if source.count(anchor) != 1:
        raise SystemExit(f"{entry}: cannot place the injected fault (anchor {anchor.strip()!r} not found once)")
    source = source.replace(anchor, anchor + FAULT).replace(
        "from __future__ import annotations\n", "from __future__ import annotations\n\nimport os\n", 1
    )
    entry.write_text(source, encoding="utf-8")
    return target


def sv(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([str(BIN / "sv"), *args], env=env, cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"sv {' '.join(args)} failed: {done.stdout}{done.stderr}")
    return done.stdout


class Server:
    def __init__(self, env: dict[str, str], port: int, workers: int, log: Path, cpus: str | None = None):
        self.port = port
        self.log = log
        command = ["taskset", "-c", cpus] if cpus else []
        command += [
            str(BIN / "gunicorn"),
            "exthost.wsgi:create_app()",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--worker-class",
            "gthread",
            "--threads",
            "4",
            "--timeout",
            "60",
            "--graceful-timeout",
            "30",
        ]
        self.process = subprocess.Popen(
            command, env=env, cwd=ROOT, stdout=log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                status, _, _ = request(port, "GET", "/health")
                if status == 200:
                    return
            except OSError:
                pass
            if self.process.poll() is not None:
                raise SystemExit(f"gunicorn exited at start; see {log}")
            time.sleep(0.2)
        raise SystemExit(f"gunicorn did not answer /health within 60 s; see {log}")

    def workers(self) -> list[int]:
        return children(self.process.pid)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return sorted(found)


def shadow_children(worker_pids: list[int]) -> list[int]:
    """The shadow children of these workers (spawned interpreters, not multiprocessing's resource tracker)."""
    found = []
    for worker in worker_pids:
        for child in children(worker):
            try:
                command = Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ")
            except OSError:
                continue
            if b"spawn_main" in command and b"resource_tracker" not in command:
                found.append(child)
    return found


# -- the clients ------------------------------------------------------------------------------------------------------


def request(
    port: int, method: str, path: str, body: Any = None, cookie: str | None = None, timeout: float = 30
) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        if cookie:
            headers["Cookie"] = cookie
        connection.request(method, path, body=None if body is None else json.dumps(body), headers=headers)
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def sign_up(port: int, email: str) -> str:
    status, headers, body = request(port, "POST", "/register", {"email": email, "password": PASSWORD, "name": email})
    if status != 201:
        raise SystemExit(f"register {email}: {status} {body[:200]!r}")
    return headers["set-cookie"].split(";", 1)[0]


@dataclass
class Tally:
    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    comments: dict[str, int] = field(default_factory=dict)  # body -> status (0: connection failed)
    nodes: dict[tuple[str, str], int] = field(default_factory=dict)  # (board, node id) -> status
    fault_requests: int = 0
    server_errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def client_loop(
    number: int,
    port: int,
    cookie: str,
    boards: list[tuple[str, str]],
    stop: threading.Event,
    faults: threading.Event,
    tally: Tally,
    seed: int,
) -> None:
    chance = random.Random(seed * 1000 + number)
    sequence = 0
    while not stop.is_set():
        sequence += 1
        base, board_id = boards[number % len(boards)]
        roll = chance.random()
        if roll < 0.35:
            fault = faults.is_set() and chance.random() < 0.15
            op, method, path, body = "get-board", "GET", base + ("?sv-fault=1" if fault else ""), None
        elif roll < 0.50:
            op, method, path, body, fault = "get-nodes", "GET", f"{base}/{board_id}/nodes", None, False
        elif roll < 0.70:
            node = f"c{number}n{sequence}"
            body = {"id": node, "type": "claim", "title": f"node {node}", "x": sequence % 500, "y": number}
            op, method, path, fault = "post-node", "POST", f"{base}/{board_id}/nodes", False
        elif roll < 0.82:
            op, method, path, fault = "patch-board", "PATCH", base, False
            body = {"title": f"board by c{number} #{sequence}"}
        else:
            text = f"c{number}m{sequence}"
            op, method, path, fault = "post-comment", "POST", f"{base}/{board_id}/comments", False
            body = {"body": text}
        try:
            status, _, answer = request(port, method, path, body, cookie)
        except (OSError, http.client.HTTPException) as exc:
            status, answer = 0, str(exc).encode()
        with tally.lock:
            tally.statuses[(op, status)] += 1
            if fault:
                tally.fault_requests += 1
            if status == 0:
                tally.errors[op] += 1
            if status >= 500:
                tally.server_errors.append(f"{method} {path}: {status} {answer[:160]!r}")
            if op == "post-comment":
                tally.comments[body["body"]] = status
            elif op == "post-node":
                tally.nodes[(board_id, body["id"])] = status


# -- the run ----------------------------------------------------------------------------------------------------------


@dataclass
class Phase:
    name: str
    share: float
    actions: list[tuple[float, str]] = field(default_factory=list)  # (fraction of the phase, action)


PHASES = [
    Phase("legacy", 0.12),
    Phase("shadow 100%", 0.25, [(0.35, "kill-shadow-child"), (0.6, "kill-worker")]),
    Phase("canary 50%", 0.23, [(0.0, "faults")]),
    Phase("plugin", 0.25, [(0.3, "disable-plugin"), (0.6, "enable-plugin")]),
    Phase("legacy again", 0.15),
]
FLAGS = {
    "legacy": ["papertrail", "legacy"],
    "shadow 100%": ["papertrail", "shadow", "--sample", "100"],
    "canary 50%": ["papertrail", "canary", "--percent", "50"],
    "plugin": ["papertrail", "plugin", "--force", "--reason", "load test"],
    "legacy again": ["papertrail", "legacy"],
}


def run(args: argparse.Namespace, url: str) -> int:
    from sqlalchemy import create_engine, func, select, text

    folder = Path(tempfile.mkdtemp(prefix="sv-load-"))
    fault_log = folder / "data" / "plugins" / "papertrail" / "faults.log"
    fault_log.parent.mkdir(parents=True)
    fault_log.touch()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update(
        DATABASE_URL=url,
        DATA_DIR=str(folder / "data"),
        PLUGINS_DIR=str(faulty_plugins(folder)),
        PLUGIN_ENTRY_POINTS="false",
        PLUGIN_SIGNATURES="off",  # the working tree's plugins are unsigned
        FLAGS_POLL_SECONDS="0.5",
        PLUGIN_POLL_SECONDS="0.5",
        SHADOW_FLUSH_SECONDS="1",
        CANARY_BREAKER_FAILURES="0",  # the faults are provoked on purpose: no trip back to legacy
        PLUGIN_ERROR_BUDGET="0",
        # Under the sandbox, PaperTrail's bulkhead is as wide as a worker's threads: this run checks the rollout's
        # counts under load, and a bulkhead narrower than the threads would answer its own 503s (tested apart, in
        # tests/exthost/test_sandbox*.py).
        PLUGIN_LIMITS='{"papertrail": {"concurrency": 4}}',
    )
    sv(env, "migrate:deploy")
    sv(env, "plugins:enable", "papertrail")
    port = free_port()
    server = Server(env, port, args.workers, folder / "gunicorn.log")
    report: list[tuple[str, str]] = []
    try:
        owner = sign_up(port, "owner@load.test")
        boards = []
        for index in range(3):
            status, _, body = request(port, "POST", "/api/projects", {"name": f"B{index}", "type": "papertrail"}, owner)
            project = json.loads(body)["id"]
            base = f"/api/projects/{project}/papertrail/board"
            status, _, body = request(port, "POST", base, {"title": f"B{index}", "nodes": [], "edges": []}, owner)
            boards.append((project, base, json.loads(body)["board"]["id"]))
        cookies = []
        for number in range(args.clients):
            email = f"c{number}@load.test"
            cookies.append(sign_up(port, email))
            project = boards[number % len(boards)][0]
            status, _, body = request(
                port, "POST", f"/api/projects/{project}/shares", {"email": email, "role": "editor"}, owner
            )
            if status != 201:
                raise SystemExit(f"share with {email}: {status} {body[:200]!r}")
        stop, faults, tally = threading.Event(), threading.Event(), Tally()
        threads = [
            threading.Thread(
                target=client_loop,
                args=(n, port, cookies[n], [(b, i) for _, b, i in boards], stop, faults, tally, args.seed),
                daemon=True,
            )
            for n in range(args.clients)
        ]
        for thread in threads:
            thread.start()
        for phase in PHASES:
            seconds = args.duration * phase.share
            started = time.monotonic()
            sv(env, "flags:set", *FLAGS[phase.name])
            done = []
            for at, action in phase.actions:
                time.sleep(max(0.0, started + seconds * at - time.monotonic()))
                done.append(act(action, server, env, faults, fault_log))
            time.sleep(max(0.0, started + seconds - time.monotonic()))
            report.append((phase.name, f"{seconds:.0f} s" + (f"; {'; '.join(done)}" if done else "")))
        stop.set()
        for thread in threads:
            thread.join(60)
    finally:
        server.stop()
    engine = create_engine(url)
    with engine.connect() as connection:
        comment_counts = Counter(
            {row[0]: row[1] for row in connection.execute(text("SELECT body, count(*) FROM pt_comments GROUP BY body"))}
        )
        stored_nodes = {(row[0], row[1]) for row in connection.execute(text("SELECT board_id, id FROM pt_nodes"))}
        counts = Counter()
        for row in connection.execute(
            text("SELECT mode, outcome, sum(count) FROM sv_shadow_counts GROUP BY mode, outcome")
        ):
            counts[(row[0], row[1])] += int(row[2])
        kept = connection.execute(select(func.count()).select_from(text("sv_shadow_mismatches"))).scalar_one()
    engine.dispose()
    faults_raised = len(fault_log.read_text().splitlines())
    fallbacks = sum(n for (mode, outcome), n in counts.items() if mode == "canary" and outcome.startswith("fallback:"))
    checks = verify(tally, comment_counts, stored_nodes, counts, kept, faults_raised, fallbacks)
    print_report(report, tally, counts, checks, faults_raised, fallbacks)
    if not args.quick and not args.skip_latency:
        _, base, _ = boards[0]
        latency(args, env, folder, base, cookies[0])
    shutil.rmtree(folder, ignore_errors=True)
    return 0 if all(ok for _, ok, _ in checks) else 1


def act(action: str, server: Server, env: dict[str, str], faults: threading.Event, fault_log: Path) -> str:
    if action == "kill-shadow-child":
        victims = shadow_children(server.workers())
        if not victims:
            return "no shadow child found to kill"
        os.kill(victims[0], signal.SIGKILL)
        return f"SIGKILL shadow child {victims[0]}"
    if action == "kill-worker":
        workers = server.workers()
        os.kill(workers[0], signal.SIGKILL)
        return f"SIGKILL worker {workers[0]}"
    if action == "faults":
        # Faults only once every worker follows the canary flag (it polls every FLAGS_POLL_SECONDS), and until the
        # plugin has raised enough of them to prove something: a loaded machine may serve few requests in a while.
        time.sleep(1.5)
        faults.set()
        deadline = time.monotonic() + FAULT_WINDOW_LIMIT
        while time.monotonic() < deadline and len(fault_log.read_text().splitlines()) < MIN_FAULTS:
            time.sleep(0.2)
        faults.clear()
        time.sleep(1.5)  # requests in flight finish before the next flip
        return f"faults provoked: {len(fault_log.read_text().splitlines())}"
    if action == "disable-plugin":
        sv(env, "plugins:disable", "papertrail")
        return "plugin disabled"
    if action == "enable-plugin":
        sv(env, "plugins:enable", "papertrail")
        return "plugin enabled"
    raise ValueError(action)


def verify(
    tally: Tally,
    comment_counts: Counter[str],
    stored_nodes: set[tuple[str, str]],
    counts: Counter[tuple[str, str]],
    kept: int,
    faults_raised: int,
    fallbacks: int,
) -> list[tuple[str, bool, str]]:
    ok_comments = [body for body, status in tally.comments.items() if 200 <= status < 300]
    missing = [body for body in ok_comments if comment_counts[body] != 1]
    twice = [body for body, n in comment_counts.items() if n > 1]
    refused_but_stored = [
        body for body, status in tally.comments.items() if 400 <= status < 500 and comment_counts[body]
    ]
    ok_nodes = [key for key, status in tally.nodes.items() if 200 <= status < 300]
    missing_nodes = [key for key in ok_nodes if key not in stored_nodes]
    refused_nodes = [key for key, status in tally.nodes.items() if 400 <= status < 500 and key in stored_nodes]
    false_reports = sum(n for (_, outcome), n in counts.items() if outcome in ("mismatch", "candidate_error"))
    return [
        (
            "2xx writes stored exactly once",
            not missing and not missing_nodes,
            f"{len(ok_comments)} comments, {len(ok_nodes)} nodes; "
            f"missing or not once: {missing[:3] + missing_nodes[:3]}",
        ),
        ("no write applied twice", not twice, f"{len(twice)} comment bodies stored more than once {twice[:3]}"),
        (
            "4xx writes stored nothing",
            not refused_but_stored and not refused_nodes,
            f"{len(refused_but_stored) + len(refused_nodes)} stored despite a 4xx",
        ),
        ("no caller 5xx", not tally.server_errors, f"{len(tally.server_errors)} {tally.server_errors[:3]}"),
        ("no false mismatch", false_reports == 0 and kept == 0, f"{false_reports} counted, {kept} kept"),
        (
            "every canary fallback counted",
            faults_raised == fallbacks and faults_raised > 0,
            f"plugin raised {faults_raised} faults in canary mode; fallbacks counted {fallbacks}",
        ),
    ]


def print_report(
    report: list[tuple[str, str]],
    tally: Tally,
    counts: Counter[tuple[str, str]],
    checks: list[tuple[str, bool, str]],
    faults_raised: int,
    fallbacks: int,
) -> None:
    print("phase            what happened")
    for name, what in report:
        print(f"{name:<16} {what}")
    total = sum(tally.statuses.values())
    by_status = Counter()
    for (_, status), n in tally.statuses.items():
        by_status[status] += n
    print(f"\nrequests: {total}; by status: {dict(sorted(by_status.items()))}; connection errors: {dict(tally.errors)}")
    print("outcomes counted (mode, outcome): " + ", ".join(f"{m}/{o} {n}" for (m, o), n in sorted(counts.items())))
    print("\ncheck                              result  detail")
    for name, ok, detail in checks:
        print(f"{name:<34} {'ok' if ok else 'FAILED':<7} {detail}")


# -- latency: shadow against legacy at 40% load ----------------------------------------------------------------------


class Caller:
    """A keep-alive connection of one client thread."""

    def __init__(self, port: int, cookie: str):
        self.port, self.cookie = port, cookie
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def get(self, path: str) -> tuple[int, float]:
        started = time.perf_counter()
        try:
            self.connection.request("GET", path, headers={"Cookie": self.cookie})
            response = self.connection.getresponse()
            response.read()
            status = response.status
        except (OSError, http.client.HTTPException):
            self.connection.close()
            self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            status = 0
        return status, (time.perf_counter() - started) * 1000


def saturate(port: int, cookie: str, path: str, seconds: float, threads: int = 8) -> float:
    """Requests per second the server carries back to back."""
    done = Counter[str]()
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def loop() -> None:
        caller = Caller(port, cookie)
        while time.monotonic() < deadline:
            status, _ = caller.get(path)
            with lock:
                done["ok" if status == 200 else "bad"] += 1

    workers = [threading.Thread(target=loop) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return done["ok"] / seconds


def paced(port: int, cookie: str, path: str, rate: float, seconds: float, threads: int = 16) -> list[float]:
    """Latencies (ms) of requests sent on a fixed schedule of `rate` per second (open loop)."""
    latencies: list[float] = []
    lock = threading.Lock()
    total = int(rate * seconds)
    start = time.monotonic() + 0.2
    counter = iter(range(total))

    def loop() -> None:
        caller = Caller(port, cookie)
        while True:
            with lock:
                index = next(counter, None)
            if index is None:
                return
            time.sleep(max(0.0, start + index / rate - time.monotonic()))
            status, elapsed = caller.get(path)
            if status == 200:
                with lock:
                    latencies.append(elapsed)

    workers = [threading.Thread(target=loop) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return latencies


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else float("nan")


def latency(args: argparse.Namespace, env: dict[str, str], folder: Path, path: str, cookie: str) -> None:
    """Signed-in GET board at 40% of the saturated rate, legacy against shadow at 100% sampling, per runner.

    gunicorn (and the shadow children it spawns) runs on CPU 0; the load generator, and for SHADOW_RUNNER=redis the
    `sv shadow:worker` process at nice 10, on CPU 1: on this 2-core machine that stands in for "replays on another
    machine". PostgreSQL and Redis run unpinned, so the replays' queries still share the machine.
    """
    print("\nlatency: signed-in GET board at 40% of the saturated rate; shadow at 100% sampling vs legacy")
    print("runner   rate/s   legacy p50   p99   shadow p50   p99   p50 ratio  p99 ratio  replayed")
    for runner in ("process", "redis"):
        stream = f"sv:load:{uuid.uuid4().hex[:8]}"
        runner_env = {**env, "SHADOW_RUNNER": runner, "SHADOW_STREAM": stream}
        runner_env["FLAGS_POLL_SECONDS"] = "0.5"
        replayed_before = replayed_count(env["DATABASE_URL"])
        server = Server(runner_env, free_port(), args.workers, folder / f"gunicorn-{runner}.log", cpus="0")
        worker = None
        if runner == "redis":
            # Niced on the load generator's core: the generator's timing must not suffer from the replays, as it
            # would not with the worker on another machine.
            command = ["nice", "-n", "10", "taskset", "-c", "1", str(BIN / "sv"), "shadow:worker", "--consumer", "x"]
            worker = subprocess.Popen(
                command, env=runner_env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
        os.sched_setaffinity(0, {1})
        try:
            sv(runner_env, "flags:set", "papertrail", "legacy")
            time.sleep(1.5)
            rate = 0.4 * saturate(server.port, cookie, path, args.saturate_seconds)
            found: dict[str, list[float]] = {"legacy": [], "shadow": []}
            for round_number in range(args.rounds):
                order = ("legacy", "shadow") if round_number % 2 == 0 else ("shadow", "legacy")
                for mode in order:
                    sv(runner_env, "flags:set", "papertrail", mode, *(["--sample", "100"] if mode == "shadow" else []))
                    time.sleep(1.5)
                    found[mode] += paced(server.port, cookie, path, rate, args.round_seconds)
            sv(runner_env, "flags:set", "papertrail", "legacy")
        finally:
            os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))
            server.stop()
            if worker is not None:
                worker.send_signal(signal.SIGTERM)
                worker.wait(60)
            if runner == "redis":
                connect_redis(runner_env.get("REDIS_URL", DEFAULT_REDIS)).delete(stream)
        replayed = replayed_count(env["DATABASE_URL"]) - replayed_before
        legacy, shadow = found["legacy"], found["shadow"]
        print(
            f"{runner:<8} {rate:>6.0f}   {percentile(legacy, 0.5):>10.1f} {percentile(legacy, 0.99):>5.1f}   "
            f"{percentile(shadow, 0.5):>10.1f} {percentile(shadow, 0.99):>5.1f}   "
            f"{percentile(shadow, 0.5) / percentile(legacy, 0.5):>9.2f} "
            f"{percentile(shadow, 0.99) / percentile(legacy, 0.99):>10.2f}  {replayed}"
        )


DEFAULT_REDIS = "redis://127.0.0.1:6379/0"


def connect_redis(url: str) -> Any:
    import redis

    return redis.Redis.from_url(url)


def replayed_count(url: str) -> int:
    """Shadow samples compared so far (match or mismatch), all runs."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            query = "SELECT coalesce(sum(count), 0) FROM sv_shadow_counts WHERE outcome IN ('match', 'mismatch')"
            return int(connection.execute(text(query)).scalar_one())
    finally:
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="The CI version: about a minute.")
    parser.add_argument("--duration", type=float, default=None, help="Seconds of load over all phases (150).")
    parser.add_argument("--clients", type=int, default=12, help="Signed-in clients (12).")
    parser.add_argument("--workers", type=int, default=3, help="gunicorn workers (3).")
    parser.add_argument("--seed", type=int, default=1, help="Seed of the clients' choices.")
    parser.add_argument("--database-url", default=None, help="An empty PostgreSQL database; a new one by default.")
    parser.add_argument("--admin-url", default=os.environ.get("SV_TEST_POSTGRES_URL", DEFAULT_ADMIN_URL))
    parser.add_argument("--skip-latency", action="store_true", help="Skip the latency comparison (full run only).")
    parser.add_argument("--rounds", type=int, default=4, help="Latency rounds per mode (4).")
    parser.add_argument("--round-seconds", type=float, default=8.0, help="Seconds per latency round (8).")
    parser.add_argument("--saturate-seconds", type=float, default=5.0, help="Seconds of the saturation run (5).")
    args = parser.parse_args()
    if args.duration is None:
        args.duration = 40.0 if args.quick else 150.0
    with database(args.database_url, args.admin_url) as url:
        sys.exit(run(args, url))


if __name__ == "__main__":
    main()
