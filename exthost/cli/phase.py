"""`sv phase:status`: where each feature stands in its migration: mode, code in place, evidence and the switch gate."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from exthost.cli.output import echo_field, when
from exthost.cli.settings import load_settings, require_database
from exthost.evidence.gate import Assessment


def _when(assessment: Assessment) -> str:
    last = assessment.evidence.last_run
    return when(last) if last else "none on this code"


def _shadow(assessment: Assessment) -> str:
    samples = assessment.evidence.shadow
    return ", ".join(f"{outcome} {n}" for outcome, n in samples.items()) or "none on this code"


def _recordings(assessment: Assessment) -> str:
    matched = sum(1 for name in assessment.corpus if name in assessment.evidence.recordings_matched)
    return f"{matched} of {len(assessment.corpus)} matched"


def _generated(assessment: Assessment) -> str:
    evidence = assessment.evidence
    needed = assessment.thresholds.min_generated
    return f"{evidence.generated_cases} run, {evidence.generated_matched} matched (needed: {needed})"


def _coverage(assessment: Assessment) -> str:
    evidence, needed = assessment.evidence, assessment.thresholds.min_branch_coverage
    shown = []
    for side in ("legacy", "plugin"):
        reached = evidence.branch_coverage(side)
        if reached is not None:
            branches, covered = evidence.coverage[side]
            shown.append(f"{side} {reached:.1f}% ({covered} of {branches})")
    return (", ".join(shown) or "not measured on this code") + (f" (needed: legacy {needed:g}%)" if needed else "")


def _mismatches(assessment: Assessment) -> str:
    evidence = assessment.evidence
    return (
        f"{evidence.mismatches} ({evidence.mismatched_cases} parity, {evidence.shadow_mismatches} shadow; "
        f"allowed: {assessment.thresholds.max_mismatches})"
    )


def _verdict(assessment: Assessment) -> str:
    return "ready for plugin" if assessment.decision.ok else "not ready: " + "; ".join(assessment.decision.shortfalls)


def _mode(status: dict[str, Any]) -> str:
    routes = status["routeFlags"]
    overrides = f" ({len(routes)} route flag{'' if len(routes) == 1 else 's'})" if routes else ""
    return f"{status['mode']}{overrides}"


@click.command("phase:status")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def phase_status_command(as_json: bool) -> None:
    """Each feature's mode, code fingerprint, evidence since its last code change, and the switch gate's verdict."""
    from exthost.cli.flags import stores
    from exthost.evidence.fingerprint import recordings_dir
    from exthost.evidence.gate import assess
    from legacy_core.features import FEATURES

    settings = load_settings()
    require_database(settings)
    statuses: list[tuple[dict[str, Any], Assessment]] = []
    with stores(settings) as found:
        flags = found.flags.current()
        for feature in FEATURES:
            assessment = assess(found.flags.session_factory, feature, settings)
            status = {
                "feature": feature,
                "mode": flags.flag(feature).mode,
                "routeFlags": [
                    {"route": f.route, "mode": f.mode} for f in flags.all() if f.feature == feature and f.route
                ],
                **assessment.to_json(),
                "verdict": _verdict(assessment),
            }
            statuses.append((status, assessment))
    if as_json:
        click.echo(
            json.dumps({"recordingsDir": str(recordings_dir(settings)), "features": [s for s, _ in statuses]}, indent=2)
        )
        return
    if sys.stdout.isatty() and _table_fits(statuses):
        _print_table(statuses)
        return
    for status, assessment in statuses:
        click.echo(status["feature"])
        echo_field("mode", _mode(status))
        echo_field("code", assessment.code[:12])
        for name, value in _evidence_lines(assessment):
            echo_field(name, value)
        echo_field("gate", _verdict(assessment))


def _evidence_lines(assessment: Assessment) -> list[tuple[str, str]]:
    return [
        ("recorded sessions", _recordings(assessment)),
        ("generated cases", _generated(assessment)),
        ("branch coverage", _coverage(assessment)),
        ("mismatches", _mismatches(assessment)),
        ("shadow samples", _shadow(assessment)),
        ("last parity run", _when(assessment)),
    ]


def _table_fits(statuses: list[tuple[dict[str, Any], Assessment]]) -> bool:
    """Whether the terminal is wide enough to draw the table without cutting a word (else the plain lines)."""
    import shutil

    from exthost.cli.output import table_fits

    rows = [
        [
            status["feature"],
            _mode(status),
            assessment.code[:12],
            " ".join(f"{name}: {value}" for name, value in _evidence_lines(assessment)),
            _verdict(assessment),
        ]
        for status, assessment in statuses
    ]
    columns = ["feature", "mode", "code", "evidence since the last code change", "gate"]
    return table_fits(columns, rows, shutil.get_terminal_size().columns)


def _print_table(statuses: list[tuple[dict[str, Any], Assessment]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="migration phase", show_lines=True)
    for column in ("feature", "mode", "code", "evidence since the last code change", "gate"):
        table.add_column(column, overflow="fold")
    for status, assessment in statuses:
        decision = assessment.decision
        table.add_row(
            status["feature"],
            _mode(status),
            assessment.code[:12],
            "\n".join(f"{name}: {value}" for name, value in _evidence_lines(assessment)),
            "ready for plugin" if decision.ok else "\n".join(f"- {line}" for line in decision.shortfalls),
        )
    Console().print(table)
