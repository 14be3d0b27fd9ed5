"""PaperTrail's and Blog's tables belong to their plugins: created by the plugins' first revisions on a new database,
handed over untouched on one the old core revision made, served by both implementations afterwards, and a failed
handover leaves the database as it was. On SQLite and PostgreSQL."""

from __future__ import annotations

import itertools
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.config import Config
from click.testing import CliRunner, Result
from hypothesis import given, settings
from sqlalchemy import Engine, inspect, text
from werkzeug.test import Client
from werkzeug.wrappers import Response

from exthost.cli import main
from exthost.deploy import upgrade_schema
from exthost.migrate import ENV_DIR, plugin_version_table, upgrade_exthost
from exthost.platform import create_platform
from legacy_core.db import make_engine
from legacy_core.features import BUILT_IN
from legacy_core.migrate import upgrade
from tests.fixtures.app import BUNDLED_PLUGINS, PASSWORD, TEST_ARGON2_KIB, make_settings
from tests.fixtures.legacy_world import World, schema_description, table_checksums, worlds, write_world
from tests.fixtures.old_core import create_old_core_database
from tests.fixtures.twins import serve_from_plugin

FEATURE_TABLES = sorted(table for feature in BUILT_IN for table in feature.tables)
PLUGIN_VERSION_TABLES = {"alembic_version_blog", "alembic_version_papertrail"}


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], str]:
    """A factory of empty databases of one kind: a new SQLite file each call, or the test's PostgreSQL database
    emptied again (each hypothesis example starts from nothing)."""
    if request.param == "sqlite":
        counter = itertools.count()
        return lambda: f"sqlite:///{tmp_path / f'db{next(counter)}.sqlite'}"
    url = str(request.getfixturevalue("postgres_url"))

    def empty() -> str:
        engine = make_engine(url)
        try:
            with engine.begin() as connection:
                connection.execute(text("DROP SCHEMA public CASCADE"))
                connection.execute(text("CREATE SCHEMA public"))
        finally:
            engine.dispose()
        return url

    return empty


@pytest.fixture
def engines() -> Iterator[Callable[[str], Engine]]:
    made: list[Engine] = []

    def factory(url: str) -> Engine:
        made.append(make_engine(url))
        return made[-1]

    yield factory
    for engine in made:
        engine.dispose()


def deploy(url: str, tmp_path: Path, plugins: Path = BUNDLED_PLUGINS) -> Result:
    """`sv migrate:deploy` on `url` with `plugins` as PLUGINS_DIR."""
    env = {
        "DATABASE_URL": url,
        "DATA_DIR": str(tmp_path / "data"),
        "PLUGINS_DIR": str(plugins),
        "PLUGIN_ENTRY_POINTS": "false",
    }
    return CliRunner().invoke(main, ["migrate:deploy"], env=env)


def old_database(engine: Engine, world: World | None = None) -> None:
    """A deployment from before the handover: the old core revision, the registry, and `world`'s rows."""
    create_old_core_database(engine)
    upgrade_exthost(engine)
    if world is not None:
        write_world(engine, world)


def versions(engine: Engine) -> dict[str, str | None]:
    found: dict[str, str | None] = {}
    with engine.connect() as connection:
        for table in sorted(inspect(connection).get_table_names()):
            if table.startswith("alembic_version") or table == "exthost_alembic_version":
                found[table] = connection.execute(text(f'SELECT version_num FROM "{table}"')).scalar_one_or_none()
    return found


def feature_schema(engine: Engine) -> dict[str, Any]:
    return {table: shape for table, shape in schema_description(engine).items() if table in FEATURE_TABLES}


# -- a new database ----------------------------------------------------------------------------------------------


def test_core_history_alone_creates_no_feature_table(database: Callable[[], str], engines) -> None:
    engine = engines(database())
    upgrade(engine)
    assert not set(FEATURE_TABLES) & set(inspect(engine).get_table_names())


