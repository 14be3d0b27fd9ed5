"""Development hot reload: watch PLUGINS_DIR with watchdog and reload a plugin when one of its files changes.

Changes are debounced (an editor's save is often several events) and each plugin reloads on its own: a change
that breaks a plugin leaves the running version serving and logs why (`ExtensionHost.reload`). A new plugin folder
needs a restart (logged as such); a removed one is a refused reload (no manifest), and the running version keeps
serving until the restart.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from exthost.errors import ExtHostError
from exthost.host import ExtensionHost

IGNORED_PARTS = frozenset({"__pycache__", ".git", ".mypy_cache", ".pytest_cache"})
IGNORED_SUFFIXES = (".pyc", ".pyo", ".swp", ".swx", "~", ".tmp")


class PluginWatcher(FileSystemEventHandler):
    """Reloads the plugin whose folder an event touched, `debounce` seconds after the last event for it."""

    def __init__(
        self,
        host: ExtensionHost,
        *,
        debounce: float = 0.3,
        on_result: Callable[[str, str | None], None] | None = None,
    ):
        self.host = host
        self.root = host.settings.PLUGINS_DIR.resolve()
        self.debounce = debounce
        self.on_result = on_result
        self.logger = logging.getLogger(f"sovereign.exthost.{host.name}.watch")
        self._timers: dict[str, threading.Timer] = {}
        self._lock = threading.Lock()
        self._observer: Observer | None = None  # type: ignore[valid-type]

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
        if event.event_type in ("opened", "closed_no_write"):
            return
        paths = [event.src_path, getattr(event, "dest_path", "")]
        for path in filter(None, paths):
            name = self.plugin_of(str(path))
            if name is not None:
                self._schedule(name)

    def _schedule(self, folder: str) -> None:
        with self._lock:
            timer = self._timers.pop(folder, None)
            if timer is not None:
                timer.cancel()
            timer = threading.Timer(self.debounce, self._reload, args=(folder,))
            timer.daemon = True
            self._timers[folder] = timer
            timer.start()

    def _reload(self, folder: str) -> None:
        with self._lock:
            self._timers.pop(folder, None)
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
        if self.on_result is not None:
            self.on_result(folder, error)

    def start(self) -> PluginWatcher:
        observer = Observer()
        observer.schedule(self, str(self.root), recursive=True)
        observer.daemon = True
        observer.start()
        self._observer = observer
        return self

    def stop(self) -> None:
        with self._lock:
            for timer in self._timers.values():
                timer.cancel()
            self._timers.clear()
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout=5)
            self._observer = None
