"""Every bundled recorded session, replayed on legacy and on the plugins from identical state: same answers, same
stored rows, files and git history."""

from __future__ import annotations

import pytest

from parity_tests.outcome import CaseResult
from parity_tests.pair import Pair
from parity_tests.recordings import DEFAULT_RECORDINGS, RecordedSession, find_recordings, replay_session

CORPUS = list(find_recordings(DEFAULT_RECORDINGS))


def test_corpus_covers_both_features_with_readable_sessions() -> None:
    assert {found.feature for found in CORPUS} == {"papertrail", "blog"}
    unreadable = [found.error for found in CORPUS if isinstance(found, CaseResult)]
    assert unreadable == []
    assert all(len(found.exchanges) >= 5 for found in CORPUS if isinstance(found, RecordedSession))


@pytest.mark.parametrize("session", CORPUS, ids=lambda found: found.name if isinstance(found, RecordedSession) else "?")
def test_recorded_session_matches(
    session: RecordedSession, parity_pair: Pair, parity_results: list[CaseResult]
) -> None:
    result = replay_session(parity_pair, session)
    parity_results.append(result)
    assert result.match, [exchange.to_json() for exchange in result.mismatches] or result.end_state
    # Replayed for real: the bundled corpus was recorded on the harness's seed, so once ids, password and remote
    # are translated, legacy answers each request with the status it answered when recorded.
    replayed = [(exchange.method, exchange.request.path, exchange.legacy.status) for exchange in result.exchanges]
    recorded = [(request.method, response.status if response else None) for request, response in session.exchanges]
    assert [(method, status) for method, _, status in replayed] == recorded, replayed
