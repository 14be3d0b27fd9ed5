"""Markdown files with YAML front matter: split a file into its mapping and body, and write them back exactly.

A file has front matter when its first line is `---`; the mapping runs to the next `---` line and the body is every
byte after it. Only "\\n" ends a line here: U+2028 or "\\x85" inside a YAML string must not split it.
"""

from __future__ import annotations

import base64
import math
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import yaml

from .errors import FrontMatterInvalid

FENCE = "---"
BYTE_ORDER_MARK = "\ufeff"
# PyYAML folds long double-quoted scalars and can lose an escaped space doing so: never fold.
UNFOLDED = 2**31 - 1
# Line breaks PyYAML would write raw inside a single-quoted scalar and read back as a space.
BREAKS_NEEDING_ESCAPES = frozenset("\r\x85\u2028\u2029")


@dataclass(frozen=True)
class Document:
    """One Markdown file: its front matter (empty when it has none) and its body, unchanged."""

    front_matter: dict[str, Any] = field(default_factory=dict)
    body: str = ""


class _PostDumper(yaml.SafeDumper):
    """The safe dumper, except that strings holding a line break other than "\\n" are double-quoted (escaped)."""


def _write_string(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = '"' if BREAKS_NEEDING_ESCAPES.intersection(value) else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_PostDumper.add_representer(str, _write_string)


def _lines(text: str) -> list[str]:
    """`text` cut after every "\\n", each piece keeping its "\\n"; no empty last piece."""
    pieces = [piece + "\n" for piece in text.split("\n")]
    pieces[-1] = pieces[-1][:-1]
    return pieces if pieces[-1] else pieces[:-1]


def _is_fence(line: str) -> bool:
    return line.rstrip("\r\n") == FENCE


def read_document(text: str, *, name: str = "post") -> Document:
    """The document in `text`; FrontMatterInvalid (naming the file `name`) when its front matter is unreadable."""
    text = text.removeprefix(BYTE_ORDER_MARK)
    lines = _lines(text)
    if not lines or not _is_fence(lines[0]):
        return Document({}, text)
    closing = next((index for index in range(1, len(lines)) if _is_fence(lines[index])), None)
    if closing is None:
        raise FrontMatterInvalid(f"front matter of {name!r} opens with '---' on line 1 but is never closed")
    try:
        data = yaml.safe_load("".join(lines[1:closing]))
    except yaml.YAMLError as exc:
        flat = " ".join(str(exc).split())
        raise FrontMatterInvalid(f"front matter of {name!r} is not valid YAML: {flat}") from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise FrontMatterInvalid(f"front matter of {name!r} must be a YAML mapping, not {type(data).__name__}")
    return Document(data, "".join(lines[closing + 1 :]))


# Keys stay in their order, text stays readable, mappings stay in block style, long lines stay whole.
_DUMP_OPTIONS: dict[str, Any] = {
    "Dumper": _PostDumper,
    "sort_keys": False,
    "allow_unicode": True,
    "default_flow_style": False,
    "width": UNFOLDED,
}


def write_document(document: Document) -> str:
    """`document` as file text, which `read_document` turns back into an equal document."""
    yaml_block = yaml.dump(document.front_matter, **_DUMP_OPTIONS) if document.front_matter else ""
    return "".join((FENCE, "\n", yaml_block, FENCE, "\n", document.body))


def to_json(value: Any) -> Any:
    """`value` (as YAML loaded it) reshaped for JSON: text keys, ISO dates, base64 bytes, null for NaN and inf."""
    match value:
        case dict():
            return {str(key): to_json(inner) for key, inner in value.items()}
        case list() | tuple() | set():
            return list(map(to_json, value))
        case date():  # datetime included
            return value.isoformat()
        case bytes():
            return base64.b64encode(value).decode("ascii")
        case float() if not math.isfinite(value):
            return None
        case _:
            return value
