"""`sv parity:run`: the parity harness from the command line, with a progress bar, reports and evidence.

The harness (`parity_tests`) sits above exthost: it is found through the `sovereign.harness` entry point that the
distribution declares, and loaded only when the command runs, so nothing in exthost imports it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import click

from exthost.cli.settings import load_settings
from legacy_core.features import FEATURES

DEFAULT_REPORT_DIR = Path("reports") / "parity"


HARNESS_GROUP = "sovereign.harness"


def load_harness() -> Any:
    """The parity harness's surface (`parity_tests.api`), found through its entry point."""
    from importlib.metadata import entry_points

    found = sorted(entry_points(group=HARNESS_GROUP, name="parity"), key=lambda point: point.value)
    if not found:
        raise click.ClickException(
            f"the parity harness is not installed: no entry point 'parity' in the group {HARNESS_GROUP!r}; "
            "install the project with its harness (`pip install -e .` in the checkout)"
        )
    try:
        return found[0].load()
    except ImportError as exc:
        raise click.ClickException(f"the parity harness {found[0].value!r} cannot be imported: {exc}") from exc


def _progress(total_hint: int) -> Any:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("[red]{task.fields[mismatched]} mismatched"),
        TimeElapsedColumn(),
        transient=False,
    )


def _check_report_dir(report_dir: Path) -> None:
    """Fail before the run, not after it, when the reports cannot be written."""
    try:
        report_dir.mkdir(parents=True, exist_ok=True)
        probe = report_dir / ".sv-write-check"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise click.UsageError(f"--report-dir {str(report_dir)!r} cannot hold the reports: {exc}") from exc


def _check_evidence_store(database_url: str) -> None:
    """Fail before the run when its evidence could not be stored (the database is not migrated)."""
    from sqlalchemy import inspect

    from legacy_core.db import make_engine

    engine = make_engine(database_url)
    try:
        present = inspect(engine).has_table("sv_parity_runs")
    except Exception as exc:
        raise click.ClickException(f"the evidence database cannot be read: {exc}; pass --no-evidence") from exc
    finally:
        engine.dispose()
    if not present:
        shown = engine.url.render_as_string(hide_password=True)
        raise click.ClickException(
            f"{shown!r} has no evidence table (sv_parity_runs); run `sv migrate:deploy` first, or pass --no-evidence"
        )