def test_fresh_database_gets_the_feature_tables_from_the_plugins_revisions(
    database: Callable[[], str], engines, tmp_path: Path
) -> None:
    old = engines(database())
    old_database(old)
    as_the_old_core_made_them = feature_schema(old)
    assert sorted(as_the_old_core_made_them) == FEATURE_TABLES
    old.dispose()

    url = database()
    result = deploy(url, tmp_path)
    assert result.exit_code == 0, result.output
    assert "plugin papertrail: <empty> -> papertrail_0001" in result.output
    assert "plugin blog: <empty> -> blog_0001" in result.output
    assert "warning" not in result.output
    engine = engines(url)
    assert versions(engine) == {
        "alembic_version": "0001_core_schema",
        "alembic_version_blog": "blog_0001",
        "alembic_version_papertrail": "papertrail_0001",
        "exthost_alembic_version": versions(engine)["exthost_alembic_version"],
    }
    # Same columns, types, keys, foreign keys to the core tables, indexes and unique constraints as before.
    assert feature_schema(engine) == as_the_old_core_made_them


def test_downgrading_a_plugins_first_revision_drops_its_tables_only(database: Callable[[], str], engines) -> None:
    url = database()
    engine = engines(url)
    upgrade_schema(engine, BUNDLED_PLUGINS)
    # What an uninstall runs: the plugin's history taken back to its base, in the host's alembic environment.
    config = Config()
    config.set_main_option("script_location", str(ENV_DIR))
    config.set_main_option("version_locations", str(BUNDLED_PLUGINS / "blog" / "migrations"))
    config.set_main_option("path_separator", "os")
    config.set_main_option("sqlalchemy.url", url)
    config.attributes["version_table"] = plugin_version_table("blog")
    command.downgrade(config, "base")
    tables = set(inspect(engine).get_table_names())
    assert "blog_configs" not in tables
    assert {"pt_boards", "pt_nodes", "projects", "users"} <= tables
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM alembic_version_blog")).scalar_one() == 0


# The host's own records of a deploy: its migration log, and on PostgreSQL the plugins' role names.
DEPLOY_RECORDS = ("sv_migration_log", "sv_plugin_roles")


def without_records(sums: dict[str, Any], tables: dict[str, Any] | None = None) -> dict[str, Any]:
    """`sums` of the tables of `tables` (all of `sums` by default) but the deploy's own records."""
    return {table: sums[table] for table in (tables or sums) if table not in DEPLOY_RECORDS}


def logged_histories(engine: Any) -> list[str]:
    """The histories the migration log holds a step of, sorted."""
    with engine.connect() as connection:
        return sorted(connection.execute(text("SELECT history FROM sv_migration_log")).scalars())

# -- a database the old core revision made -----------------------------------------------------------------------


@settings(max_examples=5, deadline=None)
@given(world=worlds())
def test_the_handover_keeps_every_row_of_every_table(
    database: Callable[[], str], engines, tmp_path: Path, world: World
) -> None:
    url = database()
    engine = engines(url)
    old_database(engine, world)
    before = table_checksums(engine)
    for table in ("tenants", "users", "pt_boards", "pt_nodes", "pt_comments", "pt_attachments", "blog_configs"):
        assert before[table][0] == world.count(table)  # the world really is in the database
    schema_before = feature_schema(engine)

    result = deploy(url, tmp_path)
    assert result.exit_code == 0, result.output
    assert "plugin papertrail: <empty> -> papertrail_0001" in result.output
    assert "plugin blog: <empty> -> blog_0001" in result.output

    after = table_checksums(engine)
    assert without_records(after, before) == without_records(before)
    assert set(after) - set(before) == PLUGIN_VERSION_TABLES
    assert logged_histories(engine) == ["plugin:blog", "plugin:papertrail"]  # the handovers, in the migration log
    assert feature_schema(engine) == schema_before
    assert versions(engine)["alembic_version"] == "0001_core_schema"  # the core history did not move
    assert {table: versions(engine)[table] for table in PLUGIN_VERSION_TABLES} == {
        "alembic_version_blog": "blog_0001",
        "alembic_version_papertrail": "papertrail_0001",
    }
    # A second deploy finds nothing to do and still touches nothing.
    again = deploy(url, tmp_path)
    assert again.exit_code == 0, again.output
    assert "plugin papertrail: already at papertrail_0001" in again.output
    assert table_checksums(engine) == after


FEATURE_PATHS = re.compile(r"^/api/projects/[^/]+/(papertrail|configure|blog)(/|$)")


