"""Enforced database access: a hostile plugin's ctx.db reaches its own tables and the platform views its manifest
names, nothing else, on SQLite (the connection's authorizer) and PostgreSQL (a role per plugin), in plain requests
and inside isolated runs; each refusal names the table and the manifest key, answers cleanly, and the host serves
on."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import text

from exthost.access import AccessPolicy, role_name
from exthost.errors import AccessDenied
from exthost.rollout.isolation import isolated
from tests.exthost.test_platform import sign_up
from tests.fixtures.plugins import manifest_for, write_plugin

EVIL_CODE = """
from sqlalchemy import text

from exthost.sdk import HttpError, hookimpl

ATTEMPTS = {
    "hashes": "SELECT password_hash FROM users",
    "sessions": "SELECT token_hash FROM auth_sessions",
    "other_plugin": "SELECT body FROM good_items",
    "write_projects": "UPDATE projects SET name = 'pwned'",
    "ungranted_view": "SELECT email FROM sv_platform_users",
    "drop": "DROP TABLE good_items",
    "host_table": "SELECT * FROM sv_plugin_states",
}


class Plugin:
    @hookimpl
    def register(self, ctx):
        @ctx.router.get("/api/evil/try/<attempt>")
        def attempt(attempt):
            from exthost.sdk import AccessDenied

            try:
                with ctx.transaction() as db:
                    rows = db.execute(text(ATTEMPTS[attempt])).all() if ATTEMPTS[attempt].startswith("SELECT") \\
                        else db.execute(text(ATTEMPTS[attempt]))
                    return {"leaked": [list(map(str, row)) for row in rows] if isinstance(rows, list) else "done"}
            except AccessDenied as exc:
                return {"refused": str(exc)}, 403

        @ctx.router.get("/api/evil/raw")
        def raw():
            # Past the ORM: the DBAPI connection under the plugin's session, then the engine itself.
            with ctx.db() as db:
                cursor = db.connection().connection.driver_connection.cursor()
                cursor.execute("SELECT password_hash FROM users")
                return {"leaked": [list(row) for row in cursor.fetchall()]}

        @ctx.router.get("/api/evil/engine")
        def engine():
            with ctx.db.kw["bind"].connect() as connection:
                return {"leaked": [list(row) for row in connection.exec_driver_sql("SELECT password_hash FROM users")]}

        @ctx.router.get("/api/evil/unhandled")
        def unhandled():
            with ctx.transaction() as db:
                return {"leaked": [list(row) for row in db.execute(text("SELECT password_hash FROM users"))]}

        @ctx.router.get("/api/evil/whoami")
        def whoami():
            with ctx.db() as db:
                current, session = db.execute(text("SELECT current_user, session_user")).one()
            return {"current": current, "session": session, "url_user": ctx.db.kw["bind"].url.username}

        @ctx.router.post("/api/evil/own")
        def own():
            with ctx.transaction() as db:
                db.execute(text("INSERT INTO evil_items (body) VALUES ('mine')"))
                projects = db.execute(text("SELECT count(*) FROM sv_platform_projects")).scalar()
                mine = db.execute(text("SELECT count(*) FROM evil_items")).scalar()
            return {"projects": projects, "mine": mine}
"""

EXPECTED = {
    "hashes": "plugin 'evil' may not read table 'users': add 'users' to access.platform in",
    "sessions": "plugin 'evil' may not read table 'auth_sessions': it is not a platform view the SDK grants",
    "other_plugin": "plugin 'evil' may not read table 'good_items': it is not one of the plugin's own tables; "
    "add it (or a 'prefix_*' pattern) to access.tables",
    "write_projects": "plugin 'evil' may not write table 'projects': platform data is read-only to plugins",
    "ungranted_view": "plugin 'evil' may not read view 'sv_platform_users': add 'users' to access.platform in",
    "drop": "plugin 'evil' may not change",
    "host_table": "plugin 'evil' may not read table 'sv_plugin_states': it is the host's or the database's own",
}


def make_tables(engine) -> None:
    """The two plugins' tables, as their migrations would make them (before the roles are granted)."""
    key = "INTEGER PRIMARY KEY" if engine.dialect.name == "sqlite" else "SERIAL PRIMARY KEY"  # a sequence to grant
    with engine.begin() as connection:
        connection.exec_driver_sql(f"CREATE TABLE evil_items (id {key}, body TEXT)")
        connection.exec_driver_sql(f"CREATE TABLE good_items (id {key}, body TEXT)")
        connection.exec_driver_sql("INSERT INTO good_items (body) VALUES ('secret of good')")


