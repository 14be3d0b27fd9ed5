"""What a parity run found: exchanges compared, cases, runs, and the per-route tallies the reports and the gate read.

Plain frozen data, no I/O: the harness builds it, the reports render it, the evidence store sums it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from exthost.evidence.compare import CapturedRequest, CapturedResponse, Comparison, Difference
from exthost.evidence.har import har_document, har_entry
from parity_tests.branch_coverage import FeatureCoverage
from parity_tests.state import CASE_START

Kind = Literal["recorded", "generated"]
KINDS: tuple[Kind, ...] = ("recorded", "generated")
# The route a difference found only in the state at the end of a case is reported on (no request is to blame).
SESSION_END = "(end of case)"


@dataclass(frozen=True)
class Exchange:
    """One request sent to both sides and the two answers, compared; `state` holds differences in the stored state
    right after this request (checked after every request that may write)."""

    index: int
    feature: str
    route: str
    request: CapturedRequest
    legacy: CapturedResponse
    plugin: CapturedResponse
    comparison: Comparison
    state: tuple[Difference, ...] = ()

    @property
    def method(self) -> str:
        return self.request.method

    @property
    def differences(self) -> tuple[Difference, ...]:
        """Answer differences, then state differences."""
        return self.comparison.differences + self.state

    @property
    def match(self) -> bool:
        return not self.differences

    def to_json(self) -> dict[str, Any]:
        """JSON data for the reports: the request and both answers as HAR entries, and every difference."""
        return {
            "index": self.index,
            "feature": self.feature,
            "method": self.method,
            "route": self.route,
            "path": self.request.path,
            "match": self.match,
            "differences": [difference.to_json() for difference in self.comparison.differences],
            "stateDifferences": [difference.to_json() for difference in self.state],
            "rulesApplied": list(self.comparison.rules_applied),
            "legacy": har_entry(self.request, self.legacy, started=CASE_START, time_ms=0.0),
            "plugin": har_entry(self.request, self.plugin, started=CASE_START, time_ms=0.0),
        }


@dataclass(frozen=True)
class Reproduction:
    """A failing case made small: a HAR document that replays it and a pytest test that asserts parity on it."""

    har: Mapping[str, Any]
    pytest_case: str


@dataclass(frozen=True)
class CaseResult:
    """One case (a recorded session or a generated sequence) run on both sides from identical state.

    `end_state` holds differences in the state at the end that no single request's check had already reported.
    `error` is set when the case could not be run at all (an unreadable recording, a harness failure); it counts
    as a mismatch, so a broken harness never reads as parity.
    """

    case_id: str
    kind: Kind
    feature: str
    source: str
    exchanges: tuple[Exchange, ...] = ()
    end_state: tuple[Difference, ...] = ()
    error: str | None = None
    seconds: float = 0.0
    reproduction: Reproduction | None = None

    @property
    def match(self) -> bool:
        return self.error is None and not self.end_state and all(exchange.match for exchange in self.exchanges)

    @property
    def mismatches(self) -> tuple[Exchange, ...]:
        return tuple(exchange for exchange in self.exchanges if not exchange.match)

    def first_mismatch(self) -> Exchange | None:
        return next(iter(self.mismatches), None)

    def har(self, creator_version: str) -> dict[str, Any]:
        """The case's requests with the legacy answers, as a HAR document that replays it."""
        entries = [
            har_entry(exchange.request, exchange.legacy, started=CASE_START, time_ms=0.0) for exchange in self.exchanges
        ]
        return har_document(entries, creator_version=creator_version)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.case_id,
            "kind": self.kind,
            "feature": self.feature,
            "source": self.source,
            "match": self.match,
            "seconds": round(self.seconds, 4),
            "requests": len(self.exchanges),
            "error": self.error,
            "endStateDifferences": [difference.to_json() for difference in self.end_state],
            "mismatches": [exchange.to_json() for exchange in self.mismatches],
        }
        if self.reproduction is not None:
            data["reproduction"] = {"har": dict(self.reproduction.har), "pytest": self.reproduction.pytest_case}
        return data


@dataclass
class RouteTally:
    """Per feature, method and route: requests compared by kind, and how many of them differed."""

    feature: str
    method: str
    route: str
    compared: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    mismatches: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))

    @property
    def total(self) -> int:
        return sum(self.compared.values())

    @property
    def mismatched(self) -> int:
        return sum(self.mismatches.values())

    def to_json(self) -> dict[str, Any]:
        return {
            "feature": self.feature,
            "method": self.method,
            "route": self.route,
            "compared": dict(self.compared),
            "mismatches": dict(self.mismatches),
        }


