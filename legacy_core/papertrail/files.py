"""Attachment file names and content types: pure rules shared by uploads, exports and imports."""

from __future__ import annotations

import mimetypes
import re
import unicodedata
from pathlib import PurePosixPath

FILENAME_MAX = 120
EXTENSION_MAX = 16
FALLBACK_FILENAME = "file"
DEFAULT_CONTENT_TYPE = "application/octet-stream"
_UNSAFE_CHARS = re.compile(r"[^A-Za-z0-9._-]+")
_CONTENT_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]{0,50}/[a-z0-9][a-z0-9!#$&^_.+-]{0,60}$")
# Served inline: types a browser shows without running anything. Everything else (html, svg, xml, scripts) is a
# download, so an uploaded file can never execute in the app's origin.
INLINE_CONTENT_TYPES = frozenset(
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


def safe_filename(name: str) -> str:
    """A file name that is safe as one path segment and in a URL: ASCII letters, digits, '.', '_', '-' only.

    Folders are dropped (only the last segment after '/' or '\\' counts), other characters become '_', leading and
    trailing dots, dashes and underscores are removed (no '..', no hidden files), and the name is shortened to 120
    characters keeping its extension. An empty result is "file".
    """
    base = re.split(r"[\\/]", name)[-1]
    base = unicodedata.normalize("NFKD", base).encode("ascii", "ignore").decode("ascii")
    base = _UNSAFE_CHARS.sub("_", base).strip("._-")
    if not base:
        return FALLBACK_FILENAME
    path = PurePosixPath(base)
    suffix = path.suffix if len(path.suffix) <= EXTENSION_MAX else ""
    stem = base[: len(base) - len(suffix)] if suffix else base
    if len(base) > FILENAME_MAX:
        stem = stem[: FILENAME_MAX - len(suffix)].rstrip("._-") or FALLBACK_FILENAME
        base = stem + suffix
    return base


def choose_content_type(filename: str, declared: str | None) -> str:
    """The content type to store: guessed from the extension, else the declared one if well formed, else binary."""
    guessed, _encoding = mimetypes.guess_type(filename, strict=False)
    if guessed:
        return guessed
    value = (declared or "").split(";", 1)[0].strip().lower()
    return value if _CONTENT_TYPE.match(value) else DEFAULT_CONTENT_TYPE


def served_inline(content_type: str) -> bool:
    """Whether a file of this type may be shown in the browser rather than downloaded."""
    main = content_type.split(";", 1)[0].strip().lower()
    return main in INLINE_CONTENT_TYPES or main.startswith(("audio/", "video/"))


__all__ = [
    "DEFAULT_CONTENT_TYPE",
    "FILENAME_MAX",
    "INLINE_CONTENT_TYPES",
    "choose_content_type",
    "safe_filename",
    "served_inline",
]
