"""Backup files on disk: their names, the JSON sidecar that vouches for each, and retention.

A backup is a data file (`sovereign-<UTC time>-<kind>-<reason>.<ext>`) and its sidecar (`<data file>.json`). The
data file is written under a `.partial` name and renamed when complete; the sidecar (size, SHA-256, database URL
without its password, the revision of every schema history, the tables) is written last, so a backup without a
sidecar is one that never finished and is never restored.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from exthost.errors import BackupError

PREFIX = "sovereign-"
EXTENSIONS = {"sqlite": ".sqlite3", "postgresql": ".pgdump"}
SIDECAR_SUFFIX = ".json"
PARTIAL_SUFFIX = ".partial"
_REASON = re.compile(r"[a-z0-9][a-z0-9-]{0,39}")


@dataclass(frozen=True)
class BackupInfo:
    """What the sidecar says of one backup."""

    path: Path
    kind: str  # "sqlite" or "postgresql"
    reason: str
    created_at: str  # ISO 8601, UTC
    database: str  # the URL, password hidden
    size: int
    sha256: str
    revisions: dict[str, str | None] = field(default_factory=dict)
    tables: list[str] = field(default_factory=list)

    @property
    def sidecar(self) -> Path:
        return sidecar_path(self.path)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["path"] = str(self.path)
        return data


def sidecar_path(path: Path) -> Path:
    return path.with_name(path.name + SIDECAR_SUFFIX)


def check_reason(reason: str) -> str:
    if not _REASON.fullmatch(reason):
        raise BackupError(f"backup reason {reason!r} must be lowercase letters, digits and '-', at most 40")
    return reason


def default_name(kind: str, reason: str, at: datetime) -> str:
    return f"{PREFIX}{at.strftime('%Y%m%dT%H%M%S')}Z-{kind}-{check_reason(reason)}{EXTENSIONS[kind]}"


def free_path(folder: Path, name: str) -> Path:
    """`folder/name`, or with `-2`, `-3`, … before the extension when taken (two backups in one second)."""
    path = folder / name
    stem, suffix = path.stem, path.suffix
    number = 1
    while path.exists() or sidecar_path(path).exists():
        number += 1
        path = folder / f"{stem}-{number}{suffix}"
    return path


def sha256_of(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_sidecar(info: BackupInfo) -> None:
    """Write the sidecar through a temporary name, so it exists whole or not at all."""
    temporary = info.sidecar.with_name(info.sidecar.name + PARTIAL_SUFFIX)
    data = info.as_dict()
    data["path"] = info.path.name  # the data file sits beside it; the folder may be moved
    temporary.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    fsync_file(temporary)
    temporary.replace(info.sidecar)


def read_backup(path: Path) -> BackupInfo:
    """The backup at `path` (its data file, or its sidecar), checked: sidecar present and readable, data file of
    the size and SHA-256 the sidecar says. Raises BackupError saying what is wrong."""
    path = Path(path)
    if path.name.endswith(SIDECAR_SUFFIX) and not path.name.endswith(PARTIAL_SUFFIX):
        path = path.with_name(path.name[: -len(SIDECAR_SUFFIX)])
    if path.name.endswith(PARTIAL_SUFFIX):
        raise BackupError(f"{str(path)!r} is a backup that never finished (a '.partial' file); it cannot be restored")
    sidecar = sidecar_path(path)
    if not path.is_file():
        raise BackupError(f"no backup file at {str(path)!r}")
    if not sidecar.is_file():
        raise BackupError(
            f"{str(path)!r} has no sidecar {sidecar.name!r}: it is not a finished sv backup (or its sidecar was "
            "removed), so its content cannot be checked; refusing to restore it"
        )
    try:
        data = json.loads(sidecar.read_text(encoding="utf-8"))
        info = BackupInfo(
            path=path,
            kind=str(data["kind"]),
            reason=str(data["reason"]),
            created_at=str(data["created_at"]),
            database=str(data["database"]),
            size=int(data["size"]),
            sha256=str(data["sha256"]),
            revisions=dict(data.get("revisions") or {}),
            tables=[str(table) for table in data.get("tables") or []],
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise BackupError(f"the sidecar {str(sidecar)!r} cannot be read: {type(exc).__name__}: {exc}") from exc
    if info.kind not in EXTENSIONS:
        raise BackupError(f"the sidecar {str(sidecar)!r} names an unknown database kind {info.kind!r}")
    size = path.stat().st_size
    if size != info.size:
        raise BackupError(
            f"{str(path)!r} is {size} bytes, its sidecar says {info.size}: the file was cut short or changed"
        )
    digest = sha256_of(path)
    if digest != info.sha256:
        raise BackupError(
            f"{str(path)!r} has SHA-256 {digest}, its sidecar says {info.sha256}: the file was changed or damaged"
        )
    return info


def list_backups(folder: Path) -> list[tuple[str, Path]]:
    """(created_at, data file) of every backup in `folder` that has a sidecar, newest first."""
    found: list[tuple[str, Path]] = []
    if not folder.is_dir():
        return found
    for sidecar in folder.glob(f"{PREFIX}*{SIDECAR_SUFFIX}"):
        try:
            created = str(json.loads(sidecar.read_text(encoding="utf-8"))["created_at"])
        except (OSError, ValueError, KeyError, TypeError):
            continue  # not ours to judge, and never deleted by pruning
        found.append((created, sidecar.with_name(sidecar.name[: -len(SIDECAR_SUFFIX)])))
    found.sort(key=lambda item: (item[0], item[1].name), reverse=True)
    return found


def prune(folder: Path, keep: int, protect: Path) -> list[Path]:
    """Delete the backups in `folder` beyond the newest `keep` (0 keeps all), never `protect`; the deleted paths.

    The sidecar goes first, so a backup interrupted halfway through deletion is never taken for a whole one.
    """
    if keep <= 0:
        return []
    backups = list_backups(folder)
    kept = [path for _, path in backups if path == protect][:1]
    deleted: list[Path] = []
    for _, path in backups:
        if path == protect:
            continue
        if len(kept) < keep:
            kept.append(path)
            continue
        sidecar_path(path).unlink(missing_ok=True)
        path.unlink(missing_ok=True)
        deleted.append(path)
    return deleted
