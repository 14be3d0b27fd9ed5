"""`sv parity:run` and `sv parity:merge`: the parity harness from the command line, with a progress bar, reports and
evidence; a run split into shards over CI runners (`--shard i/n`) and their reports merged into one.

The harness (`parity_tests`) sits above exthost: it is found through the `sovereign.harness` entry point that the
distribution declares, and loaded only when the command runs, so nothing in exthost imports it.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Any

import click

from exthost.cli.settings import feature_names, load_settings, require_database

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


class ShardType(click.ParamType[tuple[int, int], Any]):
    """`i/n`: shard i (1 to n) of n, as a (i, n) pair."""

    name = "i/n"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> tuple[int, int]:
        if isinstance(value, tuple):
            return value
        found = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", str(value))
        if found is None:
            self.fail(f"{value!r} is not i/n: write the shard and the count of shards, e.g. 1/4", param, ctx)
        index, count = int(found[1]), int(found[2])
        if count < 1:
            self.fail(f"{value!r}: the count of shards must be 1 or more", param, ctx)
        if not 1 <= index <= count:
            self.fail(f"{value!r}: there is no shard {index} of {count}; shards are numbered 1 to {count}", param, ctx)
        return index, count


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
    help="Feature to compare (repeatable): papertrail, blog or one of EXTRA_FEATURES; every feature by default.",
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
@click.option(
    "--shard",
    type=ShardType(),
    default=None,
    help="Run only shard i of n (e.g. 2/4), for a CI matrix: the n shards together run what one run with "
    "--jobs n*JOBS would. A shard adds nothing to the evidence record; `sv parity:merge` of all n shards does.",
)
@click.option(
    "--snapshot",
    type=click.Path(path_type=Path, exists=True, file_okay=False),
    default=None,
    help="Replay every live-recorded session from this snapshot (sv parity:record --on --snapshot); by default each "
    "from the latest one under the recordings folder's snapshots/ taken before it began.",
)
@click.option("--no-evidence", is_flag=True, help="Do not add this run to the evidence record in DATABASE_URL.")
@click.option(
    "--if-changed",
    is_flag=True,
    help="Leave out each feature whose code in place (its fingerprint) already has the evidence the switch gate asks "
    "for, saying so; run only the others (`make demo` uses it, so an unchanged checkout starts at once).",
)
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
    shard: tuple[int, int] | None,
    snapshot: Path | None,
    no_evidence: bool,
    if_changed: bool,
    database_url: str | None,
) -> None:
    """Replay recorded sessions and generated cases against legacy and plugins; compare answers and state.

    Every case runs on both sides from identical state; reports go to --report-dir and the Markdown summary is
    printed. Exits 1 when any case differs (or, with --aa, when a noise rule was not needed).

    With --shard i/n the run is one of n shards (one per CI runner): its reports say so, it adds nothing to the
    evidence record, and `sv parity:merge` of the n shards' report folders makes the one report set and record.
    """
    from exthost.evidence.fingerprint import code_fingerprint, recordings_dir

    harness = load_harness()
    settings = load_settings(DATABASE_URL=database_url)
    known = feature_names(settings)
    unknown = [name for name in features if name not in known]
    if unknown:
        raise click.BadParameter(
            f"unknown feature(s) {', '.join(map(repr, unknown))}; one of {', '.join(known)}", param_hint="--feature"
        )
    chosen = features or known
    # A shard alone is part of a run: recorded as evidence, it would count as a whole run with a fraction of the cases.
    evidence = not no_evidence and not aa and shard is None
    if evidence:
        require_database(settings)  # never leaves an empty SQLite file behind
        _check_evidence_store(settings.DATABASE_URL)
    _check_report_dir(report_dir)
    if if_changed:
        if not evidence:
            raise click.UsageError("--if-changed reads and adds evidence: it goes without --no-evidence, --aa, --shard")
        from exthost.cli.unchanged import features_to_run

        chosen = features_to_run(settings, tuple(chosen))
        if not chosen:
            return
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
        shard=shard,
        snapshot=snapshot,
    )
    if snapshot is not None:
        from exthost.evidence.snapshot import SnapshotError, read_snapshot

        try:
            read_snapshot(snapshot)
        except SnapshotError as exc:
            raise click.BadParameter(str(exc), param_hint="'--snapshot'") from exc
    interactive = sys.stderr.isatty()
    state: dict[str, Any] = {"mismatched": 0, "done": 0}
    progress = _progress(0) if interactive else None
    task: Any = None

    def on_plan(plan: Any) -> None:
        nonlocal task
        # A shard may get none of a few recordings; the whole run must have some.
        found = plan.shard.recordings if plan.shard is not None else plan.recordings
        if recordings is not None and not found:
            raise click.UsageError(
                f"--recordings {str(recordings)!r} holds no recording of {', '.join(chosen)}; put each HAR file in a "
                "folder named after its feature, or check --feature"
            )
        state["total"] = plan.total
        if progress is not None:
            task = progress.add_task("parity", total=plan.total, mismatched=0)
        else:
            part = f" (shard {shard[0]}/{shard[1]})" if shard is not None else ""
            click.echo(
                f"parity: {len(plan.recordings)} recorded sessions, {sum(plan.generated.values())} generated cases"
                + part,
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
    if shard is not None:
        click.echo(
            f"shard {shard[0]}/{shard[1]}: not added to the evidence record; `sv parity:merge` the report folders of "
            f"all {shard[1]} shards to make the run's reports and evidence",
            err=True,
        )
    if evidence:
        _record(settings, run, report_dir)
    sys.exit(run.exit_code)


def _record(settings: Any, run: Any, report_dir: Path) -> None:
    """Add `run` to the evidence record in settings.DATABASE_URL (one row per feature)."""
    from exthost.evidence.fingerprint import corpus_names
    from exthost.evidence.gate import record_parity_run
    from legacy_core.db import make_engine

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


@click.command("parity:merge")
@click.argument(
    "folders", nargs=-1, required=True, type=click.Path(path_type=Path, file_okay=False, exists=True), metavar="DIR..."
)
@click.option(
    "--report-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=DEFAULT_REPORT_DIR,
    show_default=True,
    help="Folder for the merged junit.xml, report.json, summary.md and report.html (not a shard's folder).",
)
@click.option("--no-evidence", is_flag=True, help="Do not add the merged run to the evidence record in DATABASE_URL.")
@click.option("--database-url", default=None, help="Database of the evidence record; DATABASE_URL by default.")
def parity_merge_command(
    folders: tuple[Path, ...], report_dir: Path, no_evidence: bool, database_url: str | None
) -> None:
    """Merge the reports of `sv parity:run --shard i/n` runs into one report set and one evidence record.

    DIR... are the --report-dir folders of every shard of one run. They are refused (exit 2), naming the folder and
    the field, unless they are shards 1 to n of one run, each once: same code fingerprints, seed, features, sides, noise
    rules, generated cases, --jobs, recordings and coverage measurement. The merged reports are those of one run
    (coverage is the union of the shards' covered branches), the merged run is added to the evidence record as one
    run (not for an A/A run, nor with --no-evidence), the Markdown summary is printed, and the exit code is
    `sv parity:run`'s: 1 when any case differs.
    """
    harness = load_harness()
    settings = load_settings(DATABASE_URL=database_url)
    target = report_dir.resolve()
    for folder in folders:
        if folder.resolve() == target:
            raise click.UsageError(
                f"--report-dir {str(report_dir)!r} is the shard folder {str(folder)!r}: the merged reports would "
                "replace that shard's; pick another folder"
            )
    try:
        run = harness.merge_reports(list(folders))
    except harness.MergeError as exc:
        raise click.UsageError(str(exc)) from exc
    _check_report_dir(report_dir)
    evidence = not no_evidence and not run.aa
    if evidence:
        require_database(settings)
        _check_evidence_store(settings.DATABASE_URL)
    try:
        files = harness.write_reports(run, report_dir)
    except OSError as exc:
        raise click.ClickException(f"the reports could not be written to {str(report_dir)!r}: {exc}") from exc
    click.echo(harness.markdown_summary(run))
    click.echo(f"reports: {files.html.parent} (merged from {len(folders)} shards)", err=True)
    if evidence:
        _record(settings, run, report_dir)
    sys.exit(run.exit_code)
