"""Test configuration: fixture modules and hypothesis profiles (`dev` locally, `ci` under CI=true)."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

pytest_plugins = [
    "tests.fixtures.app",
    "tests.fixtures.plugins",
    "tests.fixtures.postgres",
    "tests.fixtures.redis",
    "tests.fixtures.gitremote",
    "tests.fixtures.browser",
    "tests.fixtures.twins",
]

# The working tree's plugins and the fixtures' are unsigned, and the production default (PLUGIN_SIGNATURES=enforce)
# would refuse them: every settings object the tests build, and every process they start (`sv` commands, servers,
# gunicorn), checks no signature unless a test sets the policy itself (tests/exthost/test_trust_*.py do).
os.environ["PLUGIN_SIGNATURES"] = "off"

settings.register_profile(
    "dev", max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
settings.register_profile(
    "ci",
    max_examples=80,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
settings.load_profile("ci" if os.environ.get("CI") else os.environ.get("HYPOTHESIS_PROFILE", "dev"))


def pytest_collection_modifyitems(config: object, items: list[object]) -> None:
    """The long tests first: those marked `slow` (whole runs of a subsystem), then the harness's and the parity
    suites' (each a run of the harness, tens of seconds to minutes). pytest-xdist hands tests out in collection
    order, so a long test collected last keeps one worker busy long after the others are done."""

    def rank(item: object) -> int:
        if item.get_closest_marker("slow") is not None:  # type: ignore[attr-defined]
            return 0
        path = str(item.nodeid)  # type: ignore[attr-defined]
        return 1 if path.startswith(("parity_tests/", "tests/harness/")) else 2

    items.sort(key=rank)
