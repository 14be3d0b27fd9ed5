"""SHADOW_RUNNER=redis: the serving process only hands samples to a Redis Stream; `sv shadow:worker` processes replay
them, each sample once across workers, acknowledged once counted; a dead worker's samples are claimed by another;
Redis being down costs samples (counted), never a caller's answer."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exthost.evidence.compare import CapturedRequest, CapturedResponse
from exthost.platform import build_platform_parts
from exthost.rollout.replayer import preparer, replay_runner
from exthost.rollout.shadow import Sample
from exthost.rollout.shadow_redis import GROUP, ShadowWorker, connect, sample_from_json, sample_to_json
from tests.exthost.test_platform import sign_up
from tests.exthost.test_router import board, counts, project_of, standin_wrote, write_standin

ROOT = Path(__file__).resolve().parents[2]

plain = st.one_of(
    st.text(),
    st.binary(),
    st.integers(),
    st.floats(allow_nan=False),
    st.booleans(),
    st.none(),
    st.tuples(st.integers()),
)


@given(
    environ=st.dictionaries(st.text(min_size=1), plain, max_size=6),
    body=st.binary(max_size=200),
    answer=st.binary(max_size=200),
    headers=st.lists(st.tuples(st.text(min_size=1), st.text()), max_size=4),
)
def test_shadow_redis_a_sample_survives_the_stream_as_json(environ, body, answer, headers):
    started = datetime(2026, 12, 6, 10, 0, 0, 123000, tzinfo=UTC)
    sample = Sample(
        feature="papertrail",
        route="/api/projects/<project_id>/papertrail/board",
        mode="shadow",
        environ={**environ, "server.socket": object()},
        request=CapturedRequest("PATCH", "/api/projects/p_1/papertrail/board", "a=1", tuple(headers), body),
        primary_side="legacy",
        primary_app=None,
        candidate_app=None,
        primary=CapturedResponse(200, tuple(headers), answer),
        started=started,
        instants=(started,),
        tenant="tenant-0",
    )
    back = sample_from_json(sample_to_json(sample))
    assert back.environ == environ  # plain values kept exactly; the server's objects stay behind
    assert (back.request, back.primary, back.started, back.instants) == (
        sample.request,
        sample.primary,
        sample.started,
        sample.instants,
    )
    assert (back.feature, back.route, back.mode, back.tenant) == (sample.feature, sample.route, "shadow", "tenant-0")


def test_shadow_redis_a_malformed_entry_is_a_clear_error():
    with pytest.raises(ValueError, match="not a shadow sample"):
        sample_from_json(b'{"feature": "papertrail"}')


@pytest.fixture
def settings(settings_factory, redis_url, redis_stream):
    settings = settings_factory(
        PLUGIN_ENTRY_POINTS=False,
        PLUGIN_POLL_SECONDS=0,
        FLAGS_POLL_SECONDS=0,
        SHADOW_RUNNER="redis",
        REDIS_URL=redis_url,
        SHADOW_STREAM=redis_stream,
    )
    write_standin(settings.PLUGINS_DIR)
    return settings


@pytest.fixture
def platform(settings, platform_factory):
    platform = platform_factory(settings)
    platform.host.enable("standin")
    return platform


@pytest.fixture
def shadowing(settings_factory, platform_factory, settings):
    """A platform on the test's stream and database, shadowing PaperTrail through the stand-in, with overrides."""

    def factory(**overrides):
        values = {
            "DATABASE_URL": settings.DATABASE_URL,
            "PLUGINS_DIR": settings.PLUGINS_DIR,
            "FLAGS_POLL_SECONDS": 0,
            "SHADOW_RUNNER": "redis",
            "REDIS_URL": settings.REDIS_URL,
            "SHADOW_STREAM": settings.SHADOW_STREAM,
            **overrides,
        }
        platform = platform_factory(settings_factory(**values))
        platform.host.enable("standin")
        platform.set_mode("papertrail", "shadow")
        return platform

    return factory


@pytest.fixture
def make_worker(settings):
    made = []

    def factory(name: str, **options) -> ShadowWorker:
        host, legacy, results, rules = build_platform_parts(settings, name=f"worker-{name}", passive=True)
        made.append(host)
        return ShadowWorker(
            client=connect(settings.REDIS_URL),
            stream=settings.SHADOW_STREAM,
            runner=replay_runner(settings, host, results, rules),
            results=results,
            prepare=preparer(host, legacy.app),
            consumer=name,
            block_ms=50,
            **options,
        )

    yield factory
    for host in made:
        host.shutdown()


def shadow_session(platform) -> tuple[str, int]:
    alice = sign_up(platform, "alice@example.test")
    project = project_of(platform, alice)
    legacy_answer = alice.get(board(project)).get_data()
    platform.set_mode("papertrail", "shadow")
    assert platform.test_client().get(board(project)).status_code == 401  # anonymous: the stand-in agrees
    assert alice.get(board(project)).get_data() == legacy_answer  # the caller gets legacy's answer
    assert alice.patch(board(project), json={"title": "Renamed"}).status_code == 200
    assert platform.shadow.drain(30)
    return project, 3


