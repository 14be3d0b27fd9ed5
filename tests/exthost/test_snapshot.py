"""Snapshots taken when recording starts (`sv parity:record --on --snapshot`): every row of a PostgreSQL deployment
copied, in one transaction, into a SQLite database of the same schema; feature folders and local remotes copied;
a snapshot that cannot be taken leaves recording off."""

from __future__ import annotations

import io
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, text

from exthost.cli import main
from exthost.evidence.snapshot import SnapshotError, read_snapshot, snapshot_before, snapshots_in
from exthost.platform import create_platform
from legacy_core.settings import Settings
from parity_tests.seed import REPO_PLUGINS
from tests.fixtures.app import TEST_ARGON2_KIB


def _env(url: str, workdir: Path) -> dict[str, str]:
    return {
        "DATABASE_URL": url,
        "DATA_DIR": str(workdir / "data"),
        "PLUGINS_DIR": str(REPO_PLUGINS),
        "PLUGIN_ENTRY_POINTS": "false",
        "FT_PROJECT_TYPE_PAPERTRAIL": "true",
    }


def _populate(url: str, workdir: Path) -> None:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        DATABASE_URL=url,
        DATA_DIR=workdir / "data",
        PLUGINS_DIR=REPO_PLUGINS,
        PLUGIN_ENTRY_POINTS=False,
        FT_PROJECT_TYPE_PAPERTRAIL=True,
    )
    platform = create_platform(settings, argon2_memory_kib=TEST_ARGON2_KIB, name="snapshot-test")
    try:
        client = platform.test_client()
        for name in ("ann", "ben"):
            answer = client.post(
                "/register", json={"email": f"{name}@corp.test", "password": "pw-12345678", "name": name}
            )
            assert answer.status_code in (200, 201), answer.get_data(as_text=True)
        project = client.post("/api/projects", json={"name": "Files", "type": "papertrail"}).get_json()
        board = f"/api/projects/{project['id']}/papertrail/board"
        made = client.post(board, json={"nodes": [{"id": "a", "label": "Ä, ünïcode ✓"}], "edges": []})
        assert made.status_code in (200, 201)
        upload = client.post(
            f"{board}/{made.get_json()['board']['id']}/attachments/upload",
            data={"file": (io.BytesIO(b"evidence bytes"), "note.txt")},
            content_type="multipart/form-data",
        )
        assert upload.status_code in (200, 201), upload.get_data(as_text=True)
    finally:
        platform.close()


# Every table a replay reads, by the statement that reads it (users without their password hash, which the snapshot
# leaves out).
TABLES = {
    "users": "SELECT id, tenant_id, email, name, created_at FROM users",
    **{
        table: f"SELECT * FROM {table}"
        for table in ("tenants", "user_roles", "projects", "project_members", "pt_boards", "pt_nodes", "pt_attachments")
    },
}


def _rows(url: str) -> dict[str, list[Any]]:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            if engine.dialect.name == "postgresql":
                connection.exec_driver_sql("SET TIME ZONE 'UTC'")  # compared in UTC, as SQLite keeps them
            return {
                table: sorted(
                    tuple(str(value).removesuffix("+00:00") for value in row)
                    for row in connection.execute(text(statement))
                )
                for table, statement in TABLES.items()
            }
    finally:
        engine.dispose()


@pytest.mark.slow
def test_snapshot_of_postgresql_copies_every_row_and_the_files(postgres_url: str, tmp_path: Path) -> None:
    env = _env(postgres_url, tmp_path)
    # A server whose sessions are not in UTC: times must still reach the snapshot as UTC.
    admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f"ALTER DATABASE \"{admin.url.database}\" SET timezone TO 'Asia/Kolkata'")
    admin.dispose()
    runner = CliRunner()
    assert runner.invoke(main, ["migrate:deploy"], env=env).exit_code == 0
    _populate(postgres_url, tmp_path)
    result = runner.invoke(main, ["parity:record", "--on", "--snapshot", "--dir", str(tmp_path / "rec")], env=env)
    assert result.exit_code == 0, result.output
    (snapshot,) = snapshots_in(tmp_path / "rec")
    manifest = json.loads((snapshot.path / "snapshot.json").read_text(encoding="utf-8"))
    assert manifest["database"]["dialect"] == "postgresql"
    source, copied = _rows(postgres_url), _rows(f"sqlite:///{snapshot.database}")
    assert all(source[table] for table in ("users", "pt_boards", "pt_attachments"))
    # Values as text (SQLite keeps UTC times without their offset); every row of every table.
    assert copied == source
    uploads = [path for path in (snapshot.path / "data" / "papertrail").rglob("*") if path.is_file()]
    assert [path.read_bytes() for path in uploads] == [b"evidence bytes"]
    # The snapshot was taken before recording was switched on, so it precedes every recorded session.
    status = runner.invoke(main, ["parity:record", "--json"], env=env)
    assert json.loads(status.output)["enabled"] is True
    assert snapshot_before(snapshots_in(tmp_path / "rec"), snapshot.taken_at) == snapshot


