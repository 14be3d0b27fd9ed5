"""Shards of one parity run put back together: what `sv parity:merge` reads, checks and makes.

Each shard (`sv parity:run --shard i/n`) writes its `report.json`, which says which shard it is and what the whole
run is (`parity_tests.outcome.Shard`). `merge_reports` reads the shards' reports, refuses any set that is not every
shard of one run, once, and returns the `ParityRun` one unsharded run would have made: every case in the unsharded
order, branch coverage as the union of the arcs each side covered, the shards' generation notes (prefixed by their
shard), and as unused rules the rules no shard used. The caller writes the reports and the evidence record.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from parity_tests.branch_coverage import FeatureCoverage, FileCoverage, RouteCoverage, SideCoverage
from parity_tests.outcome import CaseResult, ParityRun, Shard

REPORT = "report.json"
# Uncovered lines whose text a merged file keeps, as `branch_coverage` keeps them for one run.
_SHOWN_LINES = 60
_NUMBER = re.compile(r":(\d+)\+?$")  # `generated:<feature>:<n>`, or `<n>+` for a share that failed as a whole
_SHOWN_VALUE = 160


class MergeError(Exception):
    """Shard reports that cannot be merged; the message names the folder and the field, and what to do."""


@dataclass(frozen=True)
class ShardReport:
    """One shard's report folder and the run its `report.json` holds."""

    folder: Path
    run: ParityRun
    shard: Shard

    @property
    def where(self) -> str:
        return str(self.folder / REPORT)


def read_shard(folder: Path) -> ShardReport:
    """The shard run whose reports are in `folder`; MergeError when there is none, or it is not a shard's."""
    path = folder / REPORT
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise MergeError(
            f"{str(folder)!r} holds no {REPORT}: pass the --report-dir of each `sv parity:run --shard i/n`"
        ) from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise MergeError(f"{str(path)!r} cannot be read as JSON: {exc}; copy the shard's reports again") from None
    if not isinstance(data, dict):
        raise MergeError(f"{str(path)!r} is not a parity report (a JSON object); pass a `sv parity:run` report folder")
    if data.get("shard") is None:
        merged = " (it was merged from shards already)" if data.get("mergedFrom") else ""
        raise MergeError(
            f"{str(path)!r} is not a shard report: its field 'shard' is {data.get('shard')!r}{merged}; only the "
            "reports of `sv parity:run --shard i/n` runs can be merged"
        )
    try:
        run = ParityRun.from_json(data)
    except (KeyError, TypeError, ValueError) as exc:
        raise MergeError(
            f"{str(path)!r} is not a parity report this version can read ({type(exc).__name__}: {exc}); run the "
            "shards again with this version"
        ) from None
    assert run.shard is not None  # checked on the JSON above
    return ShardReport(folder, run, run.shard)


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _SHOWN_VALUE else text[: _SHOWN_VALUE - 1] + "…"


def _facts(report: ShardReport) -> dict[str, Any]:
    """What every shard of one run has alike, by the report.json field that holds it."""
    run, shard = report.run, report.shard
    facts: dict[str, Any] = {
        "version": run.version,
        "sides": run.sides,
        "database": run.database,
        "features": run.features,
        "fingerprints": dict(sorted(run.fingerprints.items())),
        "shard.count": shard.count,
        "shard.seed": shard.seed,
        "shard.generated": shard.generated,
        "shard.shares": shard.shares,
        "shard.recordings": shard.recordings,
        "shard.rulesDigest": shard.rules_digest,
        "shard.inputsDigest": shard.inputs_digest,
        # A shard run with --no-coverage beside measured ones would leave the union short without saying so.
        "coverage (measured)": bool(run.coverage),
    }
    for feature, found in sorted(run.coverage.items()):
        facts[f"coverage.{feature}.measure"] = found.measure
    return facts


_HINTS = {
    "fingerprints": "the shards ran on different code; run every shard on one commit",
    "shard.shares": "pass the same --jobs to every shard",
    "database": "run every shard on the same database (PARITY_DATABASE_URL set on all or on none)",
    "shard.recordings": "every shard must see the same recordings",
    "shard.rulesDigest": "every shard must use the same noise rules file",
    "shard.inputsDigest": (
        "every shard must replay the same recordings from the same snapshots (a file's bytes, or the snapshot it "
        "starts from, differ between the shards)"
    ),
    "coverage (measured)": "measure coverage on every shard or on none (--no-coverage)",
}


