"""Pinned clock and ids make two instances answer the same request sequence identically (the harness relies on it)."""

from __future__ import annotations

from legacy_core.clock import FixedClock, RandomIds, SequentialIds, SystemClock, isoformat
from tests.fixtures.app import PASSWORD


def _run(server) -> list[tuple[int, bytes]]:
    client = server.app.test_client()
    responses = [
        client.post("/register", json={"email": "same@example.test", "password": PASSWORD, "name": "Same"}),
        client.post("/api/projects", json={"name": "Pinned", "type": "papertrail", "desc": "d"}),
        client.post("/api/projects", json={"name": "Pinned", "type": "blog"}),
        client.get("/api/projects"),
        client.get("/api/me"),
    ]
    return [(r.status_code, r.get_data()) for r in responses]


def test_pinned_instances_answer_identically(server_factory, settings_factory):
    first = server_factory(settings_factory(), clock=FixedClock(), ids=SequentialIds())
    second = server_factory(settings_factory(), clock=FixedClock(), ids=SequentialIds())
    assert _run(first) == _run(second)


def test_unpinned_instances_differ_in_ids(server_factory, settings_factory):
    first = server_factory(settings_factory(), clock=SystemClock(), ids=RandomIds())
    second = server_factory(settings_factory(), clock=SystemClock(), ids=RandomIds())
    assert _run(first) != _run(second)


def test_sequential_ids_are_prefixed_and_unique():
    ids = SequentialIds(seed="7")
    made = [ids.new("p") for _ in range(50)]
    assert len(set(made)) == 50
    assert all(value.startswith("p_7") for value in made)


def test_fixed_clock_advances_by_step_and_formats_as_utc_millis():
    clock = FixedClock()
    first, second = clock.now(), clock.now()
    assert (second - first).total_seconds() == 1
    assert isoformat(first) == "2026-01-01T00:00:00.000Z"
