"""What every PaperTrail route needs from the platform, reached only through the SDK's `PluginContext`.

`Feature` wraps the context: the feature toggle, access checks with the legacy answers, the board of a project
(created on first read, locked for writers), ids, time, limits and the files folder. Routes stay short and the
order of id and clock reads (which the parity tests pin) is decided here, in one place.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session

from exthost.sdk import CurrentUser, FeatureDisabled, PluginContext, ProjectAccess, ProjectInfo

from . import store
from .models import Board

FEATURE = "papertrail"
VIEWER, EDITOR, OWNER = "viewer", "editor", "owner"
RANK = {VIEWER: 1, EDITOR: 2, OWNER: 3}


def at_least(role: str, minimum: str) -> bool:
    """Whether an effective project role is `minimum` or better."""
    return RANK[role] >= RANK[minimum]


@dataclass(frozen=True)
class Feature:
    """The plugin context, seen from the PaperTrail routes."""

    ctx: PluginContext

    # -- platform ------------------------------------------------------------------------------------------------

    def require_enabled(self) -> None:
        """A switched-off PaperTrail answers a bare 404 on every API route, before anything else is looked at."""
        if not self.ctx.feature_enabled(FEATURE):
            raise FeatureDisabled(FEATURE)

    @property
    def root(self) -> Path:
        """The folder of attachment files, shared with the legacy implementation."""
        return self.ctx.feature_dir

    @property
    def upload_limit(self) -> int:
        return int(self.ctx.platform["PAPERTRAIL_UPLOAD_MAX_BYTES"])

    @property
    def import_limit(self) -> int:
        return int(self.ctx.platform["PAPERTRAIL_IMPORT_MAX_BYTES"])

    def ids(self, prefix: str) -> Callable[[], str]:
        """A source of new ids with `prefix`, drawn only when called."""
        return lambda: self.ctx.ids.new(prefix)

    def user(self) -> CurrentUser:
        """The signed-in user, or 401."""
        return self.ctx.auth.require_user()

    # -- access ------------------------------------------------------------------------------------------------------

    def access(self, db: Session, project_id: str, minimum: str) -> ProjectAccess:
        """The PaperTrail project with the caller's role checked (400/403/404, or the bare 404 when switched off)."""
        return self.ctx.auth.require_project(db, project_id, minimum, project_type=FEATURE)

    def open_board(self, db: Session, project_id: str, minimum: str) -> tuple[ProjectInfo, Board]:
        """The project and its board, created on first use; writers (above viewer) hold the board's lock.

        The clock is read on every call, whether or not a board is created: the legacy code reads it up front, and
        a stepping clock must step the same on both implementations.
        """
        project = self.access(db, project_id, minimum).project
        board = store.board_for(db, project, self.ids("b"), self.ctx.clock.now())
        if minimum != VIEWER:
            board = store.lock(db, board.id)
        return project, board

    def open_items(self, db: Session, project_id: str, board_id: str, minimum: str) -> tuple[ProjectAccess, Board]:
        """The access and the board named in the path (404 unless it is the project's); writers hold its lock."""
        found = self.access(db, project_id, minimum)
        board = store.board_in_project(db, project_id, board_id)
        if minimum != VIEWER:
            board = store.lock(db, board.id)
        return found, board
