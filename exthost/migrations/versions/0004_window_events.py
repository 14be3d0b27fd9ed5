"""Sliding-window events shared by every worker: the canary circuit breaker's failures and the plugins' error budget.

Revision ID: exthost_0004
Revises: exthost_0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "exthost_0004"
down_revision = "exthost_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # One row per event (a canary failure of a feature, an unhandled error of a plugin for a tenant), named by what
    # it counts towards; rows older than their window are deleted as new ones arrive, and a trip deletes them all.
    # Counted in the shared database so that N workers trip together, not after N times the threshold.
    op.create_table(
        "sv_window_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_sv_window_events_name_at", "sv_window_events", ["name", "at"])


def downgrade() -> None:
    op.drop_index("ix_sv_window_events_name_at", table_name="sv_window_events")
    op.drop_table("sv_window_events")
