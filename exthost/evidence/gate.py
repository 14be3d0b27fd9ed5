"""The evidence record of each feature and the switch gate: parity runs and shadow samples per code fingerprint.

Each harness run (`record_parity_run`, one `sv_parity_runs` row per feature) and each shadow sample (`ShadowResults`
adds its deltas to `sv_shadow_evidence`) is stored under the code fingerprint it ran on
(`exthost.evidence.fingerprint`), and `evidence_for` sums what was gathered on one fingerprint. `gate` is a pure
function: evidence, corpus and thresholds in, the decision (with every shortfall in words) out. `assess` puts the four
together for the CLI.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import Column, DateTime, Engine, Integer, MetaData, String, Table, Text, func, insert, select
from sqlalchemy.orm import Session, sessionmaker

from exthost.errors import ExtHostError
from exthost.evidence.fingerprint import code_fingerprint, corpus_names
from legacy_core.clock import IdGenerator, RandomIds
from legacy_core.db import session_factory_of, transaction, upsert_insert

if TYPE_CHECKING:
    from legacy_core.settings import Settings

# Modes that take the legacy code out of serving: switching to them needs evidence.
GATED_MODES = ("plugin", "retired")
AA_SIDES = "legacy/legacy"
_SHOWN_NAMES = 10

metadata = MetaData()

parity_runs = Table(
    "sv_parity_runs",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("feature", String(40), nullable=False),
    Column("code", String(64), nullable=False),
    Column("sides", String(20), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True), nullable=False),
    Column("recorded_cases", Integer, nullable=False),
    Column("recorded_matched", Integer, nullable=False),
    Column("recordings_matched", Text, nullable=False),
    Column("generated_cases", Integer, nullable=False),
    Column("generated_matched", Integer, nullable=False),
    Column("mismatched_cases", Integer, nullable=False),
    Column("compared_requests", Integer, nullable=False),
    Column("report_dir", Text, nullable=False),
    # Per side, the branches of the feature's code and the covered ones (JSON; revision exthost_0005), or NULL.
    Column("coverage", Text, nullable=True),
    # Corpus names of the recorded sessions whose replay was inconclusive (JSON; revision exthost_0006), or NULL.
    Column("recordings_inconclusive", Text, nullable=True),
)

shadow_evidence = Table(
    "sv_shadow_evidence",
    metadata,
    Column("feature", String(40), primary_key=True),
    Column("code", String(64), primary_key=True),
    Column("outcome", String(80), primary_key=True),
    Column("count", Integer, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

SessionSource = sessionmaker[Session] | Engine


class EvidenceError(ExtHostError):
    """Evidence that cannot be recorded: a parity run without the code fingerprint of one of its features."""


# --- recording evidence --------------------------------------------------------------------------------------------


def _corpus_name(source: str, names: Sequence[str]) -> str:
    """A recorded case's `source` as the corpus name it stands for: the name itself, or a path that ends in it (a
    run over another folder names files relative to that folder); as given when no single name fits."""
    source = source.replace("\\", "/")
    if source in names:
        return source
    fits = [name for name in names if source.endswith("/" + name) or name.endswith("/" + source)]
    return fits[0] if len(fits) == 1 else source


class _Case(Protocol):
    @property
    def kind(self) -> str: ...
    @property
    def feature(self) -> str: ...
    @property
    def source(self) -> str: ...
    @property
    def match(self) -> bool: ...


class _Tally(Protocol):
    @property
    def feature(self) -> str: ...
    @property
    def cases(self) -> Mapping[str, int]: ...
    @property
    def matched(self) -> Mapping[str, int]: ...
    @property
    def mismatched_cases(self) -> int: ...
    @property
    def compared_requests(self) -> int: ...


class _CoverageLike(Protocol):
    def evidence(self) -> Mapping[str, Any]: ...


class ParityRunLike(Protocol):
    """What `record_parity_run` reads of a `parity_tests.outcome.ParityRun` (exthost may not import parity_tests)."""

    @property
    def started_at(self) -> str: ...
    @property
    def finished_at(self) -> str: ...
    @property
    def sides(self) -> str: ...
    @property
    def features(self) -> Sequence[str]: ...
    @property
    def cases(self) -> Sequence[_Case]: ...
    @property
    def fingerprints(self) -> Mapping[str, str]: ...
    @property
    def aa(self) -> bool: ...
    @property
    def coverage(self) -> Mapping[str, _CoverageLike]: ...
    def by_feature(self) -> Sequence[_Tally]: ...


def _instant(value: datetime | str) -> datetime:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def record_parity_run(
    source: SessionSource,
    run: ParityRunLike,
    *,
    recordings: Mapping[str, Sequence[str]] | None = None,
    report_dir: str | Path = "",
    ids: IdGenerator | None = None,
) -> list[str]:
    """Store one `sv_parity_runs` row per feature of a harness run, under the fingerprint in `run.fingerprints`;
    returns the rows' ids. An A/A run (legacy against legacy) is no evidence and stores nothing.

    `recordings` gives, per feature, the corpus names the run was given (`corpus_names`): a recorded case's `source`
    is stored as the corpus name it stands for. A recording counts as matched only when every case of it matched.
    Raises EvidenceError, before writing anything, when a feature of the run has no fingerprint.
    """
    if run.aa or run.sides == AA_SIDES:
        return []
    # A shard of a sharded run (`sv parity:run --shard i/n`) holds a part of the cases: stored alone, it would read
    # as a whole run. `sv parity:merge` stores the merged run instead. (Not part of ParityRunLike: older runs lack it.)
    shard = getattr(run, "shard", None)
    if shard is not None:
        raise EvidenceError(
            f"parity run of {run.started_at} is shard {shard.index}/{shard.count} of a sharded run, not evidence by "
            "itself; merge every shard's reports with `sv parity:merge`, which records the whole run"
        )
    tallies = {tally.feature: tally for tally in run.by_feature()}
    features = sorted(set(run.features) | set(tallies))
    missing = [feature for feature in features if not run.fingerprints.get(feature)]
    if missing:
        raise EvidenceError(
            f"parity run of {run.started_at}: no code fingerprint for {', '.join(map(repr, missing))} in "
            "run.fingerprints; compute it with exthost.evidence.fingerprint.code_fingerprint(feature, settings)"
        )
    ids = ids or RandomIds()
    started, finished = _instant(run.started_at), _instant(run.finished_at)
    written: list[str] = []
    with transaction(session_factory_of(source)) as db:
        for feature in features:
            names = (recordings or {}).get(feature, ())
            passed: set[str] = set()
            failed: set[str] = set()
            unsure: set[str] = set()
            for case in run.cases:
                if case.feature == feature and case.kind == "recorded":
                    verdict = getattr(case, "verdict", "match" if case.match else "mismatch")
                    bucket = {"match": passed, "inconclusive": unsure}.get(verdict, failed)
                    bucket.add(_corpus_name(case.source, names))
            tally = tallies.get(feature)
            measured = run.coverage.get(feature)
            row_id = ids.new("pr")
            db.execute(
                insert(parity_runs).values(
                    id=row_id,
                    feature=feature,
                    code=run.fingerprints[feature],
                    sides=run.sides,
                    started_at=started,
                    finished_at=finished,
                    recorded_cases=tally.cases.get("recorded", 0) if tally else 0,
                    recorded_matched=tally.matched.get("recorded", 0) if tally else 0,
                    recordings_matched=json.dumps(sorted(passed - failed - unsure)),
                    recordings_inconclusive=json.dumps(sorted(unsure - failed)),
                    generated_cases=tally.cases.get("generated", 0) if tally else 0,
                    generated_matched=tally.matched.get("generated", 0) if tally else 0,
                    mismatched_cases=tally.mismatched_cases if tally else 0,
                    compared_requests=tally.compared_requests if tally else 0,
                    report_dir=str(report_dir),
                    coverage=json.dumps(measured.evidence(), sort_keys=True) if measured is not None else None,
                )
            )
            written.append(row_id)
    return written


def evidence_outcome(outcome: str) -> str:
    """The outcome a shadow sample is kept under in `sv_shadow_evidence`: a skip's reason is dropped (nothing was
    compared, and `sv_shadow_counts` keeps the reasons; "skipped:writes-outside-database" would not fit the column)."""
    return "skipped" if outcome.startswith("skipped:") else outcome


def unexplained(outcome: str) -> bool:
    """Whether a shadow outcome is an unexplained difference: a mismatch, a candidate error, or in canary mode a
    plugin failure legacy had to cover (`fallback:exception`, `fallback:status-5xx`, `canary_error`)."""
    head, _, why = outcome.partition(":")
    return head in ("mismatch", "candidate_error", "canary_error") or (
        head == "fallback" and why != "plugin-unavailable"
    )


def add_shadow_evidence(db: Session, deltas: Mapping[tuple[str, str, str], int], now: datetime) -> None:
    """Add (feature, code, outcome) counts to `sv_shadow_evidence` in the caller's transaction; every worker adds
    its own, so they sum up."""
    folded = Counter[tuple[str, str, str]]()
    for (feature, code, outcome), n in deltas.items():
        folded[(feature, code, evidence_outcome(outcome))] += n
    dialect = db.get_bind().dialect.name
    for (feature, code, outcome), n in sorted(folded.items()):
        statement = upsert_insert(dialect, shadow_evidence).values(
            feature=feature, code=code, outcome=outcome, count=n, updated_at=now
        )
        db.execute(
            statement.on_conflict_do_update(
                index_elements=["feature", "code", "outcome"],
                set_={"count": shadow_evidence.c.count + statement.excluded.count, "updated_at": now},
            )
        )


# --- reading evidence ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Evidence:
    """What was gathered on one code fingerprint of a feature: harness runs summed, shadow samples by outcome."""

    feature: str
    code: str
    runs: int = 0
    recordings_matched: frozenset[str] = frozenset()
    # Recorded sessions replayed inconclusively (and never matched) on this code: neither pass nor fail.
    recordings_inconclusive: frozenset[str] = frozenset()
    recorded_cases: int = 0
    recorded_matched: int = 0
    generated_cases: int = 0
    generated_matched: int = 0
    mismatched_cases: int = 0
    compared_requests: int = 0
    shadow: Mapping[str, int] = field(default_factory=dict)
    last_run: datetime | None = None
    # Branch coverage of the runs that measured it, unioned: per side, (branches, covered); empty when none did.
    coverage: Mapping[str, tuple[int, int]] = field(default_factory=dict)

    def branch_coverage(self, side: str = "legacy") -> float | None:
        """The percentage of `side`'s branches the runs on this code reached together; None when none measured."""
        if side not in self.coverage:
            return None
        branches, covered = self.coverage[side]
        return 100.0 * covered / branches if branches else 100.0

    @property
    def shadow_mismatches(self) -> int:
        return sum(n for outcome, n in self.shadow.items() if unexplained(outcome))

    @property
    def shadow_samples(self) -> int:
        return sum(self.shadow.values())

    @property
    def mismatches(self) -> int:
        """Unexplained differences since the code changed: mismatched parity cases plus shadow mismatches."""
        return self.mismatched_cases + self.shadow_mismatches

    def to_json(self) -> dict[str, Any]:
        return {
            "feature": self.feature,
            "code": self.code,
            "runs": self.runs,
            "recordingsMatched": sorted(self.recordings_matched),
            "recordingsInconclusive": sorted(self.recordings_inconclusive),
            "recordedCases": self.recorded_cases,
            "recordedMatched": self.recorded_matched,
            "generatedCases": self.generated_cases,
            "generatedMatched": self.generated_matched,
            "mismatchedCases": self.mismatched_cases,
            "comparedRequests": self.compared_requests,
            "shadow": dict(sorted(self.shadow.items())),
            "shadowMismatches": self.shadow_mismatches,
            "mismatches": self.mismatches,
            "lastRun": self.last_run.isoformat() if self.last_run else None,
            "coverage": {
                side: {"branches": branches, "coveredBranches": covered, "percent": self.branch_coverage(side)}
                for side, (branches, covered) in sorted(self.coverage.items())
            },
        }


