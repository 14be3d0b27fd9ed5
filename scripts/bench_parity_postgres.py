"""The parity harness on PostgreSQL (PARITY_DATABASE_URL) beside SQLite, measured side by side in one run.

    .venv/bin/python scripts/bench_parity_postgres.py [--server URL] [--rounds 15] [--generated 60]

Prints, as medians over interleaved rounds, each on SQLite and on PostgreSQL and their ratio:
- reset after a case that wrote (a board node): SQLite copies the file back; PostgreSQL drops the side's database
  and makes it again from the template (`CREATE DATABASE … TEMPLATE`);
- reset after a case that only read: SQLite still copies; PostgreSQL asks each side's change counter;
- a write request compared (both sides answer, rows read back through the counter's say-so);
- generated PaperTrail cases per second through `run_parity` (no coverage).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from exthost.evidence.compare import CapturedRequest  # noqa: E402
from legacy_core.settings import Settings  # noqa: E402
from parity_tests.harness import HarnessConfig, run_parity  # noqa: E402
from parity_tests.pair import Pair, build_pair  # noqa: E402

JSON = (("Content-Type", "application/json"),)


def settings(server: str | None) -> Settings:
    return Settings(  # type: ignore[call-arg]
        _env_file=None, PARITY_DATABASE_URL=server, PLUGINS_DIR=ROOT / "plugins", PLUGIN_ENTRY_POINTS=False
    )


def node_write(pair: Pair, number: int) -> CapturedRequest:
    project = pair.seed.projects["papertrail"]
    body = json.dumps({"id": f"bench{number}", "label": "Bench"}).encode()
    return CapturedRequest(
        "POST", f"/api/projects/{project['id']}/papertrail/board/{project['board_id']}/nodes", headers=JSON, body=body
    )


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server", default="postgresql+psycopg://postgres@127.0.0.1:5432/test", help="PostgreSQL URL.")
    parser.add_argument("--rounds", type=int, default=15, help="Interleaved rounds per figure.")
    parser.add_argument("--generated", type=int, default=60, help="Generated cases per run (0: skip).")
    options = parser.parse_args()
    # The working tree's plugins are unsigned: a benchmark checks no signatures (see docs/operations.md).
    os.environ.setdefault("PLUGIN_SIGNATURES", "off")
    backends = {"sqlite": None, "postgresql": options.server}
    figures: dict[str, dict[str, list[float]]] = {name: {} for name in backends}
    with tempfile.TemporaryDirectory(prefix="bench-parity-pg-") as folder:
        pairs = {
            name: build_pair(Path(folder) / name, base=settings(server), features=("papertrail",))
            for name, server in backends.items()
        }
        try:
            for number in range(options.rounds):
                for name, pair in pairs.items():
                    found = figures[name]
                    pair.start_case(user="alice")
                    found.setdefault("write compared (ms)", []).append(
                        1000 * timed(lambda pair=pair, number=number: pair.exchange(0, node_write(pair, number)))
                    )
                    found.setdefault("reset after a write (ms)", []).append(
                        1000 * timed(lambda pair=pair: pair.start_case(user="alice"))
                    )
                    found.setdefault("reset after a read (ms)", []).append(
                        1000 * timed(lambda pair=pair: pair.start_case(user="alice"))
                    )
        finally:
            for pair in pairs.values():
                pair.close()
        if options.generated:
            for number in range(3):
                for name, server in backends.items():
                    marks: dict[str, float] = {}
                    config = HarnessConfig(
                        features=("papertrail",),
                        recordings=None,
                        generated=options.generated,
                        seed=number,
                        base=settings(server),
                        coverage=False,
                        workspace=Path(folder) / f"run-{name}-{number}",
                    )
                    run = run_parity(
                        config, on_plan=lambda plan, marks=marks: marks.setdefault("t", time.perf_counter())
                    )
                    rate = len(run.cases) / (time.perf_counter() - marks["t"])
                    figures[name].setdefault("generated cases per second", []).append(rate)
                    if server:
                        from parity_tests.postgres import PostgresDatabases

                        PostgresDatabases(server, (Path(folder) / f"run-{name}-{number}" / "workspace")).drop(
                            ["template"]
                        )
    print(f"{'figure':32} {'sqlite':>10} {'postgresql':>11} {'ratio':>7}")
    for figure in figures["sqlite"]:
        lite, pg = statistics.median(figures["sqlite"][figure]), statistics.median(figures["postgresql"][figure])
        print(f"{figure:32} {lite:10.2f} {pg:11.2f} {pg / lite:7.2f}")


if __name__ == "__main__":
    main()
