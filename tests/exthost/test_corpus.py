"""A corpus of broken plugins: each is refused with an error naming what is wrong and where, while a good plugin
beside it loads, enables and serves."""

from __future__ import annotations

import json
import logging
import os

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from exthost.errors import HookFailed
from exthost.host import FAILED, INVALID, REGISTERED
from tests.fixtures.plugins import HELLO_CODE, manifest_for, write_plugin


def assert_good_plugin_serves(platform):
    hello = platform.host.plugins["hello"]
    assert hello.state == REGISTERED, hello.reason
    platform.host.enable("hello")
    response = platform.test_client().get("/api/hello/greet")
    assert response.status_code == 200
    assert response.get_json() == {"greeting": "hello", "tenant": "tenant-0"}


@pytest.fixture
def corpus(settings_factory, platform_factory):
    """(settings, start): write broken plugins into settings.PLUGINS_DIR beside a good `hello`, then start."""
    settings = settings_factory(PLUGIN_ENTRY_POINTS=False)
    write_plugin(settings.PLUGINS_DIR, "hello")
    return settings, lambda: platform_factory(settings)


MANIFEST_CASES = {
    "unknown_key": (
        {"mountz": {"api": "/api/broken"}},
        ["mountz", "did you mean 'mounts'"],
    ),
    "bad_version": ({"version": "1.0"}, ["version", "'1.0'"]),
    "bad_name": ({"name": "Broken-Plugin"}, ["name", "'Broken-Plugin'"]),
    "api_mount_outside_api": ({"mounts": {"api": "/v1/broken"}}, ["mounts.api", "'/v1/broken'", "/api/"]),
    "foreign_capability": ({"capabilities": ["papertrail.board.write"]}, ["capabilities", "papertrail.board.write"]),
    "unsupported_sdk": (
        {"sovereign": {"engine": ">=0.1.0", "entry": "plugin:Plugin", "api": 9}},
        ["sovereign.api", "9"],
    ),
    "entry_escapes": (
        {"sovereign": {"engine": ">=0.1.0", "entry": "..evil:Plugin", "api": 1}},
        ["sovereign.entry", "..evil:Plugin"],
    ),
    "config_default_wrong_type": (
        {"config": {"LIMIT": {"type": "integer", "default": "ten"}}},
        ["config.LIMIT", "'ten'"],
    ),
    "engine_excludes_host": (
        {"sovereign": {"engine": ">=2.0.0", "entry": "plugin:Plugin", "api": 1}},
        ["sovereign.engine", ">=2.0.0"],
    ),
}


@pytest.mark.parametrize("case", sorted(MANIFEST_CASES))
def test_an_invalid_manifest_field_is_named_with_its_value_and_the_others_still_load(corpus, case):
    settings, start = corpus
    overrides, expected = MANIFEST_CASES[case]
    manifest = manifest_for("broken") | overrides
    write_plugin(settings.PLUGINS_DIR, "broken", manifest=manifest)
    platform = start()
    broken = next(r for r in platform.host.plugins.values() if r.folder.name == "broken")
    assert broken.state == INVALID
    assert str(broken.folder / "plugin.json") in broken.reason
    for fragment in expected:
        assert fragment in broken.reason
    assert_good_plugin_serves(platform)


def test_bad_json_names_the_line_and_column(corpus):
    settings, start = corpus
    write_plugin(settings.PLUGINS_DIR, "broken", manifest='{\n  "name": "broken",\n  "version": 1.0.0\n}')
    platform = start()
    broken = platform.host.plugins["broken"]
    assert broken.state == INVALID
    assert "plugin.json" in broken.reason and "line 3" in broken.reason
    assert_good_plugin_serves(platform)


def test_an_import_error_fails_the_plugin_with_the_error_and_the_file(corpus):
    settings, start = corpus
    write_plugin(settings.PLUGINS_DIR, "broken", "import does_not_exist_anywhere\n")
    platform = start()
    broken = platform.host.plugins["broken"]
    assert broken.state == FAILED
    assert "ModuleNotFoundError" in broken.reason and "does_not_exist_anywhere" in broken.reason
    assert "plugin.py:1" in broken.reason
    assert_good_plugin_serves(platform)


