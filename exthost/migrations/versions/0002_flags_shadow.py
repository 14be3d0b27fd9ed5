"""Feature flags with their change log, and the shadow comparison results every worker adds to.

Revision ID: exthost_0002
Revises: exthost_0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "exthost_0002"
down_revision = "exthost_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # One row per feature (route '') or per route of a feature: the mode in force. A missing row means legacy.
    op.create_table(
        "sv_flags",
        sa.Column("feature", sa.String(40), primary_key=True),
        sa.Column("route", sa.String(300), primary_key=True),
        sa.Column("mode", sa.String(20), nullable=False),
        sa.Column("percent", sa.Float, nullable=False),
        sa.Column("tenants", sa.Text, nullable=False),
        sa.Column("sample", sa.Float, nullable=False),
        sa.Column("updated_by", sa.String(200), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
    )
    # Every change, never updated or deleted: who moved which feature to what, when and why.
    op.create_table(
        "sv_flag_changes",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("feature", sa.String(40), nullable=False, index=True),
        sa.Column("route", sa.String(300), nullable=False),
        sa.Column("previous_mode", sa.String(20), nullable=False),
        sa.Column("mode", sa.String(20), nullable=False),
        sa.Column("percent", sa.Float, nullable=False),
        sa.Column("tenants", sa.Text, nullable=False),
        sa.Column("sample", sa.Float, nullable=False),
        sa.Column("changed_by", sa.String(200), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
    )
    # Comparison outcomes counted per feature, route, method, mode and outcome; workers add their deltas.
    op.create_table(
        "sv_shadow_counts",
        sa.Column("feature", sa.String(40), primary_key=True),
        sa.Column("route", sa.String(300), primary_key=True),
        sa.Column("method", sa.String(10), primary_key=True),
        sa.Column("mode", sa.String(20), primary_key=True),
        sa.Column("outcome", sa.String(30), primary_key=True),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    # Each mismatch or candidate error kept whole (request and both responses, secrets redacted) for HAR export.
    op.create_table(
        "sv_shadow_mismatches",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("feature", sa.String(40), nullable=False, index=True),
        sa.Column("route", sa.String(300), nullable=False),
        sa.Column("method", sa.String(10), nullable=False),
        sa.Column("mode", sa.String(20), nullable=False),
        sa.Column("outcome", sa.String(30), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False, index=True),
        sa.Column("exchange", sa.Text, nullable=False),
        sa.Column("differences", sa.Text, nullable=False),
    )
    version = sa.table("sv_registry_version", sa.column("key", sa.String), sa.column("version", sa.Integer))
    op.bulk_insert(version, [{"key": "flags", "version": 0}])


def downgrade() -> None:
    op.execute("DELETE FROM sv_registry_version WHERE key = 'flags'")
    op.drop_table("sv_shadow_mismatches")
    op.drop_table("sv_shadow_counts")
    op.drop_table("sv_flag_changes")
    op.drop_table("sv_flags")
