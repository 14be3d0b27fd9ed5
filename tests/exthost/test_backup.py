"""`sv db:backup` and `sv db:restore` on SQLite and PostgreSQL: round trips, refusals, retention, failures."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import text

from exthost.backup import take_backup
from exthost.backup.files import BackupInfo, list_backups, prune, sha256_of, write_sidecar
from legacy_core import Settings
from legacy_core.db import make_engine
from tests.exthost.schema_plugins import (
    backup_path,
    content_digest,
    execute,
    scalar,
    sv,
    tables,
    write_hello,
)


@pytest.fixture(params=["sqlite", "postgresql"])
def deployed(request: pytest.FixtureRequest, settings_factory: Callable[..., Settings]) -> Settings:
    """A database of each kind, migrated with the hello plugin and holding a few notes."""
    if request.param == "postgresql":
        settings = settings_factory(PLUGIN_ENTRY_POINTS=False, DATABASE_URL=request.getfixturevalue("postgres_url"))
    else:
        settings = settings_factory(PLUGIN_ENTRY_POINTS=False)
    write_hello(settings)
    result = sv(settings, "migrate:deploy")
    assert result.exit_code == 0, result.output
    execute(settings, "INSERT INTO hello_notes (id, tenant_id, body) VALUES (1, 't', 'first'), (2, 't', 'second')")
    return settings


def test_backup_restore_round_trip_gives_identical_rows(deployed: Settings):
    before = content_digest(deployed)
    made = sv(deployed, "db:backup")
    assert made.exit_code == 0, made.output
    path = backup_path(made.output)
    assert path.parent == deployed.backup_dir
    sidecar = json.loads(path.with_name(path.name + ".json").read_text())
    assert sidecar["revisions"]["plugin:hello"] == "hello0002"
    assert sidecar["sha256"] == sha256_of(path)
    assert "password" not in sidecar["database"]

    # Changes after the backup, including a table that did not exist then (a plugin installed since).
    execute(
        deployed,
        "DELETE FROM hello_notes WHERE id = 1",
        "INSERT INTO hello_notes (id, tenant_id, body) VALUES (3, 't', 'third')",
        "CREATE TABLE later_plugin_things (id INTEGER PRIMARY KEY)",
    )
    assert content_digest(deployed) != before

    restored = sv(deployed, "db:restore", str(path))
    assert restored.exit_code == 0, restored.output
    assert "plugin:hello hello0002" in restored.output
    assert "no other connection was seen (the check cannot see " in restored.output
    assert content_digest(deployed) == before
    assert "later_plugin_things" not in tables(deployed)


def test_restore_refuses_a_changed_or_unvouched_file_and_touches_nothing(deployed: Settings):
    path = backup_path(sv(deployed, "db:backup").output)
    execute(deployed, "INSERT INTO hello_notes (id, tenant_id, body) VALUES (3, 't', 'after')")
    after = content_digest(deployed)

    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    changed = sv(deployed, "db:restore", str(path))
    assert changed.exit_code == 1
    assert "its sidecar says" in changed.output and "changed or damaged" in changed.output

    path.with_name(path.name + ".json").unlink()
    unvouched = sv(deployed, "db:restore", str(path))
    assert unvouched.exit_code == 1
    assert "has no sidecar" in unvouched.output
    assert "Traceback" not in changed.output + unvouched.output
    assert content_digest(deployed) == after


def test_restore_of_a_damaged_sqlite_file_with_a_matching_sidecar_changes_nothing(settings_factory):
    settings = settings_factory(PLUGIN_ENTRY_POINTS=False)
    path = backup_path(sv(settings, "db:backup").output)
    before = content_digest(settings)
    path.write_bytes(b"SQLite format 3\x00" + b"\x07" * 8000)
    info = json.loads(path.with_name(path.name + ".json").read_text())
    write_sidecar(BackupInfo(path, "sqlite", "manual", info["created_at"], info["database"], 8016, sha256_of(path)))
    result = sv(settings, "db:restore", str(path))
    assert result.exit_code == 1, result.output
    assert "not a readable SQLite database" in result.output or "integrity check" in result.output
    assert content_digest(settings) == before


@pytest.fixture
def sqlite_holder(deployed: Settings) -> Iterator[subprocess.Popen[str]]:
    """Another process with the database open (a server), for the SQLite case; None for PostgreSQL."""
    if not deployed.DATABASE_URL.startswith("sqlite"):
        yield None  # type: ignore[misc]
        return
    database = deployed.DATABASE_URL.removeprefix("sqlite:///")
    code = (
        "import sqlite3, sys, time\n"
        "c = sqlite3.connect(sys.argv[1]); c.execute('SELECT count(*) FROM hello_notes').fetchall()\n"
        "print('ready', flush=True); time.sleep(120)\n"
    )
    process = subprocess.Popen([sys.executable, "-c", code, database], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None and process.stdout.readline().strip() == "ready"
    yield process
    process.kill()
    process.wait()


def test_restore_is_refused_while_another_process_is_connected_unless_forced(deployed: Settings, sqlite_holder):
    path = backup_path(sv(deployed, "db:backup").output)
    execute(deployed, "DELETE FROM hello_notes")
    after = content_digest(deployed)
    engine = make_engine(deployed.DATABASE_URL)
    try:
        with engine.connect() as other:  # PostgreSQL: a session of "a server"; SQLite: this process, not counted
            postgres = deployed.DATABASE_URL.startswith("postgresql")
            session = other.execute(text("SELECT pg_backend_pid()" if postgres else "SELECT 1")).scalar()
            refused = sv(deployed, "db:restore", str(path))
            assert refused.exit_code == 1, refused.output
            assert "other connection(s)" in refused.output
            holder = f"{session} postgres@" if postgres else f"{sqlite_holder.pid} ({sys.executable}"
            assert holder in refused.output
            assert "--force" in refused.output
            assert content_digest(deployed) == after
            other.commit()
        forced = sv(deployed, "db:restore", str(path), "--force")
        assert forced.exit_code == 0, forced.output
    finally:
        engine.dispose()
    assert scalar(deployed, "SELECT count(*) FROM hello_notes") == 2


def test_retention_keeps_the_newest_n(settings_factory):
    settings = settings_factory(PLUGIN_ENTRY_POINTS=False, BACKUP_RETENTION=2)
    made = [backup_path(sv(settings, "db:backup").output) for _ in range(4)]
    kept = [path for _, path in list_backups(settings.backup_dir)]
    assert kept == [made[3], made[2]]
    assert sorted(p.name for p in settings.backup_dir.iterdir()) == sorted(
        [made[3].name, made[3].name + ".json", made[2].name, made[2].name + ".json"]
    )


def test_pruning_never_deletes_the_backup_just_made(tmp_path: Path):
    folder = tmp_path / "backups"
    folder.mkdir()
    paths = []
    for created in ("2026-01-03", "2026-01-02", "2026-01-01"):
        path = folder / f"sovereign-{created}.sqlite3"
        path.write_bytes(created.encode())
        write_sidecar(BackupInfo(path, "sqlite", "manual", created, "sqlite://", 10, sha256_of(path)))
        paths.append(path)
    # The "just made" one carries the oldest time (a clock set back): it still survives, with the newest.
    deleted = prune(folder, 2, protect=paths[2])
    assert deleted == [paths[1]]
    assert {path for _, path in list_backups(folder)} == {paths[0], paths[2]}


@given(
    days=st.lists(st.integers(min_value=1, max_value=28), min_size=1, max_size=8, unique=True),
    keep=st.integers(min_value=0, max_value=9),
    protect_index=st.integers(min_value=0, max_value=7),
)
def test_prune_keeps_the_newest_and_the_protected_one(tmp_path_factory, days, keep, protect_index):
    folder = tmp_path_factory.mktemp("backups")
    made = {}
    for day in days:
        path = folder / f"sovereign-{day:02}.sqlite3"
        path.write_bytes(b"x")
        created = f"2026-01-{day:02}"
        write_sidecar(BackupInfo(path, "sqlite", "manual", created, "sqlite://", 1, sha256_of(path)))
        made[path] = created
    protect = sorted(made)[protect_index % len(made)]
    deleted = prune(folder, keep, protect)
    left = {path for _, path in list_backups(folder)}
    assert protect in left
    assert left | set(deleted) == set(made) and not left & set(deleted)
    newest_first = sorted(made, key=made.__getitem__, reverse=True)
    if keep == 0:
        assert deleted == []
    else:
        assert len(left) == min(keep, len(made))
        others = [path for path in newest_first if path != protect]
        assert left == {protect, *others[: keep - 1]}
    for path in deleted:
        assert not path.exists() and not path.with_name(path.name + ".json").exists()


def test_sqlite_backup_is_consistent_while_another_connection_writes(settings_factory):
    settings = settings_factory(PLUGIN_ENTRY_POINTS=False)
    execute(settings, "CREATE TABLE counted (id INTEGER PRIMARY KEY, batch INTEGER NOT NULL)")
    stop = threading.Event()

    def write() -> None:
        engine = make_engine(settings.DATABASE_URL)
        batch = 0
        try:
            while not stop.is_set():
                with engine.begin() as connection:  # ten rows a transaction
                    connection.execute(text("INSERT INTO counted (batch) VALUES " + ", ".join([f"({batch})"] * 10)))
                batch += 1
        finally:
            engine.dispose()

    writer = threading.Thread(target=write)
    writer.start()
    engine = make_engine(settings.DATABASE_URL)
    try:
        while scalar(settings, "SELECT count(*) FROM counted") == 0:
            pass
        taken = [take_backup(engine, settings.backup_dir, "manual").info for _ in range(3)]
    finally:
        stop.set()
        writer.join()
        engine.dispose()
    for info in taken:
        copy = make_engine(f"sqlite:///{info.path}")
        try:
            with copy.connect() as connection:
                assert connection.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
                count = connection.execute(text("SELECT count(*) FROM counted")).scalar()
        finally:
            copy.dispose()
        assert count % 10 == 0  # whole transactions only


FAKE_PG_DUMP = """#!{python}
import os, sys
open(sys.argv[-1].split("=", 1)[1], "w").write("half a dump")
with open({record!r}, "w") as out:
    out.write(repr(sys.argv) + "\\n" + os.environ.get("PGPASSWORD", "") + "\\n")
