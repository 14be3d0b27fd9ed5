"""The plugin registry under concurrency and on PostgreSQL: every worker agrees, no switch is lost to a race."""

from __future__ import annotations

import threading

import pytest

from exthost.deploy import upgrade_schema
from legacy_core.db import make_engine
from tests.fixtures.app import BUNDLED_PLUGINS, make_settings
from tests.fixtures.plugins import write_plugin


def switch_concurrently(platforms, rounds=6):
    """Each platform's host flips `hello` on and off from its own thread; returns the errors raised."""
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(platforms))

    def worker(platform):
        barrier.wait()
        try:
            for _ in range(rounds):
                platform.host.enable("hello", changed_by=platform.host.name)
                platform.host.disable("hello", changed_by=platform.host.name)
            platform.host.enable("hello", changed_by=platform.host.name)
        except BaseException as exc:  # collected and asserted on below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(platform,)) for platform in platforms]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


def assert_all_agree_enabled(platforms):
    [row] = platforms[0].host.registry.rows()
    assert (row.plugin, row.tenant_id, row.enabled) == ("hello", "tenant-0", True)
    for platform in platforms:
        platform.host.sync(force=True)
        assert platform.test_client().get("/api/hello/greet").status_code == 200


def test_workers_switching_one_plugin_at_once_never_fail_and_end_agreeing(settings_factory, platform_factory):
    settings = settings_factory(PLUGIN_ENTRY_POINTS=False, PLUGIN_POLL_SECONDS=0)
    write_plugin(settings.PLUGINS_DIR, "hello")
    platforms = [platform_factory(settings, name=f"worker{i}") for i in range(4)]
    assert switch_concurrently(platforms) == []
    assert_all_agree_enabled(platforms)
    assert platforms[0].host.registry.version() == 4 * (6 * 2 + 1)


@pytest.mark.postgres
def test_the_registry_on_postgres_is_shared_and_race_free(postgres_url, tmp_path, platform_factory):
    engine = make_engine(postgres_url)
    upgrade_schema(engine, BUNDLED_PLUGINS)
    engine.dispose()
    settings = make_settings(tmp_path, DATABASE_URL=postgres_url, PLUGIN_ENTRY_POINTS=False, PLUGIN_POLL_SECONDS=0)
    write_plugin(settings.PLUGINS_DIR, "hello")
    platforms = [platform_factory(settings, name=f"pg{i}") for i in range(3)]
    assert platforms[1].test_client().get("/api/hello/greet").status_code == 404
    assert switch_concurrently(platforms) == []
    assert_all_agree_enabled(platforms)
    platforms[2].host.disable("hello")
    assert platforms[0].test_client().get("/api/hello/greet").status_code == 404
