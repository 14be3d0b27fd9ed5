"""The migration log: one row per applied upgrade or downgrade of any schema history (core, registry, a plugin,
a plugin for one tenant), with who ran it and the backup taken before it.

Revision ID: exthost_0007
Revises: exthost_0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "exthost_0007"
down_revision = "exthost_0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # General on purpose: `history` names the schema ("core", "exthost", "plugin:<name>"), and tenant_id is set
    # only by steps that migrate one tenant's data.
    op.create_table(
        "sv_migration_log",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("history", sa.String(80), nullable=False),
        sa.Column("tenant_id", sa.String(64), nullable=True),
        sa.Column("from_revision", sa.String(64), nullable=True),
        sa.Column("to_revision", sa.String(64), nullable=True),
        sa.Column("direction", sa.String(10), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("by", sa.String(200), nullable=False),
        sa.Column("backup", sa.Text, nullable=True),
    )
    op.create_index("ix_sv_migration_log_history", "sv_migration_log", ["history", "id"])


def downgrade() -> None:
    op.drop_index("ix_sv_migration_log_history", "sv_migration_log")
    op.drop_table("sv_migration_log")
