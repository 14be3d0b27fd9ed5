"""`sv db:backup` and `sv db:restore`, and the backup every schema-changing command takes first."""

from __future__ import annotations

import getpass
import shlex
from pathlib import Path
from typing import TYPE_CHECKING

import click

from exthost.cli.settings import load_settings

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from exthost.backup import BackupInfo
    from legacy_core.settings import Settings


def who(command: str) -> str:
    """Who ran `command`, for the migration log."""
    return f"{getpass.getuser()}@cli (sv {command})"


def restore_command(info: BackupInfo) -> str:
    return f"sv db:restore {shlex.quote(str(info.path))}"


def take_backup_or_fail(settings: Settings, engine: Engine, reason: str, *, to: Path | None = None) -> BackupInfo:
    """Back up the database into BACKUP_DIR (or `to`), applying BACKUP_RETENTION; print where. A failure is a
    ClickException: nothing was changed."""
    from exthost.backup import take_backup
    from exthost.errors import BackupError

    try:
        taken = take_backup(engine, settings.backup_dir, reason, keep=settings.BACKUP_RETENTION, to=to)
    except BackupError as exc:
        raise click.ClickException(f"backup failed, nothing was changed: {exc}") from exc
    except Exception as exc:  # the database cannot be read
        where = engine.url.render_as_string(hide_password=True)
        raise click.ClickException(
            f"backup of {where!r} failed, nothing was changed: {type(exc).__name__}: {exc}"
        ) from exc
    info = taken.info
    click.echo(f"backup: {info.path} ({info.size} bytes, sha256 {info.sha256[:12]}…)")
    for path in taken.pruned:
        click.echo(f"backup: deleted {path.name} (BACKUP_RETENTION={settings.BACKUP_RETENTION})")
    return info


@click.command("db:backup")
@click.option(
    "--to",
    "to",
    type=click.Path(path_type=Path),
    default=None,
    help="File (or folder) to write; BACKUP_DIR with a name from the time by default.",
)
@click.option("--database-url", default=None, help="Database to back up; DATABASE_URL by default.")
def db_backup_command(to: Path | None, database_url: str | None) -> None:
    """Back up the database (SQLite online backup, or pg_dump) with a checksummed sidecar; keep BACKUP_RETENTION."""
    from exthost.backup import database_kind, is_empty
    from exthost.errors import BackupError
    from legacy_core.db import make_engine

    settings = load_settings(DATABASE_URL=database_url)
    engine = make_engine(settings.DATABASE_URL)
    try:
        try:
            database_kind(engine.url)
            empty = is_empty(engine)
        except BackupError as exc:
            raise click.ClickException(str(exc)) from exc
        except Exception as exc:
            where = engine.url.render_as_string(hide_password=True)
            raise click.ClickException(f"cannot reach the database {where!r}: {type(exc).__name__}: {exc}") from exc
        if empty:
            raise click.ClickException("the database is empty (no table); there is nothing to back up")
        info = take_backup_or_fail(settings, engine, "manual", to=to)
    finally:
        engine.dispose()
    click.echo(f"restore it with: {restore_command(info)}")


@click.command("db:restore")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--force", is_flag=True, help="Restore even while other processes or sessions are connected.")
@click.option("--database-url", default=None, help="Database to restore into; DATABASE_URL by default.")
def db_restore_command(file: Path, force: bool, database_url: str | None) -> None:
    """Replace the database's content with a checked backup; refused while other servers are connected."""
    from exthost.backup import restore_backup
    from exthost.errors import BackupError
    from legacy_core.db import make_engine

    settings = load_settings(DATABASE_URL=database_url)
    engine = make_engine(settings.DATABASE_URL)
    try:
        restored = restore_backup(engine, file, force=force)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        engine.dispose()
    info = restored.info
    if restored.unseen is not None:
        click.echo(f"no other connection was seen (the check cannot see {restored.unseen})")
    revisions = ", ".join(f"{history} {revision}" for history, revision in info.revisions.items()) or "none"
    click.echo(f"restored {info.path.name} (taken {info.created_at}, {info.reason}); revisions: {revisions}")
