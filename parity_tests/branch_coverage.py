"""Branch coverage as evidence: which of a feature's legacy (and plugin) branches the run's cases reached.

coverage.py measures the feature's code on both sides while the cases run (`Meter`); every request runs under a
dynamic context `<side>|<METHOD> <URL rule>`, so a branch is credited to the side and the route whose request
reached it (legacy and plugin code never share a context, even when one side calls the other's helpers).
`summarise` turns the data (combined across worker processes) into per-feature, per-file and per-route figures.

What counts: the branches inside functions of `legacy_core/<feature>/` and `<PLUGINS_DIR>/<feature>/`. A module's
top-level code runs once at import, before any case, and is left out; so are the feature's OpenAPI document builders
(served by the core route `/openapi.json`) and demo content (`OMITTED`). Web pages of a feature that live in shared
legacy modules (`legacy_core/web/pages.py`) are not measured.
"""

from __future__ import annotations

import inspect
import json
import re
import sys
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import legacy_core
from legacy_core.features import BUILT_IN_SET, FeatureSet

LEGACY_ROOT = Path(legacy_core.__file__).resolve().parent
# Files of a legacy feature package that no feature request runs: the OpenAPI document (built for the core route
# `/openapi.json`) and the demo blog's content.
OMITTED = ("openapi_spec.py", "demo.py")
SIDES = ("legacy", "plugin")
# Uncovered lines shown per file in the reports (all of them are in report.json).
_SHOWN_LINES = 60
_MODULE_LEVEL = ""


class CoverageUnavailable(Exception):
    """Coverage cannot be measured in this process (coverage.py is already measuring it, e.g. under `coverage run`)."""


@dataclass(frozen=True)
class Scope:
    """What is measured: per feature and side, the folder of its code; per legacy route, its view function."""

    folders: Mapping[tuple[str, str], Path]  # (feature, side) -> folder
    # (METHOD, URL rule) -> (feature, file relative to its label, function's qualified name), legacy side only.
    handlers: Mapping[tuple[str, str], tuple[str, str, str]] = field(default_factory=dict)
    # Resolved file path -> the functions in it that define route handlers (a blueprint factory, a route
    # registrar): they run once, when the app is built, before any case, and are not counted.
    registrars: Mapping[str, frozenset[str]] = field(default_factory=dict)
    # (feature, side) -> how reports name its folder, when not `legacy_core/<feature>` or `plugins/<feature>` (a
    # declared feature's legacy package elsewhere: its dotted name as a path).
    tops: Mapping[tuple[str, str], str] = field(default_factory=dict)

    def label(self, feature: str, side: str, path: Path) -> str:
        """A measured file as the reports name it: `legacy_core/<feature>/x.py` or `plugins/<feature>/x.py`."""
        top = self.tops.get((feature, side)) or f"{'legacy_core' if side == 'legacy' else 'plugins'}/{feature}"
        return f"{top}/{path.resolve().relative_to(self.folders[(feature, side)]).as_posix()}"

    def omit(self) -> list[str]:
        return [str(folder / name) for folder in self.folders.values() for name in OMITTED] + [
            str(folder / "**" / "__pycache__" / "*") for folder in self.folders.values()
        ]


