"""Take a backup of the configured database, restore one, and say who else is connected to it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, inspect, text
from sqlalchemy.engine import URL

from exthost.backup.files import (
    PARTIAL_SUFFIX,
    BackupInfo,
    default_name,
    free_path,
    fsync_file,
    prune,
    read_backup,
    sha256_of,
    write_sidecar,
)
from exthost.backup.postgres import dump as postgres_dump
from exthost.backup.postgres import other_sessions
from exthost.backup.postgres import restore as postgres_restore
from exthost.backup.sqlite import dump as sqlite_dump
from exthost.backup.sqlite import holders
from exthost.backup.sqlite import restore as sqlite_restore
from exthost.errors import BackupError

_PLUGIN_VERSION_TABLE = re.compile(r"alembic_version_(?P<plugin>[a-z][a-z0-9_]*)")


@dataclass(frozen=True)
class TakenBackup:
    """A backup just made, and the older ones retention deleted to make room."""

    info: BackupInfo
    pruned: list[Path]


def database_kind(url: URL) -> str:
    """ "sqlite" or "postgresql"; BackupError for any other database, or a SQLite database that is no file."""
    backend = url.get_backend_name()
    if backend == "postgresql":
        return "postgresql"
    if backend == "sqlite":
        sqlite_file(url)
        return "sqlite"
    raise BackupError(f"no backup support for {backend!r} databases; sv backs up SQLite and PostgreSQL")


def sqlite_file(url: URL) -> Path:
    database = url.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        raise BackupError(f"the SQLite database {database or ':memory:'!r} is not a plain file; it cannot be backed up")
    return Path(database)


def is_empty(engine: Engine) -> bool:
    """Whether the database has no table at all (a new database: nothing to back up). A SQLite file that does not
    exist yet is empty, and is not created by asking."""
    if engine.url.get_backend_name() == "sqlite" and not sqlite_file(engine.url).exists():
        return True
    return not inspect(engine).get_table_names()


def recorded_revisions(engine: Engine) -> dict[str, str | None]:
    """The revision of every schema history the database holds a version table for, read from the database alone
    (no plugin code): "core", "exthost" and "plugin:<name>"."""
    from exthost.migrate import EXTHOST_VERSION_TABLE

    tables = inspect(engine).get_table_names()
    names: dict[str, str] = {}
    for table in tables:
        if table == "alembic_version":
            names[table] = "core"
        elif table == EXTHOST_VERSION_TABLE:
            names[table] = "exthost"
        elif match := _PLUGIN_VERSION_TABLE.fullmatch(table):
            names[table] = f"plugin:{match['plugin']}"
    found: dict[str, str | None] = {}
    with engine.connect() as connection:
        for table, history in sorted(names.items(), key=lambda item: item[1]):
            found[history] = connection.execute(text(f'SELECT version_num FROM "{table}"')).scalar()
    return found


def take_backup(engine: Engine, folder: Path, reason: str, *, keep: int = 0, to: Path | None = None) -> TakenBackup:
    """Back up the database of `engine` into `folder` (a new name from the time, kind and reason) or to the file
    `to`; then delete the oldest backups of `folder` beyond `keep` (0 keeps all; never the new one, and nothing
    when `to` is given). Nothing is left behind when it fails."""
    url = engine.url
    kind = database_kind(url)
    at = datetime.now(UTC)
    if to is not None:
        if to.is_dir():
            to = to / default_name(kind, reason, at)
        if to.exists():
            raise BackupError(f"{str(to)!r} exists; sv never overwrites a backup, name a new file")
        path = to
    else:
        path = free_path(folder, default_name(kind, reason, at))
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + PARTIAL_SUFFIX)
    try:
        revisions = recorded_revisions(engine)
        tables = sorted(inspect(engine).get_table_names())
        if kind == "sqlite":
            sqlite_dump(sqlite_file(url), partial)
        else:
            postgres_dump(url, partial)
        fsync_file(partial)
        info = BackupInfo(
            path=path,
            kind=kind,
            reason=reason,
            created_at=at.isoformat(),
            database=url.render_as_string(hide_password=True),
            size=partial.stat().st_size,
            sha256=sha256_of(partial),
            revisions=revisions,
            tables=tables,
        )
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    partial.replace(path)
    try:
        write_sidecar(info)
    except BaseException:
        path.unlink(missing_ok=True)  # without its sidecar it would never be restored nor pruned
        raise
    pruned = [] if to is not None else prune(folder, keep, path)
    return TakenBackup(info, pruned)


def connected_elsewhere(engine: Engine) -> tuple[list[str], str]:
    """Who else is connected to the database of `engine`, and what that check cannot see."""
    kind = database_kind(engine.url)
    if kind == "postgresql":
        return other_sessions(engine), (
            "sessions on other databases of the server, and a server that connects only after this check"
        )
    found, unseen = holders(sqlite_file(engine.url))
    blind = "processes on other machines or containers sharing the file, and servers that have not opened it yet"
    if unseen:
        blind = f"{unseen} processes of other users (no right to read their /proc entries), " + blind
    return found, blind


@dataclass(frozen=True)
class Restored:
    """A backup restored, and what the check for other connections could not see (None with `force`)."""

    info: BackupInfo
    unseen: str | None


def restore_backup(engine: Engine, path: Path, *, force: bool = False) -> Restored:
    """Replace the database's content with the backup at `path`, after checking the sidecar and checksum, the
    database kind, and (unless `force`) that no other process or session is connected."""
    info = read_backup(path)
    kind = database_kind(engine.url)
    if info.kind != kind:
        raise BackupError(
            f"{str(info.path)!r} is a {info.kind} backup (of {info.database}); DATABASE_URL is a {kind} database"
        )
    unseen = None
    if not force:
        try:
            others, unseen = connected_elsewhere(engine)
        except BackupError as exc:
            raise BackupError(f"{exc}; stop every server first, then restore with --force") from exc
        if others:
            raise BackupError(
                f"{len(others)} other connection(s) to {engine.url.render_as_string(hide_password=True)!r}: "
                f"{'; '.join(others)}; stop the servers and workers first (`sv serve`, gunicorn, shadow workers), "
                "or restore anyway with --force"
            )
    if kind == "sqlite":
        sqlite_restore(info.path, sqlite_file(engine.url))
    else:
        extra = sorted(set(inspect(engine).get_table_names()) - set(info.tables))
        engine.dispose()  # our own pooled sessions would otherwise hold locks the restore waits for
        postgres_restore(engine.url, info.path, extra)
    return Restored(info, unseen)
