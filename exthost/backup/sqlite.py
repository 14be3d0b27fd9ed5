"""SQLite backups through SQLite's online backup API, and the processes that hold a database file open.

The backup API copies a consistent snapshot while other connections keep writing; restore runs it the other way,
into the live file, as one write transaction of the live database, so a failure or a crash halfway leaves the old
content (SQLite's own journal undoes it), never a half-restored file.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from exthost.errors import BackupError

PROC = Path("/proc")


def _read_only(path: Path) -> str:
    # A URI, so that the file is opened read-only; as_uri() escapes '?', '#' and '%' in the path.
    return path.resolve().as_uri() + "?mode=ro"


def dump(database: Path, target: Path) -> None:
    """Copy `database` into the new file `target` (a rollback-journal database, so reading it never needs -wal or
    -shm files beside it)."""
    source = sqlite3.connect(_read_only(database), uri=True, timeout=30)
    try:
        copy = sqlite3.connect(target)
        try:
            source.backup(copy)
            copy.execute("PRAGMA journal_mode=DELETE")
        finally:
            copy.close()
    except sqlite3.Error as exc:
        raise BackupError(f"SQLite backup of {str(database)!r} failed: {exc}") from exc
    finally:
        source.close()


def check_file(path: Path) -> None:
    """Refuse a backup file SQLite finds damaged (PRAGMA integrity_check)."""
    try:
        connection = sqlite3.connect(_read_only(path), uri=True)
        try:
            verdict = [row[0] for row in connection.execute("PRAGMA integrity_check")]
        finally:
            connection.close()
    except sqlite3.Error as exc:
        raise BackupError(f"{str(path)!r} is not a readable SQLite database: {exc}") from exc
    if verdict != ["ok"]:
        raise BackupError(f"{str(path)!r} fails SQLite's integrity check: {'; '.join(verdict[:5])}")


def restore(backup: Path, database: Path) -> None:
    """Replace the content of `database` with `backup` in one write transaction of `database`."""
    check_file(backup)
    source = sqlite3.connect(_read_only(backup), uri=True)
    try:
        live = sqlite3.connect(database, timeout=30)
        try:
            source.backup(live)
        finally:
            live.close()
    except sqlite3.Error as exc:
        raise BackupError(
            f"restoring {str(backup)!r} into {str(database)!r} failed, the database keeps its content: {exc}"
        ) from exc
    finally:
        source.close()


def holders(database: Path) -> tuple[list[str], int]:
    """Processes other than this one holding `database` (or its -wal/-shm file) open, as "pid (command)", and how
    many processes could not be looked at (another user's, without the right to read their /proc entry).

    Raises BackupError where there is no /proc to read (not Linux)."""
    if not (PROC / "self" / "fd").is_dir():
        raise BackupError("cannot see which processes hold the database open here (no /proc)")
    base = os.path.realpath(database)
    watched = {base, base + "-wal", base + "-shm"}
    mine = os.getpid()
    found: list[str] = []
    unseen = 0
    for entry in PROC.iterdir():
        if not entry.name.isdigit() or int(entry.name) == mine:
            continue
        try:
            descriptors = list((entry / "fd").iterdir())
        except PermissionError:
            unseen += 1
            continue
        except OSError:  # the process ended while we looked
            continue
        for descriptor in descriptors:
            try:
                target = os.readlink(descriptor)
            except OSError:
                continue
            if target in watched:
                found.append(f"{entry.name} ({_command(entry)})")
                break
    return sorted(found), unseen


def _command(entry: Path) -> str:
    try:
        raw = (entry / "cmdline").read_bytes()
    except OSError:
        return "?"
    return raw.replace(b"\0", b" ").decode("utf-8", "replace").strip()[:120] or "?"