def write_plugins(settings) -> None:
    evil = manifest_for("evil", access={"tables": ["evil_*"], "platform": ["projects"]})
    write_plugin(settings.PLUGINS_DIR, "evil", EVIL_CODE, manifest=evil)
    write_plugin(settings.PLUGINS_DIR, "good", manifest=manifest_for("good", access={"tables": ["good_items"]}))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def platform(request, settings_factory, platform_factory, tmp_path):
    from exthost.deploy import migrate_plugins
    from legacy_core.db import make_engine
    from legacy_core.migrate import upgrade

    if request.param == "sqlite":
        settings = settings_factory(PLUGIN_ENTRY_POINTS=False, PLUGIN_POLL_SECONDS=0)
    else:
        url = request.getfixturevalue("postgres_url")
        from tests.fixtures.app import make_settings

        settings = make_settings(tmp_path, DATABASE_URL=url, PLUGIN_ENTRY_POINTS=False, PLUGIN_POLL_SECONDS=0)
    write_plugins(settings)
    engine = make_engine(settings.DATABASE_URL)
    upgrade(engine)
    make_tables(engine)
    migrate_plugins(settings, engine, ())  # the registry's revisions, then (PostgreSQL) the plugins' roles
    engine.dispose()
    platform = platform_factory(settings)
    platform.host.enable("evil")
    return platform


@pytest.mark.parametrize("attempt", sorted(EXPECTED))
def test_a_hostile_plugin_gets_a_clear_refusal_naming_table_and_manifest_key(platform, attempt):
    client = sign_up(platform, "mallory@example.test")
    response = client.get(f"/api/evil/try/{attempt}")
    assert response.status_code == 403, response.get_json()
    assert EXPECTED[attempt] in response.get_json()["refused"]
    # Nothing was changed, and the platform still reads its own tables.
    with platform.services.engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM good_items")).scalar() == 1
        assert "pwned" not in [row[0] for row in connection.execute(text("SELECT name FROM projects"))]
    assert client.get("/api/me").status_code == 200


@pytest.mark.parametrize("route", ["raw", "engine", "unhandled"])
def test_raw_sql_past_the_orm_is_refused_too_and_answers_a_plain_500(platform, route, caplog):
    client = sign_up(platform, "mallory@example.test")
    response = client.get(f"/api/evil/{route}")
    assert response.status_code == 500
    body = response.get_data(as_text=True)
    assert "argon2" not in body and "password_hash" not in body
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "argon2" not in logged
    if route != "raw":  # a bare DBAPI cursor gets the driver's own error; SQLAlchemy's are explained
        assert "may not read table 'users'" in logged
    assert client.get("/api/me").status_code == 200  # the host keeps serving


def test_anonymous_requests_to_a_hostile_plugin_get_no_secret(platform):
    anonymous = platform.test_client()
    for route in ("/api/evil/unhandled", "/api/evil/raw", "/api/evil/try/hashes"):
        body = anonymous.get(route).get_data(as_text=True)
        assert "argon2" not in body and platform.services.settings.SECRET_KEY not in body


def test_the_plugin_uses_its_own_tables_and_granted_views(platform):
    owner = sign_up(platform, "owner@example.test")
    assert owner.post("/api/projects", json={"name": "P", "type": "papertrail"}).status_code == 201
    response = owner.post("/api/evil/own")
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json() == {"projects": 1, "mine": 1}


def test_inside_an_isolated_run_the_plugin_is_confined_and_the_platform_is_not_after(platform):
    sign_up(platform, "mallory@example.test")
    ctx = platform.host.plugins["evil"].context
    engine = platform.services.engine
    with isolated(engine) as connection:
        with pytest.raises(AccessDenied, match="may not read table 'users'"), ctx.db() as db:
            db.execute(text("SELECT password_hash FROM users")).all()
        with ctx.db() as db:
            db.execute(text("INSERT INTO evil_items (body) VALUES ('replayed')"))
        # The plugin's session is closed: the run's connection is the platform's again.
        assert connection.execute(text("SELECT count(*) FROM users")).scalar() == 1
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM users")).scalar() == 1
        assert connection.execute(text("SELECT count(*) FROM evil_items")).scalar() == 0  # rolled back


def test_a_session_left_open_in_an_isolated_run_leaves_no_confinement_behind(platform):
    ctx = platform.host.plugins["evil"].context
    engine = platform.services.engine
    kept = []
    with isolated(engine):
        session = ctx.db()
        session.execute(text("SELECT count(*) FROM evil_items")).scalar()
        kept.append(session)  # never closed before the run ends
    for _ in range(3):  # every pooled connection the platform gets back is unconfined
        with engine.connect() as connection:
            assert connection.execute(text("SELECT count(*) FROM users")).scalar() == 0