def _difference(field: str, mine: Any, first: Any) -> str:
    if isinstance(mine, tuple) and isinstance(first, tuple) and field == "shard.recordings":
        extra, lacking = sorted(set(mine) - set(first)), sorted(set(first) - set(mine))
        return f"has {len(mine)} recordings (here only: {_shown(extra)}; there only: {_shown(lacking)})"
    return f"is {_shown(mine)}"


def check_shards(reports: Sequence[ShardReport]) -> None:
    """MergeError unless `reports` are every shard of one run, each once: same code, seed, features, sides, rules,
    generated cases, shares, recordings and coverage measurement, shards 1 to n with none missing or twice."""
    if not reports:
        raise MergeError("no shard reports given: pass the --report-dir of every `sv parity:run --shard i/n`")
    first, expected = reports[0], _facts(reports[0])
    for report in reports[1:]:
        found = _facts(report)
        for field in sorted(set(expected) | set(found)):
            mine, theirs = found.get(field), expected.get(field)
            if mine != theirs:
                hint = _HINTS.get(field, "merge only the shards of one run")
                raise MergeError(
                    f"{report.where!r}: field {field!r} {_difference(field, mine, theirs)}, but in "
                    f"{first.where!r} it is {_shown(theirs)}; {hint}"
                )
    count = first.shard.count
    seen: dict[int, ShardReport] = {}
    for report in reports:
        index = report.shard.index
        if not 1 <= index <= count:
            raise MergeError(f"{report.where!r}: field 'shard.index' is {index!r}, not 1 to {count}; run it again")
        if index in seen:
            raise MergeError(
                f"shard {report.shard.label} given twice: {seen[index].where!r} and {report.where!r}; pass each "
                "shard's report folder once"
            )
        seen[index] = report
    missing = [f"{index}/{count}" for index in range(1, count + 1) if index not in seen]
    if missing:
        raise MergeError(
            f"{len(missing)} of {count} shards missing: {', '.join(missing)}; pass the report folders of all {count} "
            f"shards (given: {', '.join(report.shard.label for report in sorted(reports, key=_index))})"
        )


def _index(report: ShardReport) -> int:
    return report.shard.index


def _ordered(reports: Sequence[ShardReport]) -> list[CaseResult]:
    """Every shard's cases in the order of one unsharded run's plan: the recordings in sorted order (a recorded case
    is `recorded:<name>`), then each feature's generated cases by number (`generated:<feature>:<n>`). A case whose id
    says neither goes after the others of its kind, in shard order."""
    features = {feature: position for position, feature in enumerate(reports[0].run.features)}
    names = {name: position for position, name in enumerate(reports[0].shard.recordings)}
    keyed: list[tuple[tuple[int, int, float], CaseResult]] = []
    for report in reports:
        for case in report.run.cases:
            if case.kind == "recorded":
                position = names.get(case.case_id.removeprefix("recorded:"))
                keyed.append(((0, 0, float("inf") if position is None else position), case))
            else:
                number = _NUMBER.search(case.case_id)
                feature = features.get(case.feature, len(features))
                keyed.append(((1, feature, float(number[1]) if number else float("inf")), case))
    keyed.sort(key=lambda item: item[0])  # stable: ties keep shard order
    return [case for _, case in keyed]


