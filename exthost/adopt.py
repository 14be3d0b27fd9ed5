"""A plugin's first revision: create its tables on a new database, or adopt the ones an older schema made.

A feature's tables used to be created by the core schema; the plugin that took the feature over now owns them.
On a database that has none of them the revision creates them; on one that has all of them (made by the old core
revision) it checks each against what the plugin expects (columns, types, nullability, keys, foreign keys, indexes,
unique constraints: alembic's own schema comparison) and changes nothing, so alembic merely records the revision in
the plugin's version table. Anything else (some tables missing, a table shaped differently) raises `SchemaMismatch`
naming each table and difference; the revision runs in the deployment's transaction, so nothing is left behind.

What the comparison cannot see: CHECK constraints, server defaults, and a column type it cannot reflect more
precisely than the database stores it (SQLite keeps a declared type name and little else).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Column, Connection, ForeignKeyConstraint, Index, Table, UniqueConstraint, inspect

from exthost.errors import SchemaMismatch

__all__ = ["SchemaMismatch", "create_or_adopt"]


def create_or_adopt(connection: Connection, tables: Sequence[Table]) -> Literal["created", "adopted"]:
    """Create `tables` when the database has none of them; when it has all of them and each matches, touch nothing.

    `tables` share one `MetaData`, which may also hold stand-ins for the tables their foreign keys point at (the
    core's `projects`, `users`): those are neither created nor compared. Raises SchemaMismatch, naming every table
    and difference, when only some tables exist or one differs from its definition.
    """
    if not tables:
        raise ValueError("create_or_adopt needs at least one table")
    metadata = tables[0].metadata
    if any(table.metadata is not metadata for table in tables):
        raise ValueError("create_or_adopt: every table must belong to one MetaData")
    names = [table.name for table in tables]
    existing = set(inspect(connection).get_table_names())
    present = [name for name in names if name in existing]
    if not present:
        metadata.create_all(connection, tables=list(tables), checkfirst=False)
        return "created"
    if len(present) < len(names):
        missing = [name for name in names if name not in existing]
        raise SchemaMismatch(
            [f"table {name!r} is missing while {', '.join(map(repr, present))} exist" for name in missing]
        )
    problems = schema_differences(connection, tables)
    if problems:
        raise SchemaMismatch(problems)
    return "adopted"


def schema_differences(connection: Connection, tables: Sequence[Table]) -> list[str]:
    """How the database's `tables` differ from their definitions, one line per difference (empty when they match)."""
    owned = {table.name for table in tables}

    def include_name(name: str | None, type_: str, parent_names: Any) -> bool:
        return type_ != "table" or name in owned

    def include_object(item: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
        return type_ != "table" or name in owned

    context = MigrationContext.configure(
        connection,
        opts={"compare_type": True, "include_name": include_name, "include_object": include_object},
    )
    lines: list[str] = []
    for diff in compare_metadata(context, tables[0].metadata):
        # Column changes come as a list of steps for one column; everything else as one tuple.
        for step in diff if isinstance(diff, list) else [diff]:
            lines.append(_describe(step))
    return sorted(lines)


def _describe(step: tuple[Any, ...]) -> str:
    """One line for one step of alembic's comparison: which table, what differs, the database against the plugin."""
    kind = step[0]
    if kind in ("add_column", "remove_column"):
        table, column = step[2], step[3]
        assert isinstance(column, Column)
        where = "missing from the database" if kind == "add_column" else "in the database but not expected"
        return f"table {table!r}: column {column.name!r} ({column.type}) is {where}"
    if kind in ("modify_type", "modify_nullable"):
        table, column, found, expected = step[2], step[3], step[5], step[6]
        what = "type" if kind == "modify_type" else "nullable"
        return f"table {table!r}: column {column!r} has {what} {found} in the database, the plugin expects {expected}"
    if kind in ("add_index", "remove_index", "add_constraint", "remove_constraint", "add_fk", "remove_fk"):
        item = step[1]
        where = "missing from the database" if kind.startswith("add") else "in the database but not expected"
        return f"table {item.table.name!r}: {_constraint(item)} is {where}"
    return f"{kind}: {step[1:]!r}"


def _constraint(item: Any) -> str:
    if isinstance(item, Index):
        unique = "unique " if item.unique else ""
        return f"{unique}index {item.name!r} on ({', '.join(c.name for c in item.columns)})"
    if isinstance(item, ForeignKeyConstraint):
        target = item.elements[0].target_fullname.rpartition(".")[0] if item.elements else "?"
        return f"foreign key ({', '.join(item.column_keys)}) -> {target}"
    if isinstance(item, UniqueConstraint):
        return f"unique constraint {item.name!r} on ({', '.join(c.name for c in item.columns)})"
    return repr(item)
