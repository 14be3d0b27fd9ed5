"""What a parity run found: exchanges compared, cases, runs, and the per-route tallies the reports and the gate read.

Plain frozen data, no I/O: the harness builds it, the reports render it, the evidence store sums it. `report.json`
(`ParityRun.to_json`) reads back with `ParityRun.from_json`, which is how `sv parity:merge` puts shards together: a
mismatched exchange comes back whole (its request and answers from their HAR entries, redacted as written), a
matching one as its index, feature, method, route and the rules applied to it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from exthost.evidence.compare import MISSING, CapturedRequest, CapturedResponse, Comparison, Difference
from exthost.evidence.har import har_document, har_entry, read_har
from parity_tests.branch_coverage import FeatureCoverage
from parity_tests.state import CASE_START

Kind = Literal["recorded", "generated"]
KINDS: tuple[Kind, ...] = ("recorded", "generated")
# The route a difference found only in the state at the end of a case is reported on (no request is to blame).
SESSION_END = "(end of case)"


def difference_from_json(data: Mapping[str, Any]) -> Difference:
    """A `Difference` from its `to_json` form (the side named by `"missing"` had nothing there)."""
    missing = data.get("missing")
    return Difference(
        str(data["pointer"]),
        MISSING if missing == "legacy" else data["legacy"],
        MISSING if missing == "plugin" else data["plugin"],
    )


def _answer_of(entry: Mapping[str, Any]) -> tuple[CapturedRequest, CapturedResponse]:
    ((request, response),) = read_har({"log": {"entries": [dict(entry)]}})
    return request, response or CapturedResponse(0)


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

    def brief_json(self) -> dict[str, Any]:
        """What a report keeps of every exchange, matching or not: enough to tally it per route again."""
        return {
            "index": self.index,
            "feature": self.feature,
            "method": self.method,
            "route": self.route,
            "match": self.match,
            "rulesApplied": list(self.comparison.rules_applied),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Exchange:
        """An exchange from its `to_json` form, or from its `brief_json` form (a matching exchange: its request and
        answers were not kept, so they come back empty)."""
        feature, method, route = str(data["feature"]), str(data["method"]), str(data["route"])
        if "legacy" in data:
            request, legacy = _answer_of(data["legacy"])
            plugin = _answer_of(data["plugin"])[1]
        else:
            request, legacy, plugin = CapturedRequest(method, ""), CapturedResponse(0), CapturedResponse(0)
        comparison = Comparison(
            feature,
            method,
            route,
            tuple(difference_from_json(found) for found in data.get("differences", ())),
            tuple(data.get("rulesApplied", ())),
        )
        state = tuple(difference_from_json(found) for found in data.get("stateDifferences", ()))
        return cls(int(data["index"]), feature, route, request, legacy, plugin, comparison, state)


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
    `inconclusive` is set (the reason) when both sides agreed but the replay proves little: legacy did not answer a
    recorded session as the recording says (state moved under it, a snapshot missing). Such a case is neither a
    match nor a mismatch; a difference found on the way is still a mismatch (both sides got the same requests).
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
    inconclusive: str | None = None

    @property
    def match(self) -> bool:
        """Both sides agreed on every answer and the state (an inconclusive case agreed too; see `verdict`)."""
        return self.error is None and not self.end_state and all(exchange.match for exchange in self.exchanges)

    @property
    def verdict(self) -> str:
        """ "match", "mismatch" or "inconclusive" (agreed, on a replay that proves little)."""
        if not self.match:
            return "mismatch"
        return "inconclusive" if self.inconclusive is not None else "match"

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
            "verdict": self.verdict,
            "inconclusive": self.inconclusive,
            "seconds": round(self.seconds, 4),
            "requests": len(self.exchanges),
            "error": self.error,
            "endStateDifferences": [difference.to_json() for difference in self.end_state],
            "mismatches": [exchange.to_json() for exchange in self.mismatches],
            "exchanges": [exchange.brief_json() for exchange in self.exchanges],
        }
        if self.reproduction is not None:
            data["reproduction"] = {"har": dict(self.reproduction.har), "pytest": self.reproduction.pytest_case}
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CaseResult:
        """A case from its `to_json` form: mismatched exchanges whole, the others brief (`Exchange.from_json`)."""
        whole = {int(found["index"]): Exchange.from_json(found) for found in data.get("mismatches", ())}
        briefs = data.get("exchanges")
        exchanges = (
            tuple(whole.get(int(found["index"])) or Exchange.from_json(found) for found in briefs)
            if briefs is not None
            else tuple(whole.values())
        )
        kept = data.get("reproduction")
        kind = str(data["kind"])
        if kind not in KINDS:
            raise ValueError(f"case {data.get('id')!r}: kind {kind!r} is not one of {', '.join(KINDS)}")
        return cls(
            case_id=str(data["id"]),
            kind=kind,  # narrowed to a Kind by the check against KINDS above
            feature=str(data["feature"]),
            source=str(data["source"]),
            exchanges=exchanges,
            end_state=tuple(difference_from_json(found) for found in data.get("endStateDifferences", ())),
            error=data.get("error"),
            seconds=float(data.get("seconds", 0.0)),
            reproduction=Reproduction(kept["har"], str(kept["pytest"])) if kept is not None else None,
            inconclusive=data.get("inconclusive"),
        )


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
    # Agreed cases whose replay proved little (`CaseResult.inconclusive`), by kind: not in `matched`.
    inconclusive: Mapping[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "feature": self.feature,
            "cases": dict(self.cases),
            "matched": dict(self.matched),
            "mismatchedCases": self.mismatched_cases,
            "comparedRequests": self.compared_requests,
            "inconclusive": dict(self.inconclusive),
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
                matched={
                    kind: sum(1 for case in found if case.kind == kind and case.verdict == "match") for kind in KINDS
                },
                mismatched_cases=sum(1 for case in found if not case.match),
                compared_requests=sum(len(case.exchanges) for case in found),
                inconclusive={
                    kind: sum(1 for case in found if case.kind == kind and case.verdict == "inconclusive")
                    for kind in KINDS
                },
            )
        )
    return tallies


@dataclass(frozen=True)
class Shard:
    """A run that is shard `index` (1-based) of `count` of one sharded run (`sv parity:run --shard index/count`), and
    what that whole run is: what `sv parity:merge` checks before it puts shards together."""

    index: int
    count: int
    seed: int | None = None
    # Generated cases per feature of the whole run, and the shares they are split into (`count` times --jobs).
    generated: int = 0
    shares: int = 1
    # Every recording of the whole run, by name (`parity_tests.harness.recording_key`), sorted.
    recordings: tuple[str, ...] = ()
    # `sha256:<hex>` of the noise rules file's bytes (its path may differ between CI runners).
    rules_digest: str = ""
    # `sha256:<hex>` of what the recordings replay: each one's bytes and the snapshot it starts from (its folder's
    # name and the time it was taken), so that shards that saw other bytes or snapshots under the same names are
    # not merged.
    inputs_digest: str = ""

    @property
    def label(self) -> str:
        return f"{self.index}/{self.count}"

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "count": self.count,
            "seed": self.seed,
            "generated": self.generated,
            "shares": self.shares,
            "recordings": list(self.recordings),
            "rulesDigest": self.rules_digest,
            "inputsDigest": self.inputs_digest,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Shard:
        seed = data.get("seed")
        return cls(
            index=int(data["index"]),
            count=int(data["count"]),
            seed=None if seed is None else int(seed),
            generated=int(data.get("generated", 0)),
            shares=int(data.get("shares", 1)),
            recordings=tuple(str(name) for name in data.get("recordings", ())),
            rules_digest=str(data.get("rulesDigest", "")),
            inputs_digest=str(data.get("inputsDigest", "")),
        )


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
    # Set on a run that is one shard of a sharded run; such a run is no evidence by itself (`sv parity:merge`).
    shard: Shard | None = None
    # On a run merged from shards (`sv parity:merge`): the shards' report folders, in shard order.
    merged_from: tuple[str, ...] = ()
    # The database the cases ran on: "sqlite" or "postgresql" (reports of earlier versions may say
    # "postgresql; snapshot replays on sqlite").
    database: str = "sqlite"

    @property
    def aa(self) -> bool:
        """An A/A run: legacy against legacy, to show which noise rules are needed."""
        return self.sides == "legacy/legacy"

    @property
    def mismatched(self) -> tuple[CaseResult, ...]:
        return tuple(case for case in self.cases if not case.match)

    @property
    def inconclusive(self) -> tuple[CaseResult, ...]:
        return tuple(case for case in self.cases if case.verdict == "inconclusive")

    @property
    def ok(self) -> bool:
        """At least one case matched and none differed; in an A/A run, also no rule went unused (an unneeded rule
        hides real differences). A run of nothing (or of inconclusive replays only) proves nothing."""
        matched = any(case.verdict == "match" for case in self.cases)
        # A shard may get no case of a small run (or only inconclusive ones): the merged run is judged whole.
        return (matched or self.shard is not None) and not self.mismatched and not (self.aa and self.rules_unused)

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
            "shard": self.shard.to_json() if self.shard is not None else None,
            "mergedFrom": list(self.merged_from),
            "database": self.database,
            "byFeature": [tally.to_json() for tally in self.by_feature()],
            "routes": [tally.to_json() for tally in self.routes()],
            "cases": [case.to_json() for case in self.cases],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ParityRun:
        """A run from its `to_json` form (what `report.json` holds); `byFeature`, `routes` and `ok` are derived from
        the cases again. Raises KeyError, TypeError or ValueError on data that is not such a form."""
        shard = data.get("shard")
        return cls(
            started_at=str(data["startedAt"]),
            finished_at=str(data["finishedAt"]),
            sides=str(data["sides"]),
            features=tuple(str(feature) for feature in data["features"]),
            cases=tuple(CaseResult.from_json(case) for case in data["cases"]),
            rules_file=str(data["rulesFile"]),
            rules_unused=tuple(str(rule) for rule in data.get("rulesUnused", ())),
            fingerprints={str(feature): str(code) for feature, code in data.get("fingerprints", {}).items()},
            version=str(data.get("version", "0")),
            coverage={
                str(feature): FeatureCoverage.from_json(found) for feature, found in data.get("coverage", {}).items()
            },
            coverage_note=data.get("coverageNote"),
            notes=tuple(str(note) for note in data.get("notes", ())),
            shard=Shard.from_json(shard) if shard is not None else None,
            merged_from=tuple(str(folder) for folder in data.get("mergedFrom", ())),
            database=str(data.get("database", "sqlite")),
        )
