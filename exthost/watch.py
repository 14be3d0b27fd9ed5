"""Development hot reload: watch PLUGINS_DIR with watchdog and reload a plugin when one of its files changes.

A plugin reloads on the first finished change in its folder, at once; the changes that follow within `debounce`
seconds of it (an editor saving several files, a formatter rewriting what was just saved) are coalesced into one
more reload once the folder has been quiet for `debounce`. A burst of saves with no pause longer than `debounce`
therefore gives one or two reloads, and the last one reads the files as they finally are.

A change is finished when the file is closed after writing or renamed into place (how editors save atomically), or
when it is deleted. On Linux, inotify reports the close, so a file still open for writing is never read half
written: while any file of the folder is being written, the reload waits for its close, or for `write_timeout` (5 s)
after its last write (a writer that keeps its file open). Where no close is reported (other systems) a write counts as
finished at once; a half-written file then fails its reload, which leaves the running version serving, or loads a
version the coalesced reload replaces.

Each plugin reloads on its own thread: a change that breaks a plugin leaves the running version serving and logs
why (`ExtensionHost.reload`). A new plugin folder needs a restart (logged as such); a removed one is a refused reload
(no manifest), and the running version keeps serving until the restart.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import logging
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from exthost.errors import ExtHostError
from exthost.host import ExtensionHost

IGNORED_PARTS = frozenset({"__pycache__", ".git", ".mypy_cache", ".pytest_cache"})
IGNORED_SUFFIXES = (".pyc", ".pyo", ".swp", ".swx", "~", ".tmp", "___jb_tmp___", "___jb_old___")
# A change is finished: the file was closed after writing, renamed into place, deleted, or had its times changed.
FINISHED = frozenset({"closed", "moved", "deleted", "attrib"})
# A change is under way: the file is being written (inotify reports its close later).
WRITING = frozenset({"created", "modified"})


@dataclass
class FolderState:
    """What the watcher knows of one plugin folder; guarded by the watcher's lock."""

    busy: bool = False  # a reload runs or waits to run on this folder's thread
    dirty: bool = False  # something changed since that reload started reading the files
    last_change: float = 0.0
    last_reload: float = float("-inf")  # when the last reload ended (monotonic)
    writing: dict[str, float] = field(default_factory=dict)  # paths being written -> their last write
    changed: set[str] = field(default_factory=set)  # source files changed since the last reload


