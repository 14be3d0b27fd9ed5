"""Attachment names and content types: pure rules shared by uploads, exports and imports."""

from __future__ import annotations

import mimetypes
import re
import unicodedata
from pathlib import PurePosixPath

NAME_MAX = 120
SUFFIX_MAX = 16
FALLBACK_NAME = "file"
BINARY = "application/octet-stream"
_NOT_SAFE = re.compile(r"[^A-Za-z0-9._-]+")
_WELL_FORMED_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]{0,50}/[a-z0-9][a-z0-9!#$&^_.+-]{0,60}$")
# Types a browser displays without running anything; every other type (html, svg, scripts) is sent as a download,
# so an uploaded file can never execute in the platform's origin.
SHOWN_INLINE = frozenset(
    {
        "application/pdf",
        "image/avif",
        "image/bmp",
        "image/gif",
        "image/jpeg",
        "image/png",
        "image/webp",
        "text/plain",
    }
)


def safe_name(name: str) -> str:
    """A name that is safe as one path segment and in a URL: ASCII letters, digits, '.', '_' and '-'.

    Only the last segment counts ('/' and '\\' both separate), accents are folded to ASCII, anything else becomes
    '_', leading and trailing '.', '_', '-' go (no '..', no hidden files), and a long name is cut to 120 characters
    keeping a short extension. Nothing left gives "file".
    """
    last = re.split(r"[\\/]", name)[-1]
    ascii_only = unicodedata.normalize("NFKD", last).encode("ascii", "ignore").decode("ascii")
    cleaned = _NOT_SAFE.sub("_", ascii_only).strip("._-")
    if not cleaned:
        return FALLBACK_NAME
    suffix = PurePosixPath(cleaned).suffix
    if len(suffix) > SUFFIX_MAX:
        suffix = ""
    if len(cleaned) <= NAME_MAX:
        return cleaned
    stem = cleaned[: len(cleaned) - len(suffix)] if suffix else cleaned
    stem = stem[: NAME_MAX - len(suffix)].rstrip("._-") or FALLBACK_NAME
    return stem + suffix


def content_type_for(filename: str, declared: str | None) -> str:
    """The type to store: guessed from the extension first, else the declared one when well formed, else binary."""
    guessed, _encoding = mimetypes.guess_type(filename, strict=False)
    if guessed:
        return guessed
    candidate = (declared or "").split(";", 1)[0].strip().lower()
    return candidate if _WELL_FORMED_TYPE.match(candidate) else BINARY


def shown_inline(content_type: str) -> bool:
    """Whether a file of this type may be displayed by the browser rather than downloaded."""
    essence = content_type.split(";", 1)[0].strip().lower()
    return essence in SHOWN_INLINE or essence.startswith(("audio/", "video/"))
