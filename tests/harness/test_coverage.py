"""Branch coverage as evidence: what the cases reached of each side's feature code, per file and per route, combined
across worker processes, in every report, and in the evidence record the gate reads."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from parity_tests.branch_coverage import (
    FeatureCoverage,
    FileCoverage,
    Meter,
    RouteCoverage,
    SideCoverage,
    route_shape,
    scope_of,
    summarise,
)
from parity_tests.harness import HarnessConfig, run_parity
from parity_tests.outcome import ParityRun
from parity_tests.recordings import DEFAULT_RECORDINGS
from parity_tests.report import junit_xml, markdown_summary
from parity_tests.report_html import html_report
from parity_tests.seed import REPO_PLUGINS

REPO = Path(__file__).resolve().parents[2]
BOARD = "/api/projects/<project_id>/papertrail/board"


def _run(tmp_path: Path, **config: Any) -> ParityRun:
    settings = {"features": ("papertrail",), "recordings": DEFAULT_RECORDINGS, "generated": 0, **config}
    return run_parity(HarnessConfig(workspace=tmp_path, **settings))


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> ParityRun:
    """The bundled PaperTrail recordings, in this process."""
    return _run(tmp_path_factory.mktemp("recorded"))


def test_a_run_measures_both_sides_per_file_and_per_route(recorded: ParityRun) -> None:
    assert recorded.ok and recorded.coverage_note is None
    found = recorded.coverage["papertrail"]
    legacy_files = {file.path for file in found.legacy.files}
    assert "legacy_core/papertrail/routes.py" in legacy_files
    # The OpenAPI document builder is served by a core route: it is not the feature's evidence.
    assert "legacy_core/papertrail/openapi_spec.py" not in legacy_files
    assert all(path.startswith("plugins/papertrail/") for path in (file.path for file in found.plugin.files))
    assert 0 < found.legacy.covered < found.legacy.branches
    assert 0 < found.plugin.covered < found.plugin.branches
    # Arcs name their side's files only.
    assert all(arc.startswith("legacy_core/papertrail/") for arc in found.legacy.covered_arcs)
    assert len(found.legacy.covered_arcs) == found.legacy.covered
    routes = {(route.method, route.route): route for route in found.legacy.routes}
    board = routes[("GET", BOARD)]
    assert board.reached > 0 and board.handler == "legacy_core/papertrail/routes.py:make_papertrail_blueprint.get_board"
    # A route no recording sends is listed with its view function, reached by nothing.
    never = routes[("POST", BOARD + "/import")]
    assert never.reached == 0 and never.handler_covered == 0 and never.handler_branches > 0


def test_a_run_of_nothing_covers_nothing_rather_than_everything(tmp_path: Path) -> None:
    run = _run(tmp_path, recordings=None)
    found = run.coverage["papertrail"]
    assert found.legacy.branches > 100 and found.legacy.covered == 0 and found.legacy.percent == 0.0
    assert found.plugin.covered == 0
    unreached = found.legacy.unreached_functions
    assert "legacy_core/papertrail/routes.py:make_papertrail_blueprint.get_board" in unreached
    assert "legacy_core/papertrail/routes.py:open_board" in unreached
    # A registrar runs when the app is built, not for a case: it is not counted at all.
    assert "legacy_core/papertrail/routes.py:make_papertrail_blueprint" not in unreached


def test_code_counts_for_the_side_whose_request_ran_it(tmp_path: Path) -> None:
    # Legacy code run while the plugin side answers (a plugin calling a legacy helper, the second side of an A/A
    # run) is not legacy evidence: only the legacy side's requests count for legacy files.
    from legacy_core.papertrail.normalize import normalize_tags

    scope = scope_of(("papertrail",), REPO_PLUGINS)
    meter = Meter(scope, tmp_path / "plugin-side", "one")
    meter.start()
    with meter.request("plugin", "POST", BOARD):
        normalize_tags([" a ", "#b", "a"], "tags")
    meter.stop()
    assert summarise(scope, tmp_path / "plugin-side")["papertrail"].legacy.covered == 0

    meter = Meter(scope, tmp_path / "legacy-side", "one")
    meter.start()
    with meter.request("legacy", "POST", BOARD):
        normalize_tags([" a ", "#b", "a"], "tags")
    meter.stop()
    found = summarise(scope, tmp_path / "legacy-side")["papertrail"].legacy
    assert found.covered > 0
    assert all(arc.startswith("legacy_core/papertrail/normalize.py:") for arc in found.covered_arcs)
    assert [(route.method, route.route) for route in found.routes if route.reached] == [("POST", BOARD)]


def test_a_reused_workspace_does_not_add_an_earlier_runs_data(tmp_path: Path) -> None:
    first = _run(tmp_path)
    again = _run(tmp_path, recordings=None)  # nothing runs the second time: nothing may be covered
    assert first.coverage["papertrail"].legacy.covered > 0
    assert again.coverage["papertrail"].legacy.covered == 0
    assert not list(tmp_path.glob("coverage-*"))  # each run's data folder is removed after it is summarised


def test_worker_processes_measure_and_their_data_is_combined(recorded: ParityRun, tmp_path: Path) -> None:
    # The same recordings on two workers reach exactly what they reach in one process.
    shared = _run(tmp_path, jobs=2)
    assert shared.coverage["papertrail"].legacy.covered_arcs == recorded.coverage["papertrail"].legacy.covered_arcs
    assert shared.coverage["papertrail"].plugin.covered_arcs == recorded.coverage["papertrail"].plugin.covered_arcs
    assert shared.coverage_note is None  # both workers saved their data


def test_no_coverage_says_so(tmp_path: Path) -> None:
    run = _run(tmp_path, coverage=False)
    assert run.coverage == {} and run.coverage_note == "not measured (--no-coverage)"
    assert "Branch coverage not measured (--no-coverage)." in markdown_summary(run)


def test_summarise_counts_functions_not_import_time_code(tmp_path: Path) -> None:
    found = summarise(scope_of(("blog",), REPO_PLUGINS), tmp_path)["blog"]
    # Nothing ran, and still every legacy blog file with functions is there, each at 0.
    assert {file.path for file in found.legacy.files} >= {"legacy_core/blog/routes.py", "legacy_core/blog/posts.py"}
    assert all(file.covered == 0 for file in found.legacy.files)
    assert "legacy_core/blog/demo.py" not in {file.path for file in found.legacy.files}


def test_route_shape_matches_openapi_paths_to_url_rules() -> None:
    assert route_shape("/api/projects/{projectId}/blog/post/{file}") == route_shape(
        "/api/projects/<project_id>/blog/post/<blogpost:file>"
    )
    assert route_shape(BOARD) == "/api/projects/*/papertrail/board"


def _coverage() -> FeatureCoverage:
    legacy = SideCoverage(
        "legacy",
        files=(
            FileCoverage(
                "legacy_core/papertrail/routes.py",
                branches=10,
                covered=7,
                statements=40,
                covered_statements=35,
                missing_lines=(120, 121),
                missing_branches=((119, 120), (130, -93)),
                source={
                    119: "    if board is None:",
                    120: "        abort(404)",
                    121: "    <script>x</script>",
                    130: "    for node in nodes:",
                },
            ),
        ),
        routes=(RouteCoverage("GET", BOARD, 12, "legacy_core/papertrail/routes.py:get_board", 4, 3),),
        covered_arcs=frozenset({"legacy_core/papertrail/routes.py:1>2"}),
    )
    plugin = SideCoverage(
        "plugin",
        files=(FileCoverage("plugins/papertrail/store.py", 4, 4, 10, 9, unreached_functions=("Store.purge",)),),
    )
    return FeatureCoverage("papertrail", legacy, plugin)


def _measured_run() -> ParityRun:
    return ParityRun(
        started_at="2026-12-06T10:00:00+00:00",
        finished_at="2026-12-06T10:01:00+00:00",
        sides="legacy/plugin",
        features=("papertrail",),
        cases=(),
        rules_file="noise_rules.toml",
        coverage={"papertrail": _coverage()},
        notes=(
            "papertrail: 500 generated case(s) (edge 150, single 350); no difference; "
            "generation ended because its budget was spent",
        ),
    )


def test_every_report_shows_coverage() -> None:
    run = _measured_run()
    document = run.to_json()["coverage"]["papertrail"]
    assert document["legacy"]["branches"] == 10 and document["legacy"]["coveredBranches"] == 7
    assert document["legacy"]["files"][0]["missingBranches"] == [[119, 120], [130, -93]]
    assert document["plugin"]["files"][0]["unreachedFunctions"] == ["Store.purge"]
    summary = markdown_summary(run)
    assert "### Branch coverage" in summary and "7 of 10 (70.0%)" in summary
    assert "120, 121" in summary and "plugins/papertrail/store.py:Store.purge" in summary
    junit = junit_xml(run)
    assert 'name="coverage.legacy.branches" value="7/10"' in junit
    assert 'name="coverage.legacy.percent" value="70.00"' in junit
    page = html_report(run)
    assert 'id="coverage-papertrail"' in page and "7 of 10" in page
    # The uncovered lines are shown, escaped, with the branches never taken.
    assert "abort(404)" in page and "&lt;script&gt;x&lt;/script&gt;" in page and "<script>x" not in page
    assert "→ line 120 never taken" in page and "→ exit never taken" in page
    # How generation went is in the Markdown and the page.
    assert "generation ended because its budget was spent" in summary and "its budget was spent" in page


def test_evidence_keeps_the_covered_branches_of_each_side() -> None:
    evidence = _coverage().evidence()
    assert evidence["legacy"]["branches"] == 10
    assert evidence["legacy"]["covered"] == ["legacy_core/papertrail/routes.py:1>2"]
    # What measured them: runs are unioned only when measured alike.
    assert evidence["legacy"]["measure"].startswith("coverage 7.") and "python 3." in evidence["legacy"]["measure"]
    assert json.loads(json.dumps(evidence)) == evidence
