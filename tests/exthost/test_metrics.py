"""`GET /metrics`: Prometheus text format counting real requests by feature, mode and outcome, rollout events, plugin
errors and latencies; behind METRICS_TOKEN when set; and, under gunicorn with several workers and
PROMETHEUS_MULTIPROC_DIR, the sum of every worker's counts over loopback HTTP."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from exthost.errors import ExtHostError
from exthost.platform import create_platform
from tests.exthost.test_cli_plugins import _sv
from tests.exthost.test_platform import sign_up
from tests.exthost.test_router import board, project_of, write_standin
from tests.exthost.test_serve import eventually, free_port, status_of
from tests.fixtures.app import TEST_ARGON2_KIB
from tests.fixtures.plugins import write_plugin

GUNICORN = Path(sys.executable).with_name("gunicorn")


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of an exposition, by name and sorted labels."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(found: dict, name: str, **labels: str) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture
def settings(settings_factory):
    settings = settings_factory(PLUGIN_ENTRY_POINTS=False, PLUGIN_POLL_SECONDS=0, FLAGS_POLL_SECONDS=0)
    write_standin(settings.PLUGINS_DIR)
    write_plugin(settings.PLUGINS_DIR, "hello")
    return settings


def test_metrics_count_requests_by_feature_mode_and_outcome_with_latencies(settings, platform_factory):
    platform = platform_factory(settings)
    platform.host.enable("standin")
    platform.host.enable("hello")
    alice = sign_up(platform, "alice@example.test")
    project = project_of(platform, alice)
    for _ in range(2):
        assert alice.get(board(project)).status_code == 200  # legacy mode
    assert alice.get("/api/hello/greet").status_code == 200  # a plugin of no feature
    assert alice.get("/api/hello/teapot").status_code == 418
    platform.set_mode("papertrail", "canary", percent=100)
    for _ in range(3):
        assert alice.get(board(project) + "?fail=1").status_code == 200  # legacy's answer after the plugin raised
    platform.set_mode("papertrail", "shadow")
    assert alice.get(board(project)).status_code == 200
    platform.shadow.drain()

    response = platform.test_client().get("/metrics")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=")
    found = samples(response.get_data(as_text=True))
    requests = "sv_requests_total"
    assert value(found, requests, feature="papertrail", mode="legacy", outcome="2xx") == 2
    assert value(found, requests, feature="papertrail", mode="canary", outcome="2xx") == 3
    assert value(found, requests, feature="papertrail", mode="shadow", outcome="2xx") == 1
    assert value(found, requests, feature="none", mode="plugin", outcome="2xx") == 1
    assert value(found, requests, feature="none", mode="plugin", outcome="4xx") == 1
    events = "sv_rollout_events_total"
    assert value(found, events, feature="papertrail", mode="canary", outcome="fallback:status-500") == 3
    shadow = {k: v for k, v in found.items() if k[0] == events and ("mode", "shadow") in k[1]}
    assert sum(shadow.values()) == 1  # one sample taken, one comparison outcome
    assert value(found, "sv_plugin_errors_total", plugin="standin", kind="handler") == 3
    latency = "sv_request_duration_seconds_count"
    assert value(found, latency, feature="papertrail", mode="canary") == 3
    assert value(found, latency, feature="papertrail", mode="legacy") == 2
    # /metrics and /health are not counted: scrapes and probes would drown the traffic they measure.
    platform.test_client().get("/health")
    again = samples(platform.test_client().get("/metrics").get_data(as_text=True))
    assert sum(v for k, v in again.items() if k[0] == requests) == sum(v for k, v in found.items() if k[0] == requests)


def test_metrics_two_platforms_in_one_process_count_apart(settings, settings_factory, platform_factory):
    first = platform_factory(settings)
    second = platform_factory(settings_factory(PLUGIN_ENTRY_POINTS=False))
    first.test_client().get("/openapi.json")
    found = samples(second.test_client().get("/metrics").get_data(as_text=True))
    assert value(found, "sv_requests_total", feature="none", mode="legacy", outcome="2xx") == 0
    found = samples(first.test_client().get("/metrics").get_data(as_text=True))
    assert value(found, "sv_requests_total", feature="none", mode="legacy", outcome="2xx") == 1


def test_metrics_token_guards_the_endpoint_when_set(settings_factory, platform_factory):
    settings = settings_factory(PLUGIN_ENTRY_POINTS=False, METRICS_TOKEN="s3cret-scrape")
    platform = platform_factory(settings)
    anonymous = platform.test_client().get("/metrics")
    assert anonymous.status_code == 401 and "METRICS_TOKEN" in anonymous.get_json()["error"]
    wrong = platform.test_client().get("/metrics", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    right = platform.test_client().get("/metrics", headers={"Authorization": "Bearer s3cret-scrape"})
    assert right.status_code == 200 and b"sv_requests_total" in right.data
    assert sign_up(platform, "user@example.test").get("/metrics").status_code == 401
    assert sign_up(platform, "admin@example.test", admin=True).get("/metrics").status_code == 200
    assert "s3cret-scrape" not in repr(settings)


def test_metrics_multiprocess_dir_from_a_setting_alone_is_refused_with_how_to_fix(settings_factory, tmp_path):
    # This process loaded prometheus_client without PROMETHEUS_MULTIPROC_DIR in its environment: single-process mode.
    settings = settings_factory(PLUGIN_ENTRY_POINTS=False, PROMETHEUS_MULTIPROC_DIR=tmp_path)
    with pytest.raises(ExtHostError, match="export PROMETHEUS_MULTIPROC_DIR in the environment"):
        create_platform(settings, argon2_memory_kib=TEST_ARGON2_KIB)


def _http(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


@pytest.mark.slow
def test_metrics_under_gunicorn_sum_every_workers_counts(settings_factory, tmp_path):
    settings = settings_factory(PLUGIN_ENTRY_POINTS=False)
    write_standin(settings.PLUGINS_DIR)
    assert _sv(settings, "plugins:enable", "standin").exit_code == 0
    metrics_dir = tmp_path / "prometheus"
    metrics_dir.mkdir()
    port = free_port()
    env = os.environ | {
        "DATABASE_URL": settings.DATABASE_URL,
        "DATA_DIR": str(settings.DATA_DIR),
        "PLUGINS_DIR": str(settings.PLUGINS_DIR),
        "PLUGIN_ENTRY_POINTS": "false",
        # Shadow samples go to each worker's shadow child process, which counts the comparisons in the same folder.
        "FEATURE_FLAGS__papertrail": "shadow",
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
    }
    access_log = tmp_path / "access.log"
    command = [
        str(GUNICORN),
        "exthost.wsgi:create_app()",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        "2",
        "--worker-class",
        "sync",
        "--access-logfile",
        str(access_log),
        "--access-logformat",
        "%(p)s %(U)s %(s)s",
    ]
    server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        eventually(lambda: status_of(f"http://127.0.0.1:{port}/health") == 200)

        def served_by() -> dict[str, int]:
            pids: dict[str, int] = {}
            for line in access_log.read_text().splitlines():
                pid, path, _ = line.split(" ")
                if path == "/openapi.json":
                    pids[pid] = pids.get(pid, 0) + 1
            return pids

        sent = 0
        lock = threading.Lock()

        def client() -> None:
            nonlocal sent
            for _ in range(10):
                assert _http(port, "/openapi.json")[0] == 200
                with lock:
                    sent += 1

        # Concurrent clients over new connections, until both sync workers have answered some (each takes one
        # connection at a time, so concurrency spreads them); the access log names the worker of each request.
        for _ in range(20):
            threads = [threading.Thread(target=client) for _ in range(4)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            eventually(lambda: sum(served_by().values()) == sent, timeout=10)
            if len(served_by()) >= 2:
                break
        workers = served_by()
        assert len(workers) >= 2, workers
        # Every scrape, whichever worker answers it, shows the sum over all workers.
        for _ in range(4):
            status, text = _http(port, "/metrics")
            assert status == 200
            found = samples(text)
            assert value(found, "sv_requests_total", feature="none", mode="legacy", outcome="2xx") == sent
            assert value(found, "sv_request_duration_seconds_count", feature="none", mode="legacy") == sent
        shadowed = 6
        for _ in range(shadowed):
            assert _http(port, board("p_none"))[0] in (401, 404)

        def shadow_outcomes() -> float:
            found = samples(_http(port, "/metrics")[1])
            return sum(v for k, v in found.items() if k[0] == "sv_rollout_events_total" and ("mode", "shadow") in k[1])

        eventually(lambda: shadow_outcomes() == shadowed, timeout=30)  # replayed off the request path, by children
        files = {path.name for path in metrics_dir.iterdir()}
        assert {re.sub(r"\D", "", pid) for pid in workers} <= {re.sub(r"\D", "", name) for name in files}
    finally:
        server.send_signal(signal.SIGTERM)
        _, errors = server.communicate(timeout=60)
    assert server.returncode == 0, errors