def test_a_missing_entry_object_suggests_the_close_name(corpus):
    settings, start = corpus
    write_plugin(settings.PLUGINS_DIR, "broken", "class Plugins:\n    pass\n")
    platform = start()
    broken = platform.host.plugins["broken"]
    assert broken.state == FAILED
    assert "has no 'Plugin'" in broken.reason and "did you mean 'Plugins'" in broken.reason
    assert_good_plugin_serves(platform)


def test_a_raising_register_hook_fails_the_plugin_and_mounts_nothing(corpus):
    settings, start = corpus
    code = """
    from exthost.sdk import hookimpl

    class Plugin:
        @hookimpl
        def register(self, ctx):
            @ctx.router.get("/api/broken/x")
            def x():
                return {}
            raise ValueError("database unreachable")
    """
    write_plugin(settings.PLUGINS_DIR, "broken", code)
    platform = start()
    broken = platform.host.plugins["broken"]
    assert broken.state == FAILED
    assert "hook register raised ValueError: database unreachable" in broken.reason
    assert broken.app is None
    assert_good_plugin_serves(platform)
    assert platform.test_client().get("/api/broken/x").status_code == 404


def test_a_misspelt_hook_is_refused_with_a_suggestion(corpus):
    settings, start = corpus
    code = """
    from exthost.sdk import hookimpl

    class Plugin:
        @hookimpl
        def on_enabel(self, ctx, tenant):
            pass
    """
    write_plugin(settings.PLUGINS_DIR, "broken", code)
    platform = start()
    broken = platform.host.plugins["broken"]
    assert broken.state == FAILED
    assert "unknown hook 'on_enabel'" in broken.reason and "did you mean 'on_enable'" in broken.reason
    assert_good_plugin_serves(platform)


def test_a_route_outside_the_declared_mounts_is_refused(corpus):
    settings, start = corpus
    code = """
    from exthost.sdk import hookimpl

    class Plugin:
        @hookimpl
        def register(self, ctx):
            @ctx.router.get("/api/projects/sneaky")
            def sneaky():
                return {}
    """
    write_plugin(settings.PLUGINS_DIR, "broken", code)
    platform = start()
    broken = platform.host.plugins["broken"]
    assert broken.state == FAILED
    assert "'/api/projects/sneaky'" in broken.reason and "outside the declared mounts" in broken.reason
    assert_good_plugin_serves(platform)


def test_an_entry_file_symlinked_out_of_the_plugin_folder_is_refused(corpus, tmp_path):
    settings, start = corpus
    folder = write_plugin(settings.PLUGINS_DIR, "broken")
    outside = tmp_path / "elsewhere.py"
    outside.write_text(HELLO_CODE)
    (folder / "plugin.py").unlink()
    os.symlink(outside, folder / "plugin.py")
    platform = start()
    broken = platform.host.plugins["broken"]
    assert broken.state == FAILED
    assert "sovereign.entry" in broken.reason and "outside" in broken.reason
    assert_good_plugin_serves(platform)


def test_a_mount_over_a_core_route_is_refused_at_validation(corpus):
    settings, start = corpus
    write_plugin(settings.PLUGINS_DIR, "broken", manifest=manifest_for("broken", mounts={"api": "/api/projects"}))
    platform = start()
    broken = platform.host.plugins["broken"]
    assert broken.state == INVALID
    assert "'/api/projects' collides with core route" in broken.reason
    assert "/api/projects/<project_id>/shares" in broken.reason
    assert_good_plugin_serves(platform)


