"""Parity evidence (harness runs and shadow samples per code fingerprint), the recording switch, forced flag changes.

Revision ID: exthost_0003
Revises: exthost_0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "exthost_0003"
down_revision = "exthost_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # One row per feature per harness run. `code` is the fingerprint of both sides' source for the feature: evidence
    # counts only while the code it was gathered on is the code in place.
    op.create_table(
        "sv_parity_runs",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("feature", sa.String(40), nullable=False, index=True),
        sa.Column("code", sa.String(64), nullable=False, index=True),
        sa.Column("sides", sa.String(20), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_cases", sa.Integer, nullable=False),
        sa.Column("recorded_matched", sa.Integer, nullable=False),
        # JSON list of the recording names (relative to the recordings folder) that ran and matched.
        sa.Column("recordings_matched", sa.Text, nullable=False),
        sa.Column("generated_cases", sa.Integer, nullable=False),
        sa.Column("generated_matched", sa.Integer, nullable=False),
        sa.Column("mismatched_cases", sa.Integer, nullable=False),
        sa.Column("compared_requests", sa.Integer, nullable=False),
        sa.Column("report_dir", sa.Text, nullable=False),
    )
    # Shadow outcomes per feature and code fingerprint; workers add their deltas (as to sv_shadow_counts).
    op.create_table(
        "sv_shadow_evidence",
        sa.Column("feature", sa.String(40), primary_key=True),
        sa.Column("code", sa.String(64), primary_key=True),
        sa.Column("outcome", sa.String(80), primary_key=True),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    # The recording switch of running servers (one row, id 1): `sv parity:record` writes it, workers poll it.
    op.create_table(
        "sv_recording",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("directory", sa.Text, nullable=False),
        sa.Column("features", sa.Text, nullable=False),
        sa.Column("until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("changed_by", sa.String(200), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
    )
    # Outcomes name their reason ("skipped:writes-outside-database" is 31 characters): 30 was too narrow, and
    # PostgreSQL refused the whole flush of a worker's counts.
    for table in ("sv_shadow_counts", "sv_shadow_mismatches"):
        with op.batch_alter_table(table) as batch:
            batch.alter_column("outcome", existing_type=sa.String(30), type_=sa.String(80), existing_nullable=False)
    # A switch made with --force despite short evidence stays marked as forced in the change log.
    op.add_column("sv_flag_changes", sa.Column("forced", sa.Boolean, nullable=False, server_default=sa.false()))
    version = sa.table("sv_registry_version", sa.column("key", sa.String), sa.column("version", sa.Integer))
    op.bulk_insert(version, [{"key": "recording", "version": 0}])


def downgrade() -> None:
    op.execute("DELETE FROM sv_registry_version WHERE key = 'recording'")
    with op.batch_alter_table("sv_flag_changes") as batch:
        batch.drop_column("forced")
    for table in ("sv_shadow_mismatches", "sv_shadow_counts"):
        with op.batch_alter_table(table) as batch:
            batch.alter_column("outcome", existing_type=sa.String(80), type_=sa.String(30), existing_nullable=False)
    op.drop_table("sv_recording")
    op.drop_table("sv_shadow_evidence")
    op.drop_table("sv_parity_runs")