@pytest.mark.postgres
def test_the_postgres_role_has_exactly_the_manifests_grants(postgres_url, settings_factory, tmp_path):
    from sqlalchemy.engine import make_url

    from exthost.deploy import migrate_plugins
    from legacy_core.db import make_engine
    from legacy_core.migrate import upgrade
    from tests.fixtures.app import make_settings

    settings = make_settings(tmp_path, DATABASE_URL=postgres_url, PLUGIN_ENTRY_POINTS=False)
    write_plugins(settings)
    engine = make_engine(postgres_url)
    upgrade(engine)
    make_tables(engine)
    lines = migrate_plugins(settings, engine, ())
    role = role_name(make_url(postgres_url).database or "", "evil")
    assert any(line.startswith(f"plugin evil: role {role}") for line in lines)
    with engine.connect() as connection:

        def may(table: str, privilege: str) -> bool:
            query = text("SELECT has_table_privilege(:r, :t, :p)")
            return bool(connection.execute(query, {"r": role, "t": table, "p": privilege}).scalar())

        assert may("evil_items", "INSERT") and may("sv_platform_projects", "SELECT")
        for table in ("users", "auth_sessions", "projects", "good_items", "sv_platform_users", "sv_plugin_roles"):
            assert not may(table, "SELECT"), table
        assert not may("sv_platform_projects", "INSERT")
    # Taken out of the manifest, taken from the role on the next deploy.
    write_plugin(settings.PLUGINS_DIR, "evil", EVIL_CODE, manifest=manifest_for("evil", access={"tables": []}))
    migrate_plugins(settings, engine, ())
    with engine.connect() as connection:
        query = text("SELECT has_table_privilege(:r, 'evil_items', 'SELECT')")
        assert connection.execute(query, {"r": role}).scalar() is False
    engine.dispose()


@pytest.mark.postgres
def test_without_a_role_a_postgres_plugin_is_refused_with_what_to_run(postgres_url, platform_factory, tmp_path):
    from exthost.migrate import upgrade_exthost
    from legacy_core.db import make_engine
    from legacy_core.migrate import upgrade
    from tests.fixtures.app import make_settings

    settings = make_settings(tmp_path, DATABASE_URL=postgres_url, PLUGIN_ENTRY_POINTS=False, PLUGIN_POLL_SECONDS=0)
    write_plugins(settings)
    engine = make_engine(postgres_url)
    upgrade(engine)
    upgrade_exthost(engine)  # no sv migrate:deploy: no roles
    engine.dispose()
    platform = platform_factory(settings)
    with pytest.raises(AccessDenied, match="run `sv migrate:deploy`"):
        platform.host.plugins["evil"].context.db()


def test_refusal_messages_name_the_manifest_file():
    policy = AccessPolicy("evil", "plugins/evil/plugin.json", ("evil_*",), ())
    message = policy.refusal("read", "users")
    assert message == (
        "plugin 'evil' may not read table 'users': add 'users' to access.platform in plugins/evil/plugin.json and "
        "read the view 'sv_platform_users' (platform tables are reached only through their read-only views)"
    )


def test_two_plugins_claiming_one_table_leave_the_second_invalid(settings_factory, host_factory):
    settings = settings_factory(PLUGIN_ENTRY_POINTS=False)
    write_plugin(settings.PLUGINS_DIR, "alpha", manifest=manifest_for("alpha", access={"tables": ["shared_*"]}))
    write_plugin(settings.PLUGINS_DIR, "beta", manifest=manifest_for("beta", access={"tables": ["shared_items"]}))
    host = host_factory(settings)
    assert host.plugins["alpha"].state != "invalid"
    beta = host.plugins["beta"]
    assert beta.state == "invalid"
    assert "access.tables: 'shared_items' overlaps 'shared_*' of plugin 'alpha'" in (beta.reason or "")


