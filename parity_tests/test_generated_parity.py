"""Generated cases per feature (SV_PARITY_GENERATED, default 200): single requests and stateful sequences from
/openapi.json, and hypothesis strategies, each run on legacy and on the plugins from identical state."""

from __future__ import annotations

import pytest

from legacy_core.features import FEATURES
from parity_tests.conftest import GENERATED
from parity_tests.generated import generate_cases
from parity_tests.outcome import CaseResult
from parity_tests.pair import Pair


@pytest.mark.parametrize("feature", FEATURES)
def test_generated_cases_match(feature: str, parity_pair: Pair, parity_results: list[CaseResult]) -> None:
    notes: list[str] = []
    results = generate_cases(parity_pair, feature, GENERATED, seed=0, on_note=notes.append)
    parity_results.extend(results)
    mismatched = [result for result in results if not result.match]
    assert mismatched == [], [(result.case_id, result.to_json()) for result in mismatched[-1:]]
    assert len(results) == GENERATED, notes
    assert {result.source.split(":")[0] for result in results} >= {"edge", "schemathesis", "stateful", "strategy"}