def test_a_feature_mount_needs_the_feature_declared(corpus):
    settings, start = corpus
    mount = {"api": "/api/projects/<project_id>/papertrail"}
    write_plugin(settings.PLUGINS_DIR, "broken", manifest=manifest_for("broken", mounts=mount))
    sovereign = {"engine": ">=0.1.0", "entry": "plugin:Plugin", "api": 1, "feature": "papertrail"}
    write_plugin(
        settings.PLUGINS_DIR,
        "trail",
        "class Plugin:\n    pass\n",
        manifest=manifest_for("trail", mounts=mount, sovereign=sovereign),
    )
    platform = start()
    assert platform.host.plugins["broken"].state == INVALID
    assert "sovereign.feature" in platform.host.plugins["broken"].reason
    assert platform.host.plugins["trail"].state == REGISTERED
    assert_good_plugin_serves(platform)


def test_a_mount_overlapping_another_plugin_is_refused_and_the_first_keeps_it(corpus):
    settings, start = corpus
    write_plugin(settings.PLUGINS_DIR, "zzz", manifest=manifest_for("zzz", mounts={"api": "/api/hello/extra"}))
    platform = start()
    refused = platform.host.plugins["zzz"]
    assert refused.state == INVALID
    assert "'/api/hello/extra' overlaps '/api/hello' of plugin 'hello'" in refused.reason
    assert_good_plugin_serves(platform)


def test_a_dependency_cycle_invalidates_exactly_the_plugins_on_it_and_their_dependents(corpus):
    settings, start = corpus
    for name, needs in (("alpha", "beta"), ("beta", "gamma"), ("gamma", "alpha"), ("delta", "alpha")):
        write_plugin(settings.PLUGINS_DIR, name, manifest=manifest_for(name, requires={"hard": {needs: ">=1.0.0"}}))
    write_plugin(settings.PLUGINS_DIR, "omega", manifest=manifest_for("omega", requires={"hard": {"hello": "^1.0.0"}}))
    platform = start()
    for name in ("alpha", "beta", "gamma"):
        record = platform.host.plugins[name]
        assert record.state == INVALID
        assert "dependency cycle" in record.reason
        assert all(member in record.reason for member in ("alpha", "beta", "gamma"))
    assert platform.host.plugins["delta"].state == INVALID
    assert "requires.hard.alpha" in platform.host.plugins["delta"].reason
    assert platform.host.plugins["omega"].state == REGISTERED
    assert_good_plugin_serves(platform)


def test_a_missing_or_mismatched_hard_dependency_is_named(corpus):
    settings, start = corpus
    write_plugin(settings.PLUGINS_DIR, "needy", manifest=manifest_for("needy", requires={"hard": {"helo": ">=1.0.0"}}))
    write_plugin(settings.PLUGINS_DIR, "picky", manifest=manifest_for("picky", requires={"hard": {"hello": ">=2.0.0"}}))
    write_plugin(settings.PLUGINS_DIR, "relaxed", manifest=manifest_for("relaxed", requires={"soft": {"absent": "*"}}))
    platform = start()
    needy, picky = platform.host.plugins["needy"], platform.host.plugins["picky"]
    assert needy.state == INVALID and "no plugin 'helo'" in needy.reason and "did you mean 'hello'" in needy.reason
    assert picky.state == INVALID and "needs '>=2.0.0', installed is '1.0.0'" in picky.reason
    assert platform.host.plugins["relaxed"].state == REGISTERED
    assert_good_plugin_serves(platform)


def test_a_raising_handler_answers_500_naming_nothing_internal_and_logs_plugin_and_request_id(corpus, caplog):
    settings, start = corpus
    code = """
    from exthost.sdk import hookimpl

    class Plugin:
        @hookimpl
        def register(self, ctx):
            @ctx.router.get("/api/broken/boom")
            def boom():
                raise KeyError("secret_column_name")
    """
    write_plugin(settings.PLUGINS_DIR, "broken", code)
    platform = start()
    platform.host.enable("broken")
    with caplog.at_level(logging.ERROR):
        response = platform.test_client().get("/api/broken/boom", headers={"X-Request-Id": "req-42"})
    assert response.status_code == 500
    assert response.get_json() == {"error": "Internal server error", "requestId": "req-42"}
    assert "secret_column_name" not in response.get_data(as_text=True)
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "plugin broken" in logged and "req-42" in logged and "secret_column_name" in logged
    # The plugin stays enabled and the others keep serving.
    assert platform.host.plugins["broken"].display_state() == "enabled"
    assert_good_plugin_serves(platform)


