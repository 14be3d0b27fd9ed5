"""Development hot reload: a changed plugin file is picked up by watchdog and served without a restart."""

from __future__ import annotations

import os
import queue
import sys
import time

import pytest

from exthost.watch import PluginWatcher
from tests.exthost.test_serve import eventually
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


def version(text: str) -> str:
    """The hello plugin whose greet answers `text`."""
    return HELLO_CODE.replace('ctx.config["GREETING"]', repr(text))


@pytest.fixture
def watcher_factory(settings_factory, platform_factory):
    made = []

    def factory(**options):
        settings = settings_factory(PLUGIN_ENTRY_POINTS=False)
        write_plugin(settings.PLUGINS_DIR, "hello")
        platform = platform_factory(settings)
        platform.host.enable("hello")
        results: queue.Queue[tuple[str, str | None]] = queue.Queue()
        watcher = PluginWatcher(platform.host, on_result=lambda f, e: results.put((f, e)), **options).start()
        made.append(watcher)
        return settings.PLUGINS_DIR / "hello", platform.test_client(), watcher, results

    yield factory
    for watcher in made:
        watcher.stop()


def test_a_change_reloads_on_its_first_event_not_after_the_debounce(watcher_factory):
    # The coalescing window is longer than the test waits: only a reload on the first event can answer in time.
    folder, client, _, results = watcher_factory(debounce=600)
    (folder / "plugin.py").write_text(version("first"))
    assert results.get(timeout=WAIT) == ("hello", None)
    assert client.get("/api/hello/greet").get_json()["greeting"] == "first"


@pytest.mark.parametrize("close_events", [True, False], ids=["inotify-closes", "no-close-events"])
def test_a_burst_of_saves_coalesces_into_one_or_two_reloads_ending_on_the_last(watcher_factory, close_events):
    folder, client, watcher, results = watcher_factory(debounce=0.5, close_events=close_events)
    for n in range(20):
        (folder / "plugin.py").write_text(version(f"save {n:02d}"))
    first = results.get(timeout=WAIT)
    eventually(lambda: client.get("/api/hello/greet").get_json()["greeting"] == "save 19")
    assert watcher.wait_idle(timeout=WAIT)
    results.put(first)
    outcomes = [results.get_nowait() for _ in range(results.qsize())]
    assert 1 <= watcher.reloads <= 2, outcomes
    # A reload that read a file the next save was rewriting may fail (the running version keeps serving); it is
    # not reported, the coalesced reload after it is.
    assert outcomes == [("hello", None)] * len(outcomes) and outcomes
    assert client.get("/api/hello/greet").get_json()["greeting"] == "save 19"


def test_a_file_still_being_written_is_never_loaded(watcher_factory):
    folder, client, watcher, results = watcher_factory(debounce=0.2, write_timeout=600)
    edited = version("whole")
    # The first half is valid Python that would load and serve greet, but lose /api/hello/me.
    half = edited[: edited.index('        @ctx.router.get("/api/hello/me")')]
    compile(half, "half", "exec")
    assert client.get("/api/hello/me").status_code == 401  # served (and asks for a session)
    with open(folder / "plugin.py", "w", encoding="utf-8") as stream:
        stream.write(half)
        stream.flush()
        os.fsync(stream.fileno())
        # Another file of the plugin saved whole meanwhile: a change that would reload a naive watcher at once.
        (folder / "README.md").write_text("notes\n")
        time.sleep(1)  # a chance for a wrong reload to happen (nothing below depends on how long)
        assert results.empty()
        assert client.get("/api/hello/me").status_code == 401
        stream.write(edited[len(half) :])
    assert results.get(timeout=WAIT) == ("hello", None)
    assert watcher.wait_idle(timeout=WAIT)
    assert all(error is None for _, error in [results.get_nowait() for _ in range(results.qsize())])
    assert client.get("/api/hello/greet").get_json()["greeting"] == "whole"
    assert client.get("/api/hello/me").status_code == 401


def test_two_edits_of_the_same_size_within_a_second_both_load(watcher_factory, monkeypatch):
    # Python's bytecode cache compares whole-second mtimes and sizes: the watcher must not serve the older code.
    monkeypatch.setattr(sys, "dont_write_bytecode", False)  # as users run it (this suite's environment turns it off)
    folder, client, watcher, results = watcher_factory(debounce=0.1)
    for text in ("aaaa", "bbbb", "cccc"):
        (folder / "plugin.py").write_text(version(text))
        eventually(lambda text=text: client.get("/api/hello/greet").get_json()["greeting"] == text)
    assert watcher.wait_idle(timeout=WAIT)
    assert all(error is None for _, error in [results.get_nowait() for _ in range(results.qsize())])


def test_an_atomic_save_through_a_scratch_file_reloads_once_with_the_new_code(watcher_factory):
    folder, client, watcher, results = watcher_factory(debounce=600)
    scratch = folder / "tmpq1w2e3"  # how tempfile and several editors name the file they rename into place
    scratch.write_text(version("renamed in"))
    os.replace(scratch, folder / "plugin.py")
    assert results.get(timeout=WAIT) == ("hello", None)
    assert client.get("/api/hello/greet").get_json()["greeting"] == "renamed in"
    assert watcher.reloads == 1  # the scratch file's own writes started no reload of the old code
