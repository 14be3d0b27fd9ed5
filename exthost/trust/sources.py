"""Importing a checked plugin from its source files only, never from a bytecode cache.

Signing leaves `__pycache__` out (Python rewrites it as it imports), so a cache planted there would run code no one
signed: CPython uses a cached `.pyc` whose header matches the source's size and time, and an "unchecked-hash" one
without looking at the source at all. For a plugin whose signature was checked, the host puts a finder with a
source-only loader in `sys.path_importer_cache` for each folder of the plugin before importing it: every module is
compiled from the `.py` file whose digest was checked, and no cache is read or written.
"""

from __future__ import annotations

import os
import sys
from importlib.machinery import (
    BYTECODE_SUFFIXES,
    EXTENSION_SUFFIXES,
    SOURCE_SUFFIXES,
    ExtensionFileLoader,
    FileFinder,
    SourceFileLoader,
    SourcelessFileLoader,
)
from pathlib import Path
from types import CodeType

from exthost.trust.tree import CACHE_FOLDERS


class SourceOnlyLoader(SourceFileLoader):
    """A source loader that compiles the `.py` file every time and never reads or writes `__pycache__`."""

    def get_code(self, fullname: str) -> CodeType:
        path = self.get_filename(fullname)
        return self.source_to_code(self.get_data(path), path)


def source_only_finder(path: str) -> FileFinder:
    # Extension modules and bytecode files outside __pycache__ are files of the plugin like any other: signed.
    return FileFinder(
        path,
        (ExtensionFileLoader, EXTENSION_SUFFIXES),
        (SourceOnlyLoader, SOURCE_SUFFIXES),
        (SourcelessFileLoader, BYTECODE_SUFFIXES),
    )


def install_source_finders(folder: Path) -> list[str]:
    """Register a source-only finder for `folder` (resolved, as the loader names it) and each folder below it; the
    folders registered, for tests."""
    root = str(folder.resolve())
    registered: list[str] = []
    for directory, subfolders, _ in os.walk(root):
        subfolders[:] = [name for name in subfolders if name not in CACHE_FOLDERS]
        sys.path_importer_cache[directory] = source_only_finder(directory)
        registered.append(directory)
    return registered
