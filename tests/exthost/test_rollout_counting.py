"""Every rollout outcome is counted, in every process, without anyone calling drain or stop: canary fallbacks reach
the shared table on the flush timer, a killed shadow child's unrecorded samples are counted lost and a new child
starts (within its budget), and samples that outlived their reason (too old, or their route left shadow mode) are
dropped and counted instead of replayed."""

from __future__ import annotations

import os
import signal
import time
from collections import Counter

import pytest

from exthost.rollout.results import ShadowResults
from legacy_core.db import make_engine, make_session_factory
from tests.exthost.test_platform import sign_up
from tests.exthost.test_router import board, project_of, write_standin


def stored_counts(settings) -> Counter[tuple[str, str]]:
    """What every process has flushed to the shared table so far (a reader of its own, with nothing pending)."""
    engine = make_engine(settings.DATABASE_URL)
    try:
        rows = ShadowResults(make_session_factory(engine)).counts()
    finally:
        engine.dispose()
    return Counter({(row["method"], row["outcome"]): row["count"] for row in rows})


def wait_for(predicate, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    return predicate()


@pytest.fixture
def make(settings_factory, platform_factory):
    def factory(**overrides):
        settings = settings_factory(PLUGIN_ENTRY_POINTS=False, PLUGIN_POLL_SECONDS=0, FLAGS_POLL_SECONDS=0, **overrides)
        write_standin(settings.PLUGINS_DIR)
        platform = platform_factory(settings)
        platform.host.enable("standin")
        return platform, settings

    return factory


def test_rollout_counting_canary_fallbacks_reach_the_shared_table_on_the_timer(make):
    platform, settings = make(SHADOW_FLUSH_SECONDS=0.1, CANARY_BREAKER_FAILURES=0)
    platform.set_mode("papertrail", "canary", percent=100)
    client = platform.test_client()
    for _ in range(3):
        assert client.get(board("p_1") + "?fail=1").status_code == 401  # legacy's answer after the plugin raised
    found = wait_for(lambda: stored_counts(settings)[("GET", "fallback:status-500")] == 3 and stored_counts(settings))
    assert found[("GET", "fallback:status-500")] == 3  # no drain, no stop: the platform's timer wrote them


def test_rollout_counting_close_writes_what_the_timer_has_not(make):
    platform, settings = make(SHADOW_FLUSH_SECONDS=3600, CANARY_BREAKER_FAILURES=0)
    platform.set_mode("papertrail", "canary", percent=100)
    assert platform.test_client().get(board("p_1") + "?fail=1").status_code == 401
    assert stored_counts(settings)[("GET", "fallback:status-500")] == 0
    platform.close()
    assert stored_counts(settings)[("GET", "fallback:status-500")] == 1


def test_rollout_counting_a_killed_shadow_child_is_restarted_and_its_samples_counted_lost(make):
    platform, settings = make(SHADOW_RUNNER="process", SHADOW_FLUSH_SECONDS=0.2)
    alice = sign_up(platform, "alice@example.test")
    project = project_of(platform, alice)
    platform.set_mode("papertrail", "shadow")
    first = platform.shadow._process
    sent = 6
    for _ in range(sent):
        assert alice.get(board(project)).status_code == 200
    os.kill(first.pid, signal.SIGKILL)
    first.join(10)
    second = wait_for(lambda: platform.shadow._process is not first and platform.shadow._process)
    assert second is not None and second.is_alive() and second.pid != first.pid
    assert platform.diagnostics()["shadow"]["childDeaths"] == 1
    assert platform.diagnostics()["shadow"]["childRestarts"] == 1
    assert alice.get(board(project)).status_code == 200  # the new child replays what comes next
    assert platform.shadow.drain(60)
    found = stored_counts(settings)
    get = {outcome: n for (method, outcome), n in found.items() if method == "GET"}
    assert sum(get.values()) == sent + 1, get  # every sample ended in exactly one outcome, the lost ones included
    assert get.get("lost:shadow-child-died", 0) >= 1, get
    assert get.get("mismatch", 0) >= 1, get  # replayed by the new child (the stand-in answers signed-in callers
    # otherwise than legacy)


def test_rollout_counting_past_the_restart_budget_samples_are_dropped_and_counted(make):
    platform, settings = make(SHADOW_RUNNER="process", SHADOW_CHILD_RESTARTS=0)
    platform.set_mode("papertrail", "shadow")
    child = platform.shadow._process
    os.kill(child.pid, signal.SIGKILL)
    child.join(10)
    platform.tick()
    assert platform.shadow._process is None
    assert platform.test_client().get(board("p_1")).status_code == 401
    platform.results.flush()
    assert stored_counts(settings)[("GET", "dropped:shadow-child-down")] == 1


def test_rollout_counting_a_sample_whose_route_left_shadow_mode_is_dropped_not_replayed(make):
    platform, settings = make(SHADOW_WORKERS=1)
    platform.set_mode("papertrail", "shadow")
    platform.shadow.stop()  # the worker thread ends; samples wait in the queue
    client = platform.test_client()
    for _ in range(3):
        assert client.get(board("p_1")).status_code == 401
    platform.set_mode("papertrail", "legacy")
    platform.shadow.start()
    assert platform.shadow.drain(30)
    assert stored_counts(settings) == Counter({("GET", "dropped:mode-changed"): 3})


def test_rollout_counting_a_sample_older_than_the_bound_is_dropped_not_replayed(make):
    platform, settings = make(SHADOW_WORKERS=1, SHADOW_MAX_SAMPLE_AGE_SECONDS=0.2)
    platform.set_mode("papertrail", "shadow")
    platform.shadow.stop()
    assert platform.test_client().get(board("p_1")).status_code == 401
    time.sleep(0.4)
    platform.shadow.start()
    assert platform.shadow.drain(30)
    assert stored_counts(settings) == Counter({("GET", "dropped:stale"): 1})


def test_rollout_counting_a_child_left_down_comes_back_once_the_restart_window_has_room(make):
    platform, _ = make(SHADOW_RUNNER="process", SHADOW_CHILD_RESTARTS=1)
    runner = platform.shadow
    now = [1000.0]
    runner._monotonic = lambda: now[0]
    for _ in range(2):  # the first death spends the budget of 1; the second leaves the runner down
        child = runner._process
        os.kill(child.pid, signal.SIGKILL)
        child.join(10)
        platform.tick()
    assert runner._process is None and runner.deaths == 2 and runner.restarts == 1
    now[0] += 301  # past the 5-minute window
    platform.tick()
    assert runner._process is not None and runner._process.is_alive() and runner.restarts == 2


def test_rollout_counting_a_failing_write_of_a_kept_mismatch_still_counts_its_outcome(make, monkeypatch):
    platform, settings = make()
    alice = sign_up(platform, "alice@example.test")
    project = project_of(platform, alice)
    platform.set_mode("papertrail", "shadow")

    def refuse(**kept):
        raise OSError("database gone")

    monkeypatch.setattr(platform.results, "keep", refuse)
    assert alice.get(board(project)).status_code == 200  # the stand-in answers signed-in callers otherwise
    assert platform.shadow.drain(30)
    assert stored_counts(settings)[("GET", "mismatch")] == 1
    assert platform.shadow.keep_errors == 1


def test_rollout_counting_a_failing_canary_write_spends_the_error_budget(make):
    platform, _ = make(PLUGIN_ERROR_BUDGET=2, CANARY_BREAKER_FAILURES=0)
    platform.set_mode("papertrail", "canary", percent=100)
    client = platform.test_client()
    for _ in range(2):  # the plugin raises inside the guarded write, which is rolled back; legacy answers
        assert client.patch(board("p_1") + "?fail=1", json={"title": "x"}).status_code == 401
    platform.host.sync(force=True)
    assert platform.host.get("standin").tenants == set()  # both errors counted, though their writes were not kept
