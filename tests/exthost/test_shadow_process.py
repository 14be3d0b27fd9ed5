"""The process shadow runner: replays in a spawned child at low priority, same outcomes as the thread runner, stored
data untouched, full queue dropped and counted, and the child stopped with the platform."""

from __future__ import annotations

import os

import pytest

from tests.exthost.test_platform import sign_up
from tests.exthost.test_router import board, counts, project_of, standin_wrote, write_standin


@pytest.fixture
def platform(settings_factory, platform_factory):
    settings = settings_factory(
        PLUGIN_ENTRY_POINTS=False, PLUGIN_POLL_SECONDS=0, FLAGS_POLL_SECONDS=0, SHADOW_RUNNER="process"
    )
    write_standin(settings.PLUGINS_DIR)
    platform = platform_factory(settings)
    platform.host.enable("standin")
    return platform


def test_shadow_process_replays_in_a_niced_child_and_never_changes_stored_data(platform):
    child = platform.shadow._process
    assert child is not None and child.is_alive() and child.pid != os.getpid()
    alice = sign_up(platform, "alice@example.test")
    project = project_of(platform, alice)
    legacy_answer = alice.get(board(project)).get_data()
    platform.set_mode("papertrail", "shadow")
    anonymous = platform.test_client().get(board(project))
    assert anonymous.status_code == 401
    assert alice.get(board(project)).get_data() == legacy_answer
    assert alice.patch(board(project), json={"title": "Renamed"}).status_code == 200
    assert platform.shadow.drain(60)
    found = counts(platform)
    assert found[("GET", "match")] == 1 and found[("PATCH", "mismatch")] == 1
    assert found.get(("GET", "mismatch"), 0) + found.get(("GET", "skipped:state-moved"), 0) == 1, found
    assert platform.shadow.processed == 3 and platform.shadow.errors == 0
    assert not standin_wrote(platform)  # the stand-in's writes in the child were rolled back
    [kept, *_] = platform.results.mismatches("papertrail")
    assert kept["differences"]
    with open(f"/proc/{child.pid}/stat") as stat:
        assert int(stat.read().rsplit(")", 1)[1].split()[16]) == 10  # niceness field of /proc/<pid>/stat
    platform.close()
    assert not child.is_alive()


def test_shadow_process_drops_and_counts_when_the_child_is_gone(platform):
    platform.shadow.stop()
    platform.set_mode("papertrail", "shadow")
    assert platform.test_client().get(board("p_1")).status_code == 401
    platform.results.flush()
    found = {(c["method"], c["outcome"]): c["count"] for c in platform.results.counts()}
    assert found == {("GET", "dropped:shadow-child-down"): 1}
