"""Cross-site writes are refused, and database errors never show the values they were given."""

from __future__ import annotations

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError

from legacy_core.app import same_origin
from legacy_core.db import make_engine
from legacy_core.migrate import upgrade
from legacy_core.models import Project, Tenant, User
from tests.fixtures.app import PASSWORD

EVIL = "https://evil.example"


def test_cross_site_login_form_is_refused_and_sets_no_cookie(api, server):
    api.user("victim@example.test")
    client = server.app.test_client()
    form = {"email": "victim@example.test", "password": PASSWORD}
    refused = client.post("/login", data=form, headers={"Origin": EVIL})
    assert refused.status_code == 403
    assert not refused.headers.getlist("Set-Cookie")
    fetch_marked = client.post("/login", data=form, headers={"Sec-Fetch-Site": "cross-site"})
    assert fetch_marked.status_code == 403
    same = client.post("/login", data=form, headers={"Origin": "http://localhost", "Sec-Fetch-Site": "same-origin"})
    assert same.status_code == 302
    assert same.headers.getlist("Set-Cookie")


def test_cross_site_api_write_is_refused_and_stores_nothing(api, server):
    client = api.user()
    response = client.post("/api/projects", json={"name": "Forged", "type": "blog"}, headers={"Origin": EVIL})
    assert response.status_code == 403
    assert response.get_json() == {"error": "Cross-site request refused"}
    with server.services.session_factory() as db:
        assert db.scalar(select(func.count()).select_from(Project)) == 0
    # clients that send no Origin (curl, scripts, the harness) and reads from anywhere still work
    assert client.post("/api/projects", json={"name": "Mine", "type": "blog"}).status_code == 201
    assert client.get("/api/projects", headers={"Origin": EVIL}).status_code == 200


@pytest.mark.parametrize(
    ("origin", "host_url", "same"),
    [
        ("http://localhost", "http://localhost/", True),
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000/", True),
        ("http://127.0.0.1:8001", "http://127.0.0.1:8000/", False),
        ("https://localhost", "http://localhost/", False),
        ("null", "http://localhost/", False),
        ("http://LOCALHOST", "http://localhost/", True),
    ],
)
def test_same_origin_compares_scheme_host_and_port(origin, host_url, same):
    assert same_origin(origin, host_url) is same


def test_database_errors_hide_statement_parameters(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'p.db'}")
    upgrade(engine)
    row = {"id": "u_1", "tenant_id": "t", "email": "a@example.test", "name": "A", "password_hash": "SECRET-HASH"}
    with engine.begin() as conn:
        conn.execute(insert(Tenant).values(id="t", name="t", created_at=func.now()))
        conn.execute(insert(User).values(**row, created_at=func.now()))
    with pytest.raises(IntegrityError) as caught, engine.begin() as conn:
        conn.execute(insert(User).values(**row, created_at=func.now()))
    assert "SECRET-HASH" not in str(caught.value)
    engine.dispose()
