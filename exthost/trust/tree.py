"""A plugin folder as signing sees it: every file's SHA-256, every symlink's target, and what cannot be signed.

The walk never follows a symlink. A symlink is recorded as its target text when it resolves inside the folder (the
file it reaches is hashed under its own path anyway); one that leads outside the folder, and anything that is
neither a file, a folder nor a symlink (a fifo, a socket, a device), is a problem: such a folder cannot be signed,
and a signed folder that grows one is modified.

Left out, and only these: the signature file itself (it cannot contain its own digest), and every `__pycache__`
folder (Python writes its bytecode caches there when the host imports the plugin, so they change without anyone
editing the plugin; the host never reads them for a checked plugin: see `exthost.trust.sources`).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

SIGNATURE_FILENAME = "plugin.sig.json"
CACHE_FOLDERS = frozenset({"__pycache__"})
_CHUNK = 1 << 16


@dataclass(frozen=True)
class Tree:
    """One walk of a plugin folder: `files` maps each relative POSIX path to its SHA-256 (hex), `links` each symlink
    to its target text, `problems` says what cannot be signed, one line each."""

    files: Mapping[str, str] = field(default_factory=dict)
    links: Mapping[str, str] = field(default_factory=dict)
    problems: tuple[str, ...] = ()


def file_digest(path: str | Path) -> str:
    """The SHA-256 of a file's bytes, hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def scan(folder: Path) -> Tree:
    """Walk `folder` (resolved first) without following symlinks; reads every file once."""
    root = folder.resolve()
    files: dict[str, str] = {}
    links: dict[str, str] = {}
    problems: list[str] = []
    pending: list[tuple[str, str]] = [(str(root), "")]
    while pending:
        directory, prefix = pending.pop()
        try:
            entries = sorted(os.scandir(directory), key=lambda entry: entry.name)
        except OSError as exc:
            problems.append(f"{prefix or './'}: cannot be listed ({exc.strerror or exc})")
            continue
        for entry in entries:
            relative = prefix + entry.name
            try:
                relative.encode("utf-8")
            except UnicodeEncodeError:
                shown = relative.encode("utf-8", "backslashreplace").decode()
                problems.append(f"{shown}: name is not UTF-8; rename it")
                continue
            try:
                if entry.is_symlink():
                    target = os.readlink(entry.path)
                    wrong = _link_problem(Path(entry.path), root)
                    if wrong is None:
                        links[relative] = target
                    else:
                        problems.append(f"{relative}: symlink to {target!r} {wrong}")
                elif entry.is_dir(follow_symlinks=False):
                    if entry.name not in CACHE_FOLDERS:
                        pending.append((entry.path, relative + "/"))
                elif entry.is_file(follow_symlinks=False):
                    if relative != SIGNATURE_FILENAME:
                        files[relative] = file_digest(entry.path)
                else:
                    problems.append(f"{relative}: neither a file, a folder nor a symlink; remove it")
            except OSError as exc:
                problems.append(f"{relative}: cannot be read ({exc.strerror or exc})")
    return Tree(dict(sorted(files.items())), dict(sorted(links.items())), tuple(sorted(problems)))


def _link_problem(link: Path, root: Path) -> str | None:
    """Why a symlink cannot be signed (it leads outside `root`, or loops), or None."""
    try:
        inside = link.resolve().is_relative_to(root)
    except (RuntimeError, OSError):  # Python 3.11 raises RuntimeError on a loop, later versions OSError
        return "loops"
    return None if inside else "leads outside the plugin folder"


def differences(signed_files: Mapping[str, str], signed_links: Mapping[str, str], tree: Tree) -> list[str]:
    """What changed between a signed listing and a walk, one line each: problems first, then by path."""
    found = list(tree.problems)
    for path in sorted(set(signed_files) | set(signed_links) | set(tree.files) | set(tree.links)):
        was = ("file", signed_files[path]) if path in signed_files else ("symlink", signed_links.get(path))
        now = ("file", tree.files[path]) if path in tree.files else ("symlink", tree.links.get(path))
        if was == now:
            continue
        if was[1] is None and now[1] is None:
            continue  # a problem entry, already listed
        if was[1] is None:
            found.append(f"{path}: {now[0]} added")
        elif now[1] is None:
            if not any(problem.startswith(f"{path}: ") for problem in tree.problems):
                found.append(f"{path}: {was[0]} removed")
        elif was[0] != now[0]:
            found.append(f"{path}: {was[0]} replaced by a {now[0]}")
        elif now[0] == "symlink":
            found.append(f"{path}: symlink now points to {now[1]!r}, was {was[1]!r}")
        else:
            found.append(f"{path}: content changed")
    return found
