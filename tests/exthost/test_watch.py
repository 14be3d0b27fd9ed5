"""Development hot reload: a changed plugin file is picked up by watchdog and served without a restart."""

from __future__ import annotations

import queue

import pytest

from exthost.watch import PluginWatcher
from tests.fixtures.plugins import HELLO_CODE, write_plugin

WAIT = 20  # seconds to wait for a file event; a generous bound for a loaded machine, not a speed claim


@pytest.fixture
def watched(settings_factory, platform_factory):
    settings = settings_factory(PLUGIN_ENTRY_POINTS=False)
    write_plugin(settings.PLUGINS_DIR, "hello")
    platform = platform_factory(settings)
    platform.host.enable("hello")
    results: queue.Queue[tuple[str, str | None]] = queue.Queue()
    watcher = PluginWatcher(platform.host, debounce=0.2, on_result=lambda f, e: results.put((f, e))).start()
    yield settings, platform, results
    watcher.stop()


def test_saving_a_plugin_file_reloads_that_plugin_in_place(watched):
    settings, platform, results = watched
    client = platform.test_client()
    assert client.get("/api/hello/greet").get_json()["greeting"] == "hello"
    (settings.PLUGINS_DIR / "hello" / "plugin.py").write_text(HELLO_CODE.replace('ctx.config["GREETING"]', '"edited"'))
    assert results.get(timeout=WAIT) == ("hello", None)
    assert client.get("/api/hello/greet").get_json()["greeting"] == "edited"


def test_a_broken_save_is_reported_and_the_running_version_keeps_serving(watched):
    settings, platform, results = watched
    (settings.PLUGINS_DIR / "hello" / "plugin.py").write_text("def broken(:\n")
    folder, error = results.get(timeout=WAIT)
    assert folder == "hello"
    assert "keeps serving" in error and "SyntaxError" in error
    assert platform.test_client().get("/api/hello/greet").get_json()["greeting"] == "hello"


def test_caches_and_editor_files_are_ignored(watched):
    settings, platform, _ = watched
    watcher = PluginWatcher(platform.host)
    assert watcher.plugin_of(str(settings.PLUGINS_DIR / "hello" / "plugin.py")) == "hello"
    assert watcher.plugin_of(str(settings.PLUGINS_DIR / "hello" / "__pycache__" / "plugin.cpython-311.pyc")) is None
    assert watcher.plugin_of(str(settings.PLUGINS_DIR / "hello" / ".plugin.py.swp")) is None
    assert watcher.plugin_of(str(settings.PLUGINS_DIR / "README.md")) is None
    assert watcher.plugin_of("/somewhere/else/plugin.py") is None