class PluginWatcher(FileSystemEventHandler):
    """Reloads the plugin whose folder an event touched: at once, then once more after a burst (see the module)."""

    def __init__(
        self,
        host: ExtensionHost,
        *,
        debounce: float = 0.3,
        on_result: Callable[[str, str | None], None] | None = None,
        close_events: bool | None = None,
        write_timeout: float = 5.0,
    ):
        self.host = host
        self.root = host.settings.PLUGINS_DIR.resolve()
        self.debounce = debounce
        # A file open for writing longer than this without a write is read as it is (a writer that keeps it open).
        self.write_timeout = write_timeout
        self.on_result = on_result
        # inotify (Linux) reports a close after writing; elsewhere a write counts as finished when seen.
        self.close_events = sys.platform.startswith("linux") if close_events is None else close_events
        self.logger = logging.getLogger(f"sovereign.exthost.{host.name}.watch")
        self._folders: dict[str, FolderState] = {}
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._stopped = False
        self._observer: Observer | None = None  # type: ignore[valid-type]
        self.reloads = 0

    def plugin_of(self, path: str) -> str | None:
        """The plugin folder name a changed path belongs to, or None for paths to ignore."""
        try:
            relative = Path(path).resolve().relative_to(self.root)
        except ValueError:
            return None
        if len(relative.parts) < 2 or IGNORED_PARTS & set(relative.parts) or relative.name.endswith(IGNORED_SUFFIXES):
            return None
        return relative.parts[0]

    def on_any_event(self, event: FileSystemEvent) -> None:
        kind = event.event_type
        if kind not in FINISHED and kind not in WRITING:
            return  # opened, closed_no_write: nothing changed
        if event.is_directory and kind in WRITING:
            return  # a folder made, or its listing changed: its files report their own changes
        paths = [str(event.src_path), str(getattr(event, "dest_path", "") or "")]
        for path in filter(None, paths):
            folder = self.plugin_of(path)
            # Names without a suffix are editors' and tempfile's scratch files (`4913`, `tmpk2j3x`): what they hold
            # matters only once renamed to a real name, and that rename is reported under the real name.
            if folder is None or (not event.is_directory and not Path(path).suffix):
                continue
            self.changed(folder, path, writing=kind in WRITING and self.close_events)

    def changed(self, folder: str, path: str, *, writing: bool) -> None:
        """Note a change to `path` in plugin folder `folder`: still being written, or finished."""
        now = time.monotonic()
        with self._lock:
            if self._stopped:
                return
            state = self._folders.setdefault(folder, FolderState())
            state.last_change = now
            if path.endswith(".py"):
                state.changed.add(path)
            if writing:
                state.writing[path] = now
            else:
                state.writing.pop(path, None)
            if state.busy:
                state.dirty = True
                self._wake.notify_all()
                return
            state.busy = True
            state.dirty = False
        threading.Thread(target=self._run, args=(folder,), name=f"sv-watch-{folder}", daemon=True).start()

    def _run(self, folder: str) -> None:
        """This folder's reloads, one after another, until nothing changed since the last one started."""
        while True:
            with self._lock:
                state = self._folders[folder]
                if not self._wait_for_turn(state):
                    state.busy = False
                    self._wake.notify_all()
                    return
                state.dirty = False
                changed, state.changed = state.changed, set()
            before = self._snapshot(folder)
            error = self._reload(folder, changed)
            rewritten = self._snapshot(folder) != before
            with self._lock:
                state.last_reload = time.monotonic()
                if rewritten:  # its events may not have arrived yet: what was read may be half of it
                    state.dirty = True
                    state.last_change = max(state.last_change, state.last_reload)
                superseded = state.dirty
            # A file rewritten while the reload read it can fail that reload (the running version kept serving);
            # the reload that follows reads it whole and reports for both.
            if error is not None and superseded:
                self.logger.info("plugin folder %s changed during a failed reload; reloading again: %s", folder, error)
            elif self.on_result is not None:
                self.on_result(folder, error)
            with self._lock:
                if not state.dirty:
                    state.busy = False
                    self._wake.notify_all()
                    return

    def _wait_for_turn(self, state: FolderState) -> bool:
        """Wait (holding the lock between checks) until the folder may be read; False when the watcher stopped.

        At once for a first change; after a reload, until `debounce` has passed since the last change (a burst
        coalesces); and while a file is being written, until it is closed or `write_timeout` has passed since its
        last write.
        """
        while not self._stopped:
            now = time.monotonic()
            waits = [state.last_change + self.debounce - now] if now - state.last_reload < self.debounce else []
            waits += [last + self.write_timeout - now for last in state.writing.values()]
            due = max(waits, default=0.0)
            if due <= 0:
                state.writing.clear()  # writes not closed within write_timeout: read the files as they are
                return True
            self._wake.wait(due)
        return False

    def _snapshot(self, folder: str) -> dict[str, tuple[int, int]]:
        """Size and modification time of every file in a plugin folder (caches and scratch files aside)."""
        found: dict[str, tuple[int, int]] = {}
        for path in (self.root / folder).rglob("*"):
            with contextlib.suppress(OSError):
                if self.plugin_of(str(path)) == folder and path.is_file():
                    stat = path.stat()
                    found[str(path)] = (stat.st_size, stat.st_mtime_ns)
        return found

    def _reload(self, folder: str, changed: set[str]) -> str | None:
        # Bytecode is cached by source mtime in whole seconds and by size: an edit within the same second that
        # keeps the size would load the old code. The changed files' bytecode goes, and import caches are reset.
        for path in changed:
            with contextlib.suppress(OSError, ValueError):
                Path(importlib.util.cache_from_source(path)).unlink(missing_ok=True)
        importlib.invalidate_caches()
        record = next((r for r in self.host.plugins.values() if r.folder.name == folder), None)
        if record is None:
            error: str | None = f"new plugin folder {folder!r}: restart the server to validate and load it"
            self.logger.warning(error)
        else:
            try:
                self.host.reload(record.name)
                error = None
                self.logger.info("reloaded plugin %s", record.name)
            except ExtHostError as exc:
                error = str(exc)
                self.logger.error("%s", error)
        self.reloads += 1
        return error

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no reload runs or waits; False if one still does after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while any(state.busy for state in self._folders.values()):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._wake.wait(left)
            return True

    def start(self) -> PluginWatcher:
        observer = Observer()
        observer.schedule(self, str(self.root), recursive=True)
        observer.daemon = True
        observer.start()
        self._observer = observer
        return self

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            self._wake.notify_all()
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout=5)
            self._observer = None
