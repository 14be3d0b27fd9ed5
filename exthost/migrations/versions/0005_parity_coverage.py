"""Branch coverage beside each parity run's case counts: which branches of the feature's legacy and plugin code the
run's cases reached.

Revision ID: exthost_0005
Revises: exthost_0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "exthost_0005"
down_revision = "exthost_0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # JSON: per side, the number of branches and the covered ones (`path:from>to`), so runs on the same code can be
    # unioned; NULL for a run that did not measure coverage (and for every run before this revision).
    with op.batch_alter_table("sv_parity_runs") as batch:
        batch.add_column(sa.Column("coverage", sa.Text, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sv_parity_runs") as batch:
        batch.drop_column("coverage")
