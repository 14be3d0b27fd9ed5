"""The harness's databases on PostgreSQL (PARITY_DATABASE_URL): a template database per workspace, each side made
from it once with `CREATE DATABASE … TEMPLATE`, and put back to its rows before every case in place.

The databases are the harness's own, named after the workspace (`sv_parity_<digest>_<side>`) on the server the
setting names; the deployment's database is never touched. The template carries a copy of its rows (schema
`sv_template`, made after seeding) and a statement-level trigger on every table that bumps a counter
(`sv_harness_changes`) and notes the table (`sv_harness_changed`); a write that rolls back rolls both back. Before
a case, `restore` empties the noted tables (with those whose foreign keys lead to them) and copies their rows
back, and sets every sequence back; a case that wrote nothing costs two queries. The counter also tells the state
reader when to read the rows again.

Making a database from a template is measured at hundreds of milliseconds to seconds on a busy server
(`scripts/bench_parity_postgres.py`), which is why it happens once per side, not per case.
"""

from __future__ import annotations

import hashlib
import json
import logging
import socket
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

log = logging.getLogger("sovereign.parity")

COUNTER = "sv_harness_changes"
CHANGED = "sv_harness_changed"
TEMPLATE_SCHEMA = "sv_template"
_SEQUENCES = "sv_sequences"
_BUMP = "sv_harness_bump"
_RESETTING = "sv.resetting"
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
    _sides: dict[str, Engine] = field(default_factory=dict, repr=False)

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

    def _failed(self, exc: SQLAlchemyError, fix: str) -> PostgresHarnessError:
        shown = make_url(self.server).render_as_string()
        return PostgresHarnessError(f"PARITY_DATABASE_URL {shown!r}: {str(exc).splitlines()[0]}; {fix}")

    def _execute(self, *statements: str) -> None:
        try:
            with self.admin().connect() as connection:
                for statement in statements:
                    connection.execute(text(statement))
        except SQLAlchemyError as exc:
            fix = "the harness needs a server it may create and drop databases on (CREATEDB)"
            raise self._failed(exc, fix) from exc

    def exists(self, name: str) -> bool:
        try:
            with self.admin().connect() as connection:
                found = connection.execute(
                    text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": database_name(self.root, name)}
                ).first()
        except SQLAlchemyError as exc:
            raise self._failed(exc, "check that the server is up and the URL's user may connect") from exc
        return found is not None

    def create_empty(self, name: str) -> None:
        quoted = database_name(self.root, name)
        self._execute(
            f'DROP DATABASE IF EXISTS "{quoted}" WITH (FORCE)', f'CREATE DATABASE "{quoted}"', self._owner(quoted)
        )

    def recreate(self, name: str, template: str = "template") -> None:
        """`name` as a copy of `template` (no session may be connected to the template while it is copied)."""
        quoted, source = database_name(self.root, name), database_name(self.root, template)
        self._execute(
            f'DROP DATABASE IF EXISTS "{quoted}" WITH (FORCE)',
            f'CREATE DATABASE "{quoted}" TEMPLATE "{source}"',
            self._owner(quoted),
        )

    def _owner(self, quoted: str) -> str:
        """The statement that notes on a database which machine's workspace it belongs to (`sweep_orphans`)."""
        owner = json.dumps({"host": socket.gethostname(), "workspace": str(self.root)})
        owner = owner.replace("'", "''").replace(":", "\\:")  # a literal colon, not a bound parameter of text()
        return f"COMMENT ON DATABASE \"{quoted}\" IS '{owner}'"

    def sweep_orphans(self) -> list[str]:
        """Drop the harness databases (and their plugins' roles) whose workspace was on this machine and is gone:
        a run killed before it could drop them, or a kept `--workspace` deleted since. A database of another
        machine's workspace (a CI runner sharing the server), one without the note, or one a session is connected
        to is left. The databases dropped."""
        from exthost.roles import drop_plugin_roles

        query = text(
            "SELECT d.datname, shobj_description(d.oid, 'pg_database') FROM pg_database d "
            "WHERE d.datname LIKE 'sv\\_parity\\_%' "
            "AND NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.datname = d.datname)"
        )
        dropped: list[str] = []
        try:
            with self.admin().connect() as connection:
                for name, note in connection.execute(query).all():
                    try:
                        owner = json.loads(note or "")
                    except ValueError:
                        continue
                    if not isinstance(owner, dict) or owner.get("host") != socket.gethostname():
                        continue
                    workspace = str(owner.get("workspace") or "")
                    if not workspace or Path(workspace).exists():
                        continue
                    connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                    drop_plugin_roles(connection, name)
                    dropped.append(str(name))
        except SQLAlchemyError as exc:
            log.warning("could not sweep the harness databases of deleted workspaces: %s", str(exc).splitlines()[0])
        return dropped

    def reset(self, name: str) -> bool:
        """Database `name` back to the template's rows: made from the template the first time (returns True: any
        connection to an older one was cut), afterwards restored in place (`restore`; returns False)."""
        if name in self._sides:
            try:
                with self._sides[name].connect() as connection:
                    restore(connection)
                return False
            except TemplateDrift:  # a case created or dropped a table: only a new copy of the template is the template
                self._sides.pop(name).dispose()
        self.recreate(name)
        self._sides[name] = create_engine(self.url(name), pool_size=1, max_overflow=0)
        return True

    def drop(self, names: Iterable[str]) -> None:
        """Drop each database of `names` that exists; one that fails does not keep the others (the first error is
        raised at the end)."""
        names = list(names)
        failed: PostgresHarnessError | None = None
        for name in names:
            engine = self._sides.pop(name, None)
            if engine is not None:
                engine.dispose()
            try:
                self._execute(f'DROP DATABASE IF EXISTS "{database_name(self.root, name)}" WITH (FORCE)')
            except PostgresHarnessError as exc:
                failed = failed or exc
        # The plugins' roles are cluster-wide, named after the database `sv migrate:deploy` ran on (the template,
        # whose copies keep them): each goes once no database left names it.
        from exthost.roles import drop_plugin_roles

        try:
            with self.admin().connect() as connection:
                for name in [*names, "template"]:
                    drop_plugin_roles(connection, database_name(self.root, name))
        except SQLAlchemyError as exc:
            failed = failed or self._failed(exc, "drop the roles named after the harness's databases by hand")
        if failed is not None:
            raise failed

    def close(self) -> None:
        for engine in self._sides.values():
            engine.dispose()
        self._sides.clear()
        if self._admin is not None:
            self._admin.dispose()
            self._admin = None


