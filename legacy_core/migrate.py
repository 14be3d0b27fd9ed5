"""Apply the core alembic revisions to a database (what `sv migrate:deploy` runs)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine

import migrations
from legacy_core.db import transaction_with_ddl

MIGRATIONS_DIR = Path(migrations.__file__).resolve().parent


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    return config


# Called inside the migration's transaction with (connection, revision before, revision after), e.g. to log the step
# in the same transaction.
OnApplied = Callable[[Connection, str | None, str | None], None]


def upgrade(engine: Engine, revision: str = "head", *, on_applied: OnApplied | None = None) -> None:
    """Bring the schema to `revision`; all pending revisions run in one transaction that covers DDL (on SQLite too),
    so a failure leaves the schema where it was."""
    config = alembic_config(engine)
    with engine.connect() as connection, transaction_with_ddl(connection):
        before = MigrationContext.configure(connection).get_current_revision()
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
        if on_applied is not None:
            on_applied(connection, before, MigrationContext.configure(connection).get_current_revision())


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision(engine: Engine) -> str | None:
    return ScriptDirectory.from_config(alembic_config(engine)).get_current_head()
