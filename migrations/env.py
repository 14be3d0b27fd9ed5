"""Alembic environment: runs against the connection or URL that `legacy_core.migrate` hands it."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from legacy_core.db import run_alembic_online
from legacy_core.models import Base

config = context.config
target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    run_alembic_online(config.attributes, config.get_main_option("sqlalchemy.url") or "", _run)


if context.is_offline_mode():
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    run_migrations_online()
