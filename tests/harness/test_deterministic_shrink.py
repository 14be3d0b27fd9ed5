"""Shrinking a generated blog divergence is deterministic: hypothesis never gives up on it as flaky, and the same
seed gives the same smallest reproductions.

Needs the fix in `parity_tests/generated.py` (a spent shrink budget ends an attempt as an overrun, not with
`reject()`; the state machine prints its steps without hypothesis's result names).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from parity_tests.generated import generate_cases
from parity_tests.pair import Pair, build_pair
from tests.harness.mutants import MUTATIONS, mutated_plugins

MUTATION = next(mutation for mutation in MUTATIONS if mutation.name == "blog-published-status-renamed")
CASES = 40
# Small, so that the budget is spent: the path that made hypothesis stop with FlakyStrategyDefinition.
SHRINKS = 20
FLAKY = "stopped shrinking early"


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    root = tmp_path_factory.mktemp("deterministic-shrink")
    built = build_pair(root / "ws", plugins_dir=mutated_plugins(root / "plugins", MUTATION.edit), features=("blog",))
    yield built
    built.close()


def _run(pair: Pair, seed: int) -> tuple[list[tuple[str, list[tuple[str, str, bytes]]]], list[str]]:
    notes: list[str] = []
    # Without edge cases: one of them would find the divergence first, as built, and leave nothing to shrink.
    cases = generate_cases(pair, "blog", CASES, seed=seed, max_shrinks=SHRINKS, on_note=notes.append, edges=False)
    reproductions = [
        (case.source, [(e.request.method, e.request.path, e.request.body) for e in case.exchanges])
        for case in cases
        if case.reproduction is not None
    ]
    return reproductions, notes


# Seed 0 shrinks a stateful sequence and seed 2 a strategy case past their budget (both flaky before the fix).
@pytest.mark.parametrize("seed", [0, 2], ids=["stateful", "strategy"])
def test_generated_blog_divergence_shrinks_without_flaky_note(pair: Pair, seed: int) -> None:
    reproductions, notes = _run(pair, seed)
    assert reproductions, notes  # hypothesis found the divergence and shrank it
    assert not [note for note in notes if FLAKY in note], notes


def test_generated_blog_divergence_same_seed_same_reproductions(pair: Pair) -> None:
    first, _ = _run(pair, 2)
    second, _ = _run(pair, 2)
    assert first == second