def test_shadow_redis_workers_elsewhere_replay_what_the_serving_process_only_sent(platform, make_worker, settings):
    _, sent = shadow_session(platform)
    assert platform.shadow.sent == sent and platform.shadow.processed == 0  # no replay in the serving process
    client = connect(settings.REDIS_URL)
    assert client.xlen(settings.SHADOW_STREAM) == sent
    worker = make_worker("w1")
    worker.run(until_idle=True)
    assert worker.replayed == sent
    found = counts(platform)
    assert found[("GET", "match")] == 1 and found[("PATCH", "mismatch")] == 1, found
    assert sum(found.values()) == sent
    assert client.xpending(settings.SHADOW_STREAM, GROUP)["pending"] == 0  # every sample acknowledged
    assert not standin_wrote(platform)  # the stand-in's writes in the worker were rolled back


def test_shadow_redis_two_workers_replay_each_sample_once(platform, make_worker):
    alice = sign_up(platform, "alice@example.test")
    project = project_of(platform, alice)
    platform.set_mode("papertrail", "shadow")
    for _ in range(10):
        assert platform.test_client().get(board(project)).status_code == 401
    assert platform.shadow.drain(30)
    first, second = make_worker("a", batch=3), make_worker("b", batch=3)
    while first.step() + second.step():
        pass
    assert first.replayed + second.replayed == 10 and first.replayed and second.replayed
    assert counts(platform) == {("GET", "match"): 10}


def test_shadow_redis_a_dead_workers_samples_are_claimed_by_another(platform, make_worker, settings):
    shadow_session(platform)
    dead = make_worker("dead")
    taken = dead._read()  # read, then "killed": never replayed, never acknowledged
    assert len(taken) == 3
    survivor = make_worker("survivor", claim_idle_ms=100)
    time.sleep(0.2)  # the dead worker's entries have been idle longer than the claim bound
    survivor.run(until_idle=True)
    found = counts(platform)
    assert sum(found.values()) == 3, found  # the three samples counted once each, by the survivor
    assert connect(settings.REDIS_URL).xpending(settings.SHADOW_STREAM, GROUP)["pending"] == 0


def test_shadow_redis_a_malformed_entry_is_counted_and_acknowledged(platform, make_worker, settings):
    client = connect(settings.REDIS_URL)
    client.xadd(settings.SHADOW_STREAM, {"sample": b"not json"})
    worker = make_worker("w")
    worker.run(until_idle=True)
    found = {(c["feature"], c["outcome"]): c["count"] for c in platform.results.counts()}
    assert found == {("-", "skipped:malformed-sample"): 1}
    assert client.xpending(settings.SHADOW_STREAM, GROUP)["pending"] == 0


def test_shadow_redis_unreachable_costs_samples_never_answers(shadowing):
    platform = shadowing(REDIS_URL="redis://127.0.0.1:1/0")
    assert platform.test_client().get(board("p_1")).status_code == 401
    assert platform.shadow.drain(30)
    assert counts(platform) == {("GET", "dropped:redis-unavailable"): 1}


def test_shadow_redis_the_stream_is_bounded_and_what_does_not_fit_is_counted(shadowing, settings):
    platform = shadowing(SHADOW_QUEUE_SIZE=2)
    for _ in range(5):
        assert platform.test_client().get(board("p_1")).status_code == 401
        assert platform.shadow.drain(30)
    assert connect(settings.REDIS_URL).xlen(settings.SHADOW_STREAM) == 2
    assert counts(platform) == {("GET", "dropped:stream-full"): 3}


@pytest.mark.slow
def test_shadow_redis_sv_shadow_worker_replays_and_stops_on_sigterm(platform, settings):
    shadow_session(platform)
    env = {
        **os.environ,
        "DATABASE_URL": settings.DATABASE_URL,
        "DATA_DIR": str(settings.DATA_DIR),
        "PLUGINS_DIR": str(settings.PLUGINS_DIR),
        "PLUGIN_ENTRY_POINTS": "false",
        "REDIS_URL": settings.REDIS_URL,
        "SHADOW_STREAM": settings.SHADOW_STREAM,
    }
    worker = subprocess.Popen(
        [sys.executable, "-c", "from exthost.cli import main; main()", "shadow:worker", "--consumer", "cli"],
        env=env,
        cwd=ROOT,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and sum(counts(platform).values()) < 3:
            time.sleep(0.2)
        assert sum(counts(platform).values()) == 3
    finally:
        worker.send_signal(signal.SIGTERM)
        _, stderr = worker.communicate(timeout=30)
    assert worker.returncode == 0, stderr
    assert "stopped after 3 replays" in stderr


def test_shadow_redis_counted_samples_leave_the_stream_so_it_never_fills_for_good(shadowing, settings, make_worker):
    platform = shadowing(SHADOW_QUEUE_SIZE=2)
    worker = make_worker("w")
    for _ in range(3):  # 6 samples through a stream bounded at 2: each pair is counted and leaves before the next
        for _ in range(2):
            assert platform.test_client().get(board("p_1")).status_code == 401
        assert platform.shadow.drain(30)
        worker.run(until_idle=True)
        assert connect(settings.REDIS_URL).xlen(settings.SHADOW_STREAM) == 0
    assert counts(platform) == {("GET", "match"): 6}