sys.stderr.write("pg_dump: error: connection to server failed: FATAL: no such role\\n")
sys.exit(1)
"""


def test_pg_dump_gets_the_password_by_environment_and_its_failure_leaves_no_file(
    settings_factory, postgres_url: str, tmp_path: Path
):
    settings = settings_factory(PLUGIN_ENTRY_POINTS=False, DATABASE_URL=postgres_url)
    assert sv(settings, "migrate:deploy").exit_code == 0
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    record = tmp_path / "pg_dump_call.txt"
    fake = bin_dir / "pg_dump"
    fake.write_text(FAKE_PG_DUMP.format(python=sys.executable, record=str(record)))
    fake.chmod(0o755)
    secret_url = postgres_url.replace("postgres@", "postgres:s3cret-pw@")
    from click.testing import CliRunner

    from exthost.cli import main

    env = {"DATABASE_URL": secret_url, "DATA_DIR": str(settings.DATA_DIR), "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    result = CliRunner().invoke(main, ["db:backup"], env=env)
    assert result.exit_code == 1, result.output
    assert "pg_dump failed (exit 1): pg_dump: error: connection to server failed: FATAL: no such role" in result.output
    argv, password = record.read_text().splitlines()
    assert "s3cret-pw" not in argv
    assert password == "s3cret-pw"
    assert "s3cret-pw" not in result.output
    assert list(settings.backup_dir.iterdir()) == []  # no partial file left behind


def test_backup_of_postgres_without_pg_dump_says_what_to_install(settings_factory, postgres_url: str, tmp_path: Path):
    settings = settings_factory(PLUGIN_ENTRY_POINTS=False, DATABASE_URL=postgres_url)
    assert sv(settings, "migrate:deploy").exit_code == 0
    from click.testing import CliRunner

    from exthost.cli import main

    empty = tmp_path / "empty-bin"
    empty.mkdir()
    env = {"DATABASE_URL": postgres_url, "DATA_DIR": str(settings.DATA_DIR), "PATH": str(empty)}
    result = CliRunner().invoke(main, ["db:backup"], env=env)
    assert result.exit_code == 1, result.output
    assert "pg_dump is not installed" in result.output
    assert "postgresql-client" in result.output
    assert list(settings.backup_dir.glob("*")) == []


def test_backup_of_an_empty_database_says_there_is_nothing(tmp_path: Path):
    from click.testing import CliRunner

    from exthost.cli import main

    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'new.db'}", "DATA_DIR": str(tmp_path / "data")}
    result = CliRunner().invoke(main, ["db:backup"], env=env)
    assert result.exit_code == 1
    assert "nothing to back up" in result.output
    assert not (tmp_path / "new.db").exists()


def test_backup_to_a_named_file_is_outside_retention_and_never_overwrites(settings_factory, tmp_path: Path):
    settings = settings_factory(PLUGIN_ENTRY_POINTS=False, BACKUP_RETENTION=1)
    target = tmp_path / "elsewhere" / "before-upgrade.sqlite3"
    made = sv(settings, "db:backup", "--to", str(target))
    assert made.exit_code == 0, made.output
    assert backup_path(made.output) == target
    assert f"restore it with: sv db:restore {target}" in made.output
    assert json.loads(target.with_name(target.name + ".json").read_text())["sha256"] == sha256_of(target)
    again = sv(settings, "db:backup", "--to", str(target))
    assert again.exit_code == 1
    assert "exists; sv never overwrites a backup" in again.output
    # Backups into BACKUP_DIR prune only there.
    for _ in range(2):
        assert sv(settings, "db:backup").exit_code == 0
    assert target.is_file()
    assert len(list_backups(settings.backup_dir)) == 1
