"""Requests racing for one unique value (slug, email, a project's board) lose with a clear answer, never a 500."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from threading import Barrier

import pytest
from sqlalchemy import func, select

from exthost.deploy import upgrade_schema
from legacy_core import Settings, create_server
from legacy_core.models import Project, PtBoard, User
from tests.fixtures.app import BUNDLED_PLUGINS, PASSWORD, TEST_ARGON2_KIB

THREADS = 8


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def racing_server(request, tmp_path):
    sqlite_url = f"sqlite:///{tmp_path / 'race.db'}"
    url = sqlite_url if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    server = create_server(
        Settings(_env_file=None, DATABASE_URL=url, DATA_DIR=tmp_path / "data"), argon2_memory_kib=TEST_ARGON2_KIB
    )
    upgrade_schema(server.services.engine, BUNDLED_PLUGINS)
    yield server
    server.services.engine.dispose()


def _race(calls):
    barrier = Barrier(len(calls))

    def run(call):
        barrier.wait()
        return call()

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


def _signed_in(server, email):
    client = server.app.test_client()
    assert client.post("/register", json={"email": email, "password": PASSWORD}).status_code == 201
    return client


def test_racing_registrations_of_one_email_give_one_account(racing_server):
    clients = [racing_server.app.test_client() for _ in range(THREADS)]
    body = {"email": "race@example.test", "password": PASSWORD}
    statuses = Counter(r.status_code for r in _race([lambda c=c: c.post("/register", json=body) for c in clients]))
    assert statuses == Counter({201: 1, 409: THREADS - 1})
    with racing_server.services.session_factory() as db:
        assert db.scalar(select(func.count()).select_from(User)) == 1


def test_racing_project_creations_get_distinct_slugs(racing_server):
    clients = [_signed_in(racing_server, f"p{n}@example.test") for n in range(THREADS)]
    responses = _race([lambda c=c: c.post("/api/projects", json={"name": "Race", "type": "blog"}) for c in clients])
    assert [r.status_code for r in responses] == [201] * THREADS
    slugs = sorted(r.get_json()["slug"] for r in responses)
    assert slugs == sorted(["race"] + [f"race-{n}" for n in range(2, THREADS + 1)])
    with racing_server.services.session_factory() as db:
        assert db.scalar(select(func.count()).select_from(Project)) == THREADS


def test_racing_first_reads_of_a_board_create_one_board(racing_server):
    owner = _signed_in(racing_server, "owner@example.test")
    project_id = owner.post("/api/projects", json={"name": "Board", "type": "papertrail"}).get_json()["id"]
    url = f"/api/projects/{project_id}/papertrail/board"
    responses = _race([lambda: owner.get(url) for _ in range(THREADS)])
    assert {r.status_code for r in responses} == {200}
    assert len({r.get_json()["board"]["id"] for r in responses}) == 1
    with racing_server.services.session_factory() as db:
        assert db.scalar(select(func.count()).select_from(PtBoard)) == 1