def evidence_for(source: SessionSource, feature: str, code: str) -> Evidence:
    """The evidence of `feature` gathered on code fingerprint `code`: its parity runs summed (A/A runs ignored) and
    its shadow samples by outcome."""
    sums = Counter[str]()
    names: set[str] = set()
    unsure: set[str] = set()
    # Per side: (finished, branches, what measured them, covered arcs) of each run that measured coverage.
    measured: dict[str, list[tuple[datetime, int, str, set[str]]]] = {}
    runs = 0
    last: datetime | None = None
    with session_factory_of(source)() as db:
        query = select(parity_runs).where(
            parity_runs.c.feature == feature, parity_runs.c.code == code, parity_runs.c.sides != AA_SIDES
        )
        for row in db.execute(query):
            data = row._mapping
            runs += 1
            for column in (
                "recorded_cases",
                "recorded_matched",
                "generated_cases",
                "generated_matched",
                "mismatched_cases",
                "compared_requests",
            ):
                sums[column] += int(data[column])
            names.update(json.loads(data["recordings_matched"]))
            unsure.update(json.loads(data["recordings_inconclusive"] or "[]"))
            finished = _instant(data["finished_at"])
            for side, found in json.loads(data["coverage"] or "{}").items():
                entry = (finished, int(found["branches"]), str(found.get("measure", "")), set(found["covered"]))
                measured.setdefault(side, []).append(entry)
            last = finished if last is None or finished > last else last
        shadow = {
            str(outcome): int(n)
            for outcome, n in db.execute(
                select(shadow_evidence.c.outcome, func.sum(shadow_evidence.c.count))
                .where(shadow_evidence.c.feature == feature, shadow_evidence.c.code == code)
                .group_by(shadow_evidence.c.outcome)
            )
        }
    return Evidence(
        feature=feature,
        code=code,
        runs=runs,
        recordings_matched=frozenset(names),
        recordings_inconclusive=frozenset(unsure - names),
        recorded_cases=sums["recorded_cases"],
        recorded_matched=sums["recorded_matched"],
        generated_cases=sums["generated_cases"],
        generated_matched=sums["generated_matched"],
        mismatched_cases=sums["mismatched_cases"],
        compared_requests=sums["compared_requests"],
        shadow=dict(sorted(shadow.items())),
        last_run=last,
        coverage={side: _union(measured[side]) for side in sorted(measured)},
    )


