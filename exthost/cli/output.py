"""What the commands print: JSON for scripts; for people, tables that never break a word, and one timestamp format.

A table goes three ways. At a terminal wide enough for every column's longest word, rich draws it (cells wrap only
between words). At a terminal too narrow for that, each row is printed as a block of `column: value` lines. Into a
pipe or a file, each row is one line of columns aligned with spaces, never wrapped, so `grep` and `cut` see whole
rows. A table without rows prints its title and "none".
"""

from __future__ import annotations

import json
import shutil
import sys
from datetime import datetime
from typing import Any, TextIO

import click

from legacy_core.clock import display_time

_GAP = "  "


def when(value: datetime | str | None) -> str:
    """`value` as sv prints a moment (`legacy_core.clock.display_time`: UTC, to the second,
    `2026-12-06 18:00:24 UTC`); "-" for None."""
    if value is None or value == "":
        return "-"
    return display_time(value)


def echo_field(name: str, value: str, *, indent: int = 2) -> None:
    """`  name: value` on stdout; at a terminal, wrapped between words to its width (continuation lines indented),
    into a pipe one whole line."""
    line = f"{' ' * indent}{name}: {value}"
    if sys.stdout.isatty():
        import textwrap

        width = shutil.get_terminal_size().columns
        wrapped = textwrap.wrap(
            line, width, subsequent_indent=" " * (indent + 2), break_long_words=False, break_on_hyphens=False
        )
        line = "\n".join(wrapped)
    click.echo(line)


def print_json(value: Any) -> None:
    """`value` as indented JSON on stdout (dates and other objects as their strings)."""
    click.echo(json.dumps(value, indent=2, default=str))


def _longest_word(text: str) -> int:
    return max((len(word) for word in text.split()), default=0)


def table_fits(columns: list[str], rows: list[list[str]], width: int) -> bool:
    """Whether rich can draw the table in `width` characters with no word cut: each column as wide as its longest
    word, plus rich's borders and padding (3 per column and 1)."""
    needed = [_longest_word(column) for column in columns]
    for row in rows:
        needed = [max(n, _longest_word(cell)) for n, cell in zip(needed, row, strict=True)]
    return sum(needed) + 3 * len(columns) + 1 <= width


def plain_table(title: str, columns: list[str], rows: list[list[str]]) -> str:
    """The table as text for a pipe: the title, then one line per row (the header first), columns aligned with
    spaces, a line break in a cell shown as ", "."""
    cells = [[cell.replace("\n", ", ") for cell in row] for row in [columns, *rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    lines = [title] + [_GAP.join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    return "\n".join(lines)


def record_table(title: str, columns: list[str], rows: list[list[str]]) -> str:
    """The table for a terminal too narrow for it: the title, then each row as `column: value` lines."""
    width = max(len(column) for column in columns)
    blocks = [title]
    for row in rows:
        pairs = zip(columns, row, strict=True)
        blocks.append("\n".join(f"  {column.rjust(width)}: {cell.replace(chr(10), ', ')}" for column, cell in pairs))
    return "\n\n".join(blocks)


def print_table(
    title: str, columns: list[str], rows: list[list[str]], *, stream: TextIO | None = None, width: int | None = None
) -> None:
    """Print a table as the module docstring says; `stream` and `width` are for tests (stdout and the terminal's
    width by default). rich is imported only when it draws."""
    out = stream or sys.stdout
    if not rows:
        click.echo(f"{title}: none", file=out)
        return
    if not out.isatty():
        click.echo(plain_table(title, columns, rows), file=out)
        return
    width = width or shutil.get_terminal_size().columns
    if not table_fits(columns, rows, width):
        click.echo(record_table(title, columns, rows), file=out)
        return
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    # Text, not str: a cell's "[...]" (a route, a reason) is data, not rich markup.
    table = Table(title=Text(title))
    for column in columns:
        table.add_column(Text(column), overflow="fold")
    for row in rows:
        table.add_row(*(Text(cell) for cell in row))
    Console(file=out, width=width).print(table)