@click.command("parity:run")
@click.option(
    "--feature",
    "features",
    multiple=True,
    type=click.Choice(FEATURES),
    help="Feature to compare (repeatable); every feature by default.",
)
@click.option(
    "--recordings",
    type=click.Path(path_type=Path, exists=True),
    default=None,
    help="HAR file or folder of recorded sessions; PARITY_RECORDINGS_DIR (the bundled corpus) by default.",
)
@click.option(
    "--generated", type=click.IntRange(min=0), default=500, show_default=True, help="Generated cases per feature."
)
@click.option(
    "--report-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=DEFAULT_REPORT_DIR,
    show_default=True,
    help="Folder for junit.xml, report.json, summary.md and report.html.",
)
@click.option(
    "--seed", type=int, default=0, show_default=True, help="Seed of the generated cases (same seed, same cases)."
)
@click.option(
    "--jobs",
    type=click.IntRange(min=1),
    default=min(2, os.cpu_count() or 1),
    show_default=True,
    help="Worker processes, each with its own pair of platforms.",
)
@click.option("--aa", is_flag=True, help="A/A run: legacy against legacy, to show which noise rules are needed.")
@click.option(
    "--workspace",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Keep the harness's states here (a temporary folder by default).",
)
@click.option(
    "--no-coverage",
    is_flag=True,
    help="Do not measure branch coverage (the run is a little faster; the gate then has none from it).",
)
@click.option("--no-evidence", is_flag=True, help="Do not add this run to the evidence record in DATABASE_URL.")
@click.option("--database-url", default=None, help="Database of the evidence record; DATABASE_URL by default.")
def parity_run_command(
    features: tuple[str, ...],
    recordings: Path | None,
    generated: int,
    report_dir: Path,
    seed: int,
    jobs: int,
    aa: bool,
    workspace: Path | None,
    no_coverage: bool,
    no_evidence: bool,
    database_url: str | None,
) -> None:
    """Replay recorded sessions and generated cases against legacy and plugins; compare answers and state.

    Every case runs on both sides from identical state; reports go to --report-dir and the Markdown summary is
    printed. Exits 1 when any case differs (or, with --aa, when a noise rule was not needed).
    """
    from exthost.evidence.fingerprint import code_fingerprint, corpus_names, recordings_dir
    from exthost.evidence.gate import record_parity_run
    from legacy_core.db import make_engine

    harness = load_harness()
    settings = load_settings(DATABASE_URL=database_url)
    chosen = features or FEATURES
    _check_report_dir(report_dir)
    if not no_evidence and not aa:
        _check_evidence_store(settings.DATABASE_URL)
    corpus_dir = recordings or recordings_dir(settings) or harness.DEFAULT_RECORDINGS
    config = harness.HarnessConfig(
        features=tuple(chosen),
        recordings=Path(corpus_dir),
        generated=generated,
        seed=seed,
        aa=aa,
        jobs=jobs,
        base=settings,
        workspace=workspace,
        coverage=not no_coverage,
        fingerprint=lambda feature: code_fingerprint(feature, settings),
    )
    interactive = sys.stderr.isatty()
    state: dict[str, Any] = {"mismatched": 0, "done": 0}
    progress = _progress(0) if interactive else None
    task: Any = None

    def on_plan(plan: Any) -> None:
        nonlocal task
        if recordings is not None and not plan.recordings:
            raise click.UsageError(
                f"--recordings {str(recordings)!r} holds no recording of {', '.join(chosen)}; put each HAR file in a "
                "folder named after its feature, or check --feature"
            )
        state["total"] = plan.total
        if progress is not None:
            task = progress.add_task("parity", total=plan.total, mismatched=0)
        else:
            click.echo(
                f"parity: {len(plan.recordings)} recorded sessions, {sum(plan.generated.values())} generated cases",
                err=True,
            )

    def on_case(result: Any) -> None:
        state["done"] += 1
        state["mismatched"] += 0 if result.match else 1
        if progress is not None and task is not None:
            progress.update(
                task, advance=1, mismatched=state["mismatched"], description=f"{result.feature} {result.kind}"
            )
        elif not result.match or state["done"] % 100 == 0:
            verdict = "MISMATCH " + result.case_id if not result.match else "ok"
            click.echo(f"parity: {state['done']}/{state.get('total', '?')} {verdict}", err=True)

    try:
        if progress is not None:
            with progress:
                run = harness.run_parity(config, on_plan=on_plan, on_case=on_case)
        else:
            run = harness.run_parity(config, on_plan=on_plan, on_case=on_case)
    except click.ClickException:
        raise
    except Exception as exc:  # a harness that cannot start is a usage problem to the operator, not a traceback
        raise click.ClickException(f"the parity harness could not run: {exc}") from exc
    try:
        files = harness.write_reports(run, report_dir)
    except OSError as exc:
        raise click.ClickException(f"the reports could not be written to {str(report_dir)!r}: {exc}") from exc
    click.echo(harness.markdown_summary(run))
    click.echo(f"reports: {files.html.parent}", err=True)
    if not no_evidence and not aa:
        engine = make_engine(settings.DATABASE_URL)
        try:
            corpus = {feature: corpus_names(feature, settings) for feature in run.features}
            record_parity_run(engine, run, recordings=corpus, report_dir=str(report_dir))
        except Exception as exc:
            raise click.ClickException(
                f"the run's evidence could not be stored in {engine.url.render_as_string(hide_password=True)!r}: "
                f"{exc}; run `sv migrate:deploy` first, or pass --no-evidence"
            ) from exc
        finally:
            engine.dispose()
    sys.exit(run.exit_code)
