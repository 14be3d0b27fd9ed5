"""The core's revisions build the core tables and the bundled plugins' build the feature tables: together exactly the
ORM schema, on SQLite and on PostgreSQL, and the app runs on both."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from exthost.deploy import upgrade_schema
from legacy_core import Settings, create_server
from legacy_core.db import make_engine
from legacy_core.migrate import current_revision, head_revision
from legacy_core.models import Base
from tests.fixtures.app import BUNDLED_PLUGINS, PASSWORD, TEST_ARGON2_KIB


def _schema_diff(engine) -> list:
    """Differences between the database and the legacy models, the host's registry tables left out."""

    def include_name(name, type_, parent_names) -> bool:
        return type_ != "table" or name in Base.metadata.tables

    opts = {"compare_type": True, "include_name": include_name}
    with engine.connect() as conn:
        return compare_metadata(MigrationContext.configure(conn, opts=opts), Base.metadata)


def _exercise(url: str, tmp_path) -> None:
    settings = Settings(_env_file=None, DATABASE_URL=url, DATA_DIR=tmp_path / "data")
    server = create_server(settings, argon2_memory_kib=TEST_ARGON2_KIB)
    try:
        client = server.app.test_client()
        assert client.post("/register", json={"email": "pg@example.test", "password": PASSWORD}).status_code == 201
        created = client.post("/api/projects", json={"name": "On this database", "type": "papertrail"})
        assert created.status_code == 201
        projects = client.get("/api/projects").get_json()["projects"]
        assert [p["slug"] for p in projects] == ["on-this-database"]
        # a NUL byte in a text field is a clear 400 (PostgreSQL could not store it), never a driver error
        for body in ({"name": "a\x00b", "type": "blog"}, {"name": "ok", "desc": "\x00", "type": "blog"}):
            assert client.post("/api/projects", json=body).status_code == 400
        nul_login = client.post("/login", json={"email": "pg\x00@example.test", "password": PASSWORD})
        assert nul_login.status_code == 400
        # an id with a NUL byte is a clear 400 on every database, never a driver error
        for path in ("/api/projects/p%00x", f"/api/projects/{projects[0]['id']}/shares/m%00x"):
            response = client.get(path) if "shares" not in path else client.delete(path)
            assert response.status_code == 400, path
            assert response.get_json() == {"error": "The path contains a NUL character"}
    finally:
        server.services.engine.dispose()


def test_sqlite_migration_matches_models_and_is_idempotent(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    assert current_revision(engine) is None
    upgrade_schema(engine, BUNDLED_PLUGINS)
    assert current_revision(engine) == head_revision(engine)
    assert _schema_diff(engine) == []
    upgrade_schema(engine, BUNDLED_PLUGINS)  # a second deploy is a no-op
    assert set(inspect(engine).get_table_names()) >= set(Base.metadata.tables)
    engine.dispose()
    _exercise(f"sqlite:///{tmp_path / 'm.db'}", tmp_path)


@pytest.mark.postgres
def test_postgres_migration_matches_models_and_app_runs(postgres_url, tmp_path):
    engine = make_engine(postgres_url)
    upgrade_schema(engine, BUNDLED_PLUGINS)
    assert current_revision(engine) == head_revision(engine)
    assert _schema_diff(engine) == []
    engine.dispose()
    _exercise(postgres_url, tmp_path)


def test_two_instances_on_two_databases_live_in_one_process(settings_factory, server_factory):
    first = server_factory(settings_factory())
    second = server_factory(settings_factory())
    assert first.services.engine.url != second.services.engine.url
    a = first.app.test_client()
    b = second.app.test_client()
    assert a.post("/register", json={"email": "same@example.test", "password": PASSWORD}).status_code == 201
    # the same email is free on the other instance: nothing is shared
    assert b.post("/register", json={"email": "same@example.test", "password": PASSWORD}).status_code == 201
    a.post("/api/projects", json={"name": "Only on A", "type": "blog"})
    assert [p["name"] for p in a.get("/api/projects").get_json()["projects"]] == ["Only on A"]
    assert b.get("/api/projects").get_json()["projects"] == []
    # a session cookie of one instance means nothing to the other
    b.set_cookie("svg_session", a.get_cookie("svg_session").value)
    assert b.get("/api/me").status_code == 401