def scope_of(
    features: Iterable[str],
    plugins_dir: Path,
    legacy_app: Any = None,
    plugin_apps: Iterable[Any] = (),
    declared: FeatureSet = BUILT_IN_SET,
) -> Scope:
    """The scope of a run over `features` (of `declared`), with the plugins in `plugins_dir` (a feature's plugin
    is the folder of its name); `legacy_app` (a Flask app) names the view function of each of the features' legacy
    routes, and it and `plugin_apps` the functions that define them."""
    chosen = tuple(features)
    folders, tops = {}, {}
    for feature in chosen:
        if feature in BUILT_IN_SET or feature not in declared:
            folders[(feature, "legacy")] = (LEGACY_ROOT / feature).resolve()
        else:
            folders[(feature, "legacy")] = declared[feature].folder()
            tops[(feature, "legacy")] = declared[feature].package.replace(".", "/")
        folders[(feature, "plugin")] = (plugins_dir / feature).resolve()
    scope = Scope(folders, tops=tops)
    handlers: dict[tuple[str, str], tuple[str, str, str]] = {}
    if legacy_app is not None:
        for rule in legacy_app.url_map.iter_rules():
            view = inspect.unwrap(legacy_app.view_functions.get(rule.endpoint, None) or (lambda: None))
            code = getattr(view, "__code__", None)
            if code is None:
                continue
            path = Path(code.co_filename).resolve()
            for feature in chosen:
                if path.is_relative_to(folders[(feature, "legacy")]):
                    for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
                        # coverage.py names a nested function `outer.inner`, without `<locals>`.
                        name = view.__qualname__.replace(".<locals>", "")
                        handlers[(method, rule.rule)] = (feature, scope.label(feature, "legacy", path), name)
    return Scope(folders, handlers, _registrars([legacy_app, *plugin_apps]), tops)


def _registrars(apps: Iterable[Any]) -> dict[str, frozenset[str]]:
    """Per file, the functions that define a view function of `apps` (its enclosing functions, as coverage.py names
    them: `make_blueprint`, `make_blueprint.inner`)."""
    found: dict[str, set[str]] = {}
    for app in apps:
        for view in getattr(app, "view_functions", {}).values():
            function = inspect.unwrap(view)
            code = getattr(function, "__code__", None)
            qualname = getattr(function, "__qualname__", "")
            if code is None or ".<locals>." not in qualname:
                continue
            outer = qualname.rsplit(".<locals>.", 1)[0].replace(".<locals>", "")
            parts = outer.split(".")
            names = found.setdefault(str(Path(code.co_filename).resolve()), set())
            names.update(".".join(parts[: index + 1]) for index in range(len(parts)))
    return {path: frozenset(names) for path, names in found.items()}


def route_shape(path: str) -> str:
    """An OpenAPI path (`{id}`) or a URL rule (`<id>`, `<path:file>`) with every parameter as `*`, so the two match."""
    return re.sub(r"<[^>]+>", "*", re.sub(r"\{[^}]+\}", "*", path))


def context_name(side: str, method: str, route: str) -> str:
    return f"{side}|{method} {route}"


class Meter:
    """coverage.py around a pair's requests, its data saved (with a suffix per process) under `data_dir`."""

    def __init__(self, scope: Scope, data_dir: Path, suffix: str):
        import coverage

        if coverage.Coverage.current() is not None:
            raise CoverageUnavailable("this process is already measured by coverage.py")
        data_dir.mkdir(parents=True, exist_ok=True)
        # The data is kept in memory while the cases run and written once, at `stop`: every request switches the
        # context, which hands coverage.py's tracer data over to its SQLite store, and a store on disk opens and
        # closes its file each time (about a third of a millisecond per request).
        self.coverage = coverage.Coverage(
            data_file=None,
            branch=True,
            source=[str(folder) for folder in scope.folders.values()],
            omit=scope.omit(),
            config_file=False,
        )
        self.scope = scope
        self.data_file = data_dir / f"coverage.{suffix}"
        self.marker = data_dir / f"saved.{suffix}"
        self.running = False

    def start(self) -> None:
        self.running = True

    @contextmanager
    def request(self, side: str, method: str, route: str) -> Iterator[None]:
        """Code run inside is measured and credited to `side` and the route. The tracer runs only inside: the harness's
        own work between requests (generation, resets, state checks) runs at full speed."""
        if not self.running:
            yield
            return
        self.coverage.start()
        self.coverage.switch_context(context_name(side, method, route))
        try:
            yield
        finally:
            self.coverage.stop()

    def thin_routes(self, feature: str) -> dict[tuple[str, str], int]:
        """Where the evidence on `feature` is thin so far: per legacy route (METHOD, `route_shape`), how many
        branches no case took in the functions its requests ran, and in its view function (a route never requested
        counts its view function's branches, plus one)."""
        from coverage.exceptions import NoDataError

        folder = self.scope.folders[(feature, "legacy")]
        try:
            report = _report(self.coverage, ["^legacy\\|"])
        except NoDataError:  # nothing measured in this process yet: no route is known to be thin
            return {}
        regions: dict[str, list[tuple[str, set[tuple[int, int]], int]]] = {}  # path -> (name, arcs, missing)
        for name, file_data in report["files"].items():
            path = Path(name).resolve()
            if path.is_relative_to(folder):
                regions[str(path)] = [
                    (
                        qualname,
                        {(int(a), int(b)) for a, b in [*region["executed_branches"], *region["missing_branches"]]},
                        len(region["missing_branches"]),
                    )
                    for qualname, region in measured_regions(
                        file_data, self.scope.registrars.get(str(path), frozenset())
                    )
                ]
        by_context = _arcs_by_context(self.coverage.get_data())
        weights: dict[tuple[str, str], int] = {}
        for (method, route), (owner, label, qualname) in self.scope.handlers.items():
            if owner != feature:
                continue
            handler_file = str((folder / label.split("/", 2)[2]).resolve())
            ran = by_context.get(context_name("legacy", method, route), {})
            touched = {
                (file, name): missing
                for file, found in regions.items()
                for name, arcs, missing in found
                if arcs & ran.get(file, set()) or (file == handler_file and name == qualname)
            }
            weight = sum(touched.values())
            weights[(method, route_shape(route))] = weight if ran else weight + 1
        return weights

    def stop(self) -> None:
        """Save the data (coverage.py writes no file when nothing ran), and a marker that this process saved."""
        if self.running:
            from coverage import CoverageData

            measured = self.coverage.get_data()
            if measured.measured_files():  # as coverage.py's own save: no file when nothing ran
                saved = CoverageData(basename=str(self.data_file))
                saved.update(measured)
                saved.write()
            self.marker.touch()
            self.running = False


