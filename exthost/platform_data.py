"""Typed mappings of the platform's read-only views (exthost revision 0007), the only platform data a plugin's
`ctx.db` may read: the SDK's project checks run on them, through the plugin's own confined session."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from legacy_core.access import ProjectTables
from legacy_core.models import UTCDateTime


class ViewBase(DeclarativeBase):
    """Mappings of views, apart from the platform's metadata (nothing here creates a table)."""


class ProjectView(ViewBase):
    """`sv_platform_projects`: every column of `projects`."""

    __tablename__ = "sv_platform_projects"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(64))
    owner_id: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(120))
    slug: Mapped[str] = mapped_column(String(140))
    description: Mapped[str] = mapped_column(String(500))
    type: Mapped[str] = mapped_column(String(20))
    scope: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class MemberView(ViewBase):
    """`sv_platform_project_members`: every column of `project_members`."""

    __tablename__ = "sv_platform_project_members"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    project_id: Mapped[str] = mapped_column(String(40))
    user_id: Mapped[str] = mapped_column(String(40))
    role: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


VIEW_TABLES = ProjectTables(project=ProjectView, member=MemberView)
