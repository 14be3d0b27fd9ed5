"""The harness on PostgreSQL (PARITY_DATABASE_URL): databases of its own made from a template once and put back in
place before each case, the same comparison of answers and rows, and nothing left on the server afterwards."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from exthost.evidence.compare import CapturedRequest
from legacy_core.settings import Settings
from parity_tests.pair import HarnessError, Pair, build_pair
from parity_tests.postgres import PostgresDatabases, database_name
from parity_tests.recordings import replay_session
from parity_tests.seed import REPO_PLUGINS
from tests.harness.mutants import BOARD_READ_WRITES_ROW, SESSIONS, case_names, mutated_plugins, reported

JSON = (("Content-Type", "application/json"),)


def _base(server: str, plugins: Path = REPO_PLUGINS) -> Settings:
    return Settings(  # type: ignore[call-arg]
        _env_file=None, PARITY_DATABASE_URL=server, PLUGINS_DIR=plugins, PLUGIN_ENTRY_POINTS=False
    )


def _databases(server: str, prefix: str) -> list[str]:
    engine = create_engine(server, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            found = connection.execute(
                text("SELECT datname FROM pg_database WHERE datname LIKE :p"), {"p": prefix + "%"}
            )
            return sorted(row[0] for row in found)
    finally:
        engine.dispose()


def _comments(pair: Pair, side: str) -> int:
    engine = (pair.legacy if side == "legacy" else pair.plugin).platform.services.engine
    with engine.connect() as connection:
        return int(connection.execute(text("SELECT count(*) FROM pt_comments")).scalar_one())


def _changed(pair: Pair, side: str) -> set[str]:
    """The tables the case so far wrote to, as the change trigger noted them."""
    engine = (pair.legacy if side == "legacy" else pair.plugin).platform.services.engine
    with engine.connect() as connection:
        return set(connection.execute(text("SELECT name FROM sv_harness_changed")).scalars())


def test_postgres_pair_starts_every_case_from_the_template(postgres_url: str, tmp_path: Path) -> None:
    root = tmp_path / "ws"
    pair = build_pair(root, base=_base(postgres_url), features=("papertrail",))
    prefix = database_name(root, "")
    try:
        assert {side.platform.services.engine.dialect.name for side in pair.sides} == {"postgresql"}
        assert _databases(postgres_url, prefix) == sorted(
            database_name(root, n) for n in ("legacy", "plugin", "template")
        )
        project = pair.seed.projects["papertrail"]
        items = f"/api/projects/{project['id']}/papertrail/board/{project['board_id']}"
        seeded = _comments(pair, "legacy")

        pair.start_case(user="bob")
        comment = json.dumps({"body": "On PostgreSQL", "nodeId": "claim"}).encode()
        added = pair.exchange(0, CapturedRequest("POST", f"{items}/comments", headers=JSON, body=comment))
        assert added.legacy.status == 201 and added.comparison.match and not added.state, added
        assert _comments(pair, "legacy") == _comments(pair, "plugin") == seeded + 1
        assert "pt_comments" in _changed(pair, "legacy") and "pt_comments" in _changed(pair, "plugin")

        # The next case starts from the template again: the write is gone on both sides.
        pair.start_case(user="bob")
        assert _comments(pair, "legacy") == _comments(pair, "plugin") == seeded
        read = pair.exchange(0, CapturedRequest("GET", f"/api/projects/{project['id']}/papertrail/board"))
        assert read.comparison.match and not read.state
        # The reset put back only what the case changed, and a case that wrote nothing leaves nothing to put back.
        assert _changed(pair, "legacy") == _changed(pair, "plugin") == set()
    finally:
        pair.close()
    assert _databases(postgres_url, prefix) == [], "the pair's databases were left on the server"


def test_postgres_pair_catches_a_read_that_writes_a_row(postgres_url: str, tmp_path: Path) -> None:
    # Found only if the state is read again after a GET: the change counter must say the plugin side changed.
    mutation = BOARD_READ_WRITES_ROW
    plugins = mutated_plugins(tmp_path / "plugins", mutation.edit)
    pair = build_pair(tmp_path / "ws", base=_base(postgres_url, plugins), plugins_dir=plugins, features=("papertrail",))
    try:
        case = replay_session(pair, SESSIONS["papertrail"](pair.seed))
    finally:
        pair.close()
    assert not case.match
    first = case.first_mismatch()
    assert first is not None and (first.method, first.route) == (mutation.method, mutation.route), case
    names = case_names(pair.seed, case)
    for expected in mutation.differences:
        assert reported(first, expected, names) is not None, f"no {expected} in {first}"


def test_postgres_pair_matches_on_unmodified_plugins(postgres_url: str, tmp_path: Path) -> None:
    pair = build_pair(tmp_path / "ws", base=_base(postgres_url), features=("papertrail", "blog"))
    try:
        for feature in ("papertrail", "blog"):
            case = replay_session(pair, SESSIONS[feature](pair.seed))
            assert case.match, [exchange for exchange in case.exchanges if not exchange.match]
    finally:
        pair.close()


def test_parity_run_on_postgres_reports_it_and_records_evidence(postgres_url: str, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from exthost.cli import main
    from exthost.deploy import upgrade_schema
    from legacy_core.db import make_engine
    from tests.fixtures.app import BUNDLED_PLUGINS

    evidence = tmp_path / "evidence.db"
    engine = make_engine(f"sqlite:///{evidence}")
    upgrade_schema(engine, BUNDLED_PLUGINS)
    engine.dispose()
    env = {
        "DATABASE_URL": f"sqlite:///{evidence}",
        "PARITY_DATABASE_URL": postgres_url,
        "DATA_DIR": str(tmp_path / "data"),
        "PLUGINS_DIR": str(REPO_PLUGINS),
        "PLUGIN_ENTRY_POINTS": "false",
    }
    reports = tmp_path / "reports"
    workspace = tmp_path / "ws"
    arguments = ["parity:run", "--feature", "papertrail", "--generated", "8", "--report-dir", str(reports)]
    arguments += ["--workspace", str(workspace)]
    result = CliRunner().invoke(main, arguments, env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "cases on postgresql" in result.output
    document = json.loads((reports / "report.json").read_text(encoding="utf-8"))
    assert document["database"] == "postgresql" and document["ok"]
    assert 'name="database" value="postgresql"' in (reports / "junit.xml").read_text(encoding="utf-8")
    engine = make_engine(env["DATABASE_URL"])
    with engine.connect() as connection:
        assert connection.execute(text("SELECT generated_cases FROM sv_parity_runs")).scalar_one() == 8
    engine.dispose()
    # The sides are dropped; a kept --workspace keeps its template database for the next run.
    prefix = database_name(workspace / "workspace", "")
    assert _databases(postgres_url, prefix) == [prefix + "template"]
    PostgresDatabases(postgres_url, workspace / "workspace").drop(["template"])


def test_restore_puts_back_rows_across_foreign_keys_and_sequences(postgres_url: str) -> None:
    from parity_tests.postgres import install_counter, restore, version

    engine = create_engine(postgres_url)
    try:
        with engine.begin() as connection:
            connection.execute(text("CREATE TABLE parent (id serial PRIMARY KEY, name text NOT NULL)"))
            connection.execute(
                text("CREATE TABLE child (id serial PRIMARY KEY, parent_id integer NOT NULL REFERENCES parent(id))")
            )
            connection.execute(text("CREATE TABLE untouched (id integer PRIMARY KEY)"))
            connection.execute(text("INSERT INTO parent (name) VALUES ('a'), ('b')"))
            connection.execute(text("INSERT INTO child (parent_id) VALUES (1), (2)"))
            connection.execute(text("INSERT INTO untouched VALUES (7)"))
        install_counter(engine)

        def snapshot() -> tuple[object, ...]:
            with engine.connect() as connection:
                return tuple(
                    tuple(connection.execute(text(query)).all())
                    for query in (
                        "SELECT * FROM parent ORDER BY id",
                        "SELECT * FROM child ORDER BY id",
                        "SELECT * FROM untouched",
                        "SELECT last_value FROM pg_sequences WHERE schemaname = 'public' ORDER BY sequencename",
                    )
                )

        template = snapshot()
        with engine.connect() as connection:
            before = version(connection)
            assert restore(connection) is False  # nothing written yet
        with engine.begin() as connection:
            # Only the parent table is written; its child must be truncated and refilled with it.
            connection.execute(text("UPDATE parent SET name = 'changed' WHERE id = 1"))
            connection.execute(text("INSERT INTO parent (name) VALUES ('c')"))
        with engine.begin() as connection:
            connection.execute(text("SELECT nextval('child_id_seq')"))  # drawn, never used
        with engine.connect() as connection:
            assert version(connection) != before
            assert restore(connection) is True
        assert snapshot() == template
        with engine.connect() as connection:
            assert restore(connection) is False
            assert connection.execute(text("SELECT count(*) FROM sv_harness_changed")).scalar_one() == 0
        with engine.begin() as connection:  # the next insert takes the template's next id again
            assert connection.execute(text("INSERT INTO parent (name) VALUES ('d') RETURNING id")).scalar_one() == 3
    finally:
        engine.dispose()


def test_restore_handles_generated_columns_cycles_and_a_table_created_by_a_case(
    postgres_url: str, tmp_path: Path
) -> None:
    from parity_tests.postgres import TemplateDrift, install_counter, restore

    engine = create_engine(postgres_url)
    try:
        with engine.begin() as connection:
            connection.execute(
                text(
                    "CREATE TABLE item "
                    "(id integer PRIMARY KEY, n integer, twice integer GENERATED ALWAYS AS (n * 2) STORED)"
                )
            )
            # A cycle of keys (a <-> b) and a table below it: emptying must still go child first.
            connection.execute(text("CREATE TABLE a (id integer PRIMARY KEY, b_id integer)"))
            connection.execute(text("CREATE TABLE b (id integer PRIMARY KEY, a_id integer REFERENCES a(id))"))
            connection.execute(text("ALTER TABLE a ADD FOREIGN KEY (b_id) REFERENCES b(id)"))
            connection.execute(text("CREATE TABLE aa_child (id integer PRIMARY KEY, b_id integer REFERENCES b(id))"))
            connection.execute(text("INSERT INTO item (id, n) VALUES (1, 5)"))
            connection.execute(text("INSERT INTO a VALUES (1, NULL)"))
            connection.execute(text("INSERT INTO b VALUES (1, 1)"))
            connection.execute(text("INSERT INTO aa_child VALUES (1, 1)"))
        install_counter(engine)
        with engine.begin() as connection:
            connection.execute(text("UPDATE item SET n = 7"))
            connection.execute(text("UPDATE b SET a_id = NULL"))
        with engine.connect() as connection:
            assert restore(connection) is True
            assert connection.execute(text("SELECT n, twice FROM item")).one() == (5, 10)
            assert connection.execute(text("SELECT a_id FROM b")).scalar_one() == 1
            assert connection.execute(text("SELECT count(*) FROM aa_child")).scalar_one() == 1
        with engine.begin() as connection:
            connection.execute(text("CREATE TABLE late (id integer PRIMARY KEY)"))
        with engine.connect() as connection, pytest.raises(TemplateDrift):
            restore(connection)  # the caller makes the side again from the template
    finally:
        engine.dispose()


def test_a_pair_that_cannot_be_built_leaves_no_database(postgres_url: str, tmp_path: Path) -> None:
    empty = tmp_path / "no-plugins"
    empty.mkdir()
    root = tmp_path / "ws"
    with pytest.raises(HarnessError, match="no enabled plugin"):
        build_pair(root, base=_base(postgres_url, empty), plugins_dir=empty, features=("papertrail",))
    assert _databases(postgres_url, database_name(root, "")) == []


@pytest.mark.postgres
def test_the_databases_of_a_deleted_workspace_are_swept_by_the_next_pair(postgres_url: str, tmp_path: Path) -> None:
    """A run killed before it dropped its databases (or a kept --workspace removed since) leaves them on the server;
    the next harness on this machine drops them, and never those of a workspace that still exists or of another
    machine's."""
    import shutil

    gone, kept, elsewhere = tmp_path / "gone:colon", tmp_path / "kept", tmp_path / "elsewhere"
    for folder in (gone, kept, elsewhere):
        folder.mkdir()
    made = {folder: PostgresDatabases(postgres_url, folder) for folder in (gone, kept, elsewhere)}
    try:
        for databases in made.values():
            databases.create_empty("template")
        note = json.dumps({"host": "another-runner", "workspace": str(elsewhere)})
        made[elsewhere]._execute(f"COMMENT ON DATABASE \"{database_name(elsewhere, 'template')}\" IS '{note}'")
        shutil.rmtree(gone)
        shutil.rmtree(elsewhere)
        assert database_name(gone, "template") in made[kept].sweep_orphans()
        assert not made[gone].exists("template")
        assert made[kept].exists("template") and made[elsewhere].exists("template")
        assert made[kept].sweep_orphans() == []
    finally:
        for databases in made.values():
            databases.drop(["template"])
            databases.close()
