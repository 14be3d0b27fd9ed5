"""Plugin registry: per-tenant plugin states and the change counter hosts poll.

Revision ID: exthost_0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "exthost_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sv_plugin_states",
        sa.Column("plugin", sa.String(40), primary_key=True),
        sa.Column("tenant_id", sa.String(64), primary_key=True),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("changed_by", sa.String(200), nullable=False),
        sa.Column("reason", sa.Text, nullable=True),
    )
    version = op.create_table(
        "sv_registry_version",
        sa.Column("key", sa.String(40), primary_key=True),
        sa.Column("version", sa.Integer, nullable=False),
    )
    op.bulk_insert(version, [{"key": "plugins", "version": 0}])


def downgrade() -> None:
    op.drop_table("sv_registry_version")
    op.drop_table("sv_plugin_states")
