"""Blog's table becomes the plugin's: blog_configs, one row per configured blog project.

Revision ID: blog_0001
Revises:
Create Date: 2026-12-07

Intent: until now the core revision `0001_core_schema` created this table. On a new database this revision creates
it, exactly as the core did (same columns and types, the project as key, a foreign key to the core's `projects`).
On a database the old core revision made, it is there with its rows: the revision checks it matches this definition
and changes nothing, so alembic only records it in `alembic_version_blog` (a mismatch is an error naming the
difference, and the deployment's transaction leaves everything as it was). The legacy feature keeps reading and
writing this same table while the feature is in legacy, shadow or canary mode. Downgrading drops the table and every
row in it: that is uninstalling Blog (the posts stay in their git repositories).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from exthost.sdk import create_or_adopt

revision = "blog_0001"
down_revision = None
branch_labels = None
depends_on = None

# The definition as of this revision; later revisions change it, never this file.
metadata = sa.MetaData()
# Stand-in for the core table the foreign key points at: never created or compared here.
sa.Table("projects", metadata, sa.Column("id", sa.String(40), primary_key=True))

BLOG_CONFIGS = sa.Table(
    "blog_configs",
    metadata,
    sa.Column("project_id", sa.String(40), sa.ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("repo_url", sa.String(2000), nullable=False),
    sa.Column("branch", sa.String(200), nullable=False),
    sa.Column("content_dir", sa.String(500), nullable=False),
    sa.Column("git_user_name", sa.String(200), nullable=False),
    sa.Column("git_user_email", sa.String(254), nullable=False),
    sa.Column("git_auth_token", sa.String(500), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)


def upgrade() -> None:
    create_or_adopt(op.get_bind(), [BLOG_CONFIGS])


def downgrade() -> None:
    op.drop_table(BLOG_CONFIGS.name)
