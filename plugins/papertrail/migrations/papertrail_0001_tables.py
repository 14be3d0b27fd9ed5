"""PaperTrail's tables become the plugin's: boards, nodes, edges, comments and attachments.

Revision ID: papertrail_0001
Revises:
Create Date: 2026-12-07

Intent: until now the core revision `0001_core_schema` created these tables. On a new database this revision
creates them, exactly as the core did (same columns, types, keys, indexes, and foreign keys to the core's
`projects` and `users`). On a database the old core revision made, they are there with their rows: the revision
checks they match this definition and changes nothing, so alembic only records it in `alembic_version_papertrail`
(a mismatch is an error naming table and difference, and the deployment's transaction leaves everything as it was).
The legacy feature keeps reading and writing these same tables while the feature is in legacy, shadow or canary
mode. Downgrading drops the tables and every row in them: that is uninstalling PaperTrail.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from exthost.sdk import create_or_adopt

revision = "papertrail_0001"
down_revision = None
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)

# The definition as of this revision; later revisions change it, never this file.
metadata = sa.MetaData()
# Stand-ins for the core tables the foreign keys point at: never created or compared here.
sa.Table("projects", metadata, sa.Column("id", sa.String(40), primary_key=True))
sa.Table("users", metadata, sa.Column("id", sa.String(40), primary_key=True))

TABLES = (
    sa.Table(
        "pt_boards",
        metadata,
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column(
            "project_id", sa.String(40), sa.ForeignKey("projects.id", ondelete="CASCADE"), nullable=False, unique=True
        ),
        sa.Column("title", sa.String(160), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    ),
    sa.Table(
        "pt_nodes",
        metadata,
        sa.Column("board_id", sa.String(40), sa.ForeignKey("pt_boards.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("id", sa.String(80), primary_key=True),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("type", sa.String(20), nullable=False),
        sa.Column("x", sa.Integer, nullable=False),
        sa.Column("y", sa.Integer, nullable=False),
        sa.Column("w", sa.Integer, nullable=True),
        sa.Column("h", sa.Integer, nullable=True),
        sa.Column("title", sa.String(240), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("html", sa.Text, nullable=False),
        sa.Column("desc_html", sa.Text, nullable=False),
        sa.Column("url", sa.String(2000), nullable=False),
        sa.Column("image_url", sa.String(2000), nullable=False),
        sa.Column("color", sa.String(32), nullable=False),
        sa.Column("tags", sa.JSON, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    ),
    sa.Table(
        "pt_edges",
        metadata,
        sa.Column("board_id", sa.String(40), sa.ForeignKey("pt_boards.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("id", sa.String(80), primary_key=True),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("source", sa.String(80), nullable=False),
        sa.Column("target", sa.String(80), nullable=False),
        sa.Column("label", sa.String(240), nullable=False),
        sa.Column("color", sa.String(32), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    ),
    sa.Table(
        "pt_comments",
        metadata,
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("board_id", sa.String(40), sa.ForeignKey("pt_boards.id", ondelete="CASCADE"), nullable=False),
        sa.Column("node_id", sa.String(80), nullable=True),
        sa.Column("author_id", sa.String(40), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Index("ix_pt_comments_board_id", "board_id"),
    ),
    sa.Table(
        "pt_attachments",
        metadata,
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("board_id", sa.String(40), sa.ForeignKey("pt_boards.id", ondelete="CASCADE"), nullable=False),
        sa.Column("node_id", sa.String(80), nullable=True),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.Column("stored_path", sa.String(500), nullable=False),
        sa.Column("content_type", sa.String(120), nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("uploaded_by", sa.String(40), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Index("ix_pt_attachments_board_id", "board_id"),
    ),
)


def upgrade() -> None:
    create_or_adopt(op.get_bind(), TABLES)


def downgrade() -> None:
    for table in reversed(TABLES):
        op.drop_table(table.name)
