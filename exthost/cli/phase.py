"""`sv phase:status`: where each feature stands in its migration: mode, code in place, evidence and the switch gate."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING

import click

from exthost.cli.output import echo_field
from exthost.cli.settings import load_settings, require_database

if TYPE_CHECKING:
    from exthost.phase import FeaturePhase


@click.command("phase:status")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def phase_status_command(as_json: bool) -> None:
    """Each feature's mode, code fingerprint, evidence since its last code change, and the switch gate's verdict."""
    from exthost.cli.flags import stores
    from exthost.evidence.fingerprint import recordings_dir
    from exthost.phase import feature_phases

    settings = load_settings()
    require_database(settings)
    with stores(settings) as found:
        phases = feature_phases(found.flags.session_factory, found.flags.current(), settings, found.features)
    if as_json:
        click.echo(
            json.dumps(
                {"recordingsDir": str(recordings_dir(settings)), "features": [p.to_json() for p in phases]}, indent=2
            )
        )
        return
    if sys.stdout.isatty() and _table_fits(phases):
        _print_table(phases)
        return
    for phase in phases:
        click.echo(phase.feature)
        echo_field("mode", phase.mode_text)
        echo_field("code", phase.assessment.code[:12])
        for name, value in phase.evidence_lines():
            echo_field(name, value)
        echo_field("gate", phase.verdict)


def _table_fits(phases: list[FeaturePhase]) -> bool:
    """Whether the terminal is wide enough to draw the table without cutting a word (else the plain lines)."""
    import shutil

    from exthost.cli.output import table_fits

    rows = [
        [
            phase.feature,
            phase.mode_text,
            phase.assessment.code[:12],
            " ".join(f"{name}: {value}" for name, value in phase.evidence_lines()),
            phase.verdict,
        ]
        for phase in phases
    ]
    columns = ["feature", "mode", "code", "evidence since the last code change", "gate"]
    return table_fits(columns, rows, shutil.get_terminal_size().columns)


def _print_table(phases: list[FeaturePhase]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="migration phase", show_lines=True)
    for column in ("feature", "mode", "code", "evidence since the last code change", "gate"):
        table.add_column(column, overflow="fold")
    for phase in phases:
        decision = phase.assessment.decision
        table.add_row(
            phase.feature,
            phase.mode_text,
            phase.assessment.code[:12],
            "\n".join(f"{name}: {value}" for name, value in phase.evidence_lines()),
            "ready for plugin" if decision.ok else "\n".join(f"- {line}" for line in decision.shortfalls),
        )
    Console().print(table)
