"""YAML front matter of Markdown posts: split a file into its mapping and body, and join them back exactly."""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import yaml

from legacy_core.blog.errors import FrontMatterError

DELIMITER = "---"
BOM = "\ufeff"
# PyYAML's line folding of long double-quoted scalars can drop an escaped space; never fold.
NO_FOLDING = 2**31 - 1
# PyYAML writes these raw inside single-quoted scalars and reads them back as spaces; double quotes escape them.
_RAW_BREAKS = ("\r", "\x85", "\u2028", "\u2029")


class _Dumper(yaml.SafeDumper):
    """SafeDumper that double-quotes strings holding line breaks other than "\n", so they survive a reload."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = '"' if any(mark in value for mark in _RAW_BREAKS) else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)


@dataclass(frozen=True)
class Document:
    """A Markdown file: its front matter (empty when it has none) and its body, byte for byte."""

    front_matter: dict[str, Any] = field(default_factory=dict)
    body: str = ""


def parse(text: str, *, name: str = "post") -> Document:
    """Split `text` into front matter and body; FrontMatterError when the front matter is not a YAML mapping.

    Front matter is a first line `---`, YAML lines, and a closing line `---`; the body is everything
    after the closing line, unchanged. A file that does not start with `---` has no front matter.
    """
    text = text.removeprefix(BOM)
    # Only "\n" ends a line here: str.splitlines() would also split at U+2028 or \x85 inside a YAML string.
    lines = re.findall(r"[^\n]*\n|[^\n]+$", text)
    if not lines or lines[0].rstrip("\r\n") != DELIMITER:
        return Document({}, text)
    for index, line in enumerate(lines[1:], start=1):
        if line.rstrip("\r\n") == DELIMITER:
            yaml_text = "".join(lines[1:index])
            body = "".join(lines[index + 1 :])
            break
    else:
        raise FrontMatterError(f"front matter of {name!r} opens with '---' on line 1 but is never closed")
    try:
        data = yaml.safe_load(yaml_text)
    except yaml.YAMLError as exc:
        raise FrontMatterError(f"front matter of {name!r} is not valid YAML: {_one_line(exc)}") from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise FrontMatterError(f"front matter of {name!r} must be a YAML mapping, not {type(data).__name__}")
    return Document(data, body)


def dump(document: Document) -> str:
    """The file text of `document`; `parse(dump(d)) == d` for any mapping PyYAML's safe dumper can write."""
    if not document.front_matter:
        return f"{DELIMITER}\n{DELIMITER}\n{document.body}"
    yaml_text = yaml.dump(
        document.front_matter,
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=False,
        width=NO_FOLDING,
    )
    return f"{DELIMITER}\n{yaml_text}{DELIMITER}\n{document.body}"


def jsonable(value: Any) -> Any:
    """A YAML value as JSON can carry it: dates as ISO strings, binary as base64, keys as strings."""
    if isinstance(value, dict):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set):
        return [jsonable(item) for item in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, float) and value != value:  # NaN has no JSON form
        return None
    if isinstance(value, float) and value in (float("inf"), float("-inf")):
        return None
    return value


def _one_line(error: yaml.YAMLError) -> str:
    return " ".join(str(error).split())
