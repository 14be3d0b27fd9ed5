"""Generated parity cases: schemathesis single requests, stateful sequences and strategy cases on both sides, and a
divergence shrunk to a replayable HAR and a pytest test."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis

from exthost.evidence.compare import CapturedRequest
from exthost.evidence.har import read_har
from legacy_core.features import FEATURES
from parity_tests.boundaries import edge_cases
from parity_tests.generated import (
    FEATURE_PATHS,
    captured_request,
    case_signatures,
    generate_cases,
    openapi_document,
    path_of,
    replay_har_case,
    split_budget,
    spread,
)
from parity_tests.outcome import CaseResult, Exchange
from parity_tests.pair import Pair, body_json, build_pair
from parity_tests.seed import REPO_PLUGINS

CASES = 30  # per feature: enough to reach most routes, small enough for the suite (the CLI runs 500)
SEED = 20260302
# The injected divergence: the plugin shows a node's tags in reverse order (the seeded "source" node has two).
MUTATION_FILE = Path("papertrail") / "shapes.py"
MUTATION_ANCHOR = '"tags": list(row.tags or []),'
MUTATION = '"tags": list(reversed(row.tags or [])),'


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    built = build_pair(tmp_path_factory.mktemp("generated") / "ws")
    yield built
    built.close()


@pytest.fixture(scope="module")
def generated(pair: Pair) -> dict[str, tuple[list[CaseResult], list[CaseResult], list[str]]]:
    """Per feature: the cases returned, the cases `on_case` saw, and the notes."""
    runs = {}
    for feature in FEATURES:
        seen: list[CaseResult] = []
        notes: list[str] = []
        cases = generate_cases(pair, feature, CASES, seed=SEED, on_case=seen.append, on_note=notes.append)
        runs[feature] = (cases, seen, notes)
    return runs


@pytest.fixture(scope="module")
def mutated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    root = tmp_path_factory.mktemp("mutated")
    plugins = root / "plugins"
    shutil.copytree(REPO_PLUGINS, plugins, ignore=shutil.ignore_patterns("__pycache__"))
    target = plugins / MUTATION_FILE
    source = target.read_text(encoding="utf-8")
    assert source.count(MUTATION_ANCHOR) == 1, f"the mutation's anchor moved in {MUTATION_FILE}; update this test"
    target.write_text(source.replace(MUTATION_ANCHOR, MUTATION), encoding="utf-8")
    built = build_pair(root / "ws", plugins_dir=plugins)
    yield built
    built.close()


@pytest.fixture(scope="module")
def divergent(mutated: Pair) -> tuple[list[CaseResult], list[str]]:
    notes: list[str] = []
    # A smaller shrink budget than the default keeps the suite quick; the case still comes out short.
    # Without edge cases: one would find the divergence first, as built, and leave hypothesis nothing to shrink.
    cases = generate_cases(mutated, "papertrail", CASES, seed=SEED, on_note=notes.append, max_shrinks=100, edges=False)
    return cases, notes


@pytest.mark.parametrize("feature", FEATURES)
def test_generated_cases_match_on_the_real_plugins(generated: Any, feature: str) -> None:
    cases, seen, notes = generated[feature]
    mismatched = [case.to_json() for case in cases if not case.match]
    assert not mismatched, json.dumps(mismatched, indent=2)[:4000]
    assert len(cases) == CASES, notes  # hypothesis ran the whole budget: no space exhausted at this size
    assert seen == cases
    assert [case.case_id for case in cases] == [f"generated:{feature}:{number}" for number in range(CASES)]
    assert {case.kind for case in cases} == {"generated"}
    assert all(case.exchanges for case in cases)


@pytest.mark.parametrize(("feature", "least_routes"), [("papertrail", 12), ("blog", 6)])
def test_generated_cases_reach_many_routes_and_chain_requests(
    generated: Any, pair: Pair, feature: str, least_routes: int
) -> None:
    cases, _, _ = generated[feature]
    routes = {(exchange.method, exchange.route) for case in cases for exchange in case.exchanges}
    assert len(routes) >= least_routes, sorted(routes)
    kinds = {case.source.split(":")[0] for case in cases}
    assert kinds == {"edge", "schemathesis", "stateful", "strategy"}
    # No coverage is measured on this pair, so no case is guided by it.
    budget = split_budget(CASES, edges=len(edge_cases(pair, feature)), guided=False)
    assert sum(case.source.startswith("edge:") for case in cases) == budget["edge"] > 0
    assert sum(case.source == "stateful" for case in cases) == budget["stateful"]
    chains = [case for case in cases if case.source == "stateful" and len(case.exchanges) > 1]
    assert chains, "no stateful sequence sent more than one request"
    strategy = [case for case in cases if case.source.startswith("strategy:")]
    assert len(strategy) == budget["strategy"] and all(len(case.exchanges) >= 3 for case in strategy)


def _written_ids(exchange: Exchange) -> set[str]:
    """Ids (and post file names) of the items a successful POST or PATCH answered with."""
    if exchange.method not in ("POST", "PATCH") or not 200 <= exchange.legacy.status < 300:
        return set()
    answer = body_json(exchange.legacy)
    items = [value for value in answer.values() if isinstance(value, dict)] if isinstance(answer, dict) else []
    return {item[key] for item in items for key in ("id", "file") if isinstance(item.get(key), str)}


def test_generated_stateful_sequences_follow_links(generated: Any, pair: Pair) -> None:
    """Some sequence sends a request about a new item an earlier request of the same sequence wrote (a link)."""
    seeded = {
        value
        for project in pair.seed.projects.values()
        for found in project.values()
        for value in (found if isinstance(found, list) else [found])
    }
    followed = []
    for feature in FEATURES:
        for case in generated[feature][0]:
            if case.source != "stateful":
                continue
            written: set[str] = set()
            for exchange in case.exchanges:
                segments = exchange.request.path.split("/")
                if written.intersection(segments):
                    followed.append(case.case_id)
                written |= _written_ids(exchange) - seeded
    assert followed


def test_generated_cases_are_the_same_for_the_same_seed(pair: Pair) -> None:
    def requests(seed: int) -> list[tuple[str, list[CapturedRequest]]]:
        cases = generate_cases(pair, "papertrail", 8, seed=seed)
        return [(case.source, [exchange.request for exchange in case.exchanges]) for case in cases]

    first = requests(7)
    assert requests(7) == first
    assert requests(8) != first


def _shrunk(divergent: Any) -> CaseResult:
    """The first difference hypothesis shrank (it carries a reproduction; edge cases are reported as built)."""
    return next(case for case in divergent[0] if case.reproduction is not None and not case.source.startswith("edge:"))


def test_generated_divergence_is_shrunk_and_generation_goes_on(divergent: Any) -> None:
    cases, notes = divergent
    first = next(case for case in cases if not case.match)
    assert first.reproduction is not None  # the first case that showed the difference carries a reproduction
    assert all(case.match for case in cases[: cases.index(first)])
    failing = _shrunk(divergent)
    assert not failing.match
    assert 1 <= len(failing.exchanges) <= 3, [exchange.to_json() for exchange in failing.exchanges]
    pointers = {difference.pointer for difference in failing.exchanges[-1].differences}
    assert any(pointer.endswith(("/tags/0", "/tags/1")) for pointer in pointers), pointers
    assert any("shrunk" in note and failing.case_id in note for note in notes)
    # The run went on past it: the whole budget ran, every case numbered in order.
    assert len(cases) == CASES, notes
    assert [case.case_id for case in cases] == [f"generated:papertrail:{number}" for number in range(CASES)]
    # Every difference reported with a reproduction is distinct (one per signature); later cases showing a known
    # one are counted as mismatches without a reproduction.
    reproduced = [case for case in cases if case.reproduction is not None]
    assert all(not case.match for case in reproduced)
    seen: set[str] = set()
    for case in reproduced:  # each reproduction shows a difference no earlier one showed
        shown = set(case_signatures(case))
        assert shown - seen, (case.case_id, shown, seen)
        seen |= shown
    assert any(not case.match and case.reproduction is None for case in cases), notes
    assert any("generation ended because its budget was spent" in note for note in notes), notes


def test_generated_reproduction_replays_to_the_same_divergence(divergent: Any, mutated: Pair, pair: Pair) -> None:
    failing = _shrunk(divergent)
    assert failing.reproduction is not None
    har = json.loads(json.dumps(failing.reproduction.har))  # what a HAR file holds
    assert len(read_har(har)) == len(failing.exchanges)

    again = replay_har_case(mutated, har)
    assert not again.match
    mismatch, original = again.first_mismatch(), failing.first_mismatch()
    assert mismatch is not None and original is not None
    assert (mismatch.index, mismatch.route) == (original.index, original.route)
    assert mismatch.differences == original.differences
    assert replay_har_case(pair, har).match  # the HAR itself is sound: only the mutation makes it differ


def test_generated_pytest_case_compiles_and_fails_only_on_the_divergent_plugin(
    divergent: Any, mutated: Pair, pair: Pair
) -> None:
    failing = _shrunk(divergent)
    assert failing.reproduction is not None
    snippet = failing.reproduction.pytest_case
    number = failing.case_id.rsplit(":", 1)[1]
    assert f"def test_parity_papertrail_{number}(parity_pair):" in snippet
    namespace: dict[str, Any] = {}
    exec(compile(snippet, "<generated pytest case>", "exec"), namespace)
    test = namespace[f"test_parity_papertrail_{number}"]
    test(pair)
    with pytest.raises(AssertionError):
        test(mutated)


def test_replay_har_case_sends_each_request_as_its_recorded_caller(pair: Pair) -> None:
    project = pair.seed.projects["papertrail"]
    board = path_of("api", "projects", project["id"], "papertrail", "board")
    entries = []
    for user in ("carol", "alice", None):
        body = json.dumps({"title": f"by {user}"}).encode()
        request = CapturedRequest("PATCH", board, headers=(("Content-Type", "application/json"),), body=body)
        entries.append((request, user))
    har = {
        "log": {
            "version": "1.2",
            "creator": {"name": "test", "version": "0"},
            "entries": [
                {
                    "request": {
                        "method": request.method,
                        "url": f"http://localhost{request.path}",
                        "headers": [{"name": "Content-Type", "value": "application/json"}],
                        "postData": {"mimeType": "application/json", "text": request.body.decode()},
                    },
                    "_sovereign": {"user": user},
                }
                for request, user in entries
            ],
        }
    }
    result = replay_har_case(pair, har)
    assert result.match and result.feature == "papertrail"
    assert [exchange.legacy.status for exchange in result.exchanges] == [403, 200, 401]


def test_captured_request_keeps_what_would_end_the_path_escaped(pair: Pair) -> None:
    assert path_of("api", "a b", "n?x", "50%", "#1") == "/api/a b/n%3Fx/50%25/%231"
    schema = schemathesis.openapi.from_dict(openapi_document(pair)).include(path_regex=FEATURE_PATHS["papertrail"])
    operation = schema["/api/projects/{projectId}/papertrail/board/{boardId}/nodes/{nodeId}"]["GET"]
    case = operation.Case(path_parameters={"projectId": "p", "boardId": "b", "nodeId": "n%3Fx%20y"})
    request = captured_request(case)
    assert request.path == "/api/projects/p/papertrail/board/b/nodes/n%3Fx y"
    assert not any(name.lower().startswith("x-schemathesis") for name, _ in request.headers)
    upload = schema["/api/projects/{projectId}/papertrail/board/{boardId}/attachments/upload"]["POST"]
    multipart = captured_request(
        upload.Case(
            path_parameters={"projectId": "p", "boardId": "b"},
            body={"file": b"\x00bytes", "nodeId": "claim"},
            media_type="multipart/form-data",
        )
    )
    assert dict(multipart.headers)["Content-Type"] == "multipart/form-data; boundary=sovereign-parity-boundary"
    assert b"\x00bytes" in multipart.body and b'name="nodeId"' in multipart.body


def test_split_budget_shares_the_count() -> None:
    assert split_budget(500, edges=150) == {
        "edge": 150,
        "single": 158,
        "stateful": 105,
        "strategy": 35,
        "guided": 52,
    }
    # Edge cases take at most three fifths of the budget; a smaller budget takes them evenly spaced.
    assert split_budget(100, edges=150)["edge"] == 60
    assert spread(list(range(10)), 4) == [0, 2, 5, 7] and spread([1, 2], 5) == [1, 2]
    assert split_budget(4) == {"edge": 0, "single": 2, "stateful": 1, "strategy": 1, "guided": 0}
    assert split_budget(4, stateful=False) == {"edge": 0, "single": 3, "stateful": 0, "strategy": 1, "guided": 0}
    assert split_budget(500, guided=False)["guided"] == 0
    assert set(split_budget(0).values()) == {0}
    assert all(sum(split_budget(count, edges=7).values()) == count for count in range(50))


def test_generate_cases_names_the_features_it_knows(pair: Pair) -> None:
    with pytest.raises(
        ValueError, match=r"unknown feature 'papertrial' \(did you mean 'papertrail'\?\).*blog, papertrail"
    ):
        generate_cases(pair, "papertrial", 1)


def test_an_edge_case_that_cannot_be_built_fails_alone(pair: Pair) -> None:
    from parity_tests.boundaries import EdgeCase
    from parity_tests.generated import _FeatureRun

    def broken(answers: list[Any]) -> CapturedRequest:
        raise KeyError("attachment")

    run = _FeatureRun(pair, "papertrail", None)
    notes: list[str] = []
    cases = [
        EdgeCase("edge:broken", "alice", (broken,)),
        EdgeCase(
            "edge:board read",
            "alice",
            (CapturedRequest("GET", path_of("api", "projects", "p_x", "papertrail", "board")),),
        ),
    ]
    assert run.run_edges(cases, notes.append) == 2
    failed, read = run.results
    assert failed.error == "the edge case could not be built: KeyError: 'attachment'" and not failed.match
    assert read.match and read.exchanges
    assert [case.case_id for case in run.results] == ["generated:papertrail:0", "generated:papertrail:1"]
