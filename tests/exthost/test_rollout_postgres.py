"""The rollout on PostgreSQL under concurrent writers, as production runs it: shadow replays never make a caller
fail, never report a mismatch that is contention, and every outcome is counted.

The real PaperTrail plugin serves beside legacy; several threads write to one board at once while every request is
replayed (thread runner: replays and live requests share one process, so their locks meet as they do across
gunicorn workers and the shadow child).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from exthost.deploy import upgrade_schema
from exthost.platform import Platform, create_platform
from legacy_core.db import make_engine
from tests.fixtures.app import BUNDLED_PLUGINS, PASSWORD, TEST_ARGON2_KIB, make_settings
from tests.fixtures.twins import REPO_PLUGINS

pytestmark = pytest.mark.postgres

WRITERS = 6
ROUNDS = 12


def migrated(url: str) -> str:
    engine = make_engine(url)
    try:
        upgrade_schema(engine, BUNDLED_PLUGINS)
    finally:
        engine.dispose()
    return url


@pytest.fixture
def pg_platform(postgres_url: str, tmp_path: Path) -> Callable[..., Platform]:
    made: list[Platform] = []

    def factory(**overrides: Any) -> Platform:
        settings = make_settings(
            tmp_path / f"p{len(made)}",
            DATABASE_URL=migrated(postgres_url) if not made else postgres_url,
            **{
                "PLUGINS_DIR": REPO_PLUGINS,
                "PLUGIN_ENTRY_POINTS": False,
                "PLUGIN_POLL_SECONDS": 0,
                "FLAGS_POLL_SECONDS": 0,
                "SHADOW_RUNNER": "thread",
                "SHADOW_WORKERS": 2,
                **overrides,
            },
        )
        platform = create_platform(settings, argon2_memory_kib=TEST_ARGON2_KIB)
        made.append(platform)
        return platform

    yield factory
    for platform in made:
        platform.close()


def shared_board(platform: Platform, writers: int) -> tuple[list[Any], str, str]:
    """An owner's board with nodes, and one signed-in client per writer (all editors of the project)."""
    owner = platform.test_client()
    registered = owner.post("/register", json={"email": "o@example.test", "password": PASSWORD, "name": "O"})
    assert registered.status_code == 201
    project = owner.post("/api/projects", json={"name": "Race", "type": "papertrail"}).get_json()["id"]
    base = f"/api/projects/{project}/papertrail/board"
    nodes = [{"id": f"n{i}", "type": "claim", "title": f"Node {i}", "x": i, "y": i} for i in range(WRITERS)]
    board = owner.post(base, json={"title": "Race", "nodes": nodes, "edges": []})
    assert board.status_code in (200, 201), board.get_json()
    clients = []
    for index in range(writers):
        client = platform.test_client()
        email = f"w{index}@example.test"
        assert client.post("/register", json={"email": email, "password": PASSWORD, "name": email}).status_code == 201
        invited = owner.post(f"/api/projects/{project}/shares", json={"email": email, "role": "editor"})
        assert invited.status_code == 201, invited.get_json()
        clients.append(client)
    return clients, base, board.get_json()["board"]["id"]


