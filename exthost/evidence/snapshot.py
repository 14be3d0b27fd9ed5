"""Snapshots of a deployment's state, taken when a recording starts, so recorded sessions replay from where they began.

`sv parity:record --on --snapshot` calls `take_snapshot`: a folder `<recordings>/snapshots/<UTC time>/` holding

    snapshot.json    when it was taken, the source database (password left out), what was captured and what not
    sovereign.db     the database as SQLite: SQLite's online backup of a SQLite database; for another engine
                     (PostgreSQL), the rows of every table copied, in one REPEATABLE READ transaction, into a SQLite
                     database migrated to the same revisions (`migrate` below)
    data/<feature>/  each feature's data folder (PaperTrail uploads, blog working clones), copied
    remotes/rN.git   a mirror clone of every local git remote a blog is configured on (`git clone --mirror`)

Password hashes, session digests and git tokens are removed from the copy (a replay needs none of them). The
folder is written under a temporary name and renamed when complete, so a reader never sees half a snapshot.
The parts are taken one after the other while the server keeps serving: a session whose state moved between them
replays inconclusively (docs/parity.md, Recordings from any state). Remotes reached over the network are not
copied; they are listed in snapshot.json under `uncaptured`.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from sqlalchemy import Connection, Engine, MetaData, create_engine, insert, make_url, select, text

from exthost.errors import ExtHostError

SNAPSHOTS = "snapshots"
MANIFEST = "snapshot.json"
DATABASE = "sovereign.db"
VERSION = 1


def _bookkeeping(table: str) -> bool:
    """What belongs to one database and is never copied to another: the version tables the copy's migrations write
    themselves (the core's, the host's, each plugin's), and the names of the plugins' PostgreSQL roles, which the
    copy's own deploy made for it (exthost.roles)."""
    return table.startswith("alembic_version") or table in ("exthost_alembic_version", "sv_plugin_roles")


class SnapshotError(ExtHostError):
    """A snapshot that cannot be taken or read; the message says which part and why."""


@dataclass(frozen=True)
class Snapshot:
    """A snapshot folder as the harness reads it."""

    path: Path
    taken_at: datetime
    # Recorded remote URL -> mirror folder under `path` (e.g. "remotes/r0.git").
    remotes: Mapping[str, str] = field(compare=False)
    # Feature -> its data folder under `path` (e.g. "data/papertrail").
    data: Mapping[str, str] = field(compare=False)

    @property
    def database(self) -> Path:
        return self.path / DATABASE


def local_remote(url: str) -> Path | None:
    """The folder a git remote URL names when it is local (`file://…` or an absolute path), else None."""
    if url.startswith("file://"):
        return Path(unquote(urlsplit(url).path))
    if url.startswith("/"):
        return Path(url)
    return None


def copy_sqlite(source: Path, target: Path) -> None:
    """A consistent copy of SQLite database `source` into `target` (SQLite's online backup, page by page: other
    connections may keep writing the source, and those open on the target stay usable)."""
    reading = sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True, timeout=30)
    writing = sqlite3.connect(target, timeout=30)
    try:
        reading.backup(writing)
    finally:
        writing.close()
        reading.close()


def _copy_sqlite(url: str, target: Path) -> None:
    database = make_url(url).database
    if not database or database == ":memory:":
        raise SnapshotError(f"DATABASE_URL {url!r} names no database file to snapshot")
    copy_sqlite(Path(database), target)


def _copy_rows(engine: Engine, target: Path, migrate: Callable[[Engine], None]) -> None:
    """Every row of every table of `engine`'s database into a SQLite database at `target` that `migrate` brought to
    the same schema, read in one snapshot (REPEATABLE READ) of the source."""
    copy = create_engine(f"sqlite:///{target}")
    try:
        migrate(copy)
        copy_rows(engine, copy)
    finally:
        copy.dispose()


