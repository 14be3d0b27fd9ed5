"""Benchmark: how long `sv` takes to start, as whole processes, side by side with a bare `python -c pass` (not a test).

Each round runs every command once, in an order that rotates from round to round, so a burst of load on this shared
machine falls on all of them alike. A figure is the median wall time over rounds; a ratio is the median of the per-round
ratios to `python -c pass` of the same round. The processes run with bytecode caching on, as an installed `sv` does
(PYTHONDONTWRITEBYTECODE is dropped from their environment). The database is a migrated SQLite file in a temporary
folder, and the commands run from the checkout, so `sv plugins:list` discovers the repository's plugins.

Targets (issue 11): `sv --help` under 150 ms, `sv flags:list` and `sv plugins:list` under 400 ms. Two "floor" rows
import, and do nothing with, the libraries those commands need (settings, SQLAlchemy's ORM, rich; plus Flask,
pluggy and alembic for the host): a command cannot start faster than its floor, so the gap to it is what `sv`
itself costs.

    .venv/bin/python scripts/bench_cli.py [--rounds 15]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SV = str(Path(sys.executable).parent / "sv")

# The libraries a command that reads the database cannot do without, imported and nothing run: the floor under
# `sv flags:list` (settings, SQLAlchemy's ORM, a table) and under `sv plugins:list` (plus Flask for the plugins' apps,
# alembic for the migration check and pluggy for the hooks).
DB_FLOOR = "import click, rich.console, rich.table, sqlalchemy.orm, legacy_core.settings"
HOST_FLOOR = DB_FLOOR + ", flask, pluggy, alembic.runtime.migration, alembic.script"

# (label, argv, target in ms or None)
COMMANDS: list[tuple[str, list[str], float | None]] = [
    ("python -c pass", [sys.executable, "-c", "pass"], None),
    ("floor: db libs", [sys.executable, "-c", DB_FLOOR], None),
    ("floor: host libs", [sys.executable, "-c", HOST_FLOOR], None),
    ("sv --help", [SV, "--help"], 150.0),
    ("sv flags:list", [SV, "flags:list"], 400.0),
    ("sv plugins:list", [SV, "plugins:list"], 400.0),
]


def run_once(argv: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr.decode(errors='replace')}")
    return elapsed * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15, help="Rounds of every command (default 15).")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sv-bench-cli-") as folder:
        env = dict(os.environ)
        # As users run it: bytecode cached in __pycache__ (the warm-up round writes it). With PYTHONDONTWRITEBYTECODE
        # set, every module not yet cached is compiled again at each start, which no installed `sv` does.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env.update(DATABASE_URL=f"sqlite:///{folder}/sovereign.db", DATA_DIR=f"{folder}/data", COLUMNS="120")
        subprocess.run([SV, "migrate:deploy"], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
        for _, argv, _ in COMMANDS:  # warm the file cache and the bytecode of every module once
            run_once(argv, env)
        times: dict[str, list[float]] = {label: [] for label, _, _ in COMMANDS}
        ratios: dict[str, list[float]] = {label: [] for label, _, _ in COMMANDS}
        for round_number in range(args.rounds):
            shift = round_number % len(COMMANDS)
            order = COMMANDS[shift:] + COMMANDS[:shift]
            measured = {label: run_once(argv, env) for label, argv, _ in order}
            for label, value in measured.items():
                times[label].append(value)
                ratios[label].append(value / measured["python -c pass"])
    print(f"sv start-up, {args.rounds} interleaved rounds, whole processes (median ms; ratio to python -c pass)")
    print(f"{'command':<18} {'median ms':>10} {'min ms':>8} {'ratio':>7} {'target ms':>10}  verdict")
    for label, _, target in COMMANDS:
        median = statistics.median(times[label])
        verdict = "-" if target is None else ("met" if median < target else "MISSED")
        shown_target = "-" if target is None else f"{target:.0f}"
        print(
            f"{label:<18} {median:>10.1f} {min(times[label]):>8.1f} {statistics.median(ratios[label]):>7.2f} "
            f"{shown_target:>10}  {verdict}"
        )


if __name__ == "__main__":
    main()
