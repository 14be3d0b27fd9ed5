"""Benchmark: how long a backup and a restore take, on SQLite and PostgreSQL, for a table of N rows (not a test).

Builds one table of `--rows` rows (an integer key and 200 characters of text) in a SQLite file in a temporary folder
and, when one answers at SV_TEST_POSTGRES_URL (default postgres@127.0.0.1:5432/test), in a new PostgreSQL database
dropped afterwards; then times `take_backup` and `restore_backup` (as `sv db:backup` and `sv db:restore --force` run
them), the median of `--rounds` rounds, and prints the backup file's size.

    .venv/bin/python scripts/bench_backup.py [--rows 200000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from exthost.backup import restore_backup, take_backup  # noqa: E402
from legacy_core.db import make_engine  # noqa: E402

ADMIN_URL = os.environ.get("SV_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def fill(url: str, rows: int) -> None:
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(text("CREATE TABLE bench_rows (id INTEGER PRIMARY KEY, body TEXT NOT NULL)"))
            batch = 10_000
            for start in range(0, rows, batch):
                values = [{"id": i, "body": f"{i:010d}" + "x" * 190} for i in range(start, min(rows, start + batch))]
                connection.execute(text("INSERT INTO bench_rows (id, body) VALUES (:id, :body)"), values)
    finally:
        engine.dispose()


def measure(label: str, url: str, folder: Path, rounds: int) -> None:
    engine = make_engine(url)
    backups, restores = [], []
    size = 0
    try:
        for _ in range(rounds):
            started = time.perf_counter()
            info = take_backup(engine, folder, "bench").info
            backups.append(time.perf_counter() - started)
            size = info.size
            started = time.perf_counter()
            restore_backup(engine, info.path, force=True)
            restores.append(time.perf_counter() - started)
    finally:
        engine.dispose()
    print(
        f"{label:<11} backup {statistics.median(backups) * 1000:8.0f} ms   restore "
        f"{statistics.median(restores) * 1000:8.0f} ms   file {size / 1e6:7.1f} MB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000, help="Rows in the table (default 200000).")
    parser.add_argument("--rounds", type=int, default=3, help="Rounds of backup and restore (default 3).")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        sqlite_url = f"sqlite:///{folder / 'bench.db'}"
        fill(sqlite_url, args.rows)
        measure("SQLite", sqlite_url, folder / "backups-sqlite", args.rounds)
        admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
        name = f"sv_bench_{uuid.uuid4().hex[:10]}"
        try:
            with admin.connect() as connection:
                connection.execute(text(f'CREATE DATABASE "{name}"'))
        except Exception as exc:  # no server here: SQLite only
            print(f"PostgreSQL  skipped: {exc}")
            return
        try:
            url = make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)
            fill(url, args.rows)
            measure("PostgreSQL", url, folder / "backups-postgresql", args.rounds)
        finally:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()


if __name__ == "__main__":
    main()
