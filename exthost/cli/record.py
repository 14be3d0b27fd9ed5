"""`sv parity:record`: switch traffic recording of running servers on or off, and show what it has recorded."""

from __future__ import annotations

import getpass
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from exthost.cli.output import print_table, when
from exthost.cli.settings import data_folders, feature_names, load_settings, opened_database

if TYPE_CHECKING:
    from exthost.evidence.recorder import RecordingStore

_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_duration(text: str) -> timedelta:
    """`90s`, `10m`, `2h`, `1d` or combinations such as `1h30m`, as a positive timedelta."""
    compact = re.sub(r"\s+", "", text.lower())
    if not re.fullmatch(r"(\d+[smhd])+", compact):
        raise ValueError(f"duration {text!r} is not a number with a unit; e.g. 90s, 10m, 2h, 1d or 1h30m")
    duration = timedelta()
    for number, unit in re.findall(r"(\d+)([smhd])", compact):
        duration += timedelta(**{_UNITS[unit]: int(number)})
    if duration <= timedelta(0):
        raise ValueError(f"duration {text!r} is zero; e.g. 10m")
    return duration


@contextmanager
def recording_store(settings: Any) -> Iterator[RecordingStore]:
    """The recording switch of the configured database (no app, no host, no plugin imported)."""
    from exthost.evidence.recorder import RecordingError, RecordingStore

    with opened_database(settings, "the recording switch") as session_factory:
        try:
            yield RecordingStore(
                session_factory,
                default_directory=settings.recording_dir,
                features=feature_names(settings),
                poll_seconds=0,
                strict=True,
            )
        except RecordingError as exc:
            raise click.UsageError(str(exc)) from exc


def _size(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    return f"{size / 1024:.1f} KiB" if size < 1024 * 1024 else f"{size / 1024 / 1024:.1f} MiB"


@click.command("parity:record")
@click.option("--on/--off", "switch", default=None, help="Start or stop recording; without either, show status.")
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder of the HAR files (with --on); RECORDING_DIR by default.",
)
@click.option(
    "--feature",
    "features",
    multiple=True,
    metavar="F",
    help="Record only this feature's requests (repeatable, with --on); every request by default.",
)
@click.option(
    "--for", "duration", default=None, metavar="DURATION", help="Stop by itself after e.g. 10m or 2h (with --on)."
)
@click.option(
    "--snapshot",
    is_flag=True,
    help="With --on: first save the state recording starts from (database, feature data folders, local git "
    "remotes) under the folder's snapshots/, so `sv parity:run --recordings DIR` replays sessions from it.",
)
@click.option("--by", "changed_by", default=None, help="Who switched, kept with the switch; the OS user by default.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text and a table.")
def parity_record_command(
    switch: bool | None,
    directory: Path | None,
    features: tuple[str, ...],
    duration: str | None,
    snapshot: bool,
    changed_by: str | None,
    as_json: bool,
) -> None:
    """Record live traffic as HAR 1.2 files (one per client session, secrets redacted) for the parity harness.

    Running servers follow within FLAGS_POLL_SECONDS. Without --on or --off, shows the switch and the HAR files
    recorded so far, with their entry counts.
    """
    from exthost.evidence.recorder import har_files
    from legacy_core.clock import SystemClock

    if switch is not True and (directory is not None or features or duration is not None or snapshot):
        raise click.UsageError(
            "--dir, --feature, --for and --snapshot go with --on; e.g. sv parity:record --on --snapshot --for 10m"
        )
    until = None
    if duration is not None:
        try:
            until = SystemClock().now() + parse_duration(duration)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="'--for'") from exc
    settings = load_settings()
    who = changed_by or f"{getpass.getuser()}@cli"
    with recording_store(settings) as store:
        if switch is None:
            state = store.refresh()
        elif switch:
            if snapshot:
                taken = _snapshot(settings, directory or settings.recording_dir)
                click.echo(f"snapshot: {taken.path}")
            state = store.set(
                True, directory=directory or settings.recording_dir, features=features, until=until, changed_by=who
            )
        else:
            state = store.set(False, changed_by=who)
    now = SystemClock().now()
    folder = state.directory or settings.recording_dir
    files = har_files(folder)
    if as_json:
        report = state.as_dict(now) | {"directory": str(folder)}
        report["files"] = [
            {"name": f.path.name, "entries": f.entries, "bytes": f.size, "modified": f.modified.isoformat()}
            for f in files
        ]
        click.echo(json.dumps(report, indent=2))
        return
    click.echo(_describe(state.enabled, state.active(now), state.until, now))
    click.echo(f"folder:   {folder}")
    click.echo(f"features: {', '.join(state.features) or 'all'}")
    if state.changed_at is not None:
        click.echo(f"switched by {state.changed_by} at {when(state.changed_at)}")
    if switch is not None:
        poll = settings.FLAGS_POLL_SECONDS
        click.echo(f"running servers follow within {poll:g} s (FLAGS_POLL_SECONDS)")
    _files_table(files)


def _snapshot(settings: Any, directory: Path) -> Any:
    """The state recording starts from, saved under `directory/snapshots/` (exthost.evidence.snapshot)."""
    from exthost.deploy import migrate_plugins
    from exthost.evidence.snapshot import SnapshotError, take_snapshot
    from legacy_core.clock import SystemClock
    from legacy_core.db import make_engine
    from legacy_core.migrate import upgrade

    def migrate(engine: Any) -> None:
        upgrade(engine)
        migrate_plugins(settings, engine, ())

    engine = make_engine(settings.DATABASE_URL)
    try:
        return take_snapshot(
            directory,
            database_url=settings.DATABASE_URL,
            engine=engine,
            data_folders=data_folders(settings),
            migrate=migrate,
            now=SystemClock().now(),
        )
    except Exception as exc:  # whatever failed (the database, git, the disk), recording must stay off and say why
        why = str(exc) if isinstance(exc, SnapshotError | OSError) else f"{type(exc).__name__}: {exc}"
        raise click.ClickException(f"the snapshot was not taken, and recording was not switched on: {why}") from exc
    finally:
        engine.dispose()


def _describe(enabled: bool, active: bool, until: datetime | None, now: datetime) -> str:
    if not enabled:
        return "recording: off"
    if until is None:
        return "recording: on"
    if not active:
        return f"recording: off (expired at {when(until)})"
    left = int((until - now).total_seconds())
    return f"recording: on until {when(until)} ({left // 60}m {left % 60}s left)"


def _files_table(files: list[Any]) -> None:
    rows = [
        [f.path.name, str(f.entries) if f.entries is not None else "unreadable", _size(f.size), when(f.modified)]
        for f in files
    ]
    print_table("recorded HAR files", ["file", "entries", "size", "modified"], rows)
