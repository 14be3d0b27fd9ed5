"""The parity suites on a handed-over database: both twins start from a database the old core revision made, holding
other tenants' boards, comments, attachments and blog configurations, whose feature tables the plugins' first
revisions then adopted. The tests below are the parity suites' own (imported, so they run here against this template
instead of a new database): every answer and every stored row, the old ones included, must agree on both sides."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from exthost.deploy import upgrade_schema
from exthost.migrate import upgrade_exthost
from legacy_core.db import make_engine
from tests.fixtures.app import BUNDLED_PLUGINS
from tests.fixtures.legacy_world import sample_world, table_checksums, write_world
from tests.fixtures.old_core import create_old_core_database

# The suites' tests and the fixtures they need, collected again in this module (a name pytest finds here runs here).
from tests.plugins.test_blog_parity import (  # noqa: F401
    make_pair,
    pair,
    test_blog_configure_clones_stores_and_refuses_a_second_time,
    test_blog_create_posts,
    test_blog_roles_decide_who_reads_and_who_writes,
)
from tests.plugins.test_papertrail_items import items, test_comments_crud_filter_and_refusals  # noqa: F401
from tests.plugins.test_papertrail_parity import (  # noqa: F401
    case,
    pair_factory,
    test_board_delete_removes_rows_and_files_then_a_fresh_board_comes,
    test_board_roles,
    test_board_save_normalises_and_reads_back,
    test_board_unknown_other_type_and_other_tenant_projects_are_404,
)

FILLED = ("tenants", "users", "projects", "pt_boards", "pt_nodes", "pt_edges", "pt_comments", "pt_attachments")


@pytest.fixture(scope="module")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Replaces the suites' template: an old-core database with a world in it, handed over to the plugins."""
    path = tmp_path_factory.mktemp("handed-over") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    try:
        create_old_core_database(engine)
        upgrade_exthost(engine)
        write_world(engine, sample_world("old"))
        before = table_checksums(engine)
        upgrade_schema(engine, BUNDLED_PLUGINS)  # the handover, as `sv migrate:deploy` runs it
        after = table_checksums(engine)
    finally:
        engine.dispose()
    assert {table: after[table] for table in before} == before
    assert all(before[table][0] for table in (*FILLED, "blog_configs"))
    return path


def test_the_twins_here_start_from_the_handed_over_database(twins_factory) -> None:
    twins = twins_factory("papertrail")
    for side in twins.sides():
        engine = side.platform.services.engine
        assert table_checksums(engine)["pt_comments"][0] == 1  # the old world's comment, on both sides
        with engine.connect() as connection:
            assert connection.execute(text("SELECT version_num FROM alembic_version_papertrail")).scalar_one() == (
                "papertrail_0001"
            )