def refuse_feature_paths(platform: Any) -> Any:
    """Make the legacy app answer 418 on the features' paths, so an answer there can only be the plugin's; the
    legacy app's own WSGI callable, to put back."""
    app = platform.legacy.app
    inner = app.wsgi_app

    def guarded(environ: dict[str, Any], start_response: Any) -> Any:
        if FEATURE_PATHS.match(environ.get("PATH_INFO", "")):
            return Response("legacy must not answer here", status=418)(environ, start_response)
        return inner(environ, start_response)

    app.wsgi_app = guarded
    return inner


def _sign_in(platform: Any, email: str) -> Client:
    client = Client(platform)
    response = client.post("/login", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.get_data(as_text=True)
    return client


def test_after_the_handover_legacy_and_the_plugins_serve_the_same_data(
    database: Callable[[], str], engines, tmp_path: Path
) -> None:
    url = database()
    engine = engines(url)
    old_database(engine)
    settings = make_settings(tmp_path, DATABASE_URL=url, PLUGINS_DIR=BUNDLED_PLUGINS, PLUGIN_ENTRY_POINTS=False)

    # Before the handover: the legacy platform writes a board, a comment and a blog configuration.
    legacy_only = create_platform(settings, argon2_memory_kib=TEST_ARGON2_KIB)
    try:
        client = Client(legacy_only)
        body = {"email": "ada@example.test", "password": PASSWORD, "name": "Ada"}
        assert client.post("/register", json=body).status_code == 201
        project = client.post("/api/projects", json={"name": "Harbour", "type": "papertrail"}).get_json()["id"]
        blog = client.post("/api/projects", json={"name": "Notes", "type": "blog"}).get_json()["id"]
        board_url = f"/api/projects/{project}/papertrail/board"
        snapshot = {
            "title": "Case",
            "nodes": [{"id": "n1", "type": "note", "title": "Lead"}, {"id": "n2", "type": "note"}],
            "edges": [{"id": "e1", "source": "n1", "target": "n2", "label": "pays"}],
        }
        saved = client.post(board_url, json=snapshot)
        assert saved.status_code == 200, saved.get_data(as_text=True)
        board_id = saved.get_json()["board"]["id"]
        comment = client.post(f"{board_url}/{board_id}/comments", json={"body": "first", "nodeId": "n1"})
        assert comment.status_code == 201, comment.get_data(as_text=True)
    finally:
        legacy_only.close()
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO blog_configs (project_id, repo_url, branch, content_dir, git_user_name, git_user_email, "
                "git_auth_token, created_at) VALUES (:p, 'https://git.example.test/notes.git', 'main', 'posts', "
                "'Ada', 'ada@example.test', 'secret', '2026-01-01 00:00:00.000000')"
            ),
            {"p": blog},
        )

    result = deploy(url, tmp_path)
    assert result.exit_code == 0, result.output

    platform = create_platform(settings, argon2_memory_kib=TEST_ARGON2_KIB)
    try:
        client = _sign_in(platform, "ada@example.test")
        reads = [board_url, f"{board_url}/{board_id}/comments", f"/api/projects/{blog}/configure"]
        legacy = {path: client.get(path) for path in reads}
        for feature in ("papertrail", "blog"):
            serve_from_plugin(platform, feature)
        legacy_app = refuse_feature_paths(platform)
        plugin = {path: client.get(path) for path in reads}
        for path in reads:
            assert legacy[path].status_code == 200, (path, legacy[path].get_data(as_text=True))
            assert plugin[path].get_data() == legacy[path].get_data(), path
        board = plugin[board_url].get_json()["board"]
        assert [node["id"] for node in board["nodes"]] == ["n1", "n2"]
        assert plugin[f"/api/projects/{blog}/configure"].get_json()["config"]["hasToken"] is True

        # Both keep writing the same tables: the plugin writes, legacy reads it; legacy writes, the plugin reads it.
        written = client.post(f"{board_url}/{board_id}/comments", json={"body": "from the plugin"})
        assert written.status_code == 201
        platform.set_mode("papertrail", "legacy")
        platform.legacy.app.wsgi_app = legacy_app  # type: ignore[method-assign]
        from_legacy = client.get(f"{board_url}/{board_id}/comments").get_json()
        assert [c["body"] for c in from_legacy["comments"]] == ["first", "from the plugin"]
        assert client.post(f"{board_url}/{board_id}/comments", json={"body": "from legacy"}).status_code == 201
        platform.set_mode("papertrail", "plugin")
        refuse_feature_paths(platform)
        from_plugin = client.get(f"{board_url}/{board_id}/comments").get_json()
        assert [c["body"] for c in from_plugin["comments"]] == ["first", "from the plugin", "from legacy"]
        # In shadow mode legacy answers and writes; a canary at 100% is the plugin, reading what legacy wrote.
        platform.legacy.app.wsgi_app = legacy_app  # type: ignore[method-assign]
        platform.set_mode("papertrail", "shadow")
        assert client.post(f"{board_url}/{board_id}/comments", json={"body": "in shadow"}).status_code == 201
        platform.set_mode("papertrail", "canary", percent=100)
        refuse_feature_paths(platform)
        from_canary = client.get(f"{board_url}/{board_id}/comments").get_json()
        assert [c["body"] for c in from_canary["comments"]][-1] == "in shadow"
        assert len(from_canary["comments"]) == 4  # the shadow replay of that write left nothing behind
    finally:
        platform.close()