def _union(runs: list[tuple[datetime, int, str, set[str]]]) -> tuple[int, int]:
    """(branches, covered) of the runs measured like the latest one (same branch count, same coverage.py and
    Python), their covered arcs unioned; never more covered than there are branches."""
    _, branches, measure, _ = max(runs, key=lambda run: (run[0], run[1]))
    covered: set[str] = set()
    for _, count, how, arcs in runs:
        if (count, how) == (branches, measure):
            covered |= arcs
    return branches, min(len(covered), branches)


# --- the gate ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Thresholds:
    """How much evidence a switch to plugin or retired needs (settings PARITY_GATE_*)."""

    min_generated: int = 500
    all_recordings: bool = True
    max_mismatches: int = 0
    min_branch_coverage: float = 0.0
    max_inconclusive_percent: float = 10.0

    @classmethod
    def from_settings(cls, settings: Settings) -> Thresholds:
        return cls(
            min_generated=settings.PARITY_GATE_MIN_GENERATED,
            all_recordings=settings.PARITY_GATE_ALL_RECORDINGS,
            max_mismatches=settings.PARITY_GATE_MAX_MISMATCHES,
            min_branch_coverage=settings.PARITY_GATE_MIN_BRANCH_COVERAGE,
            max_inconclusive_percent=settings.PARITY_GATE_MAX_INCONCLUSIVE_PERCENT,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "minGenerated": self.min_generated,
            "allRecordings": self.all_recordings,
            "maxMismatches": self.max_mismatches,
            "minBranchCoverage": self.min_branch_coverage,
            "maxInconclusivePercent": self.max_inconclusive_percent,
        }


