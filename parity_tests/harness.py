"""One parity run: recorded sessions, then generated cases, per feature, on a pair of platforms; a `ParityRun`.

`run_parity(config)` is what `sv parity:run`, the differential suites and the benchmark call. It builds the pair
(a temporary workspace unless one is given), replays every recording of the chosen features, generates
`config.generated` cases per feature, and returns every case's result with the run's facts: the sides compared,
the rules file, the rules no A/A difference needed, and each feature's code fingerprint.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from coverage import Coverage

from exthost.evidence.snapshot import Snapshot, read_snapshot
from legacy_core.features import FEATURES
from legacy_core.settings import Settings
from parity_tests.branch_coverage import FeatureCoverage, measuring, pair_scope, summarise
from parity_tests.outcome import CaseResult, ParityRun, Shard
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
    # The snapshot every live-recorded session replays from; by default each one's own (the latest under the
    # recordings folder's snapshots/ taken before it began).
    snapshot: Path | None = None
    # (i, n): run only shard i (1-based) of n; the n shards together run what one run with `jobs * n` would.
    shard: tuple[int, int] | None = None

    def build_pair(self, root: Path, snapshot: Snapshot | None = None) -> Pair:
        """A pair of this run's sides in workspace `root` (its template from `snapshot` when given): the run's own,
        a worker's, or a snapshot's."""
        return build_pair(
            root,
            base=self.base,
            plugins_dir=self.plugins_dir,
            rules_file=self.rules_file,
            features=self.features,
            aa=self.aa,
            snapshot=snapshot,
            keep=self.workspace is not None,
        )

    def __post_init__(self) -> None:
        if self.shard is not None:
            index, count = self.shard
            if not 1 <= index <= count:
                raise ValueError(f"shard {index}/{count}: shards are numbered 1 to the count of shards (1 or more)")


# A share of a feature's generated cases: (feature, how many, seed, number of its first case, which share, of how
# many shares); the generated kind of `parity_tests.tasks.Task`.
Share = tuple[str, int, int | None, int, int, int]


@dataclass(frozen=True)
class Plan:
    """The cases a run will make, known before it starts (for a progress bar): the recordings to replay, and each
    feature's generated cases in `shares`; `shard` says which part of a sharded run this is, and what the whole is."""

    recordings: tuple[RecordedSession | CaseResult, ...]
    generated: dict[str, int]
    shares: tuple[Share, ...] = ()
    shard: Shard | None = None

    @property
    def total(self) -> int:
        return len(self.recordings) + sum(self.generated.values())


def file_digest(path: Path) -> str:
    """`sha256:<hex>` of a file's bytes; empty when it cannot be read (the rules then come from elsewhere)."""
    try:
        return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return ""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@contextlib.contextmanager
def open_pair(config: HarnessConfig) -> Iterator[Pair]:
    """The run's pair, in `config.workspace` or a temporary folder removed afterwards."""
    with contextlib.ExitStack() as stack:
        root = config.workspace
        if root is None:
            root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="sv-parity-")))
        pair = config.build_pair(root / "workspace")
        stack.callback(pair.close)
        yield pair


def plan_run(config: HarnessConfig, pair: Pair) -> Plan:
    found: list[RecordedSession | CaseResult] = []
    if config.recordings is not None and config.recordings.exists():
        snapshot = read_snapshot(config.snapshot) if config.snapshot is not None else None
        found = list(find_recordings(config.recordings, pair, snapshot=snapshot))
    return plan_of(config, found)


def recording_key(recording: RecordedSession | CaseResult) -> str:
    """What a recording is sharded by: its path relative to the recordings folder (never the file system's order)."""
    return recording.name if isinstance(recording, RecordedSession) else recording.source


def inputs_digest(recordings: Iterable[RecordedSession | CaseResult]) -> str:
    """`sha256:<hex>` of what `recordings` replay: each one's name with its content digest, and the snapshot it
    starts from (folder name and time taken; none for the harness's own seed)."""
    described = []
    for recording in recordings:
        snapshot = recording.snapshot if isinstance(recording, RecordedSession) else None
        taken = None if snapshot is None else f"{snapshot.path.name}@{snapshot.taken_at.isoformat()}"
        described.append([recording_key(recording), recording.source, taken])
    return "sha256:" + hashlib.sha256(json.dumps(described).encode()).hexdigest()


def generated_shares(config: HarnessConfig, shares: int) -> list[Share]:
    """Each feature's `config.generated` cases in (at most) `shares` shares of nearly equal size, numbered apart;
    share k draws with seed `config.seed + k`."""
    found: list[Share] = []
    for feature in config.features:
        count = config.generated
        parts = max(1, min(shares, count))
        first = 0
        for share in range(parts):
            size = count // parts + (1 if share < count % parts else 0)
            if size:
                seed = None if config.seed is None else config.seed + share
                found.append((feature, size, seed, first, share, parts))
                first += size
    return found