def hammer(clients: list[Any], base: str, board_id: str) -> Counter[int]:
    """Every writer patches its own node, the board and adds comments, at once; the statuses the callers got."""
    statuses: Counter[int] = Counter()
    lock = threading.Lock()
    start = threading.Barrier(len(clients))

    def write(index: int, client: Any) -> None:
        start.wait()
        for round_number in range(ROUNDS):
            calls = [
                ("PATCH", f"{base}/{board_id}/nodes/n{index}", {"title": f"w{index} r{round_number}"}),
                ("PATCH", base, {"title": f"Race {index}.{round_number}"}),
                ("POST", f"{base}/{board_id}/comments", {"nodeId": f"n{index}", "body": f"c{round_number}"}),
                ("GET", base, None),
            ]
            for method, path, body in calls:
                response = client.open(path, method=method, json=body)
                with lock:
                    statuses[response.status_code] += 1

    threads = [threading.Thread(target=write, args=(i, c)) for i, c in enumerate(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    return statuses


def outcomes(platform: Platform) -> Counter[str]:
    assert platform.shadow.drain(120)
    found: Counter[str] = Counter()
    for row in platform.results.counts():
        found[row["outcome"]] += row["count"]
    return found


def test_rollout_postgres_shadow_replays_never_fail_callers_nor_report_contention_as_mismatch(pg_platform):
    platform = pg_platform()
    platform.host.enable("papertrail")
    clients, base, board_id = shared_board(platform, WRITERS)
    platform.set_mode("papertrail", "shadow", changed_by="test")
    statuses = hammer(clients, base, board_id)
    assert set(statuses) <= {200, 201}, statuses  # legacy alone answers every one of these well
    found = outcomes(platform)
    assert sum(found.values()) == WRITERS * ROUNDS * 4  # every sampled request ended in exactly one outcome
    assert found["mismatch"] == 0 and found["candidate_error"] == 0, found
    assert platform.results.mismatches() == []
    assert found["match"] > 0, found


@pytest.fixture
def standin_dir(tmp_path: Path) -> Path:
    from tests.exthost.test_router import write_standin

    folder = tmp_path / "standin-plugins"
    folder.mkdir()
    write_standin(folder)
    return folder


def test_rollout_postgres_the_breaker_counts_every_workers_failures_together(pg_platform, standin_dir):
    workers = [pg_platform(PLUGINS_DIR=standin_dir, CANARY_BREAKER_FAILURES=4) for _ in range(3)]
    workers[0].host.enable("standin")
    workers[0].set_mode("papertrail", "canary", percent=100)
    clients = [worker.test_client() for worker in workers]
    for worker in workers:
        worker.host.sync(force=True)
    # 3 failures spread over 3 workers: under the threshold of 4, so the feature stays in canary.
    for client in clients:
        assert client.get("/api/projects/p_1/papertrail/board?fail=1").status_code == 401
    assert workers[0].flags.refresh().flag("papertrail").mode == "canary"
    assert workers[1].breaker.recent("papertrail") == 3  # every worker sees the shared count
    # The 4th failure, on any worker, trips it for all of them (each alone has seen at most 2).
    assert clients[1].get("/api/projects/p_1/papertrail/board?fail=1").status_code == 401
    flag = workers[2].flags.refresh().flag("papertrail")
    assert flag.mode == "legacy" and flag.updated_by == "sv:circuit-breaker"
    assert sum(worker.breaker.trips.get("papertrail", 0) for worker in workers) == 1


def test_rollout_postgres_the_error_budget_is_spent_by_every_worker_together(pg_platform, standin_dir):
    workers = [pg_platform(PLUGINS_DIR=standin_dir, PLUGIN_ERROR_BUDGET=3) for _ in range(3)]
    workers[0].host.enable("standin")
    workers[0].set_mode("papertrail", "plugin")
    for worker in workers:
        worker.host.sync(force=True)
        assert worker.test_client().get("/api/projects/p_1/papertrail/board?fail=1").status_code == 500
    for worker in workers:
        worker.host.sync(force=True)
        assert worker.host.get("standin").tenants == set()  # 3 errors over 3 workers spent the budget of 3
    assert "3 unhandled errors" in workers[0].host.describe(workers[0].host.get("standin"))["reason"]


def test_rollout_postgres_shared_windows_trip_exactly_once_per_threshold_under_concurrency(postgres_url):
    from exthost.counters import SharedWindows
    from legacy_core.db import make_session_factory

    engine = make_engine(migrated(postgres_url), pool_size=8)
    windows = SharedWindows(make_session_factory(engine))
    trips: list[bool] = []
    lock = threading.Lock()
    start = threading.Barrier(6)

    def hammer() -> None:
        start.wait()
        for _ in range(10):
            tripped = windows.hit("breaker:papertrail", 5, 60)
            with lock:
                trips.append(tripped)

    threads = [threading.Thread(target=hammer) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    engine.dispose()
    assert len(trips) == 60 and trips.count(True) == 12  # 60 events, a trip every 5th: no double trip, none lost