@dataclass(frozen=True)
class GateDecision:
    """Whether the evidence suffices; when not, every shortfall in words."""

    shortfalls: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.shortfalls

    def verdict(self, mode: str = "plugin") -> str:
        return f"ready for {mode}" if self.ok else "; ".join(self.shortfalls)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 'es' if word.endswith('ch') else 's'}"


def _names(names: Sequence[str]) -> str:
    # Shown by path: the content digest (`recording_name`) is for matching, not for reading.
    shown = ", ".join(name.split("#sha256:")[0] for name in names[:_SHOWN_NAMES])
    return shown + (f" and {len(names) - _SHOWN_NAMES} more" if len(names) > _SHOWN_NAMES else "")


def gate(evidence: Evidence, corpus: Iterable[str], thresholds: Thresholds) -> GateDecision:
    """The switch gate: ok when (if `all_recordings`) the corpus is not empty and every recorded session in it has
    matched on this code (or replayed inconclusively, at most `max_inconclusive_percent` of them), at least
    `min_generated` generated cases ran, the runs together reached at least `min_branch_coverage` percent of the
    legacy code's branches, and there are at most `max_mismatches` unexplained mismatches (parity cases and shadow
    samples); otherwise every shortfall. No I/O."""
    shortfalls: list[str] = []
    if thresholds.all_recordings:
        names = sorted(set(corpus))
        unsure = [
            name
            for name in names
            if name in evidence.recordings_inconclusive and name not in evidence.recordings_matched
        ]
        missing = [name for name in names if name not in evidence.recordings_matched and name not in unsure]
        if not names:
            shortfalls.append("no recorded sessions in the corpus: at least one is needed, and every one must match")
        elif missing:
            verb = "has" if len(missing) == 1 else "have"
            shortfalls.append(
                f"{len(missing)} of {_plural(len(names), 'recorded session')} {verb} not matched on this code: "
                f"{_names(missing)}"
            )
        if names and 100.0 * len(unsure) / len(names) > thresholds.max_inconclusive_percent:
            shortfalls.append(
                f"{len(unsure)} of {_plural(len(names), 'recorded session')} replayed inconclusively on this code "
                f"({100.0 * len(unsure) / len(names):.0f}%, at most {thresholds.max_inconclusive_percent:g}% "
                f"allowed): {_names(unsure)}"
            )
    if evidence.generated_cases < thresholds.min_generated:
        shortfalls.append(f"{_plural(evidence.generated_cases, 'generated case')}, {thresholds.min_generated} needed")
    if thresholds.min_branch_coverage > 0:
        reached = evidence.branch_coverage("legacy")
        needed = f"{thresholds.min_branch_coverage:g}% needed"
        if reached is None:
            shortfalls.append(f"branch coverage of the legacy code not measured on this code ({needed})")
        elif reached < thresholds.min_branch_coverage:
            branches, covered = evidence.coverage["legacy"]
            shortfalls.append(
                f"the parity cases reached {reached:.1f}% of the legacy code's branches ({covered} of {branches}), "
                f"{needed}"
            )
    if evidence.mismatches > thresholds.max_mismatches:
        allowed = f", at most {thresholds.max_mismatches} allowed" if thresholds.max_mismatches else ""
        shortfalls.append(
            f"{_plural(evidence.mismatches, 'mismatch')} since the last code change "
            f"({_plural(evidence.mismatched_cases, 'parity case')}, "
            f"{_plural(evidence.shadow_mismatches, 'shadow sample')}){allowed}"
        )
    return GateDecision(tuple(shortfalls))


@dataclass(frozen=True)
class Assessment:
    """One feature's code in place, its corpus, the evidence gathered on that code and the gate's decision."""

    feature: str
    code: str
    corpus: tuple[str, ...]
    evidence: Evidence
    thresholds: Thresholds
    decision: GateDecision

    def to_json(self) -> dict[str, Any]:
        return {
            "feature": self.feature,
            "code": self.code,
            "corpus": list(self.corpus),
            "evidence": self.evidence.to_json(),
            "thresholds": self.thresholds.to_json(),
            "gate": {"ok": self.decision.ok, "shortfalls": list(self.decision.shortfalls)},
        }


def assess(source: SessionSource, feature: str, settings: Settings, *, code: str | None = None) -> Assessment:
    """The gate's decision for `feature` on the code in place (`code`, else fingerprinted now from disk)."""
    code = code or code_fingerprint(feature, settings)
    corpus = corpus_names(feature, settings)
    evidence = evidence_for(source, feature, code)
    thresholds = Thresholds.from_settings(settings)
    return Assessment(feature, code, corpus, evidence, thresholds, gate(evidence, corpus, thresholds))
