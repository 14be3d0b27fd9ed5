"""Read-only views of platform data for plugins, and the database role each plugin's ctx.db uses on PostgreSQL.

A plugin never reads a platform table: `access.platform` in its manifest grants it the matching view below, which
shows the rows without credentials (`sv_platform_users` has no password_hash). On PostgreSQL a view runs with its
owner's privileges, so a plugin role granted SELECT on the view reads it without any privilege on the table.
`sv_plugin_roles` names each plugin's role in this database (written by `sv migrate:deploy`); a database copied
from a template keeps the name, and with it the grants the copy carries. On PostgreSQL, `sv_platform_plugin_config`
shows a plugin role its own plugin's tenant config only (the rows of `sv_tenant_config` whose plugin is the one
`sv_plugin_roles` maps the querying role to): what a sandboxed worker, logged in as that role, reads for `ctx.config`.

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
# A plugin role's own tenant config (PostgreSQL only: the role that queries it picks the rows).
CONFIG_VIEW = "sv_platform_plugin_config"


def upgrade() -> None:
    for view, (table, columns) in VIEWS.items():
        op.execute(f"CREATE VIEW {view} AS SELECT {columns} FROM {table}")
    op.create_table(
        "sv_plugin_roles",
        sa.Column("plugin", sa.String(64), primary_key=True),
        sa.Column("role", sa.String(63), nullable=False),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"CREATE VIEW {CONFIG_VIEW} AS SELECT c.plugin, c.tenant_id, c.key, c.value FROM sv_tenant_config c "
            "JOIN sv_plugin_roles r ON r.plugin = c.plugin WHERE r.role = current_user"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP VIEW {CONFIG_VIEW}")
    op.drop_table("sv_plugin_roles")
    for view in VIEWS:
        op.execute(f"DROP VIEW {view}")