@pytest.mark.postgres
def test_in_process_isolation_the_workers_connect_as_the_plugins_role(postgres_url, platform_factory, tmp_path):
    from sqlalchemy.engine import make_url

    from exthost.deploy import migrate_plugins
    from legacy_core.db import make_engine
    from legacy_core.migrate import upgrade
    from tests.fixtures.app import make_settings

    settings = make_settings(
        tmp_path,
        DATABASE_URL=postgres_url,
        PLUGIN_ENTRY_POINTS=False,
        PLUGIN_POLL_SECONDS=0,
        PLUGIN_ISOLATION="process",
    )
    write_plugins(settings)
    engine = make_engine(postgres_url)
    upgrade(engine)
    make_tables(engine)
    migrate_plugins(settings, engine, ())
    engine.dispose()
    platform = platform_factory(settings)
    platform.host.enable("evil")
    client = sign_up(platform, "mallory@example.test")
    role = role_name(make_url(postgres_url).database or "", "evil")
    who = client.get("/api/evil/whoami")
    assert who.status_code == 200, who.get_data(as_text=True)
    # Logged in as the role itself: the worker never had the platform's user or password.
    assert who.get_json() == {"current": role, "session": role, "url_user": role}
    refused = client.get("/api/evil/try/hashes")
    assert refused.status_code == 403
    assert EXPECTED["hashes"] in refused.get_json()["refused"]
    assert (
        client.get("/api/evil/try/write_projects")
        .get_json()["refused"]
        .startswith("plugin 'evil' may not write table 'projects'")
    )
    unhandled = client.get("/api/evil/unhandled")
    assert unhandled.status_code == 500 and "argon2" not in unhandled.get_data(as_text=True)
    assert client.post("/api/evil/own").get_json() == {"projects": 0, "mine": 1}
    assert client.get("/api/me").status_code == 200


def test_inline_postgres_sessions_stay_the_plugins_role_after_rollback_and_reset_role(platform):
    if platform.services.engine.dialect.name != "postgresql":
        pytest.skip("roles are PostgreSQL's; SQLite's authorizer has no such reset")
    ctx = platform.host.plugins["evil"].context
    with ctx.db() as db:
        assert db.execute(text("SELECT current_user")).scalar() == ctx.db.role
        db.execute(text("RESET ROLE"))
        db.rollback()
        # The role is the connection's own (set at connect), not a SET a reset or rollback undoes.
        assert db.execute(text("SELECT current_user")).scalar() == ctx.db.role
        with pytest.raises(AccessDenied, match="may not read table 'users'"):
            db.execute(text("SELECT password_hash FROM users")).all()


@given(
    table=st.from_regex(r"[a-z][a-z0-9_]{0,15}", fullmatch=True) | st.sampled_from(["users", "pt_boards", "evil_x"]),
    column=st.sampled_from(["id", "password_hash", "body"]),
    write=st.booleans(),
)
def test_the_sqlite_authorizer_allows_exactly_own_tables_and_granted_views(table, column, write):
    import sqlite3

    from exthost.access import sqlite_authorizer

    policy = AccessPolicy("evil", "plugins/evil/plugin.json", ("evil_*",), ("projects",))
    refusals: list[str] = []
    decide = sqlite_authorizer(policy, frozenset(), refusals)
    action = sqlite3.SQLITE_UPDATE if write else sqlite3.SQLITE_READ
    allowed = decide(action, table, column, "main", None) == sqlite3.SQLITE_OK
    catalogue = table in (
        "sqlite_master",
        "sqlite_schema",
        "sqlite_temp_master",
        "sqlite_temp_schema",
        "sqlite_sequence",
    )
    expected = policy.owns(table) or catalogue or (not write and table == "sv_platform_projects")
    assert allowed == expected
    assert bool(refusals) == (not allowed)
    if refusals:
        assert refusals[0].startswith(f"plugin 'evil' may not {'write' if write else 'read'}")


@pytest.mark.parametrize(
    ("message", "statement", "expected"),
    [
        ("permission denied for table users", "SELECT * FROM users", "may not read table 'users': add 'users'"),
        ("permission denied for table projects", "UPDATE projects SET name = 'x'", "may not write table 'projects'"),
        ("permission denied for view sv_platform_users", "SELECT 1", "may not read view 'sv_platform_users'"),
        ("permission denied for table evil_new", "INSERT INTO evil_new VALUES (1)", "run `sv migrate:deploy`"),
        ("must be owner of table good_items", "DROP TABLE good_items", "schema changes belong in the plugin's"),
        (
            "permission denied for schema public",
            "CREATE TABLE x (a int)",
            "may not change schema 'public': schema changes",
        ),
    ],
    ids=["read", "write", "view", "own-table-not-granted-yet", "ddl", "create"],
)
def test_postgres_refusals_become_messages_naming_table_and_fix(message, statement, expected):
    from exthost.access import postgres_refusal

    policy = AccessPolicy("evil", "plugins/evil/plugin.json", ("evil_*",), ())
    assert expected in (postgres_refusal(policy, message, statement) or "")


def test_postgres_errors_that_are_no_refusal_stay_as_they_are():
    from exthost.access import postgres_refusal

    policy = AccessPolicy("evil", "plugins/evil/plugin.json", ("evil_*",), ())
    assert postgres_refusal(policy, 'duplicate key value violates unique constraint "x"', "INSERT") is None
