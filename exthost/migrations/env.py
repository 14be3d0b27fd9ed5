"""Alembic environment for the extension host and for plugins: the caller names the version table.

`exthost.migrate` runs it with `version_locations` set to `exthost/migrations/versions` (the registry tables) or to
one plugin's `migrations/` folder, and a version table of their own, so the core, the host and each plugin move
their schemas independently in one database.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from legacy_core.db import run_alembic_online

config = context.config
version_table = str(config.attributes.get("version_table") or "exthost_alembic_version")


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=None,
        version_table=version_table,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    run_alembic_online(config.attributes, config.get_main_option("sqlalchemy.url") or "", _run)


run_migrations_online()
