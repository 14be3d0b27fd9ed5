"""Read-only views of platform data for plugins, and the database role each plugin's ctx.db uses on PostgreSQL.

A plugin never reads a platform table: `access.platform` in its manifest grants it the matching view below, which
shows the rows without credentials (`sv_platform_users` has no password_hash). On PostgreSQL a view runs with its
owner's privileges, so a plugin role granted SELECT on the view reads it without any privilege on the table.
`sv_plugin_roles` names each plugin's role in this database (written by `sv migrate:deploy`); a database copied
from a template keeps the name, and with it the grants the copy carries.

Revision ID: exthost_0009
Revises: exthost_0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "exthost_0009"
down_revision = "exthost_0008"
branch_labels = None
depends_on = None

# The columns each view shows; a platform column added later is not shown until a revision says so.
VIEWS = {
    "sv_platform_users": ("users", "id, tenant_id, email, name, created_at"),
    "sv_platform_projects": (
        "projects",
        "id, tenant_id, owner_id, name, slug, description, type, scope, created_at, updated_at",
    ),
    "sv_platform_project_members": ("project_members", "id, project_id, user_id, role, created_at"),
    "sv_platform_tenants": ("tenants", "id, name, created_at"),
}


def upgrade() -> None:
    for view, (table, columns) in VIEWS.items():
        op.execute(f"CREATE VIEW {view} AS SELECT {columns} FROM {table}")
    op.create_table(
        "sv_plugin_roles",
        sa.Column("plugin", sa.String(64), primary_key=True),
        sa.Column("role", sa.String(63), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("sv_plugin_roles")
    for view in VIEWS:
        op.execute(f"DROP VIEW {view}")