# -- a handover that fails ---------------------------------------------------------------------------------------

MISMATCHES = [
    pytest.param(
        "ALTER TABLE blog_configs ADD COLUMN note VARCHAR(20)",
        "migration of plugin 'blog' failed: SchemaMismatch",
        "table 'blog_configs': column 'note' (VARCHAR(20)) is in the database but not expected",
        id="blog-extra-column",
    ),
    pytest.param(
        "DROP INDEX ix_pt_comments_board_id",
        "migration of plugin 'papertrail' failed: SchemaMismatch",
        "table 'pt_comments': index 'ix_pt_comments_board_id' on (board_id) is missing from the database",
        id="papertrail-missing-index",
    ),
    pytest.param(
        "DROP TABLE pt_attachments",
        "migration of plugin 'papertrail' failed: SchemaMismatch",
        "table 'pt_attachments' is missing while 'pt_boards', 'pt_nodes', 'pt_edges', 'pt_comments' exist",
        id="papertrail-missing-table",
    ),
]


@settings(max_examples=2, deadline=None)
@given(world=worlds())
@pytest.mark.parametrize(("alteration", "failed", "difference"), MISMATCHES)
def test_a_mismatched_table_is_named_and_its_plugins_handover_changes_nothing(
    database: Callable[[], str], engines, tmp_path: Path, world: World, alteration: str, failed: str, difference: str
) -> None:
    url = database()
    engine = engines(url)
    old_database(engine, world)
    with engine.begin() as connection:
        connection.execute(text(alteration))
    sums, schema = table_checksums(engine), schema_description(engine)
    plugin = "blog" if "'blog'" in failed else "papertrail"

    result = deploy(url, tmp_path)
    assert result.exit_code == 1, result.output
    assert failed in result.output and difference in result.output
    assert "nothing was changed" in result.output and "Traceback" not in result.output

    after = table_checksums(engine)
    # Every row of every table is as it was, and so is every table's shape; the migration log gains only the
    # handovers that completed (blog's, when papertrail's fails after it).
    assert without_records(after, sums) == without_records(sums)
    assert {table: shape for table, shape in schema_description(engine).items() if table in schema} == schema
    assert f"alembic_version_{plugin}" not in after
    assert logged_histories(engine) == (["plugin:blog"] if plugin == "papertrail" else [])
    # Plugins run one after the other (blog, then papertrail), each handover in a transaction of its own: a
    # failing papertrail leaves blog's completed handover in place, and a failing blog stops before papertrail.
    assert set(after) - set(sums) == ({"alembic_version_blog"} if plugin == "papertrail" else set())


FAILING_SECOND_REVISION = '''
"""Injected: rewrite rows and add a table after the adoption, then fail."""

import sqlalchemy as sa
from alembic import op

revision = "blog_0002"
down_revision = "blog_0001"
branch_labels = None
depends_on = None


def upgrade():
    op.execute("UPDATE blog_configs SET branch = 'rewritten', git_auth_token = ''")
    op.execute("DELETE FROM projects")
    op.create_table("blog_extra", sa.Column("id", sa.Integer, primary_key=True))
    raise RuntimeError("injected failure after the adoption")


def downgrade():
    op.drop_table("blog_extra")
'''


