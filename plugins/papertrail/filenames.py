"""Attachment names and content types: pure rules shared by uploads, exports and imports."""

from __future__ import annotations

import mimetypes
import string
import unicodedata
from itertools import groupby
from pathlib import PurePosixPath

NAME_MAX = 120
SUFFIX_MAX = 16
FALLBACK_NAME = "file"
BINARY = "application/octet-stream"
_NAME_CHARACTERS = frozenset(string.ascii_letters + string.digits + "._-")
_EDGE_CHARACTERS = "._-"  # never first or last in a stored name: no '..', no hidden files
# A media type we store as declared: "<major>/<minor>", lower case, each part starting with a letter or digit and
# made of the RFC 6838 restricted-name characters, at most 51 and 61 characters long.
_TOKEN_START = frozenset(string.ascii_lowercase + string.digits)
_TOKEN_REST = _TOKEN_START | frozenset("!#$&^_.+-")
_MAJOR_MAX, _MINOR_MAX = 51, 61
# What the browser may render in place. Only passive formats: anything that can run script (html, svg, xml) is
# served as an attachment so an upload never executes with the platform's origin.
_RENDERED_IMAGES = ("avif", "bmp", "gif", "jpeg", "png", "webp")
SHOWN_INLINE = frozenset({"application/pdf", "text/plain", *(f"image/{kind}" for kind in _RENDERED_IMAGES)})
_MEDIA_FAMILIES = ("audio/", "video/")


def _fold_to_ascii(text: str) -> str:
    """`text` decomposed (NFKD) with every non-ASCII code point dropped, so "é" keeps its "e"."""
    return "".join(char for char in unicodedata.normalize("NFKD", text) if char.isascii())


def _squash(text: str) -> str:
    """Every run of characters outside `_NAME_CHARACTERS` replaced by a single '_'."""
    pieces = groupby(text, key=_NAME_CHARACTERS.__contains__)
    return "".join("".join(run) if allowed else "_" for allowed, run in pieces)


def safe_name(name: str) -> str:
    """The stored form of an uploaded file's name: one path segment, plain ASCII, at most `NAME_MAX` long.

    Whatever precedes the last '/' or '\\' is dropped; "Résumé (2).pdf" becomes "Resume_2_.pdf". A name that is too
    long loses the end of its stem, not its (short) extension; if nothing usable remains it is `FALLBACK_NAME`.
    """
    leaf = name.replace("\\", "/").rpartition("/")[2]
    cleaned = _squash(_fold_to_ascii(leaf)).strip(_EDGE_CHARACTERS)
    if cleaned == "":
        return FALLBACK_NAME
    if len(cleaned) <= NAME_MAX:
        return cleaned
    extension = PurePosixPath(cleaned).suffix
    kept = extension if len(extension) <= SUFFIX_MAX else ""
    stem = cleaned.removesuffix(kept) if kept else cleaned
    return (stem[: NAME_MAX - len(kept)].rstrip(_EDGE_CHARACTERS) or FALLBACK_NAME) + kept


def _token(part: str, longest: int) -> bool:
    return 0 < len(part) <= longest and part[0] in _TOKEN_START and set(part[1:]) <= _TOKEN_REST


def _well_formed(media_type: str) -> bool:
    major, slash, minor = media_type.partition("/")
    return slash == "/" and _token(major, _MAJOR_MAX) and _token(minor, _MINOR_MAX)


def _essence(content_type: str) -> str:
    """The media type without parameters, trimmed and lower-cased ("Text/Plain; charset=x" -> "text/plain")."""
    return content_type.partition(";")[0].strip().lower()


def content_type_for(filename: str, declared: str | None) -> str:
    """The type stored for a file: what its extension says; failing that the client's claim if sane; else binary."""
    from_extension = mimetypes.guess_type(filename, strict=False)[0]
    if from_extension:
        return from_extension
    claimed = _essence(declared or "")
    return claimed if _well_formed(claimed) else BINARY


def shown_inline(content_type: str) -> bool:
    """True when a file of this type may be rendered by the browser; otherwise it is served as a download."""
    essence = _essence(content_type)
    return essence in SHOWN_INLINE or essence.startswith(_MEDIA_FAMILIES)
