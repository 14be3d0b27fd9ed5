"""Shadow traffic with the real PaperTrail plugin: the stored data after a shadowed session is byte-for-byte the data
of the same session with shadowing off, and identical implementations compare as matches."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from werkzeug.test import Client

from exthost.platform import Platform, create_platform
from legacy_core.clock import FixedClock, SequentialIds
from legacy_core.settings import Settings
from tests.fixtures.app import PASSWORD, TEST_ARGON2_KIB
from tests.fixtures.twins import REPO_PLUGINS, stored_files, stored_rows

NODES = [
    {"id": "n1", "type": "claim", "title": "The bridge was closed", "x": 10, "y": 20},
    {"id": "n2", "type": "evidence", "title": "Council minutes", "x": 200, "y": 40},
]


def session(platform: Platform) -> tuple[Client, list[tuple[int, bytes]]]:
    """A realistic PaperTrail session; every answer the caller got, in order."""
    client = platform.test_client()
    answers = []

    def call(method: str, path: str, **kwargs: Any) -> Any:
        response = client.open(path, method=method, **kwargs)
        answers.append((response.status_code, response.get_data()))
        # Each replay runs before the next request, so a read is never replayed after a later write (which the
        # runner would rightly count as state-moved) and the outcomes below are exact.
        assert platform.shadow.drain()
        return response

    call("POST", "/register", json={"email": "alice@example.test", "password": PASSWORD, "name": "Alice"})
    project = call("POST", "/api/projects", json={"name": "Bridge", "type": "papertrail"}).get_json()["id"]
    base = f"/api/projects/{project}/papertrail/board"
    call("GET", base)  # creates the board on first use, on the primary only
    board = call("POST", base, json={"title": "Bridge closure", "nodes": NODES, "edges": []}).get_json()
    board_id = board["board"]["id"]
    call("PATCH", base, json={"title": "Bridge closure (2024)"})
    call("POST", f"{base}/{board_id}/edges", json={"source": "n1", "target": "n2", "label": "supports"})
    call("POST", f"{base}/{board_id}/comments", json={"nodeId": "n1", "body": "Check the date"})
    call("GET", f"{base}/{board_id}/nodes")
    call("GET", f"{base}/export")
    call("DELETE", f"{base}/{board_id}/nodes/n2")
    call("GET", base)
    call("GET", f"/projects/{project}/board")
    return client, answers


def test_shadow_a_shadowed_session_stores_exactly_what_an_unshadowed_one_does(
    settings_factory: Callable[..., Settings],
) -> None:
    def run(mode: str) -> tuple[Platform, list[tuple[int, bytes]]]:
        platform = create_platform(
            settings_factory(PLUGINS_DIR=REPO_PLUGINS, PLUGIN_ENTRY_POINTS=False, FLAGS_POLL_SECONDS=0),
            clock=FixedClock(start=datetime(2026, 3, 1, 9, 30, tzinfo=UTC), step=timedelta(milliseconds=7)),
            ids=SequentialIds(),
            argon2_memory_kib=TEST_ARGON2_KIB,
        )
        platform.host.enable("papertrail")
        platform.set_mode("papertrail", mode)
        _, answers = session(platform)
        assert platform.shadow.drain()
        return platform, answers

    shadowed, shadowed_answers = run("shadow")
    plain, plain_answers = run("legacy")
    try:
        assert shadowed_answers == plain_answers  # the caller gets exactly legacy's answers
        assert stored_rows(shadowed) == stored_rows(plain)
        settings = (shadowed.services.settings, plain.services.settings)
        assert stored_files(settings[0].papertrail_root) == stored_files(settings[1].papertrail_root)
        found = {(c["method"], c["route"], c["outcome"]): c["count"] for c in shadowed.results.counts()}
        assert sum(found.values()) == 10  # every feature request was sampled and ended somewhere
        assert not [key for key in found if key[2] in ("mismatch", "candidate_error", "dropped")], found
        assert found[("GET", "/api/projects/<project_id>/papertrail/board/export", "match")] == 1
        assert found[("PATCH", "/api/projects/<project_id>/papertrail/board", "match")] == 1
        # Replayed after the caller's own DELETE, legacy finds nothing: not evidence, so not counted as a match.
        node = "/api/projects/<project_id>/papertrail/board/<board_id>/nodes/<node_id>"
        assert found[("DELETE", node, "skipped:not-replayable")] == 1
        assert plain.results.counts() == []
    finally:
        shadowed.close()
        plain.close()