def test_a_raising_on_enable_leaves_nothing_enabled_or_mounted(corpus):
    settings, start = corpus
    code = """
    from exthost.sdk import hookimpl

    class Plugin:
        @hookimpl
        def register(self, ctx):
            @ctx.router.get("/api/broken/x")
            def x():
                return {"ok": True}

        @hookimpl
        def on_enable(self, ctx, tenant):
            raise RuntimeError("cannot reach the queue")
    """
    write_plugin(settings.PLUGINS_DIR, "broken", code)
    platform = start()
    with pytest.raises(HookFailed, match="hook on_enable raised RuntimeError: cannot reach the queue"):
        platform.host.enable("broken")
    broken = platform.host.plugins["broken"]
    assert broken.display_state() == FAILED
    assert "on_enable raised RuntimeError" in broken.tenant_failures["tenant-0"]
    assert "on_enable raised RuntimeError" in platform.host.describe(broken)["reason"]
    assert platform.test_client().get("/api/broken/x").status_code == 404
    assert [row for row in platform.host.registry.rows() if row.plugin == "broken"] == []
    assert_good_plugin_serves(platform)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=12),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=8,
)
field_names = st.sampled_from(
    ["name", "version", "sovereign", "mounts", "capabilities", "config", "requires", "events", "migrations", "x"]
)


@hypothesis_settings(max_examples=15, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(changes=st.dictionaries(field_names, json_values, min_size=1, max_size=3))
def test_generated_manifest_damage_never_crashes_the_host_nor_stops_the_good_plugin(
    settings_factory, platform_factory, changes
):
    settings = settings_factory(PLUGIN_ENTRY_POINTS=False)
    write_plugin(settings.PLUGINS_DIR, "hello")
    write_plugin(settings.PLUGINS_DIR, "broken", manifest=json.dumps(manifest_for("broken") | changes))
    platform = platform_factory(settings)
    for record in platform.host.plugins.values():
        if record.name != "hello":
            assert record.state in (INVALID, FAILED, REGISTERED)
            if record.state != REGISTERED:
                assert record.reason
    assert_good_plugin_serves(platform)


def test_a_hook_with_wrong_argument_names_fails_only_that_plugin(corpus):
    settings, start = corpus
    code = """
    from exthost.sdk import hookimpl

    class Plugin:
        @hookimpl
        def register(self, context):
            pass
    """
    write_plugin(settings.PLUGINS_DIR, "broken", code)
    platform = start()
    broken = platform.host.plugins["broken"]
    assert broken.state == FAILED
    assert "hook 'register' declares argument(s) {'context'}" in broken.reason
    assert "its arguments are (ctx)" in broken.reason
    assert_good_plugin_serves(platform)


def test_soft_requirements_only_order_and_never_invalidate(corpus):
    settings, start = corpus
    write_plugin(settings.PLUGINS_DIR, "left", manifest=manifest_for("left", requires={"soft": {"right": "*"}}))
    write_plugin(settings.PLUGINS_DIR, "right", manifest=manifest_for("right", requires={"soft": {"left": "*"}}))
    write_plugin(settings.PLUGINS_DIR, "old", manifest=manifest_for("old", requires={"soft": {"hello": ">=3.0.0"}}))
    platform = start()
    for name in ("left", "right", "old"):
        assert platform.host.plugins[name].state == REGISTERED
    assert "form a cycle" in " ".join(platform.host.plugins["left"].notes)
    assert platform.host.plugins["old"].notes == ["soft requirement 'hello' is 1.0.0, outside '>=3.0.0'; ignored"]
    assert_good_plugin_serves(platform)