# --- the figures ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FileCoverage:
    """One measured file: its functions' branches and statements, and what no case reached."""

    path: str
    branches: int
    covered: int
    statements: int
    covered_statements: int
    missing_lines: tuple[int, ...] = ()
    missing_branches: tuple[tuple[int, int], ...] = ()
    unreached_functions: tuple[str, ...] = ()
    # The text of the first uncovered lines, for the reports.
    source: Mapping[int, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "branches": self.branches,
            "coveredBranches": self.covered,
            "statements": self.statements,
            "coveredStatements": self.covered_statements,
            "missingLines": list(self.missing_lines),
            "missingBranches": [list(arc) for arc in self.missing_branches],
            "unreachedFunctions": list(self.unreached_functions),
            "source": {str(line): text for line, text in self.source.items()},
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FileCoverage:
        return cls(
            path=str(data["path"]),
            branches=int(data["branches"]),
            covered=int(data["coveredBranches"]),
            statements=int(data["statements"]),
            covered_statements=int(data["coveredStatements"]),
            missing_lines=tuple(int(line) for line in data.get("missingLines", ())),
            missing_branches=tuple((int(a), int(b)) for a, b in data.get("missingBranches", ())),
            unreached_functions=tuple(str(name) for name in data.get("unreachedFunctions", ())),
            source={int(line): str(text) for line, text in data.get("source", {}).items()},
        )


@dataclass(frozen=True)
class RouteCoverage:
    """What one route's requests reached on one side: branches of the feature's code, and (legacy side) of the
    route's own view function."""

    method: str
    route: str
    reached: int
    handler: str | None = None
    handler_branches: int = 0
    handler_covered: int = 0
    # The arcs behind `reached` and `handler_covered` (`path:from>to`): shards of a run are merged by their union.
    arcs: frozenset[str] = frozenset()
    handler_arcs: frozenset[str] = frozenset()

    def to_json(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "route": self.route,
            "reachedBranches": self.reached,
            "handler": self.handler,
            "handlerBranches": self.handler_branches,
            "handlerCoveredBranches": self.handler_covered,
            "reachedArcs": sorted(self.arcs),
            "handlerCoveredArcs": sorted(self.handler_arcs),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RouteCoverage:
        handler = data.get("handler")
        return cls(
            method=str(data["method"]),
            route=str(data["route"]),
            reached=int(data["reachedBranches"]),
            handler=None if handler is None else str(handler),
            handler_branches=int(data.get("handlerBranches", 0)),
            handler_covered=int(data.get("handlerCoveredBranches", 0)),
            arcs=frozenset(str(arc) for arc in data.get("reachedArcs", ())),
            handler_arcs=frozenset(str(arc) for arc in data.get("handlerCoveredArcs", ())),
        )


@dataclass(frozen=True)
class SideCoverage:
    """One side's code of one feature: every file, every route, and the covered branch arcs (`path:from>to`), which
    the evidence record unions across runs on the same code."""

    side: str
    files: tuple[FileCoverage, ...] = ()
    routes: tuple[RouteCoverage, ...] = ()
    covered_arcs: frozenset[str] = frozenset()

    @property
    def branches(self) -> int:
        return sum(found.branches for found in self.files)

    @property
    def covered(self) -> int:
        return sum(found.covered for found in self.files)

    @property
    def percent(self) -> float:
        return percent(self.covered, self.branches)

    @property
    def unreached_functions(self) -> list[str]:
        return [f"{found.path}:{name}" for found in self.files for name in found.unreached_functions]

    def to_json(self) -> dict[str, Any]:
        return {
            "side": self.side,
            "branches": self.branches,
            "coveredBranches": self.covered,
            "percent": round(self.percent, 2),
            "files": [found.to_json() for found in self.files],
            "routes": [route.to_json() for route in self.routes],
            "coveredArcs": sorted(self.covered_arcs),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SideCoverage:
        return cls(
            side=str(data["side"]),
            files=tuple(FileCoverage.from_json(found) for found in data.get("files", ())),
            routes=tuple(RouteCoverage.from_json(found) for found in data.get("routes", ())),
            covered_arcs=frozenset(str(arc) for arc in data.get("coveredArcs", ())),
        )


def current_measure() -> str:
    """What measures coverage in this process: another coverage.py or Python can number arcs otherwise."""
    import coverage

    return f"coverage {coverage.__version__}; python {sys.version_info.major}.{sys.version_info.minor}"


@dataclass(frozen=True)
class FeatureCoverage:
    feature: str
    legacy: SideCoverage
    plugin: SideCoverage
    # What measured it (`current_measure`); empty for this process's own measurement.
    measure: str = ""

    def side(self, name: str) -> SideCoverage:
        return self.legacy if name == "legacy" else self.plugin

    def to_json(self) -> dict[str, Any]:
        return {
            "feature": self.feature,
            "legacy": self.legacy.to_json(),
            "plugin": self.plugin.to_json(),
            "measure": self.measure or current_measure(),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FeatureCoverage:
        return cls(
            feature=str(data["feature"]),
            legacy=SideCoverage.from_json(data["legacy"]),
            plugin=SideCoverage.from_json(data["plugin"]),
            measure=str(data.get("measure", "")),
        )

    def evidence(self) -> dict[str, Any]:
        """What the evidence record keeps: per side, the number of branches, the covered arcs, and what measured
        them (runs are unioned only when measured alike: another coverage.py or Python can number arcs otherwise)."""
        measure = self.measure or current_measure()
        return {
            side: {
                "branches": self.side(side).branches,
                "covered": sorted(self.side(side).covered_arcs),
                "measure": measure,
            }
            for side in SIDES
        }


def percent(covered: int, total: int) -> float:
    """Covered as a percentage of total; 100 when there is nothing to cover."""
    return 100.0 * covered / total if total else 100.0


def _arc(path: str, arc: Iterable[int]) -> str:
    first, second = arc
    return f"{path}:{first}>{second}"


def _lines(path: Path, wanted: Iterable[int]) -> dict[int, str]:
    try:
        text = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return {}
    return {line: text[line - 1].rstrip() for line in sorted(wanted)[:_SHOWN_LINES] if 0 < line <= len(text)}


def _file_figures(
    scope: Scope, feature: str, side: str, path: Path, data: Mapping[str, Any]
) -> tuple[FileCoverage, frozenset[str]]:
    """A file's figures from coverage.py's JSON report, counting its functions only (not its top level), and the
    branch arcs it covered."""
    label = scope.label(feature, side, path)
    branches = covered = statements = covered_statements = 0
    missing_lines: list[int] = []
    missing_branches: list[tuple[int, int]] = []
    arcs: set[str] = set()
    unreached: list[str] = []
    for name, region in measured_regions(data, scope.registrars.get(str(path), frozenset())):
        summary = region["summary"]
        branches += summary["num_branches"]
        covered += summary["covered_branches"]
        statements += summary["num_statements"]
        covered_statements += summary["covered_lines"]
        missing_lines.extend(region["missing_lines"])
        missing_branches.extend((int(a), int(b)) for a, b in region["missing_branches"])
        arcs.update(_arc(label, arc) for arc in region["executed_branches"])
        if not region["executed_lines"] and summary["num_statements"]:
            unreached.append(name)
    return FileCoverage(
        path=label,
        branches=branches,
        covered=covered,
        statements=statements,
        covered_statements=covered_statements,
        missing_lines=tuple(sorted(set(missing_lines))),
        missing_branches=tuple(sorted(set(missing_branches))),
        unreached_functions=tuple(unreached),
        source=_lines(path, set(missing_lines) | {a for a, _ in missing_branches}),
    ), frozenset(arcs)


def measured_regions(
    data: Mapping[str, Any], registrars: frozenset[str] = frozenset()
) -> list[tuple[str, Mapping[str, Any]]]:
    """A file's function regions that count, from coverage.py's JSON report: not the module's top level, and not a
    function in `registrars` (one that defines route handlers: it runs once, when the app is built, before any
    case; the handlers it defines are regions of their own)."""
    regions = data.get("functions", {})
    return [
        (name, region) for name, region in sorted(regions.items()) if name != _MODULE_LEVEL and name not in registrars
    ]


def _report(cov: Any, contexts: list[str]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="sv-coverage-") as folder:
        out = Path(folder) / "coverage.json"
        cov.json_report(outfile=str(out), contexts=contexts, ignore_errors=True)
        return dict(json.loads(out.read_text(encoding="utf-8")))


def summarise(scope: Scope, data_dir: Path) -> dict[str, FeatureCoverage]:
    """Every feature's coverage from the data files under `data_dir` (one per process that measured)."""
    import coverage

    cov = coverage.Coverage(
        data_file=str(data_dir / "combined"),
        branch=True,
        source=[str(folder) for folder in scope.folders.values()],
        omit=scope.omit(),
        config_file=False,
    )
    cov.set_option("run:disable_warnings", ["no-data-collected", "module-not-measured", "module-not-imported"])
    # An empty measurement first: coverage.py then reports every file under `source`, executed or not, so a run
    # that measured nothing (every case failed before a request) shows 0 of N branches, never "nothing to cover".
    cov.start()
    cov.stop()
    files = sorted(str(path) for path in data_dir.glob("coverage.*"))
    if files:
        cov.combine(files, keep=True)
    reports = {side: _report(cov, [f"^{side}\\|"]) for side in SIDES}
    data = cov.get_data()
    by_route = _arcs_by_context(data)
    features = sorted({feature for feature, _ in scope.folders})
    result = {}
    for feature in features:
        sides = {}
        for side in SIDES:
            folder = scope.folders[(feature, side)]
            found: list[FileCoverage] = []
            arcs: set[str] = set()
            branch_arcs: dict[str, set[tuple[int, int]]] = {}
            regions: dict[tuple[str, str], set[tuple[int, int]]] = {}
            for name, file_data in sorted(reports[side]["files"].items()):
                path = Path(name).resolve()
                if not path.is_relative_to(folder):
                    continue
                figures, covered_arcs = _file_figures(scope, feature, side, path, file_data)
                found.append(figures)
                arcs |= covered_arcs
                possible: set[tuple[int, int]] = set()
                for qualname, region in measured_regions(file_data, scope.registrars.get(str(path), frozenset())):
                    region_arcs = {
                        (int(a), int(b)) for a, b in [*region["executed_branches"], *region["missing_branches"]]
                    }
                    regions[(figures.path, qualname)] = region_arcs
                    possible |= region_arcs
                branch_arcs[str(path)] = possible
            routes = _route_figures(scope, feature, side, by_route, branch_arcs, regions)
            sides[side] = SideCoverage(side, tuple(found), routes, frozenset(arcs))
        result[feature] = FeatureCoverage(feature, sides["legacy"], sides["plugin"])
    return result


def _arcs_by_context(data: Any) -> dict[str, dict[str, set[tuple[int, int]]]]:
    """context -> resolved file path -> arcs measured in it."""
    found: dict[str, dict[str, set[tuple[int, int]]]] = {}
    for context in sorted(data.measured_contexts()):
        if "|" not in context:
            continue
        data.set_query_contexts(["^" + re.escape(context) + "$"])
        found[context] = {str(Path(name).resolve()): set(data.arcs(name) or ()) for name in data.measured_files()}
    data.set_query_contexts(None)
    return found


def _route_figures(
    scope: Scope,
    feature: str,
    side: str,
    by_context: Mapping[str, Mapping[str, set[tuple[int, int]]]],
    branch_arcs: Mapping[str, set[tuple[int, int]]],
    regions: Mapping[tuple[str, str], set[tuple[int, int]]],
) -> tuple[RouteCoverage, ...]:
    measured: dict[tuple[str, str], Mapping[str, set[tuple[int, int]]]] = {}
    for context, by_file in by_context.items():
        context_side, _, route_label = context.partition("|")
        if context_side == side:
            method, _, route = route_label.partition(" ")
            measured[(method, route)] = by_file
    handlers = {key: found for key, found in scope.handlers.items() if found[0] == feature} if side == "legacy" else {}
    routes = []
    for method, route in sorted(set(measured) | set(handlers)):
        by_file = measured.get((method, route), {})
        reached = frozenset(
            _arc(scope.label(feature, side, Path(path)), arc)
            for path, arcs in by_file.items()
            for arc in arcs & branch_arcs.get(path, set())
        )
        handler = handlers.get((method, route))
        if not reached and handler is None:
            continue  # a route of another feature, or a core route that runs none of this feature's branches
        handler_name, handler_branches, handler_arcs = None, 0, frozenset[str]()
        if handler is not None:
            _, label, qualname = handler
            possible = regions.get((label, qualname), set())
            path = (scope.folders[(feature, "legacy")] / label.split("/", 2)[2]).resolve()
            handler_name = f"{label}:{qualname}"
            handler_branches = len(possible)
            handler_arcs = frozenset(_arc(label, arc) for arc in possible & by_file.get(str(path), set()))
        routes.append(
            RouteCoverage(
                method,
                route,
                len(reached),
                handler_name,
                handler_branches,
                len(handler_arcs),
                arcs=reached,
                handler_arcs=handler_arcs,
            )
        )
    return tuple(routes)


def pair_scope(pair: Any, features: Iterable[str]) -> Scope:
    """The scope of a run on `pair` (a `parity_tests.pair.Pair`): its features, plugins folder, legacy app and the
    plugin side's plugin apps."""
    settings = pair.plugin.platform.services.settings
    table = pair.plugin.platform.host.table()
    chosen = tuple(features)
    apps = [table.feature_app(feature, settings.TENANT_DEFAULT) for feature in chosen]
    legacy_app = pair.legacy.platform.legacy.app
    return scope_of(chosen, Path(settings.PLUGINS_DIR), legacy_app, [a for a in apps if a], pair.features)


@contextmanager
def measuring(pair: Any, features: Iterable[str], data_dir: Path, suffix: str) -> Iterator[None]:
    """Measure the features' code on both sides of `pair` while the block runs, saving the data under `data_dir`."""
    meter = Meter(pair_scope(pair, features), data_dir, suffix)
    meter.start()
    pair.meter = meter
    try:
        yield
    finally:
        pair.meter = None
        meter.stop()