def _in_order(values: Iterable[str], keep: set[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(value for value in values if value in keep))


def _union_file(found: Sequence[FileCoverage], covered_arcs: frozenset[str]) -> FileCoverage:
    """One file's figures over every shard: a branch is missing only if no shard took it, a line only if no shard
    ran it, a function unreached only if no shard reached it."""
    base = found[0]
    missing_branches = set(base.missing_branches).intersection(*(set(other.missing_branches) for other in found))
    missing_lines = set(base.missing_lines).intersection(*(set(other.missing_lines) for other in found))
    unreached = set(base.unreached_functions).intersection(*(set(other.unreached_functions) for other in found))
    covered = sum(1 for arc in covered_arcs if arc.startswith(base.path + ":"))
    wanted = sorted(missing_lines | {start for start, _ in missing_branches})[:_SHOWN_LINES]
    texts = {line: text for other in found for line, text in other.source.items()}
    return FileCoverage(
        path=base.path,
        branches=base.branches,
        covered=min(covered, base.branches),
        statements=base.statements,
        # Each line some shard ran, and the first did not, is one more covered statement.
        covered_statements=base.covered_statements + len(set(base.missing_lines) - missing_lines),
        missing_lines=tuple(sorted(missing_lines)),
        missing_branches=tuple(sorted(missing_branches)),
        unreached_functions=_in_order(base.unreached_functions, unreached),
        source={line: texts[line] for line in wanted if line in texts},
    )


def _union_route(found: Sequence[RouteCoverage]) -> RouteCoverage:
    arcs = frozenset().union(*(route.arcs for route in found))
    handler_arcs = frozenset().union(*(route.handler_arcs for route in found))
    handler = next((route for route in found if route.handler is not None), found[0])
    return RouteCoverage(
        method=found[0].method,
        route=found[0].route,
        reached=len(arcs),
        handler=handler.handler,
        handler_branches=handler.handler_branches,
        handler_covered=len(handler_arcs),
        arcs=arcs,
        handler_arcs=handler_arcs,
    )


def _union_side(name: str, found: Sequence[SideCoverage]) -> SideCoverage:
    covered_arcs = frozenset().union(*(side.covered_arcs for side in found))
    files: dict[str, list[FileCoverage]] = {}
    routes: dict[tuple[str, str], list[RouteCoverage]] = {}
    for side in found:
        for file in side.files:
            files.setdefault(file.path, []).append(file)
        for route in side.routes:
            routes.setdefault((route.method, route.route), []).append(route)
    return SideCoverage(
        side=name,
        files=tuple(_union_file(files[path], covered_arcs) for path in sorted(files)),
        routes=tuple(_union_route(routes[key]) for key in sorted(routes)),
        covered_arcs=covered_arcs,
    )


def union_coverage(found: Sequence[FeatureCoverage]) -> FeatureCoverage:
    """One feature's branch coverage over shards that measured it alike: per side, the union of the covered arcs
    (never a sum or an average), and each file's and route's figures from that union."""
    return FeatureCoverage(
        feature=found[0].feature,
        legacy=_union_side("legacy", [each.legacy for each in found]),
        plugin=_union_side("plugin", [each.plugin for each in found]),
        measure=found[0].measure,
    )


def _coverage_note(reports: Sequence[ShardReport]) -> str | None:
    notes = [(report.shard.label, report.run.coverage_note) for report in reports]
    if len({note for _, note in notes}) == 1:
        return notes[0][1]  # alike in every shard (none, or "not measured (--no-coverage)")
    return "; ".join(f"shard {label}: {note}" for label, note in notes if note is not None)


def merge_runs(reports: Sequence[ShardReport]) -> ParityRun:
    """The run the shards in `reports` make together (checked by `check_shards` first)."""
    check_shards(reports)
    reports = sorted(reports, key=_index)
    first = reports[0].run
    coverage = {
        feature: union_coverage([report.run.coverage[feature] for report in reports])
        for feature in sorted(first.coverage)
    }
    unused = set(first.rules_unused).intersection(*(set(report.run.rules_unused) for report in reports))
    return ParityRun(
        started_at=min((report.run.started_at for report in reports), key=datetime.fromisoformat),
        finished_at=max((report.run.finished_at for report in reports), key=datetime.fromisoformat),
        sides=first.sides,
        features=first.features,
        cases=tuple(_ordered(reports)),
        rules_file=first.rules_file,
        rules_unused=_in_order(first.rules_unused, unused),
        fingerprints=first.fingerprints,
        version=first.version,
        coverage=coverage,
        coverage_note=_coverage_note(reports),
        notes=tuple(f"shard {report.shard.label}: {note}" for report in reports for note in report.run.notes),
        merged_from=tuple(str(report.folder) for report in reports),
        database=first.database,
    )


def merge_reports(folders: Sequence[Path]) -> ParityRun:
    """Read the shard reports in `folders` and merge them into one run; MergeError, naming the folder and the field,
    when they are not every shard of one run, each once."""
    return merge_runs([read_shard(folder) for folder in folders])
