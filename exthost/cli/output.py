"""What the commands print: JSON for scripts, rich tables for people."""

from __future__ import annotations

import json
from typing import Any

import click


def print_json(value: Any) -> None:
    """`value` as indented JSON on stdout (dates and other objects as their strings)."""
    click.echo(json.dumps(value, indent=2, default=str))


def print_table(title: str, columns: list[str], rows: list[list[str]]) -> None:
    """A rich table; rich is imported only when a table is printed."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*row)
    Console().print(table)