def test_a_snapshot_that_cannot_be_taken_leaves_recording_off(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'live.db'}"
    env = _env(url, tmp_path)
    runner = CliRunner()
    assert runner.invoke(main, ["migrate:deploy"], env=env).exit_code == 0
    with sqlite3.connect(tmp_path / "live.db") as database:
        # A blog on a local remote that is not a git repository: it cannot be mirrored (no foreign keys here).
        (tmp_path / "not-a-repo.git").mkdir()
        database.execute(
            "INSERT INTO blog_configs (project_id, repo_url, branch, content_dir, git_user_name, git_user_email, "
            f"git_auth_token, created_at) VALUES ('p_1', '{(tmp_path / 'not-a-repo.git').as_uri()}', 'main', "
            "'posts', 'b', 'b@x.test', '', '2026-01-01 00:00:00')"
        )
    result = runner.invoke(main, ["parity:record", "--on", "--snapshot", "--dir", str(tmp_path / "rec")], env=env)
    assert (
        result.exit_code == 1 and "recording was not switched on" in result.output and "Traceback" not in result.output
    )
    assert json.loads(runner.invoke(main, ["parity:record", "--json"], env=env).output)["enabled"] is False
    assert snapshots_in(tmp_path / "rec") == []  # no half snapshot left behind
    assert not [path for path in (tmp_path / "rec" / "snapshots").iterdir()]
    with pytest.raises(SnapshotError, match="is not a snapshot"):
        read_snapshot(tmp_path)


def test_a_snapshot_keeps_no_password_hash_session_or_git_token(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'live.db'}"
    env = _env(url, tmp_path)
    runner = CliRunner()
    assert runner.invoke(main, ["migrate:deploy"], env=env).exit_code == 0
    _populate(url, tmp_path)
    with sqlite3.connect(tmp_path / "live.db") as database:
        hashes = [row[0] for row in database.execute("SELECT password_hash FROM users")]
        assert hashes and database.execute("SELECT count(*) FROM auth_sessions").fetchone()[0] > 0
        # A blog pushing over the network with a token (the remote itself is not copied: not local).
        database.execute(
            "INSERT INTO blog_configs (project_id, repo_url, branch, content_dir, git_user_name, git_user_email, "
            "git_auth_token, created_at) VALUES ('p_x', 'https://git.example.test/blog.git', 'main', 'posts', 'b', "
            "'b@x.test', 'tok-0123456789abcdef', '2026-01-01 00:00:00')"
        )
    assert (
        runner.invoke(main, ["parity:record", "--on", "--snapshot", "--dir", str(tmp_path / "rec")], env=env).exit_code
        == 0
    )
    (snapshot,) = snapshots_in(tmp_path / "rec")
    raw = snapshot.database.read_bytes()
    assert not any(found.encode() in raw for found in hashes)  # not even in free pages
    assert b"tok-0123456789abcdef" not in raw
    manifest = json.loads((snapshot.path / "snapshot.json").read_text(encoding="utf-8"))
    assert manifest["uncaptured"] == ["https://git.example.test/blog.git"]
    with sqlite3.connect(snapshot.database) as copy:
        assert copy.execute("SELECT count(*) FROM auth_sessions").fetchone()[0] == 0
        assert copy.execute("SELECT count(*) FROM users").fetchone()[0] == len(hashes)


@pytest.mark.slow
def test_a_snapshot_copied_into_postgresql_keeps_every_row_and_its_sequences_move_on(
    postgres_url: str, tmp_path: Path
) -> None:
    """The way a PostgreSQL harness run builds a snapshot's template: the snapshot's rows (a SQLite file) copied
    into a PostgreSQL database migrated alike, as values (times, booleans), with serial keys set past them."""
    from exthost.deploy import migrate_plugins
    from exthost.evidence.snapshot import copy_rows
    from legacy_core.db import make_engine
    from legacy_core.migrate import upgrade

    url = f"sqlite:///{tmp_path / 'live.db'}"
    env = _env(url, tmp_path)
    runner = CliRunner()
    assert runner.invoke(main, ["migrate:deploy"], env=env).exit_code == 0
    _populate(url, tmp_path)
    for mode in ("shadow", "canary"):  # two rows of a table with a serial key
        changed = runner.invoke(main, ["flags:set", "papertrail", mode, "--percent", "5", "--reason", "t"], env=env)
        assert changed.exit_code == 0, changed.output
    assert (
        runner.invoke(main, ["parity:record", "--on", "--snapshot", "--dir", str(tmp_path / "rec")], env=env).exit_code
        == 0
    )
    (snapshot,) = snapshots_in(tmp_path / "rec")
    assert runner.invoke(main, ["migrate:deploy"], env=_env(postgres_url, tmp_path)).exit_code == 0
    settings = Settings(_env_file=None, PLUGINS_DIR=REPO_PLUGINS, PLUGIN_ENTRY_POINTS=False)  # type: ignore[call-arg]
    source, sink = make_engine(f"sqlite:///{snapshot.database}"), make_engine(postgres_url)
    try:
        upgrade(source)
        migrate_plugins(settings, source, ())
        copy_rows(source, sink)
        with sink.begin() as connection:
            before = connection.execute(text("SELECT max(id) FROM sv_flag_changes")).scalar_one()
            # A new change takes the next key, not one a copied row holds.
            names = connection.execute(
                text("SELECT column_name FROM information_schema.columns WHERE table_name = 'sv_flag_changes'")
            ).scalars()
            columns = ", ".join(name for name in names if name != "id")
            connection.execute(
                text(f"INSERT INTO sv_flag_changes ({columns}) SELECT {columns} FROM sv_flag_changes WHERE id = :id"),
                {"id": before},
            )
            assert connection.execute(text("SELECT max(id) FROM sv_flag_changes")).scalar_one() == before + 1
    finally:
        source.dispose()
        sink.dispose()
    copied, original = _rows(postgres_url), _rows(f"sqlite:///{snapshot.database}")
    assert all(original[table] for table in ("users", "pt_boards", "pt_attachments"))
    assert copied == original