def install_counter(engine: Engine) -> None:
    """The template's last step: a copy of every table's rows in schema `sv_template` (and of every sequence's
    value), the change counter, and a trigger on every table that bumps it and notes the table as changed."""
    with engine.begin() as connection:
        found = [table for table, _ in tables(connection)]
        connection.execute(text(f"CREATE SCHEMA {TEMPLATE_SCHEMA}"))
        for table in found:
            columns = _stored_columns(connection, table)
            connection.execute(
                text(f'CREATE TABLE {TEMPLATE_SCHEMA}."{table}" AS SELECT {columns} FROM public."{table}"')
            )
        connection.execute(
            text(
                f"CREATE TABLE {TEMPLATE_SCHEMA}.{_SEQUENCES} AS "
                "SELECT sequencename AS name, last_value FROM pg_sequences WHERE schemaname = 'public'"
            )
        )
        connection.execute(text(f"CREATE TABLE {COUNTER} (id integer PRIMARY KEY, changes bigint NOT NULL)"))
        connection.execute(text(f"INSERT INTO {COUNTER} VALUES (1, 0)"))
        connection.execute(text(f"CREATE TABLE {CHANGED} (name text PRIMARY KEY)"))
        connection.execute(
            text(
                # SECURITY DEFINER: a plugin's write runs as the plugin's role (exthost.roles), which may not write
                # the harness's tables; the counter is the harness's, not the plugin's.
                f"CREATE FUNCTION {_BUMP}() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER "
                "SET search_path = public AS $$ BEGIN "
                # A reset puts rows back with this set: it is no change a case made.
                f"IF coalesce(current_setting('{_RESETTING}', true), '') = 'on' THEN RETURN NULL; END IF; "
                f"UPDATE {COUNTER} SET changes = changes + 1 WHERE id = 1; "
                f"INSERT INTO {CHANGED} VALUES (TG_TABLE_NAME) ON CONFLICT DO NOTHING; "
                "RETURN NULL; END $$"
            )
        )
        for table in found:
            connection.execute(
                text(
                    f'CREATE TRIGGER {_BUMP} AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON public."{table}" '
                    f"FOR EACH STATEMENT EXECUTE FUNCTION {_BUMP}()"
                )
            )


class TemplateDrift(Exception):
    """The side's tables are not the template's (a case created or dropped one): it must be made again."""