def copy_rows(source_engine: Engine, sink_engine: Engine) -> None:
    """Every row of every table of the source database into the sink's table of the same name (both at the same
    schema; a column only one of them has is left out, a bookkeeping table of the migrations is skipped), in one
    transaction of the sink and one snapshot (REPEATABLE READ) of the source. Rows the sink's migrations seeded are
    replaced by the source's. Works either way between SQLite and PostgreSQL: the rows are read with the source's
    column types and written with the sink's, so times, booleans and JSON arrive as values, not as text."""
    wanted = MetaData()
    wanted.reflect(sink_engine)
    found = MetaData()
    # One snapshot of a live source (SQLite's own transactions are serializable already).
    reading = {} if source_engine.dialect.name == "sqlite" else {"isolation_level": "REPEATABLE READ"}
    with source_engine.connect().execution_options(**reading) as source, sink_engine.begin() as sink:
        for connection in (source, sink):
            if connection.dialect.name == "postgresql":
                # Times as UTC: SQLite keeps a timestamp without its offset, and the app reads it back as UTC.
                connection.exec_driver_sql("SET TIME ZONE 'UTC'")
        found.reflect(source)
        if sink.dialect.name == "sqlite":
            sink.execute(text("PRAGMA defer_foreign_keys = ON"))
        copied = [
            table for table in wanted.sorted_tables if not _bookkeeping(table.name) and table.name in found.tables
        ]
        # Children first out, parents first in: a PostgreSQL sink checks every foreign key at once.
        for table in reversed(copied):
            sink.execute(table.delete())
        for table in copied:
            origin = found.tables[table.name]
            columns = [column.name for column in table.columns if column.name in origin.columns]
            rows = source.execute(select(*(origin.columns[name] for name in columns))).mappings().all()
            if rows:
                sink.execute(insert(table), [dict(row) for row in rows])
        if sink.dialect.name == "postgresql":
            _advance_sequences(sink)


def _advance_sequences(connection: Connection) -> None:
    """Each sequence of a serial or identity column set past the largest value the copied rows hold, so the next
    insert does not collide with a copied row."""
    found = connection.execute(
        text(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND (column_default LIKE 'nextval(%' OR is_identity = 'YES')"
        )
    ).all()
    for table, column in found:
        quoted_table = connection.dialect.identifier_preparer.quote(table)
        quoted_column = connection.dialect.identifier_preparer.quote(column)
        connection.execute(
            text(
                f"SELECT setval(pg_get_serial_sequence(:table, :column), "
                f"coalesce(max({quoted_column}), 1), max({quoted_column}) IS NOT NULL) FROM {quoted_table}"
            ),
            {"table": quoted_table, "column": column},
        )


# Secrets a replay never needs, removed from the copy: the harness gives every user its own password, mints the
# sessions it replays, and pushes only to local copies of the remotes.
_SCRUB = (
    "UPDATE users SET password_hash = '<removed from the snapshot>'",
    "DELETE FROM auth_sessions",
    "UPDATE blog_configs SET git_auth_token = ''",
)


def _scrub(database: Path) -> None:
    connection = sqlite3.connect(database)
    try:
        with connection:
            for statement in _SCRUB:
                try:
                    connection.execute(statement)
                except sqlite3.OperationalError:  # a table this deployment does not have
                    continue
        connection.execute("VACUUM")  # the removed values must not stay in free pages
    finally:
        connection.close()


def _remote_urls(database: Path) -> list[str]:
    connection = sqlite3.connect(database)
    try:
        return sorted({str(url) for (url,) in connection.execute("SELECT repo_url FROM blog_configs")})
    except sqlite3.OperationalError:  # no blog table: nothing to mirror
        return []
    finally:
        connection.close()


