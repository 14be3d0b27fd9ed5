"""Database backups: taken before every schema change, restored only when checked and nobody else is connected.

`operations` takes and restores backups of the configured database; `files` names them, writes the sidecar that
vouches for each and applies retention; `sqlite` and `postgres` hold what differs between the two databases.
"""

from __future__ import annotations

from exthost.backup.files import BackupInfo, list_backups, read_backup
from exthost.backup.operations import (
    TakenBackup,
    connected_elsewhere,
    database_kind,
    is_empty,
    recorded_revisions,
    restore_backup,
    take_backup,
)

__all__ = [
    "BackupInfo",
    "TakenBackup",
    "connected_elsewhere",
    "database_kind",
    "is_empty",
    "list_backups",
    "read_backup",
    "recorded_revisions",
    "restore_backup",
    "take_backup",
]
