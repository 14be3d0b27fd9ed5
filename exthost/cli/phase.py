"""`sv phase:status`: where each feature stands in its migration: mode, code in place, evidence and the switch gate."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING

import click

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
    if sys.stdout.isatty():
        _print_table(phases)
        return
    for phase in phases:
        click.echo(phase.feature)
        click.echo(f"  mode: {phase.mode_text}")
        click.echo(f"  code: {phase.assessment.code[:12]}")
        for name, value in phase.evidence_lines():
            click.echo(f"  {name}: {value}")
        click.echo(f"  gate: {phase.verdict}")


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
