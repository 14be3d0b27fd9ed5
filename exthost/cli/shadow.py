"""`sv shadow:*`: the shadow and canary comparison results kept in the shared database."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from exthost.cli.flags import stores
from exthost.cli.output import print_json, print_table
from exthost.cli.settings import load_settings


@click.command("shadow:status")
@click.option("--feature", default=None, help="Only this feature.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def shadow_status_command(feature: str | None, as_json: bool) -> None:
    """Comparison counts per feature, route, method and mode, and the latest mismatches."""
    with stores(load_settings()) as found:
        counts = [c for c in found.results.counts() if feature is None or c["feature"] == feature]
        kept = found.results.mismatches(feature, limit=20)
    if as_json:
        print_json({"counts": counts, "mismatches": kept})
        return
    print_table(
        "shadow and canary results",
        ["feature", "method", "route", "mode", "outcome", "count"],
        [[c["feature"], c["method"], c["route"] or "-", c["mode"], c["outcome"], str(c["count"])] for c in counts],
    )
    print_table(
        "latest kept mismatches (sv shadow:export ID)",
        ["id", "at", "feature", "method", "route", "outcome", "first difference"],
        [
            [
                m["id"],
                str(m["recorded_at"]),
                m["feature"],
                m["method"],
                m["route"],
                m["outcome"],
                _first(m["differences"]),
            ]
            for m in kept
        ],
    )

@click.command("shadow:export")
@click.argument("mismatch_id")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="HAR file; stdout if unset.")
def shadow_export_command(mismatch_id: str, output: Path | None) -> None:
    """Export a kept mismatch as a HAR 1.2 file that replays its request (secrets already redacted)."""
    from exthost.rollout.results import mismatch_har

    with stores(load_settings()) as found:
        row = found.results.mismatch(mismatch_id)
    if row is None:
        raise click.UsageError(f"no kept mismatch {mismatch_id!r}; `sv shadow:status` lists them")
    text = json.dumps(mismatch_har(row), indent=2)
    if output is None:
        click.echo(text)
    else:
        output.write_text(text + "\n", encoding="utf-8")
        click.echo(f"wrote {output}")


def _first(differences: list[dict[str, Any]]) -> str:
    if not differences:
        return "-"
    first = differences[0]
    more = f" (+{len(differences) - 1})" if len(differences) > 1 else ""
    return f"{first['pointer']}: {first['legacy']!r} != {first['plugin']!r}{more}"[:120]
