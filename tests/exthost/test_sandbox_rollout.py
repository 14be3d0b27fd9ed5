"""Shadow replays and canary answers of a sandboxed plugin run in its workers: the real PaperTrail plugin, sandboxed
(PLUGIN_ISOLATION=process) on PostgreSQL. A replay's writes are thrown away in the worker, with the time and ids
the host pinned, and compare equal to legacy's; a canary write is kept by the worker when the plugin answers well."""

from __future__ import annotations

import pytest

from tests.exthost.test_rollout_postgres import outcomes, pg_platform, shared_board

pytestmark = pytest.mark.postgres

__all__ = ["pg_platform"]


def test_sandbox_shadow_replays_run_in_the_plugin_workers_and_match(pg_platform):
    platform = pg_platform(PLUGIN_ISOLATION="process")
    platform.host.enable("papertrail")
    [client], base, board_id = shared_board(platform, 1)
    platform.set_mode("papertrail", "shadow", changed_by="test")
    # Each replay ends before the next request: none can lose to the caller's next write (that is counted as
    # contention or moved state, never as a match, and tests/exthost/test_rollout_postgres.py covers it).
    for round_number in range(3):
        assert client.get(base).status_code == 200
        assert platform.shadow.drain(60)
        patched = client.patch(f"{base}/{board_id}/nodes/n0", json={"title": f"r{round_number}"})
        assert patched.status_code == 200
        assert platform.shadow.drain(60)
        comment = client.post(f"{base}/{board_id}/comments", json={"nodeId": "n0", "body": f"c{round_number}"})
        assert comment.status_code == 201
        assert platform.shadow.drain(60)
    found = outcomes(platform)
    assert found["mismatch"] == 0 and found["candidate_error"] == 0, (found, platform.results.mismatches())
    assert found["match"] == 9, found
    sandbox = platform.host.describe(platform.host.get("papertrail"))["sandbox"]
    assert sandbox["state"] == "running"
    assert sandbox["events"] == {}
    assert sandbox["answered"] == 9  # legacy answered the callers; every replay ran in the plugin's workers
    # The replays' writes were thrown away: the board holds the callers' three comments, no more.
    platform.set_mode("papertrail", "legacy", changed_by="test")
    comments = client.get(f"{base}/{board_id}/comments").get_json()
    assert len(comments["comments"] if isinstance(comments, dict) else comments) == 3


def test_sandbox_canary_writes_are_kept_by_the_worker_when_the_plugin_answers_well(pg_platform):
    platform = pg_platform(PLUGIN_ISOLATION="process")
    platform.host.enable("papertrail")
    [client], base, board_id = shared_board(platform, 1)
    platform.set_mode("papertrail", "canary", percent=100, changed_by="test")
    patched = client.patch(f"{base}/{board_id}/nodes/n0", json={"title": "through the sandbox"})
    assert patched.status_code == 200, patched.get_json()
    counts = {row["outcome"]: row["count"] for row in platform.results.counts()}
    assert not any(outcome.startswith("fallback") for outcome in counts), counts
    platform.set_mode("papertrail", "legacy", changed_by="test")
    board = client.get(base).get_json()
    titles = {node["id"]: node["title"] for node in board["board"]["nodes"]}
    assert titles["n0"] == "through the sandbox"
