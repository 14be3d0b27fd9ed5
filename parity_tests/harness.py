"""One parity run: recorded sessions, then generated cases, per feature, on a pair of platforms; a `ParityRun`.

`run_parity(config)` is what `sv parity:run`, the differential suites and the benchmark call. It builds the pair
(a temporary workspace unless one is given), replays every recording of the chosen features, generates
`config.generated` cases per feature, and returns every case's result with the run's facts: the sides compared,
the rules file, the rules no A/A difference needed, and each feature's code fingerprint.
"""

from __future__ import annotations

import contextlib
import dataclasses
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from coverage import Coverage

from legacy_core.features import FEATURES
from legacy_core.settings import Settings
from parity_tests.branch_coverage import FeatureCoverage, measuring, pair_scope, summarise
from parity_tests.outcome import CaseResult, ParityRun
from parity_tests.pair import Pair, build_pair
from parity_tests.recordings import DEFAULT_RECORDINGS, RecordedSession, find_recordings
from parity_tests.tasks import Task, run_task, task_failed

VERSION = "1"


@dataclass(frozen=True)
class HarnessConfig:
    """What to run: features, where the recordings are, how many generated cases per feature, and on what."""

    features: tuple[str, ...] = FEATURES
    recordings: Path | None = DEFAULT_RECORDINGS
    generated: int = 0
    seed: int | None = 0
    aa: bool = False
    base: Settings | None = None
    plugins_dir: Path | None = None
    rules_file: Path | None = None
    workspace: Path | None = None
    # Worker processes, each with its own pair; 1 runs every case in this process.
    jobs: int = 1
    # Measure branch coverage of the features' code on both sides (coverage.py).
    coverage: bool = True
    fingerprint: Callable[[str], str] | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Plan:
    """The cases a run will make, known before it starts (for a progress bar)."""

    recordings: tuple[RecordedSession | CaseResult, ...]
    generated: dict[str, int]

    @property
    def total(self) -> int:
        return len(self.recordings) + sum(self.generated.values())


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@contextlib.contextmanager
def open_pair(config: HarnessConfig) -> Iterator[Pair]:
    """The run's pair, in `config.workspace` or a temporary folder removed afterwards."""
    with contextlib.ExitStack() as stack:
        root = config.workspace
        if root is None:
            root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="sv-parity-")))
        pair = build_pair(
            root / "workspace",
            base=config.base,
            plugins_dir=config.plugins_dir,
            rules_file=config.rules_file,
            features=config.features,
            aa=config.aa,
        )
        stack.callback(pair.close)
        yield pair


def plan_run(config: HarnessConfig, pair: Pair) -> Plan:
    recordings: tuple[RecordedSession | CaseResult, ...] = ()
    if config.recordings is not None and config.recordings.exists():
        # A recording that could not be read stays in the plan whatever its feature: it must fail the run, not vanish.
        recordings = tuple(
            found
            for found in find_recordings(config.recordings, pair)
            if found.feature in config.features or isinstance(found, CaseResult)
        )
    return Plan(recordings, dict.fromkeys(config.features, config.generated))


def tasks_of(config: HarnessConfig, plan: Plan) -> list[Task]:
    """The plan as units of work: each recording, and each feature's generated cases in `jobs` shares."""
    tasks: list[Task] = list(plan.recordings)
    for feature, count in plan.generated.items():
        shares = max(1, min(config.jobs, count))
        first = 0
        for share in range(shares):
            size = count // shares + (1 if share < count % shares else 0)
            if size:
                seed = None if config.seed is None else config.seed + share
                tasks.append((feature, size, seed, first, share, shares))
                first += size
    return tasks


def run_cases(
    config: HarnessConfig,
    pair: Pair,
    plan: Plan,
    on_case: Callable[[CaseResult], None] | None = None,
    on_note: Callable[[str], None] | None = None,
) -> list[CaseResult]:
    """Every case of the plan, in this process: recordings, then each feature's generated cases."""
    results: list[CaseResult] = []

    def done(result: CaseResult) -> None:
        results.append(result)
        if on_case is not None:
            on_case(result)

    for task in tasks_of(config, plan):
        try:
            run_task(pair, task, done, on_note)
        except Exception as exc:  # reported as a failed case, with the cases that did run
            done(task_failed(task, f"the harness failed: {type(exc).__name__}: {exc}"))
    return results


def _missing_data(config: HarnessConfig, data_dir: Path) -> str | None:
    """Why the coverage data of a run is short, when it is: a worker that died (or could not measure) saved none."""
    expected = config.jobs if config.jobs > 1 else 1
    found = len(list(data_dir.glob("saved.*")))
    if found >= expected:
        return None
    return f"{expected - found} of {expected} process(es) saved no coverage data (a worker died or could not measure)"


def unused_rules(pair: Pair, cases: list[CaseResult]) -> tuple[str, ...]:
    """Ids of the rules file's rules that suppressed no difference in these cases."""
    applied = {rule for case in cases for exchange in case.exchanges for rule in exchange.comparison.rules_applied}
    return tuple(rule.id for rule in pair.rules.rules if rule.id not in applied)


def run_parity(
    config: HarnessConfig,
    *,
    on_plan: Callable[[Plan], None] | None = None,
    on_case: Callable[[CaseResult], None] | None = None,
) -> ParityRun:
    """Run the configured cases on a fresh pair and return everything they found."""
    started = _now()
    coverage: dict[str, FeatureCoverage] = {}
    notes: list[str] = []
    coverage_note: str | None = None if config.coverage else "not measured (--no-coverage)"
    with open_pair(config) as pair:
        plan = plan_run(config, pair)
        if on_plan is not None:
            on_plan(plan)
        # A folder of this run's own: a kept --workspace must not add an earlier run's data (older code, other jobs).
        data_dir = Path(tempfile.mkdtemp(prefix="coverage-", dir=pair.layout.root.parent))
        if config.coverage and Coverage.current() is not None:
            coverage_note = "not measured: this process is already measured by coverage.py"
        measure = config.coverage and coverage_note is None
        if config.jobs > 1:
            from parity_tests.workers import run_in_workers

            # The fingerprint function stays here: workers get plain, picklable settings.
            portable = dataclasses.replace(config, fingerprint=None, coverage=measure)
            cases = run_in_workers(
                portable,
                tasks_of(config, plan),
                pair.layout.root.parent,
                on_case,
                coverage_dir=data_dir,
                on_note=notes.append,
            )
        elif measure:
            with measuring(pair, config.features, data_dir, "main"):
                cases = run_cases(config, pair, plan, on_case, notes.append)
        else:
            cases = run_cases(config, pair, plan, on_case, notes.append)
        if measure:
            coverage, missing = summarise(pair_scope(pair, config.features), data_dir), _missing_data(config, data_dir)
            if missing:
                coverage_note = f"partial: {missing}"
        shutil.rmtree(data_dir, ignore_errors=True)
        unused = unused_rules(pair, cases)
        rules_file = pair.rules.source
    fingerprints = {feature: config.fingerprint(feature) for feature in config.features} if config.fingerprint else {}
    return ParityRun(
        started_at=started,
        finished_at=_now(),
        sides="legacy/legacy" if config.aa else "legacy/plugin",
        features=config.features,
        cases=tuple(cases),
        rules_file=rules_file,
        rules_unused=unused,
        fingerprints=fingerprints,
        version=VERSION,
        coverage=coverage,
        coverage_note=coverage_note,
        notes=tuple(notes),
    )
