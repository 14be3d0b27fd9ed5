"""Database backups: taken before every schema change, restored only when checked and nobody else is connected.

`operations` takes and restores backups of the configured database; `files` names them, writes the sidecar that
vouches for each and applies retention; `sqlite` and `postgres` hold what differs between the two databases.

Public names are imported from their module on first use (exthost._exports), so the modules import one another
without a cycle through this package.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from exthost._exports import lazy_exports

if TYPE_CHECKING:
    from exthost.backup.files import BackupInfo, list_backups, read_backup
    from exthost.backup.operations import (
        Restored,
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
    "Restored",
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

_FILES = "exthost.backup.files"
_OPERATIONS = "exthost.backup.operations"
__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "BackupInfo": _FILES,
        "list_backups": _FILES,
        "read_backup": _FILES,
        **{
            name: _OPERATIONS
            for name in (
                "Restored",
                "TakenBackup",
                "connected_elsewhere",
                "database_kind",
                "is_empty",
                "recorded_revisions",
                "restore_backup",
                "take_backup",
            )
        },
    },
)
