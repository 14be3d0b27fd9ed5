"""Tenant-scoped plugin config and the per-tenant migration registry.

Revision ID: exthost_0008
Revises: exthost_0007

Intent: `sv plugins:config NAME --tenant T KEY=VALUE` stores one row per (plugin, tenant, option), layered over the
deployment's PLUGIN_CONFIG when a request of that tenant reads `ctx.config`; the `tenant_config` counter of
`sv_registry_version` moves with every change so each serving process re-reads the table only then.
`sv_tenant_steps` records each plugin revision's `upgrade_tenant` step that ran for a tenant, so it runs once.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "exthost_0008"
down_revision = "exthost_0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sv_tenant_config",
        sa.Column("plugin", sa.String(40), primary_key=True),
        sa.Column("tenant_id", sa.String(64), primary_key=True),
        sa.Column("key", sa.String(64), primary_key=True),
        # The value as JSON, already checked against the plugin's manifest when it was set.
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("changed_by", sa.String(200), nullable=False),
    )
    op.create_table(
        "sv_tenant_steps",
        sa.Column("plugin", sa.String(40), primary_key=True),
        sa.Column("revision", sa.String(64), primary_key=True),
        sa.Column("tenant_id", sa.String(64), primary_key=True),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("sv_tenant_steps")
    op.drop_table("sv_tenant_config")