def plan_of(config: HarnessConfig, found: Iterable[RecordedSession | CaseResult]) -> Plan:
    """The plan of a run over the recordings `found`; with `config.shard` (i, n), its i-th part.

    Sharding is deterministic and needs no coordination between the shards. Recordings are sorted by
    `recording_key` and shard i takes every n-th from the i-th. Generated cases are split as one run with
    `jobs * n` workers would split them (`generated_shares`), and shard i takes every n-th share from the i-th, each
    with the seed and numbers it has in that run: the n shards together make exactly that run's cases, none twice.
    """
    # A recording that could not be read stays in the plan whatever its feature: it must fail the run, not vanish.
    recordings = sorted(
        (recording for recording in found if recording.feature in config.features or isinstance(recording, CaseResult)),
        key=recording_key,
    )
    count = 1 if config.shard is None else config.shard[1]
    shares = generated_shares(config, config.jobs * count)
    shard = None
    if config.shard is not None:
        index = config.shard[0] - 1
        shard = Shard(
            index=config.shard[0],
            count=count,
            seed=config.seed,
            generated=config.generated,
            shares=config.jobs * count,
            recordings=tuple(recording_key(recording) for recording in recordings),
            inputs_digest=inputs_digest(recordings),
        )
        recordings = recordings[index::count]
        shares = [share for share in shares if share[4] % count == index]
    generated = dict.fromkeys(config.features, 0)
    for feature, size, *_ in shares:
        generated[feature] += size
    return Plan(tuple(recordings), generated, tuple(shares), shard)


def tasks_of(config: HarnessConfig, plan: Plan) -> list[Task]:
    """The plan as units of work: each recording, then each feature's shares of generated cases."""
    return [*plan.recordings, *plan.shares]


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


def _snapshot_sessions(plan: Plan) -> tuple[Plan, dict[Snapshot, list[RecordedSession]]]:
    """The plan without the sessions recorded live that replay from a snapshot, and those sessions by snapshot."""
    kept: list[RecordedSession | CaseResult] = []
    groups: dict[Snapshot, list[RecordedSession]] = {}
    for recording in plan.recordings:
        if isinstance(recording, RecordedSession) and recording.live and recording.snapshot is not None:
            groups.setdefault(recording.snapshot, []).append(recording)
        else:
            kept.append(recording)
    return dataclasses.replace(plan, recordings=tuple(kept)), groups


def _run_from_snapshot(
    config: HarnessConfig,
    root: Path,
    snapshot: Snapshot,
    sessions: list[RecordedSession],
    coverage_dir: Path | None,
    on_case: Callable[[CaseResult], None] | None,
) -> list[CaseResult]:
    """Replay `sessions` on a pair of their own whose template is `snapshot`, in this process (measured like the
    rest of the run when `coverage_dir` is given). A snapshot that cannot be made a template fails its sessions."""
    results: list[CaseResult] = []

    def done(result: CaseResult) -> None:
        results.append(result)
        if on_case is not None:
            on_case(result)

    try:
        pair = config.build_pair(root, snapshot)
    except Exception as exc:
        for session in sessions:
            done(task_failed(session, f"snapshot {snapshot.path} cannot be replayed from: {type(exc).__name__}: {exc}"))
        return results
    try:
        with contextlib.ExitStack() as stack:
            if coverage_dir is not None:
                stack.enter_context(measuring(pair, config.features, coverage_dir, f"snapshot-{root.name}"))
            for session in sessions:
                try:
                    run_task(pair, session, done)
                except Exception as exc:  # reported as a failed case, with the cases that did run
                    done(task_failed(session, f"the harness failed: {type(exc).__name__}: {exc}"))
    finally:
        pair.close()
    return results


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
        plan, from_snapshots = _snapshot_sessions(plan)
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
        for snapshot, sessions in from_snapshots.items():
            # Named after the snapshot: a kept --workspace reuses a template only for the snapshot it was made from.
            digest = hashlib.sha256(str(snapshot.path).encode()).hexdigest()[:12]
            root = pair.layout.root.parent / f"snapshot-{digest}"
            cases += _run_from_snapshot(config, root, snapshot, sessions, data_dir if measure else None, on_case)
        if measure:
            coverage, missing = summarise(pair_scope(pair, config.features), data_dir), _missing_data(config, data_dir)
            if missing:
                coverage_note = f"partial: {missing}"
        shutil.rmtree(data_dir, ignore_errors=True)
        unused = unused_rules(pair, cases)
        rules_file = pair.rules.source
    shard = plan.shard
    if shard is not None:
        shard = dataclasses.replace(shard, rules_digest=file_digest(Path(rules_file)))
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
        shard=shard,
        database=_database(config),
    )


def _database(config: HarnessConfig) -> str:
    """What the run's cases ran on, as its reports say it (snapshot replays included: their rows are copied into
    the server's databases)."""
    if config.base is None or not config.base.PARITY_DATABASE_URL:
        return "sqlite"
    return "postgresql"
