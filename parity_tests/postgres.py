"""The harness's databases on PostgreSQL (PARITY_DATABASE_URL): a template database per workspace, and each side
made again from it with `CREATE DATABASE … TEMPLATE` before a case, when the case before changed it.

The databases are the harness's own, named after the workspace (`sv_parity_<digest>_<side>`) on the server the
setting names; the deployment's database is never touched. Whether a side changed is told by a counter the
template carries: every table gets a statement-level trigger that bumps `sv_harness_changes`, so one query says
whether anything was written (a write that rolled back rolls its bump back too; sequences, which do not roll back,
are read beside it). The same counter tells the state reader when to read the rows again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

COUNTER = "sv_harness_changes"
_BUMP = "sv_harness_bump"
# Every user table of the public schema, with its primary key columns in key order.
_TABLES = """
SELECT c.relname,
       coalesce((SELECT array_agg(a.attname ORDER BY k.n)
                 FROM pg_index i
                 CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, n)
                 JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum
                 WHERE i.indrelid = c.oid AND i.indisprimary), '{}')
FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace
WHERE s.nspname = 'public' AND c.relkind IN ('r', 'p')
ORDER BY c.relname
"""
_VERSION = f"""
SELECT (SELECT changes FROM {COUNTER} WHERE id = 1),
       (SELECT coalesce(array_agg(coalesce(last_value, 0) ORDER BY sequencename), '{{}}')
        FROM pg_sequences WHERE schemaname = 'public')
"""


class PostgresHarnessError(RuntimeError):
    """The harness's PostgreSQL server cannot be used as configured; the message says what to fix."""


def database_name(root: Path, name: str) -> str:
    """The database of workspace `root`'s `name` ("template", "legacy", "plugin"): under PostgreSQL's 63 bytes."""
    digest = hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:16]
    return f"sv_parity_{digest}_{name}"


@dataclass
class PostgresDatabases:
    """The databases of one workspace on the server of `server` (a PostgreSQL URL of any database there)."""

    server: str
    root: Path
    _admin: Engine | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if make_url(self.server).get_backend_name() != "postgresql":
            raise PostgresHarnessError(
                f"PARITY_DATABASE_URL {make_url(self.server).render_as_string()!r} is not a PostgreSQL URL; use e.g. "
                "'postgresql+psycopg://postgres@127.0.0.1:5432/postgres', or unset it to run cases on SQLite"
            )

    def url(self, name: str) -> str:
        return make_url(self.server).set(database=database_name(self.root, name)).render_as_string(hide_password=False)

    def admin(self) -> Engine:
        if self._admin is None:
            self._admin = create_engine(self.server, isolation_level="AUTOCOMMIT", poolclass=NullPool)
        return self._admin

    def _execute(self, *statements: str) -> None:
        try:
            with self.admin().connect() as connection:
                for statement in statements:
                    connection.execute(text(statement))
        except SQLAlchemyError as exc:
            shown = make_url(self.server).render_as_string()
            raise PostgresHarnessError(
                f"PARITY_DATABASE_URL {shown!r}: {str(exc).splitlines()[0]}; the harness needs a server it may create "
                "and drop databases on (CREATEDB)"
            ) from exc

    def exists(self, name: str) -> bool:
        with self.admin().connect() as connection:
            found = connection.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": database_name(self.root, name)}
            ).first()
        return found is not None

    def create_empty(self, name: str) -> None:
        quoted = database_name(self.root, name)
        self._execute(f'DROP DATABASE IF EXISTS "{quoted}" WITH (FORCE)', f'CREATE DATABASE "{quoted}"')

    def recreate(self, name: str, template: str = "template") -> None:
        """`name` as a copy of `template` (no session may be connected to the template while it is copied)."""
        quoted, source = database_name(self.root, name), database_name(self.root, template)
        self._execute(
            f'DROP DATABASE IF EXISTS "{quoted}" WITH (FORCE)', f'CREATE DATABASE "{quoted}" TEMPLATE "{source}"'
        )

    def drop(self, names: Iterable[str]) -> None:
        for name in names:
            self._execute(f'DROP DATABASE IF EXISTS "{database_name(self.root, name)}" WITH (FORCE)')

    def version_of(self, name: str) -> Any:
        """The change counter of database `name`, or None when it does not exist or has none."""
        engine = create_engine(self.url(name), poolclass=NullPool)
        try:
            with engine.connect() as connection:
                return version(connection)
        except SQLAlchemyError:
            return None
        finally:
            engine.dispose()

    def close(self) -> None:
        if self._admin is not None:
            self._admin.dispose()
            self._admin = None


def install_counter(engine: Engine) -> None:
    """The change counter, and a trigger on every table that bumps it (the template's last step)."""
    with engine.begin() as connection:
        connection.execute(text(f"CREATE TABLE {COUNTER} (id integer PRIMARY KEY, changes bigint NOT NULL)"))
        connection.execute(text(f"INSERT INTO {COUNTER} VALUES (1, 0)"))
        connection.execute(
            text(
                f"CREATE FUNCTION {_BUMP}() RETURNS trigger LANGUAGE plpgsql AS "
                f"$$ BEGIN UPDATE {COUNTER} SET changes = changes + 1 WHERE id = 1; RETURN NULL; END $$"
            )
        )
        for table, _ in tables(connection):
            if table != COUNTER:
                connection.execute(
                    text(
                        f'CREATE TRIGGER {_BUMP} AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON "{table}" '
                        f"FOR EACH STATEMENT EXECUTE FUNCTION {_BUMP}()"
                    )
                )


def version(connection: Connection) -> Any:
    """(changes, sequence values): moves whenever a statement wrote to a table or a sequence was drawn from."""
    row = connection.execute(text(_VERSION)).one()
    return (row[0], tuple(row[1]))


def tables(connection: Connection) -> list[tuple[str, list[str]]]:
    """Every table of the public schema with its primary key columns, in key order."""
    return [(name, list(keys)) for name, keys in connection.execute(text(_TABLES)).all()]


def plain(value: Any) -> Any:
    """A PostgreSQL value as the JSON the state comparison reads (exact types a SQLite side never has)."""
    if isinstance(value, Decimal | UUID):
        return str(value)
    if isinstance(value, memoryview):
        return value.tobytes()
    return value