@dataclass(frozen=True)
class FeatureTally:
    """Per feature: cases run and matched by kind (what the switch gate reads)."""

    feature: str
    cases: Mapping[str, int]
    matched: Mapping[str, int]
    mismatched_cases: int
    compared_requests: int

    def to_json(self) -> dict[str, Any]:
        return {
            "feature": self.feature,
            "cases": dict(self.cases),
            "matched": dict(self.matched),
            "mismatchedCases": self.mismatched_cases,
            "comparedRequests": self.compared_requests,
        }


def route_tallies(cases: Iterable[CaseResult]) -> list[RouteTally]:
    """Requests compared and mismatched per (feature, method, route), sorted; end-of-case state differences and
    harness errors count on the pseudo-route SESSION_END."""
    tallies: dict[tuple[str, str, str], RouteTally] = {}

    def tally(feature: str, method: str, route: str) -> RouteTally:
        key = (feature, method, route)
        if key not in tallies:
            tallies[key] = RouteTally(feature, method, route)
        return tallies[key]

    for case in cases:
        for exchange in case.exchanges:
            found = tally(case.feature, exchange.method, exchange.route)
            found.compared[case.kind] += 1
            found.mismatches[case.kind] += 0 if exchange.match else 1
        if case.end_state or case.error is not None:
            found = tally(case.feature, "*", SESSION_END)
            found.compared[case.kind] += 1
            found.mismatches[case.kind] += 1
    return [tallies[key] for key in sorted(tallies)]


def feature_tallies(cases: Iterable[CaseResult]) -> list[FeatureTally]:
    """Cases run and matched per feature and kind, sorted by feature."""
    by_feature: dict[str, list[CaseResult]] = {}
    for case in cases:
        by_feature.setdefault(case.feature, []).append(case)
    tallies = []
    for feature in sorted(by_feature):
        found = by_feature[feature]
        tallies.append(
            FeatureTally(
                feature=feature,
                cases={kind: sum(1 for case in found if case.kind == kind) for kind in KINDS},
                matched={kind: sum(1 for case in found if case.kind == kind and case.match) for kind in KINDS},
                mismatched_cases=sum(1 for case in found if not case.match),
                compared_requests=sum(len(case.exchanges) for case in found),
            )
        )
    return tallies


@dataclass(frozen=True)
class ParityRun:
    """Every case of one harness run, with what the run compared (`sides`: "legacy/plugin", or "legacy/legacy" for
    an A/A run), the rules file and, per feature, the code fingerprint both sides had."""

    started_at: str
    finished_at: str
    sides: str
    features: tuple[str, ...]
    cases: tuple[CaseResult, ...]
    rules_file: str
    rules_unused: tuple[str, ...] = ()
    fingerprints: Mapping[str, str] = field(default_factory=dict)
    version: str = "0"
    # Per feature, the branches of each side's code the cases reached; empty when not measured (`coverage_note`).
    coverage: Mapping[str, FeatureCoverage] = field(default_factory=dict)
    coverage_note: str | None = None
    # What the generation of each share of cases said: every difference found, why it ended.
    notes: tuple[str, ...] = ()

    @property
    def aa(self) -> bool:
        """An A/A run: legacy against legacy, to show which noise rules are needed."""
        return self.sides == "legacy/legacy"

    @property
    def mismatched(self) -> tuple[CaseResult, ...]:
        return tuple(case for case in self.cases if not case.match)

    @property
    def ok(self) -> bool:
        """At least one case ran and none differed; in an A/A run, also no rule went unused (an unneeded rule hides
        real differences). A run of nothing proves nothing."""
        return bool(self.cases) and not self.mismatched and not (self.aa and self.rules_unused)

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1

    def routes(self) -> list[RouteTally]:
        return route_tallies(self.cases)

    def by_feature(self) -> list[FeatureTally]:
        return feature_tallies(self.cases)

    def to_json(self) -> dict[str, Any]:
        """The whole run as JSON data (what `report.json` holds)."""
        return {
            "version": self.version,
            "startedAt": self.started_at,
            "finishedAt": self.finished_at,
            "sides": self.sides,
            "features": list(self.features),
            "ok": self.ok,
            "rulesFile": self.rules_file,
            "rulesUnused": list(self.rules_unused),
            "fingerprints": dict(self.fingerprints),
            "coverage": {feature: found.to_json() for feature, found in sorted(self.coverage.items())},
            "coverageNote": self.coverage_note,
            "notes": list(self.notes),
            "byFeature": [tally.to_json() for tally in self.by_feature()],
            "routes": [tally.to_json() for tally in self.routes()],
            "cases": [case.to_json() for case in self.cases],
        }
