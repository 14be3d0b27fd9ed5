"""Recorded sessions whose replay was inconclusive, beside the matched ones: both sides agreed, but legacy did not
answer as the recording says (state moved under the session), so the replay neither passes nor fails the gate.

Revision ID: exthost_0006
Revises: exthost_0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "exthost_0006"
down_revision = "exthost_0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # JSON list of corpus names, like recordings_matched; NULL for every run before this revision (none inconclusive).
    with op.batch_alter_table("sv_parity_runs") as batch:
        batch.add_column(sa.Column("recordings_inconclusive", sa.Text, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sv_parity_runs") as batch:
        batch.drop_column("recordings_inconclusive")