@settings(max_examples=3, deadline=None)
@given(world=worlds())
def test_a_failure_after_the_adoption_leaves_the_database_as_it_was(
    database: Callable[[], str], engines, tmp_path: Path, world: World
) -> None:
    plugins = tmp_path / "plugins"
    if not plugins.exists():
        shutil.copytree(BUNDLED_PLUGINS, plugins, ignore=shutil.ignore_patterns("__pycache__"))
        (plugins / "blog" / "migrations" / "blog_0002_fails.py").write_text(FAILING_SECOND_REVISION, encoding="utf-8")
    url = database()
    engine = engines(url)
    old_database(engine, world)
    sums, schema, before = table_checksums(engine), schema_description(engine), versions(engine)

    result = deploy(url, tmp_path, plugins)
    assert result.exit_code == 1, result.output
    assert "migration of plugin 'blog' failed: RuntimeError: injected failure after the adoption" in result.output
    assert "its schema stays at revision None" in result.output

    assert table_checksums(engine) == sums
    assert schema_description(engine) == schema
    # (SQLite's file itself is not byte-identical: the rolled-back write still bumps its header's change counter.)
    assert versions(engine) == before


# -- a feature without its plugin --------------------------------------------------------------------------------


def test_deploy_warns_when_a_declared_feature_has_no_plugin_owning_its_tables(
    database: Callable[[], str], engines, tmp_path: Path
) -> None:
    only_blog = tmp_path / "plugins"
    shutil.copytree(BUNDLED_PLUGINS / "blog", only_blog / "blog", ignore=shutil.ignore_patterns("__pycache__"))

    fresh = database()
    result = deploy(fresh, tmp_path, only_blog)
    assert result.exit_code == 0, result.output
    assert "warning: feature 'papertrail' has no installed plugin owning its tables" in result.output
    assert "the database lacks pt_boards, pt_nodes, pt_edges, pt_comments, pt_attachments" in result.output
    assert "feature 'blog'" not in result.output
    tables = set(inspect(engines(fresh)).get_table_names())
    assert "blog_configs" in tables and "pt_boards" not in tables

    old = database()
    old_database(engines(old))
    result = deploy(old, tmp_path, only_blog)
    assert result.exit_code == 0, result.output
    assert "warning: feature 'papertrail' has no installed plugin owning its tables" in result.output
    assert "its tables exist, but no installed plugin's revisions will create, adopt or change them" in result.output


def test_a_refused_feature_plugin_counts_as_absent(database: Callable[[], str], tmp_path: Path) -> None:
    plugins = tmp_path / "plugins"
    shutil.copytree(BUNDLED_PLUGINS, plugins, ignore=shutil.ignore_patterns("__pycache__"))
    manifest = plugins / "papertrail" / "plugin.json"
    manifest.write_text(manifest.read_text(encoding="utf-8").replace('"api": 1', '"api": 99'), encoding="utf-8")
    result = deploy(database(), tmp_path, plugins)
    assert result.exit_code == 0, result.output
    assert "plugin papertrail: skipped, invalid" in result.output
    assert "warning: feature 'papertrail' has no installed plugin owning its tables" in result.output


@pytest.mark.postgres
def test_a_changed_type_or_nullability_is_named(postgres_url: str, engines, tmp_path: Path) -> None:
    engine = engines(postgres_url)
    old_database(engine)
    with engine.begin() as connection:  # SQLite cannot alter a column in place; PostgreSQL can
        connection.execute(text("ALTER TABLE blog_configs ALTER COLUMN branch DROP NOT NULL"))
        connection.execute(text("ALTER TABLE pt_nodes ALTER COLUMN tags TYPE TEXT"))
    result = deploy(postgres_url, tmp_path)
    assert result.exit_code == 1, result.output
    assert "table 'blog_configs': column 'branch' has nullable True in the database, the plugin expects False" in (
        result.output
    )
    with engine.begin() as connection:
        connection.execute(text("ALTER TABLE blog_configs ALTER COLUMN branch SET NOT NULL"))
    result = deploy(postgres_url, tmp_path)
    assert result.exit_code == 1, result.output
    assert "table 'pt_nodes': column 'tags' has type TEXT in the database, the plugin expects JSON" in result.output
    assert versions(engine).get("alembic_version_papertrail") is None
    assert versions(engine)["alembic_version_blog"] == "blog_0001"  # blog's table matched this time
