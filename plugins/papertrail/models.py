"""The plugin's typed view of the PaperTrail tables (pt_boards, pt_nodes, pt_edges, pt_comments, pt_attachments).

The tables already exist (the core schema created them, and the legacy feature shares them while both run), so these
classes only map them; nothing here creates or alters a table. Foreign keys are declared between PaperTrail tables
only, so the unit of work orders inserts correctly; the database itself still enforces the ones to users and
projects. `Account` maps two columns of `sv_platform_users`, the platform's read-only view of users, enough to
check a comment author's tenant on import.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# The legacy columns are timezone-aware; the same type keeps stored values byte-identical on every dialect.
Moment = DateTime(timezone=True)


class Base(DeclarativeBase):
    """Declarative base of the plugin's own mappings (its own metadata, apart from the platform's)."""


class Board(Base):
    """One project's board; a project has at most one (unique project_id)."""

    __tablename__ = "pt_boards"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    project_id: Mapped[str] = mapped_column(String(40), unique=True)
    title: Mapped[str] = mapped_column(String(160))
    created_at: Mapped[datetime] = mapped_column(Moment)
    updated_at: Mapped[datetime] = mapped_column(Moment)


class Node(Base):
    """A card on a board; its id is chosen by the client and unique per board."""

    __tablename__ = "pt_nodes"

    board_id: Mapped[str] = mapped_column(ForeignKey("pt_boards.id", ondelete="CASCADE"), primary_key=True)
    id: Mapped[str] = mapped_column(String(80), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    type: Mapped[str] = mapped_column(String(20))
    x: Mapped[int] = mapped_column(Integer, default=0)
    y: Mapped[int] = mapped_column(Integer, default=0)
    w: Mapped[int | None] = mapped_column(Integer, nullable=True)
    h: Mapped[int | None] = mapped_column(Integer, nullable=True)
    title: Mapped[str] = mapped_column(String(240), default="")
    text: Mapped[str] = mapped_column(Text, default="")
    html: Mapped[str] = mapped_column(Text, default="")
    desc_html: Mapped[str] = mapped_column(Text, default="")
    url: Mapped[str] = mapped_column(String(2000), default="")
    image_url: Mapped[str] = mapped_column(String(2000), default="")
    color: Mapped[str] = mapped_column(String(32), default="")
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(Moment)
    updated_at: Mapped[datetime] = mapped_column(Moment)


class Edge(Base):
    """A labelled link between two nodes of one board."""

    __tablename__ = "pt_edges"

    board_id: Mapped[str] = mapped_column(ForeignKey("pt_boards.id", ondelete="CASCADE"), primary_key=True)
    id: Mapped[str] = mapped_column(String(80), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    source: Mapped[str] = mapped_column(String(80))
    target: Mapped[str] = mapped_column(String(80))
    label: Mapped[str] = mapped_column(String(240), default="")
    color: Mapped[str] = mapped_column(String(32), default="")
    created_at: Mapped[datetime] = mapped_column(Moment)
    updated_at: Mapped[datetime] = mapped_column(Moment)


class Comment(Base):
    """A remark on a board, optionally about one node."""

    __tablename__ = "pt_comments"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    board_id: Mapped[str] = mapped_column(ForeignKey("pt_boards.id", ondelete="CASCADE"), index=True)
    node_id: Mapped[str | None] = mapped_column(String(80), nullable=True)
    author_id: Mapped[str] = mapped_column(String(40))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(Moment)
    updated_at: Mapped[datetime] = mapped_column(Moment)


class Attachment(Base):
    """An uploaded file of a board; the bytes live on disk at `<feature dir>/<stored_path>`."""

    __tablename__ = "pt_attachments"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    board_id: Mapped[str] = mapped_column(ForeignKey("pt_boards.id", ondelete="CASCADE"), index=True)
    node_id: Mapped[str | None] = mapped_column(String(80), nullable=True)
    filename: Mapped[str] = mapped_column(String(255))
    stored_path: Mapped[str] = mapped_column(String(500))
    content_type: Mapped[str] = mapped_column(String(120))
    size: Mapped[int] = mapped_column(Integer)
    uploaded_by: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(Moment)


class Account(Base):
    """Read-only: the platform's users, as far as an import needs them, through the view the manifest's
    access.platform grants (no credentials in it; never written by this plugin)."""

    __tablename__ = "sv_platform_users"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(64))