def restore(connection: Connection) -> bool:
    """Put the tables a case changed (and those whose foreign keys lead to them) back to the template's rows, and
    every sequence back to its value, in one transaction; returns whether anything had changed. The counter moves,
    so a state reader reads the rows again. Raises TemplateDrift when the side's tables are not the template's."""
    # A case never waits for ever on a transaction a request left open: the reset fails instead, and says so.
    connection.execute(text("SET LOCAL lock_timeout = '30s'"))
    copied = set(
        connection.execute(
            text("SELECT tablename FROM pg_tables WHERE schemaname = :schema AND tablename <> :sequences"),
            {"schema": TEMPLATE_SCHEMA, "sequences": _SEQUENCES},
        ).scalars()
    )
    present = {table for table, _ in tables(connection)} - {COUNTER, CHANGED}
    if copied != present:
        connection.rollback()
        raise TemplateDrift(sorted(copied ^ present))
    changed = set(connection.execute(text(f"SELECT name FROM {CHANGED}")).scalars())
    drawn = connection.execute(
        text(
            f"SELECT s.sequencename, t.last_value FROM pg_sequences s JOIN {TEMPLATE_SCHEMA}.{_SEQUENCES} t "
            "ON t.name = s.sequencename WHERE s.schemaname = 'public' "
            "AND s.last_value IS DISTINCT FROM t.last_value"
        )
    ).all()
    if not changed and not drawn:
        connection.rollback()
        return False
    order, referencing = _foreign_keys(connection)
    pending, reset = list(changed), set(changed)
    while pending:  # a row emptied out may be referenced: the tables that reference it are put back too
        for other in referencing.get(pending.pop(), ()):
            if other not in reset:
                reset.add(other)
                pending.append(other)
    chosen = [table for table in order if table in reset]
    connection.execute(text(f"SET LOCAL {_RESETTING} = 'on'"))
    if chosen:
        # DELETE, not TRUNCATE: on tables this small, TRUNCATE's new files and catalog changes cost ten times more.
        for table in reversed(chosen):  # children first
            connection.execute(text(f'DELETE FROM public."{table}"'))
        for table in chosen:  # parents first
            columns = _stored_columns(connection, table)
            connection.execute(
                text(
                    f'INSERT INTO public."{table}" ({columns}) OVERRIDING SYSTEM VALUE '
                    f'SELECT {columns} FROM {TEMPLATE_SCHEMA}."{table}"'
                )
            )
    for name, value in drawn:
        if value is None:  # never drawn from in the template: the next value is its start again
            connection.execute(text(f'ALTER SEQUENCE public."{name}" RESTART'))
        else:
            connection.execute(text("SELECT setval(:name, :value, true)"), {"name": f'public."{name}"', "value": value})
    connection.execute(text(f"DELETE FROM {CHANGED}"))
    connection.execute(text(f"UPDATE {COUNTER} SET changes = changes + 1 WHERE id = 1"))
    connection.commit()
    return True


def _foreign_keys(connection: Connection) -> tuple[list[str], dict[str, set[str]]]:
    """The public tables in an order where every table comes after those it references, and, per table, the tables
    that reference it."""
    names = [table for table, _ in tables(connection) if table not in (COUNTER, CHANGED)]
    edges = connection.execute(
        text(
            "SELECT child.relname, parent.relname FROM pg_constraint k "
            "JOIN pg_class child ON child.oid = k.conrelid JOIN pg_class parent ON parent.oid = k.confrelid "
            "JOIN pg_namespace s ON s.oid = child.relnamespace "
            "WHERE k.contype = 'f' AND s.nspname = 'public' AND child.relname <> parent.relname"
        )
    ).all()
    referencing: dict[str, set[str]] = {}
    parents: dict[str, set[str]] = {name: set() for name in names}
    for child, parent in edges:
        referencing.setdefault(parent, set()).add(child)
        parents.setdefault(child, set()).add(parent)
    order: list[str] = []
    placed: set[str] = set()
    while len(order) < len(parents):
        ready = sorted(name for name, above in parents.items() if name not in placed and above <= placed)
        if not ready:
            # A cycle of foreign keys: one of its tables goes first (the one with the fewest parents not placed), and
            # the order resumes from there. Rows that really reference each other round a cycle of keys that are not
            # deferrable cannot be emptied one table at a time; the reset then fails and names the key.
            rest = sorted(set(parents) - placed)
            ready = [min(rest, key=lambda name: (len(parents[name] - placed), name))]
        order += ready
        placed.update(ready)
    return order, referencing


def version(connection: Connection) -> Any:
    """(changes, sequence values): moves whenever a statement wrote to a table or a sequence was drawn from."""
    row = connection.execute(text(_VERSION)).one()
    return (row[0], tuple(row[1]))


def _stored_columns(connection: Connection, table: str, schema: str = "public") -> str:
    """The table's columns a copy carries, quoted and comma-separated: not generated ones (PostgreSQL computes them
    and refuses a value for them), not dropped ones."""
    names = connection.execute(
        text(
            "SELECT a.attname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
            "JOIN pg_namespace s ON s.oid = c.relnamespace WHERE s.nspname = :schema AND c.relname = :table "
            "AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '' ORDER BY a.attnum"
        ),
        {"schema": schema, "table": table},
    ).scalars()
    return ", ".join('"' + name.replace('"', '""') + '"' for name in names)


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