def _mirror(url: str, source: Path, target: Path) -> None:
    result = subprocess.run(
        # --no-local: copied objects, never hard links into the deployment's remote.
        ["git", "clone", "--mirror", "--no-local", "--quiet", "--", str(source), str(target)],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
        env={**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"},
    )
    if result.returncode != 0:
        raise SnapshotError(f"snapshot: cannot mirror the git remote {url!r}: {result.stderr.strip()}")


def take_snapshot(
    directory: Path,
    *,
    database_url: str,
    engine: Engine,
    data_folders: Mapping[str, Path],
    migrate: Callable[[Engine], None],
    now: datetime,
) -> Snapshot:
    """Take a snapshot under `directory/snapshots/`; see the module docstring. `data_folders` maps each feature to
    its data folder; `migrate` brings a new SQLite database to the deployment's schema (for a non-SQLite source)."""
    parent = directory / SNAPSHOTS
    parent.mkdir(parents=True, exist_ok=True)
    name = now.astimezone(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    final = parent / name
    if final.exists():
        raise SnapshotError(f"snapshot {final} exists already; try again")
    staging = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=parent))
    try:
        dialect = make_url(database_url).get_backend_name()
        if dialect == "sqlite":
            _copy_sqlite(database_url, staging / DATABASE)
        else:
            _copy_rows(engine, staging / DATABASE, migrate)
        _scrub(staging / DATABASE)
        data: dict[str, str] = {}
        for feature, folder in sorted(data_folders.items()):
            relative = f"data/{feature}"
            if folder.is_dir():
                shutil.copytree(folder, staging / relative, symlinks=True)
            else:
                (staging / relative).mkdir(parents=True)
            data[feature] = relative
        remotes: dict[str, str] = {}
        uncaptured: list[str] = []
        for url in _remote_urls(staging / DATABASE):
            source = local_remote(url)
            if source is None or not source.is_dir():
                uncaptured.append(url)
                continue
            relative = f"remotes/r{len(remotes)}.git"
            _mirror(url, source, staging / relative)
            remotes[url] = relative
        manifest = {
            "version": VERSION,
            "takenAt": now.astimezone(UTC).isoformat(),
            "database": {"dialect": dialect, "url": make_url(database_url).render_as_string(hide_password=True)},
            "data": data,
            "remotes": remotes,
            "uncaptured": uncaptured,
        }
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True), encoding="utf-8")
        staging.rename(final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return read_snapshot(final)


def read_snapshot(path: Path) -> Snapshot:
    """The snapshot in folder `path`; SnapshotError naming the problem when it is not one."""
    manifest = path / MANIFEST
    try:
        data: Any = json.loads(manifest.read_text(encoding="utf-8"))
        taken = datetime.fromisoformat(data["takenAt"])
        remotes, folders = dict(data["remotes"]), dict(data["data"])
    except FileNotFoundError:
        raise SnapshotError(
            f"{path} is not a snapshot: no {MANIFEST}; take one with sv parity:record --on --snapshot"
        ) from None
    except (ValueError, KeyError, TypeError) as exc:
        raise SnapshotError(f"{manifest}: unreadable snapshot manifest ({exc!r}); take the snapshot again") from None
    if not (path / DATABASE).is_file():
        raise SnapshotError(f"{path}: the snapshot has no {DATABASE}; take the snapshot again")
    return Snapshot(path, taken if taken.tzinfo else taken.replace(tzinfo=UTC), remotes, folders)


def snapshots_in(directory: Path) -> list[Snapshot]:
    """The complete snapshots under `directory/snapshots/`, oldest first (unreadable ones left out)."""
    parent = directory / SNAPSHOTS
    found = []
    for path in sorted(parent.iterdir()) if parent.is_dir() else ():
        if path.name.startswith(".") or not path.is_dir():
            continue
        try:
            found.append(read_snapshot(path))
        except SnapshotError:
            continue
    return sorted(found, key=lambda snapshot: snapshot.taken_at)


def snapshot_before(snapshots: list[Snapshot], moment: datetime) -> Snapshot | None:
    """The latest snapshot taken at or before `moment`: the state a session that started then began from."""
    earlier = [snapshot for snapshot in snapshots if snapshot.taken_at <= moment]
    return earlier[-1] if earlier else None
