"""Importing a checked plugin from its source files only, never from a bytecode cache.

Signing leaves `__pycache__` out (Python rewrites it as it imports), so a cache planted there would run code no one
signed: CPython uses a cached `.pyc` whose header matches the source's size and time, and an "unchecked-hash" one
without looking at the source at all. For a plugin whose signature was checked, the host puts a finder with a
source-only loader in `sys.path_importer_cache` for each folder of the plugin before importing it: every module is
compiled from the `.py` file whose digest was checked, and no cache is read or written. When the signature was
valid, the bytes compiled are hashed again and must match the signed digest: a module swapped between the check and
its import fails to import instead of running.
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Mapping
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
from typing import cast

from exthost.trust.policy import UNCHECKED, VALID, Verification
from exthost.trust.tree import CACHE_FOLDERS


class SourceOnlyLoader(SourceFileLoader):
    """A source loader that compiles the `.py` file every time and never reads or writes `__pycache__`; given the
    signed digests, it refuses a file whose bytes are not the signed ones."""

    root: str = ""
    signed: Mapping[str, str] | None = None

    def get_code(self, fullname: str) -> CodeType:
        path = self.get_filename(fullname)
        data = self.get_data(path)
        if self.signed is not None:
            # A module reached through a symlink inside the folder is checked as the file the link leads to.
            relative = Path(os.path.relpath(os.path.realpath(path), self.root)).as_posix()
            if hashlib.sha256(data).hexdigest() != self.signed.get(relative):
                raise ImportError(
                    f"{path}: changed after its signature was checked; not imported (check and load again)",
                    name=fullname,
                    path=path,
                )
        return self.source_to_code(data, path)


def _source_loader(root: str, signed: Mapping[str, str] | None) -> type[SourceOnlyLoader]:
    """A SourceOnlyLoader class bound to one plugin's folder and digests (FileFinder instantiates loader classes)."""
    return cast(type[SourceOnlyLoader], type("SourceOnlyLoader", (SourceOnlyLoader,), {"root": root, "signed": signed}))


def source_only_finder(path: str, root: str, signed: Mapping[str, str] | None = None) -> FileFinder:
    # Extension modules and bytecode files outside __pycache__ are files of the plugin like any other: signed (they
    # are not hashed again at import; only .py modules are).
    return FileFinder(
        path,
        (ExtensionFileLoader, EXTENSION_SUFFIXES),
        (_source_loader(root, signed), SOURCE_SUFFIXES),
        (SourcelessFileLoader, BYTECODE_SUFFIXES),
    )


def source_imports(verification: Verification | None, policy: str) -> tuple[bool, Mapping[str, str] | None]:
    """How a plugin whose signature check found `verification` is imported, in the host or in its sandbox workers:
    from its sources only (True) unless nothing was checked, and with the signed digests to match again only when the
    signature was valid under `enforce` (warn never refuses)."""
    if verification is None or verification.status == UNCHECKED:
        return False, None
    enforced = verification.status == VALID and policy == "enforce"
    return True, (verification.files if enforced else None)


def install_source_finders(folder: Path, signed: Mapping[str, str] | None = None) -> list[str]:
    """Register a source-only finder for `folder` (resolved, as the loader names it) and each folder below it; with
    `signed` (the digests of a valid signature), each module's bytes must match. The folders registered."""
    root = str(folder.resolve())
    registered: list[str] = []
    for directory, subfolders, _ in os.walk(root):
        subfolders[:] = [name for name in subfolders if name not in CACHE_FOLDERS]
        sys.path_importer_cache[directory] = source_only_finder(directory, root, signed)
        registered.append(directory)
    return registered
