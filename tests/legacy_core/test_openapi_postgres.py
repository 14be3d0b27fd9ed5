"""The schemathesis conformance run again on PostgreSQL, which refuses input (NUL bytes, overflows) SQLite keeps."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from exthost.deploy import upgrade_schema
from legacy_core import create_server
from tests.fixtures.app import BUNDLED_PLUGINS, TEST_ARGON2_KIB, Api, make_settings
from tests.fixtures.openapi import CHECKS
from tests.legacy_core.test_openapi import World, build_world, schema

# Fewer than the SQLite run: this one looks for what only PostgreSQL refuses, not for every schema corner again.
EXAMPLES_PER_OPERATION = 8


@pytest.fixture
def pg_world(postgres_url: str, tmp_path: Path) -> Iterator[World]:
    server = create_server(make_settings(tmp_path, DATABASE_URL=postgres_url), argon2_memory_kib=TEST_ARGON2_KIB)
    upgrade_schema(server.services.engine, BUNDLED_PLUGINS)
    try:
        yield build_world(Api(server, itertools.count(1)))
    finally:
        server.services.engine.dispose()


@pytest.mark.postgres
@schema.parametrize()
@schema.given(data=st.data())
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_openapi_app_conforms_on_postgres(case: schemathesis.Case[Any], data: st.DataObject, pg_world: World) -> None:
    cookies = pg_world.aim(case, data)
    case.call_and_validate(app=pg_world.server.app, cookies=cookies, checks=CHECKS)
