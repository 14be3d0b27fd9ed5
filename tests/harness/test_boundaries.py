"""The edge cases of `parity_tests.boundaries`: every one matches on the unmodified plugins, each probed limit really
splits legacy's answers, and a plugin cap moved by one is reported on the route that enforces it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from legacy_core.settings import Settings
from parity_tests.boundaries import FEATURES, EdgeCase, edge_cases, next_request, straddles
from parity_tests.edge_kit import MAX_STEPS
from parity_tests.outcome import Exchange
from parity_tests.pair import Pair, build_pair
from parity_tests.state import commit_dates
from tests.harness.mutants import Edit, copy_plugins, mutated_plugins

# The harness's size limits lowered, so the cases around them send kilobytes rather than the production megabytes
# (the cases read the limits off the pair). The import limit stays above the ~1 MB bundle of MAX_MEMBERS+1 members
# and the body limit above the blog's 1,000,000-character post body, so those checks are still reached.
SMALL_LIMITS = {
    "PAPERTRAIL_UPLOAD_MAX_BYTES": 100_000,
    "PAPERTRAIL_IMPORT_MAX_BYTES": 2_000_000,
    "MAX_CONTENT_LENGTH": 2_000_000,
}
BOARD = "/api/projects/<project_id>/papertrail/board"
NEW_POST = "/api/projects/<project_id>/blog/post"


@dataclass(frozen=True)
class Ran:
    """One edge case run on both sides."""

    case: EdgeCase
    exchanges: tuple[Exchange, ...]
    end: tuple[object, ...]

    @property
    def match(self) -> bool:
        return all(exchange.match for exchange in self.exchanges) and not self.end

    def describe(self) -> str:
        lines = [self.case.source]
        for exchange in self.exchanges:
            mark = "ok  " if exchange.match else "DIFF"
            lines.append(f"  {mark} {exchange.method} {exchange.route} -> {exchange.legacy.status}")
            lines.extend(f"       {difference!r}"[:300] for difference in (*exchange.differences, *exchange.state))
        lines.extend(f"  END  {difference!r}"[:300] for difference in self.end)
        return "\n".join(lines)


def run_case(pair: Pair, case: EdgeCase) -> Ran:
    """`case` from the template state on both sides, as the generated cases run."""
    pair.start_case(user=case.user)
    exchanges: list[Exchange] = []
    with commit_dates():
        for step in case.requests:
            request = next_request(step, [exchange.legacy for exchange in exchanges])
            if request is None:
                break
            exchanges.append(pair.exchange(len(exchanges), request))
        end = pair.state_differences()
    return Ran(case, tuple(exchanges), end)


def legacy_answers(pair: Pair, case: EdgeCase) -> list[tuple[int, bytes]]:
    """What legacy alone answers to `case` from the template state: (status, body) of each request."""
    pair.start_case(user=case.user)
    answers = []
    with commit_dates():
        for step in case.requests:
            request = next_request(step, answers)
            if request is None:
                break
            pair.layout.point(pair.legacy.name)  # the shared blog remote URL leads to legacy's remote
            answers.append(pair.legacy.call(request))
    return [(answer.status, answer.body) for answer in answers]


@pytest.fixture(scope="module", autouse=True)
def pinned_expires() -> Iterator[None]:
    # werkzeug's send_file stamps `Expires` from the wall clock (time.time(), not the pinned clock service), so a
    # download whose two sides fall in two different seconds differs in that header: pin it for these tests.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("werkzeug.utils.time", lambda: 1_767_225_600.0)
        yield


def small_pair(root: Path, plugins: Path, features: tuple[str, ...] = FEATURES) -> Pair:
    base = Settings(_env_file=None, **SMALL_LIMITS)  # type: ignore[call-arg]
    return build_pair(root / "ws", base=base, plugins_dir=plugins, features=features)


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    """Both features served by an untouched copy of the plugins, with the small limits."""
    root = tmp_path_factory.mktemp("boundaries")
    built = small_pair(root, copy_plugins(root / "plugins"))
    yield built
    built.close()


def test_edge_cases_are_named_once_and_short(pair: Pair) -> None:
    for feature in FEATURES:
        cases = edge_cases(pair, feature)
        assert len({case.source for case in cases}) == len(cases)
        assert all(1 <= len(case.requests) <= MAX_STEPS for case in cases)
        assert sum(len(case.requests) > 4 for case in cases) <= 2  # only the sequences that need a second blog
        assert all(case.source.startswith("edge:") for case in cases)
        assert len(straddles(cases)) >= 20, feature


def test_edge_cases_reject_an_unknown_feature(pair: Pair) -> None:
    with pytest.raises(ValueError, match="unknown feature 'papertrial'"):
        edge_cases(pair, "papertrial")


@pytest.mark.parametrize("feature", FEATURES)
def test_edge_cases_match_on_unmodified_plugins(pair: Pair, feature: str) -> None:
    ran = [run_case(pair, case) for case in edge_cases(pair, feature)]
    differing = [result.describe() for result in ran if not result.match]
    assert not differing, "\n".join(differing)
    # Every step was sent: a step that found nothing to build on (an upload the legacy side refused) stops a case,
    # and only cases meant to be refused may stop early.
    stopped = [result.case.source for result in ran if len(result.exchanges) < len(result.case.requests)]
    assert all("node" in source.lower() for source in stopped), stopped


@pytest.mark.parametrize("feature", FEATURES)
def test_edge_cases_straddle_every_limit(pair: Pair, feature: str) -> None:
    same = [
        f"{name}: {case_at.source} and {case_past.source} answer {[status for status, _ in at]}"
        for name, (case_at, case_past) in straddles(edge_cases(pair, feature)).items()
        if (at := legacy_answers(pair, case_at)) == legacy_answers(pair, case_past)
    ]
    assert not same, "legacy answers these at the limit and past it alike:\n" + "\n".join(same)


def _limit_cases(pair: Pair, feature: str, limit: str) -> dict[int, EdgeCase]:
    return {case.offset: case for case in edge_cases(pair, feature) if case.limit == limit}


@pytest.mark.parametrize(
    ("replacement", "offset"),
    [("TITLE_MAX = 159", 0), ("TITLE_MAX = 161", 1)],
    ids=["cap-one-lower", "cap-one-higher"],
)
def test_board_title_cap_off_by_one_is_reported(tmp_path: Path, replacement: str, offset: int) -> None:
    plugins = mutated_plugins(tmp_path / "plugins", Edit("papertrail/rules.py", "TITLE_MAX = 160", replacement))
    mutated = small_pair(tmp_path, plugins, ("papertrail",))
    try:
        cases = _limit_cases(mutated, "papertrail", "BOARD_TITLE_MAX")
        results = {at: run_case(mutated, case) for at, case in cases.items()}
    finally:
        mutated.close()
    wrong = results[offset]
    assert not wrong.match, wrong.describe()
    first = next(exchange for exchange in wrong.exchanges if not exchange.match)
    assert (first.method, first.route) == ("PATCH", BOARD), wrong.describe()
    assert "/body/board/title" in {difference.pointer for difference in first.differences}, wrong.describe()
    assert results[-1].match, results[-1].describe()


def test_post_file_name_cap_off_by_one_is_reported(tmp_path: Path) -> None:
    edit = Edit(
        "blog/bodies.py", "FileName = Annotated[str, _stripped(200),", "FileName = Annotated[str, _stripped(201),"
    )
    mutated = small_pair(tmp_path, mutated_plugins(tmp_path / "plugins", edit), ("blog",))
    try:
        cases = _limit_cases(mutated, "blog", "CreatePostBody.file")
        results = {at: run_case(mutated, case) for at, case in cases.items()}
    finally:
        mutated.close()
    assert results[0].match, results[0].describe()
    past = results[1]
    assert not past.match, past.describe()
    first = next(exchange for exchange in past.exchanges if not exchange.match)
    assert (first.method, first.route) == ("POST", NEW_POST), past.describe()
    assert any(difference.pointer.startswith("/body/") for difference in first.differences), past.describe()
