"""Attachment files on disk, under the feature folder: `<root>/<projectId>/<attachmentId>/<safe name>`.

Paths are built only from server-made ids and `safe_name`, and a stored path read back is resolved and checked to
stay under the root. Streams are read in chunks and counted against a limit; a declared length is never trusted.
"""

from __future__ import annotations

import contextlib
import shutil
from pathlib import Path
from typing import IO

from exthost.sdk import HttpError

CHUNK = 64 * 1024


def over_limit(limit: int, what: str = "Upload") -> HttpError:
    """The 413 answer for a body or file bigger than `limit` bytes."""
    return HttpError(413, f"{what} is larger than the limit of {limit} bytes")


def read_capped(stream: IO[bytes], limit: int, what: str) -> bytes:
    """Everything `stream` holds, or a 413 as soon as more than `limit` bytes have arrived."""
    parts: list[bytes] = []
    seen = 0
    while chunk := stream.read(CHUNK):
        seen += len(chunk)
        if seen > limit:
            raise over_limit(limit, what)
        parts.append(chunk)
    return b"".join(parts)


def project_folder(root: Path, project_id: str) -> Path:
    return root / project_id


def stage(stream: IO[bytes], folder: Path, token: str, limit: int) -> tuple[Path, int]:
    """Copy `stream` into a hidden file of `folder`; past `limit`, nothing is left behind and 413 is raised."""
    folder.mkdir(parents=True, exist_ok=True)
    staged = folder / f".incoming-{token}"
    written = 0
    try:
        with staged.open("wb") as out:
            while chunk := stream.read(CHUNK):
                written += len(chunk)
                if written > limit:
                    raise over_limit(limit)
                out.write(chunk)
    except BaseException:
        staged.unlink(missing_ok=True)
        remove_if_empty(folder)
        raise
    return staged, written


def existing_file(root: Path, stored_path: str) -> Path | None:
    """The absolute path of a stored file, or None when it is missing or would lie outside `root`."""
    base = root.resolve()
    path = (base / stored_path).resolve()
    if not path.is_relative_to(base) or not path.is_file():
        return None
    return path


def remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def remove_if_empty(folder: Path) -> None:
    """Remove a folder a failed request created for nothing."""
    with contextlib.suppress(OSError):  # not empty, or gone already: nothing to undo either way
        folder.rmdir()
