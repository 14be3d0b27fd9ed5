"""Project access rules: who may see or change a project, by membership role and project scope."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from legacy_core.auth import CurrentUser
from legacy_core.errors import ApiError, FeatureDisabled
from legacy_core.models import Project, ProjectMember
from legacy_core.settings import Settings

ROLE_RANK = {"viewer": 1, "editor": 2, "owner": 3}
ROLES = tuple(ROLE_RANK)
PROJECT_TYPES = ("blog", "papertrail")
SCOPES = ("private", "org", "public")


@dataclass(frozen=True)
class ProjectTables:
    """Where the rules read projects and memberships: the tables, or (for plugins) mappings with the same columns
    over the platform's read-only views."""

    project: Any
    member: Any


TABLES = ProjectTables(project=Project, member=ProjectMember)


@dataclass(frozen=True)
class ProjectAccess:
    project: Any  # a Project, or the view mapping of ProjectTables.project
    role: str  # the caller's effective role: membership, platform admin, or the implicit viewer of org/public

    @property
    def effective_role(self) -> str:
        return self.role


def effective_role(db: Session, project: Any, user: CurrentUser, tables: ProjectTables = TABLES) -> str | None:
    """The user's role on the project: a member's own role; owner for a platform admin of the project's tenant;
    the implicit viewer of org and public projects; None otherwise."""
    if project.tenant_id != user.tenant_id:
        return None
    member = tables.member
    role = db.scalar(select(member.role).where(member.project_id == project.id, member.user_id == user.id))
    if role is not None:
        return str(role)
    if user.is_admin:
        return "owner"
    if project.scope in ("org", "public"):
        return "viewer"
    return None


def require_project(
    db: Session,
    user: CurrentUser,
    project_id: str | None,
    minimum: str = "viewer",
    *,
    project_type: str | None = None,
    settings: Settings | None = None,
    tables: ProjectTables = TABLES,
) -> ProjectAccess:
    """The project with the caller's access checked: 400 missing id, 404 not found, 403 forbidden.

    With `project_type`, a project of another type is "not found", and a disabled type is a bare 404.
    """
    if project_type is not None and settings is not None and not settings.project_type_enabled(project_type):
        raise FeatureDisabled(project_type)
    if project_id is None or not project_id.strip():
        raise ApiError(400, "Missing project id")
    project = db.get(tables.project, project_id)
    if project is None or project.tenant_id != user.tenant_id:
        raise ApiError(404, "Project not found")
    if project_type is not None and project.type != project_type:
        raise ApiError(404, "Project not found")
    if settings is not None and not settings.project_type_enabled(project.type):
        raise FeatureDisabled(project.type)
    role = effective_role(db, project, user, tables)
    if role is None or ROLE_RANK[role] < ROLE_RANK[minimum]:
        raise ApiError(403, "Forbidden")
    return ProjectAccess(project=project, role=role)
