"""The harness can fail: divergences injected into a copy of each plugin are reported on the right route, with the
right differences, while an unmodified copy, and legacy against itself, report none."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from parity_tests.outcome import CaseResult, route_tallies
from parity_tests.pair import Pair, build_pair
from parity_tests.recordings import RecordedSession, replay_session
from parity_tests.seed import Seed
from tests.harness.mutants import (
    BLOG_POST,
    BOARD_READ_WRITES_ROW,
    KINDS,
    MUTATIONS,
    NEW_POST,
    PUBLISH_MESSAGES,
    RENAMES_NOT_KEPT,
    SCRIPTS,
    SESSIONS,
    TAGS_IN_FLOW_STYLE,
    Edit,
    Mutation,
    MutationError,
    apply_edit,
    blog_delete_session,
    blog_rename_session,
    case_names,
    copy_plugins,
    describe,
    mutated_plugins,
    reported,
    tags_round_trip_session,
    value_matches,
)

FEATURES = tuple(SESSIONS)


def _run(root: Path, edit: Edit, feature: str, session: Callable[[Seed], RecordedSession]) -> tuple[CaseResult, Seed]:
    """One session on a fresh pair whose plugin side runs a copy of the plugins with `edit` made."""
    pair = build_pair(root / "ws", plugins_dir=mutated_plugins(root / "plugins", edit), features=(feature,))
    try:
        return replay_session(pair, session(pair.seed)), pair.seed
    finally:
        pair.close()


def _assert_reported(case: CaseResult, seed: Seed, mutation: Mutation) -> None:
    """The case's first mismatch is on the mutation's route, with its differences, and the route tally counts it."""
    shown = f"{mutation.name} ({mutation.kind}):\n{describe(case)}"
    assert not case.match, shown
    first = case.first_mismatch()
    assert first is not None, shown
    assert (first.method, first.route) == (mutation.method, mutation.route), shown
    names = case_names(seed, case)
    for expected in mutation.differences:
        assert reported(first, expected, names) is not None, f"no {expected} in {shown}"
    key = (mutation.feature, mutation.method, mutation.route)
    tally = next(tally for tally in route_tallies([case]) if (tally.feature, tally.method, tally.route) == key)
    on_route = [exchange for exchange in case.mismatches if (exchange.method, exchange.route) == key[1:]]
    assert tally.mismatches["recorded"] == len(on_route) >= 1, shown


@pytest.fixture(scope="module")
def unmodified(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    """A pair whose plugin side runs an untouched copy of the plugins, for both features."""
    root = tmp_path_factory.mktemp("unmodified")
    pair = build_pair(root / "ws", plugins_dir=copy_plugins(root / "plugins"), features=FEATURES)
    yield pair
    pair.close()


@pytest.fixture(scope="module")
def legacy_twice(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    """An A/A pair: both sides serve both features from legacy."""
    root = tmp_path_factory.mktemp("aa")
    pair = build_pair(root / "ws", plugins_dir=copy_plugins(root / "plugins"), features=FEATURES, aa=True)
    yield pair
    pair.close()


def test_mutations_cover_every_kind_on_both_plugins() -> None:
    assert {mutation.kind for mutation in MUTATIONS} == set(KINDS)
    assert {mutation.feature for mutation in MUTATIONS} == set(FEATURES)
    assert len({mutation.name for mutation in MUTATIONS}) == len(MUTATIONS)


@pytest.mark.parametrize("script", SCRIPTS)
def test_unmodified_copy_reports_no_difference(unmodified: Pair, script: str) -> None:
    case = replay_session(unmodified, SCRIPTS[script](unmodified.seed))
    assert case.match, describe(case)
    # The script really does what it says: no request of it was refused (the download found the upload, ...).
    assert all(exchange.legacy.status < 400 for exchange in case.exchanges), describe(case)
    assert all(tally.mismatched == 0 for tally in route_tallies([case]))


@pytest.mark.parametrize("script", SCRIPTS)
def test_aa_run_reports_no_difference(legacy_twice: Pair, script: str) -> None:
    assert legacy_twice.sides_label == "legacy/legacy"
    case = replay_session(legacy_twice, SCRIPTS[script](legacy_twice.seed))
    assert case.match, describe(case)


@pytest.mark.parametrize("mutation", MUTATIONS, ids=lambda mutation: mutation.name)
def test_injected_divergence_is_reported(tmp_path: Path, mutation: Mutation) -> None:
    case, seed = _run(tmp_path, mutation.edit, mutation.feature, SESSIONS[mutation.feature])
    _assert_reported(case, seed, mutation)


def test_mutation_with_a_vanished_anchor_fails_loudly(tmp_path: Path) -> None:
    plugins = copy_plugins(tmp_path / "plugins")
    with pytest.raises(MutationError, match="occurs 0 times"):
        apply_edit(plugins, Edit("papertrail/rules.py", "no such code in the plugin", ""))


# --- what the harness once misplaced or missed (found by this module, fixed in parity_tests): kept as guards ---


def test_state_written_by_a_get_is_reported_on_that_get(tmp_path: Path) -> None:
    # Reads can write (legacy makes a board on first sight): a row written by a GET must be blamed on that GET, not
    # on the next write request (an innocent route) or the end of the case.
    mutation = BOARD_READ_WRITES_ROW
    case, seed = _run(tmp_path, mutation.edit, mutation.feature, SESSIONS[mutation.feature])
    _assert_reported(case, seed, mutation)


def test_commit_difference_is_reported_once_when_later_commits_follow(tmp_path: Path) -> None:
    # A later commit must not move an earlier one's pointer (history read newest first did: /state/remote/0 became
    # /state/remote/1), or the same differing commit is reported again on every later write.
    publish = next(mutation for mutation in MUTATIONS if mutation.kind == "commit message changed")
    case, _ = _run(tmp_path, publish.edit, "blog", blog_delete_session)
    legacy, plugin = PUBLISH_MESSAGES
    found = [
        exchange.method
        for exchange in case.exchanges
        for difference in exchange.state
        if value_matches(legacy, difference.legacy) and value_matches(plugin, difference.plugin)
    ]
    assert found == ["POST"], describe(case)


def test_difference_that_comes_back_is_reported_again(tmp_path: Path) -> None:
    # Once the two files are equal again (no tags), the same divergence coming back (same tags, same two digests)
    # is a new difference, reported on the request that brought it back.
    case, seed = _run(tmp_path, TAGS_IN_FLOW_STYLE, "blog", tags_round_trip_session)
    _, created, emptied, retagged = case.exchanges
    post = f"blog/{seed.projects['blog']['id']}/repo/src/content/blog/{NEW_POST}"
    pointer = "/state/files/" + post.replace("/", "~1")
    assert [difference.pointer for difference in created.state] == [pointer], describe(case)
    assert emptied.match, describe(case)
    assert retagged.state == created.state, describe(case)


def test_renames_kept_in_the_clone_are_compared(tmp_path: Path) -> None:
    # The map of renamed, unpublished posts lives in the clone's .git/ folder (legacy's format, shared with the
    # plugin), which stored_files skips: clone_states reads it, so a plugin that forgets it is reported on the
    # rename, not later on the publish route.
    case, _ = _run(tmp_path, RENAMES_NOT_KEPT, "blog", blog_rename_session)
    rename = case.exchanges[-2]
    assert (rename.method, rename.route) == ("PATCH", BLOG_POST)
    assert case.first_mismatch() is rename, describe(case)
    assert rename.state, describe(case)
