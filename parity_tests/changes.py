"""Whether anything was written under a side's folders since the harness last looked: Linux inotify, read in the
harness's own thread.

After every request the harness asks each side whether its stored state may have changed (reads may write). A stat
walk of the data folder and the remote answers that, at a cost that grows with the folders (git's objects); the
kernel's inotify queue answers it at the cost of one non-blocking read. The queue is read synchronously, after the
request returned: every write the request made, git subprocesses included, is queued by then, so nothing can arrive
late (a watchdog observer thread could report it after the harness had looked).

inotify watches folders one by one. A folder created since the last `mark()` is not watched yet, but its creation
is an event: the folders count as changed until `mark()` watches every folder again, so a write inside it is never
missed. `FolderWatch.open` gives None where inotify cannot be used (another system, no watch left): the caller then
walks the folders as before.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import os
import struct
from collections.abc import Callable, Iterable
from pathlib import Path

# <sys/inotify.h>
IN_MODIFY = 0x00000002
IN_MOVED_FROM = 0x00000040
IN_MOVED_TO = 0x00000080
IN_CREATE = 0x00000100
IN_DELETE = 0x00000200
IN_DELETE_SELF = 0x00000400
IN_MOVE_SELF = 0x00000800
IN_Q_OVERFLOW = 0x00004000
IN_IGNORED = 0x00008000
IN_ONLYDIR = 0x01000000
IN_DONT_FOLLOW = 0x02000000
IN_ISDIR = 0x40000000
# What changes a file's content or a folder's entries. Not IN_ATTRIB: the state compared is content and names, and
# the harness itself sets uploaded files' times after every write request (`pin_file_times`).
WATCHED = IN_MODIFY | IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE | IN_DELETE | IN_DELETE_SELF | IN_MOVE_SELF
# Events after which the watched folders are no longer the ones on disk: watch them all again at the next mark.
_REWATCH = IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED | IN_Q_OVERFLOW
_EVENT = struct.Struct("iIII")  # wd, mask, cookie, len (then `len` bytes of NUL-padded name)
_READ_SIZE = 1 << 16


def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        library = ctypes.CDLL(name, use_errno=True)
    except OSError:
        return None
    if not hasattr(library, "inotify_init1"):
        return None
    library.inotify_init1.argtypes = [ctypes.c_int]
    library.inotify_init1.restype = ctypes.c_int
    library.inotify_add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
    library.inotify_add_watch.restype = ctypes.c_int
    library.inotify_rm_watch.argtypes = [ctypes.c_int, ctypes.c_int]
    library.inotify_rm_watch.restype = ctypes.c_int
    return library


_LIBC: ctypes.CDLL | bool | None = False  # False: not looked up yet


def _library() -> ctypes.CDLL | None:
    global _LIBC
    if _LIBC is False:
        _LIBC = _libc()
    return _LIBC if isinstance(_LIBC, ctypes.CDLL) else None


class WatchUnavailable(OSError):
    """inotify cannot watch the folders here (not Linux, or the instance or watch limits are reached)."""


class FolderWatch:
    """The folders under `roots`, watched with inotify; see the module docstring.

    `volatile(folder, name)` names entries whose changes do not count unless asked for (git's index, which git
    rewrites while only reading). `changed()` is true when something under the roots (or under `under`) was
    created, written, moved or removed since the last `mark()`, or when that cannot be known (the kernel's queue
    overflowed, a root was replaced or is missing).
    """

    def __init__(self, roots: Iterable[Path], volatile: Callable[[str, str], bool] | None = None):
        library = _library()
        if library is None:
            raise WatchUnavailable("inotify is not available on this system")
        self._libc = library
        self.roots = tuple(str(root) for root in roots)
        self._volatile = volatile or (lambda folder, name: False)
        fd = library.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if fd < 0:
            number = ctypes.get_errno()
            raise WatchUnavailable(number, f"inotify_init1: {os.strerror(number)}")
        self._fd = fd
        self._folders: dict[int, str] = {}  # watch descriptor -> folder
        # Since the last mark: every changed path, with whether it is volatile; or None when anything may have.
        self._changes: list[tuple[str, bool]] | None = None
        self._rewatch = True
        self._missing: tuple[str, ...] = ()  # roots that did not exist at the last mark

    @classmethod
    def open(cls, roots: Iterable[Path], volatile: Callable[[str, str], bool] | None = None) -> FolderWatch | None:
        """A watch on `roots`, every folder watched, or None where inotify cannot be used."""
        try:
            watch = cls(roots, volatile)
        except WatchUnavailable:
            return None
        try:
            watch.mark()
        except WatchUnavailable:
            watch.close()
            return None
        return watch

    def _add(self, folder: str) -> int | None:
        wd = self._libc.inotify_add_watch(self._fd, os.fsencode(folder), WATCHED | IN_ONLYDIR | IN_DONT_FOLLOW)
        if wd >= 0:
            return int(wd)
        number = ctypes.get_errno()
        if number in (errno.ENOENT, errno.ENOTDIR):
            return None  # gone meanwhile: its removal is an event of its parent
        raise WatchUnavailable(number, f"inotify_add_watch {folder!r}: {os.strerror(number)}")

    def _watch_all(self) -> None:
        """Watch every folder under the roots (a folder watched already keeps its descriptor)."""
        found: dict[int, str] = {}
        missing = []
        pending = list(self.roots)
        while pending:
            folder = pending.pop()
            wd = self._add(folder)
            if wd is None:
                if folder in self.roots:
                    missing.append(folder)
                continue
            found[wd] = folder
            with contextlib.suppress(FileNotFoundError, NotADirectoryError), os.scandir(folder) as entries:
                pending.extend(entry.path for entry in entries if entry.is_dir(follow_symlinks=False))
        for wd in set(self._folders) - set(found):
            self._libc.inotify_rm_watch(self._fd, wd)  # a folder moved out of the roots: its events are not ours
        self._folders = found
        # A root that does not exist cannot be watched: it has changed when it exists (as a walk finds nothing in a
        # missing folder, and something once it is there).
        self._missing = tuple(missing)
        self._rewatch = False

    def _drain(self) -> None:
        """Move the kernel's queued events into `_changes`."""
        while True:
            try:
                buffer = os.read(self._fd, _READ_SIZE)
            except BlockingIOError:
                return
            offset = 0
            while offset < len(buffer):
                wd, mask, _, length = _EVENT.unpack_from(buffer, offset)
                offset += _EVENT.size
                name = buffer[offset : offset + length].rstrip(b"\0").decode("utf-8", "surrogateescape")
                offset += length
                if mask & _REWATCH or (mask & IN_ISDIR and mask & (IN_CREATE | IN_MOVED_TO)):
                    self._rewatch = True
                folder = self._folders.get(wd)
                if mask & IN_Q_OVERFLOW or folder is None:
                    if mask & IN_IGNORED and folder is None:
                        continue  # the end of a watch already dropped
                    self._changes = None
                    continue
                if self._changes is not None:
                    path = os.path.join(folder, name) if name else folder
                    self._changes.append((path, bool(name) and self._volatile(folder, name)))

    def changed(self, under: Iterable[Path] | None = None, *, volatile: bool = False) -> bool:
        """Whether anything under the roots (or only under the folders `under`) changed since the last `mark()`;
        with `volatile`, changes to volatile entries count too."""
        self._drain()
        if self._changes is None or any(os.path.isdir(root) for root in self._missing):
            return True
        prefixes = None if under is None else tuple(str(folder) for folder in under)
        for path, is_volatile in self._changes:
            if is_volatile and not volatile:
                continue
            if prefixes is None or any(path == prefix or path.startswith(prefix + os.sep) for prefix in prefixes):
                return True
        return False

    def mark(self) -> None:
        """From now on, `changed()` tells what changed after this moment (called once the state was read)."""
        self._drain()
        if self._rewatch or self._changes is None:
            self._watch_all()
            self._drain()  # events of the folders as they were before being watched again count for nothing now
        self._changes = []

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
