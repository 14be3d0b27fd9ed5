"""Engine and session factory built from settings; no module-level engine exists anywhere."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, insert, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker


class Base(DeclarativeBase):
    """Declarative base of the one shared legacy schema."""


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for `url`; for SQLite, creates the file's folder and turns on foreign keys and WAL."""
    parsed = make_url(url)
    # Statement parameters carry password hashes, session digests and git tokens; an error message or log line
    # must never show them.
    kwargs.setdefault("hide_parameters", True)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        kwargs.setdefault("connect_args", {"check_same_thread": False, "timeout": 30})
        engine = create_engine(url, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


def session_factory_of(source: Engine | sessionmaker[Session]) -> sessionmaker[Session]:
    """A session factory for functions that take either an engine (scripts, the CLI) or a platform's factory."""
    return make_session_factory(source) if isinstance(source, Engine) else source


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session whose work is committed on success and rolled back, whole, on any error."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def upsert_insert(dialect: str, table: Any) -> Any:
    """An INSERT into `table` with the `ON CONFLICT` clauses of `dialect` ("postgresql" or "sqlite").

    The dialect's module is imported on first use: importing SQLAlchemy's PostgreSQL dialect also imports asyncio
    and the asyncpg dialect, which a command that never writes should not pay for at start-up.
    """
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as postgresql_insert

        return postgresql_insert(table)
    if dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert(table)
    raise ValueError(f"no ON CONFLICT insert for the {dialect!r} dialect; PostgreSQL and SQLite have one")


def insert_unless_taken(db: Session, model: type[Base], values: Mapping[str, Any]) -> bool:
    """Insert one row unless a unique key of it is taken; True when the row was inserted.

    Concurrent requests racing for the same unique value (a slug, an email, a project's one board) must lose with a
    clear answer, not a 500 from an IntegrityError. `ON CONFLICT DO NOTHING` settles the race inside the database
    and, unlike a savepoint, keeps the caller's transaction whole on every dialect.
    """
    dialect = db.get_bind().dialect.name
    if dialect in ("postgresql", "sqlite"):
        statement: Any = upsert_insert(dialect, model).values(**values).on_conflict_do_nothing()
    else:  # other databases: a plain insert, so a lost race is an IntegrityError
        statement = insert(model).values(**values)
    # RETURNING, not rowcount: an ORM-level execute does not report a trustworthy rowcount for this statement.
    key = list(inspect(model).primary_key)
    return db.execute(statement.returning(*key)).first() is not None


@contextmanager
def transaction_with_ddl(connection: Connection) -> Iterator[None]:
    """A transaction on `connection` that also covers DDL, committed on success and rolled back whole on error.

    Python's sqlite3 driver opens a transaction only before INSERT/UPDATE/DELETE, so a revision's CREATE TABLE would
    commit at once and outlive the revision failing after it. On SQLite the driver's own handling is switched off for
    this connection and an explicit BEGIN covers everything; other databases need nothing special.
    """
    if connection.dialect.name != "sqlite":
        with connection.begin():
            yield
        return
    driver = connection.connection.driver_connection
    saved = driver.isolation_level  # type: ignore[union-attr]
    driver.isolation_level = None  # type: ignore[union-attr]
    try:
        with connection.begin():
            connection.exec_driver_sql("BEGIN")
            yield
    finally:
        driver.isolation_level = saved  # type: ignore[union-attr]


def run_alembic_online(attributes: dict[str, Any], url: str, run: Callable[[Connection], None]) -> None:
    """The online part of an alembic env.py: on the connection the caller handed over, else on a new engine for
    `url` (the alembic command line), disposed afterwards."""
    connection = attributes.get("connection")
    if connection is not None:
        run(connection)
        return
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            run(conn)
    finally:
        engine.dispose()
