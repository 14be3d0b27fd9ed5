"""What `sv` prints for people: tables that never break a word (at 80 columns, in a pipe), one timestamp format, and
"none" for a table without rows."""

from __future__ import annotations

import io
import os
import re
import shutil
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from exthost.cli import main
from exthost.cli.output import echo_field, print_table, when
from legacy_core import Settings

STAMP = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC")
ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d")
ANSI = re.compile(r"\x1b\[[0-9;]*m")
FLAG_COLUMNS = ["feature", "route", "mode", "percent", "tenants", "sample", "set by", "at", "reason"]
FLAG_ROW = [
    "papertrail",
    "(all)",
    "canary",
    "10",
    "tenant-0",
    "-",
    "someone@cli",
    "2026-12-06 18:00:24 UTC",
    "trying the plugin on a tenth of callers",
]


class Terminal(io.StringIO):
    """A stream that says it is a terminal, as stdout does in a shell."""

    def isatty(self) -> bool:
        return True


def _printed(columns: list[str], rows: list[list[str]], stream: io.StringIO, width: int = 80) -> str:
    print_table("a table", columns, rows, stream=stream, width=width)
    return ANSI.sub("", stream.getvalue())


def _whole_words(columns: list[str], rows: list[list[str]], text: str) -> None:
    """Every word of every header and cell is in `text` whole (not cut over two lines or two cells)."""
    words = set(text.split())
    for cell in [*columns, *(cell for row in rows for cell in row)]:
        for word in cell.split():
            assert word in words or any(word in w for w in words), f"{word!r} was broken:\n{text}"


def test_output_wide_table_at_80_columns_breaks_no_word() -> None:
    text = _printed(FLAG_COLUMNS, [FLAG_ROW, FLAG_ROW], Terminal())
    _whole_words(FLAG_COLUMNS, [FLAG_ROW], text)
    assert "featur\n" not in text and max(len(line) for line in text.splitlines()) <= 80
    assert "2026-12-06 18:00:24 UTC" in text


def test_output_narrow_table_at_80_columns_is_drawn_by_rich_without_breaking_words() -> None:
    columns, rows = ["feature", "mode", "count"], [["papertrail", "shadow", "12"], ["blog", "legacy", "0"]]
    text = _printed(columns, rows, Terminal())
    assert "┃" in text or "│" in text  # rich drew it
    for row in rows:
        assert any(all(cell in line for cell in row) for line in text.splitlines()), text


def test_output_table_in_a_pipe_is_one_line_per_row() -> None:
    text = _printed(FLAG_COLUMNS, [FLAG_ROW], io.StringIO())
    title, header, row = text.splitlines()
    assert title == "a table" and header.split()[:3] == ["feature", "route", "mode"]
    assert all(cell in row for cell in FLAG_ROW)


@given(
    st.lists(
        st.lists(st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=30), min_size=3,
                 max_size=3),
        min_size=1,
        max_size=5,
    ),
    st.booleans(),
)
def test_output_any_table_keeps_every_word_whole(rows: list[list[str]], terminal: bool) -> None:
    columns = ["first column", "second", "third"]
    text = _printed(columns, rows, Terminal() if terminal else io.StringIO())
    _whole_words(columns, rows, text)


def test_output_empty_table_says_none() -> None:
    for stream in (Terminal(), io.StringIO()):
        assert _printed(["a"], [], stream) == "a table: none\n"


@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1)), st.integers(-12, 12))
def test_output_every_moment_prints_in_one_format(moment: datetime, offset: int) -> None:
    aware = moment.replace(tzinfo=timezone(timedelta(hours=offset)))
    shown = when(aware)
    assert STAMP.fullmatch(shown)
    assert shown == when(aware.isoformat()) == when(aware.astimezone(UTC).replace(tzinfo=None))
    assert datetime.strptime(shown, "%Y-%m-%d %H:%M:%S UTC").replace(tzinfo=UTC) == aware.replace(microsecond=0)


def test_output_commands_print_one_timestamp_format_and_none_for_empty_tables(
    settings_factory: Callable[..., Settings],
) -> None:
    settings = settings_factory()
    env = {
        "DATABASE_URL": settings.DATABASE_URL,
        "DATA_DIR": str(settings.DATA_DIR),
        "PLUGINS_DIR": str(settings.PLUGINS_DIR),
        "PLUGIN_ENTRY_POINTS": "false",
    }
    runner = CliRunner()
    status = runner.invoke(main, ["shadow:status"], env=env)
    assert status.exit_code == 0, status.output
    assert "shadow and canary results: none" in status.output and "─" not in status.output
    runner.invoke(main, ["flags:set", "blog", "shadow", "--by", "carol"], env=env)
    runner.invoke(main, ["flags:set", "blog", "legacy", "--by", "carol"], env=env)
    listed = runner.invoke(main, ["flags:list", "--history"], env=env)
    assert listed.exit_code == 0, listed.output
    assert len(STAMP.findall(listed.output)) >= 3 and not ISO.search(listed.output), listed.output
    [blog] = [line for line in listed.output.splitlines() if line.startswith("blog ")]
    assert "carol" in blog and STAMP.search(blog)  # one row, one line: nothing wrapped


def test_output_a_long_field_wraps_between_words_at_a_terminal_and_stays_one_line_in_a_pipe(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    value = "not ready: " + ", ".join(f"papertrail/owner-builds-a-new-board-{n}.har" for n in range(6))
    monkeypatch.setattr(shutil, "get_terminal_size", lambda *args: os.terminal_size((80, 24)))
    terminal = Terminal()
    monkeypatch.setattr(sys, "stdout", terminal)
    echo_field("gate", value)
    lines = terminal.getvalue().splitlines()
    assert len(lines) > 1 and all(len(line) <= 80 for line in lines)
    assert " ".join(line.strip() for line in lines) == f"gate: {value}"  # cut only where a space was
    pipe = io.StringIO()
    monkeypatch.setattr(sys, "stdout", pipe)
    echo_field("gate", value)
    assert pipe.getvalue() == f"  gate: {value}\n"


def _blog_row(runner: CliRunner, env: dict[str, str]) -> list[list[str]]:
    return [line.split() for line in runner.invoke(main, ["flags:list"], env=env).output.splitlines() if "blog" in line]


def test_output_flags_list_shows_a_share_only_in_the_mode_that_reads_it(
    settings_factory: Callable[..., Settings],
) -> None:
    settings = settings_factory()
    env = {"DATABASE_URL": settings.DATABASE_URL, "DATA_DIR": str(settings.DATA_DIR), "PLUGIN_ENTRY_POINTS": "false"}
    runner = CliRunner()
    canary = runner.invoke(main, ["flags:set", "blog", "canary", "--percent", "10"], env=env)
    assert "10% of callers, by a sticky share per user" in canary.output and "none" not in canary.output
    [row] = _blog_row(runner, env)
    assert row[:4] == ["blog", "(all)", "canary", "10"]
    forced = ["flags:set", "blog", "plugin", "--force", "--reason", "test of the listing"]
    assert runner.invoke(main, forced, env=env).exit_code == 0
    [row] = _blog_row(runner, env)
    assert row[:4] == ["blog", "(all)", "plugin", "-"]  # the canary's 10% is kept, but means nothing here
