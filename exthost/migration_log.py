"""The migration log (`sv_migration_log`): every applied upgrade or downgrade of every schema history.

A history is one alembic version table: "core" (`alembic_version`), "exthost" (the registry's
`exthost_alembic_version`) or "plugin:<name>" (`alembic_version_<name>`). A step is written on the connection that
ran the migration, inside its transaction, so the log and the schema never disagree; the one exception is the
first deploy of an empty database, whose core step runs before the log table exists and is written right after the
registry's revisions create it (`LogBook.flush`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Column, Connection, DateTime, Engine, Integer, MetaData, String, Table, Text, inspect, select

metadata = MetaData()

migration_log = Table(
    "sv_migration_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("history", String(80), nullable=False),
    Column("tenant_id", String(64), nullable=True),
    Column("from_revision", String(64), nullable=True),
    Column("to_revision", String(64), nullable=True),
    Column("direction", String(10), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("by", String(200), nullable=False),
    Column("backup", Text, nullable=True),
)

CORE = "core"
EXTHOST = "exthost"


def plugin_history(plugin: str) -> str:
    return f"plugin:{plugin}"


@dataclass(frozen=True)
class Step:
    """One applied migration of one history."""

    history: str
    from_revision: str | None
    to_revision: str | None
    direction: str  # "upgrade" or "downgrade"
    at: datetime
    tenant_id: str | None = None


@dataclass
class LogBook:
    """Writes the steps of one command (`by`, the backup taken before it) into the log.

    `record` is called on the migration's own connection, inside its transaction; a step taken before the log table
    exists is kept and written by `flush` once it does.
    """

    by: str
    backup: str | None = None
    waiting: list[Step] = field(default_factory=list)

    def record(self, connection: Connection, step: Step) -> None:
        if not inspect(connection).has_table(migration_log.name):
            self.waiting.append(step)
            return
        connection.execute(migration_log.insert().values(**self._values(step)))

    def flush(self, engine: Engine) -> None:
        """Write the steps kept while the log table did not exist (it does now)."""
        if not self.waiting:
            return
        with engine.begin() as connection:
            if not inspect(connection).has_table(migration_log.name):
                return
            connection.execute(migration_log.insert(), [self._values(step) for step in self.waiting])
        self.waiting.clear()

    def _values(self, step: Step) -> dict[str, Any]:
        return {
            "history": step.history,
            "tenant_id": step.tenant_id,
            "from_revision": step.from_revision,
            "to_revision": step.to_revision,
            "direction": step.direction,
            "at": step.at,
            "by": self.by[:200],
            "backup": self.backup,
        }


def now() -> datetime:
    return datetime.now(UTC)


def read_log(engine: Engine, *, limit: int = 100) -> list[dict[str, Any]]:
    """The newest `limit` steps, oldest first (by when they ran: a step written late by `flush` sorts where it
    belongs); empty when the log table does not exist yet."""
    with engine.connect() as connection:
        if not inspect(connection).has_table(migration_log.name):
            return []
        query = select(migration_log).order_by(migration_log.c.at.desc(), migration_log.c.id.desc()).limit(limit)
        rows = [dict(row._mapping) for row in connection.execute(query)]
    rows.reverse()
    for row in rows:
        row["at"] = row["at"].isoformat() if row["at"] is not None else None
    return rows
