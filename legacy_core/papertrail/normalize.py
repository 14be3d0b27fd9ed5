"""Normalisation of board data: pure functions over plain JSON values, applied on every PaperTrail save path.

The rules, one place for all of them:

- A node type outside `NODE_TYPES` (or not a string) becomes "text".
- Coordinates x, y, w, h are truncated toward zero (`math.trunc`): 10.9 -> 10, -3.7 -> -3. A value that is not a
  number (a string, a boolean, an object), is NaN or infinite, or falls outside a 32-bit signed integer is rejected
  (`InvalidBoardData`, a 400 for the API) rather than guessed at. Missing x/y are 0; missing w/h stay null.
- Text fields are truncated to their cap, never rejected: node title 240, text 4000, html 10000, descHtml 8000,
  url and imageUrl 2000, color 32; board title 160; edge label 240, edge color 32. Null counts as "". NUL characters
  are removed and lone surrogates become "?" first, because neither can be stored as UTF-8 text.
- Tags are lower-cased, one leading "#" and surrounding blanks removed, empty tags dropped, duplicates dropped keeping
  the first. Exactly one "#" goes, so "##a" is saved as "#a" and changes again, to "a", when saved a second time:
  a legacy quirk the rewrite keeps (it is the only rule that is not idempotent).
- Ids are client-chosen strings of 1..80 characters; a missing (or null) id is generated. Duplicate node ids or
  duplicate edge ids in one snapshot are rejected. Every id is a segment of its item's URL
  (/board/<boardId>/nodes/<nodeId>), so an id that could not travel there intact is rejected rather than stored
  unreachable: one holding "/" or "\\" (path separators, decoded before routing even as %2F), a control character
  (U+0000..U+001F, U+007F..U+009F), or one that is exactly "." or ".." (clients resolve those as relative steps,
  even percent-encoded). Any other character is allowed; clients percent-encode the id in the URL.
- Edges whose source or target is not a node of the snapshot are dropped.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

NODE_TYPES = ("text", "note", "link", "image", "file", "quote")
DEFAULT_NODE_TYPE = "text"
ID_MAX = 80
BOARD_TITLE_MAX = 160
EDGE_LABEL_MAX = 240
COLOR_MAX = 32
# An id is a URL path segment: `ID_PATTERN` (also in the OpenAPI document) says which strings can be one.
ID_FORBIDDEN = re.compile(r"[/\\\x00-\x1f\x7f-\x9f]")
ID_DOT_SEGMENTS = (".", "..")
ID_PATTERN = r"^(?!\.{1,2}$)[^/\\\x00-\x1f\x7f-\x9f]+$"
COORD_MIN = -(2**31)
COORD_MAX = 2**31 - 1
NODE_TEXT_CAPS: dict[str, int] = {
    "title": 240,
    "text": 4000,
    "html": 10000,
    "descHtml": 8000,
    "url": 2000,
    "imageUrl": 2000,
    "color": COLOR_MAX,
}
NODE_FIELDS = ("id", "type", "x", "y", "w", "h", *NODE_TEXT_CAPS, "tags")
EDGE_FIELDS = ("id", "source", "target", "label", "color")

IdFactory = Callable[[], str]


class InvalidBoardData(ValueError):
    """Board data that cannot be normalised; `field` is a dotted path such as "nodes.3.x"."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message

    def details(self) -> list[dict[str, str]]:
        return [{"field": self.field, "message": self.message}]


@dataclass(frozen=True)
class Snapshot:
    """A normalised board: nodes and edges in their saved order, plus what normalising had to drop or change."""

    nodes: list[dict[str, Any]]
    edges: list[dict[str, Any]]
    dropped_edges: int = 0
    retyped_nodes: int = 0


def clean_text(value: str) -> str:
    """`value` without NUL characters and with lone surrogates replaced, so it can be stored as UTF-8."""
    return value.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")


def storable(value: str) -> bool:
    """Whether a string can be stored or looked up as it is (PostgreSQL refuses NUL; UTF-8 refuses lone surrogates)."""
    return clean_text(value) == value


def normalize_text(value: Any, field: str, limit: int) -> str:
    """A string field truncated to `limit` characters; null is ""; any other type is rejected."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidBoardData(field, f"must be a string, not {type(value).__name__}")
    return clean_text(value)[:limit]


def normalize_coordinate(value: Any, field: str, *, nullable: bool) -> int | None:
    """An integer coordinate: numbers truncated toward zero; null/missing is 0 (or None when nullable)."""
    if value is None:
        return None if nullable else 0
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidBoardData(field, f"must be a number, not {type(value).__name__}")
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidBoardData(field, f"must be a finite number, not {value!r}")
    result = math.trunc(value)
    if not COORD_MIN <= result <= COORD_MAX:
        raise InvalidBoardData(field, f"{result} is outside the range {COORD_MIN}..{COORD_MAX}")
    return result


def normalize_tag(tag: str) -> str:
    """One tag: lower case, one leading '#' removed, no surrounding blanks ("" means the tag is dropped).

    Exactly one '#' goes, as the legacy rule says: "##a" is saved as "#a", and as "a" when saved once more.
    """
    return clean_text(tag).lower().strip().removeprefix("#").strip()


def normalize_tags(value: Any, field: str) -> list[str]:
    """A list of tags, normalised, blanks dropped, duplicates dropped keeping the first."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidBoardData(field, f"must be a list of strings, not {type(value).__name__}")
    tags: list[str] = []
    for index, item in enumerate(value):
        if not isinstance(item, str):
            raise InvalidBoardData(f"{field}.{index}", f"must be a string, not {type(item).__name__}")
        tag = normalize_tag(item)
        if tag and tag not in tags:
            tags.append(tag)
    return tags


def normalize_id(value: Any, field: str, new_id: IdFactory) -> str:
    """A client-chosen id (1..80 characters) or, when missing, a generated one."""
    if value is None:
        return new_id()
    if not isinstance(value, str):
        raise InvalidBoardData(field, f"must be a string, not {type(value).__name__}")
    if not 1 <= len(value) <= ID_MAX:
        raise InvalidBoardData(field, f"must be 1 to {ID_MAX} characters long, not {len(value)}")
    if not storable(value):
        raise InvalidBoardData(field, "must not contain NUL characters or lone surrogates")
    problem = url_segment_problem(value)
    if problem is not None:
        raise InvalidBoardData(field, problem)
    return value


def url_segment_problem(value: str) -> str | None:
    """Why `value` cannot be an id (it would not reach its item's URL intact), or None when it can."""
    if value in ID_DOT_SEGMENTS:
        return f"{value!r} is not allowed: an id is part of its item's URL, where {value!r} means a relative step"
    forbidden = ID_FORBIDDEN.search(value)
    if forbidden is not None:
        return (
            f"must not contain {forbidden.group()!r}: an id is part of its item's URL, which cannot carry "
            "'/', '\\' or control characters (use '-' instead)"
        )
    return None


def normalize_node_type(value: Any) -> str:
    return value if isinstance(value, str) and value in NODE_TYPES else DEFAULT_NODE_TYPE


def normalize_node(raw: Any, new_id: IdFactory, field: str = "node") -> dict[str, Any]:
    """One node in its API shape: {id, type, x, y, w, h, title, text, html, descHtml, url, imageUrl, color, tags}."""
    if not isinstance(raw, Mapping):
        raise InvalidBoardData(field, f"must be an object, not {type(raw).__name__}")
    node: dict[str, Any] = {
        "id": normalize_id(raw.get("id"), f"{field}.id", new_id),
        "type": normalize_node_type(raw.get("type")),
        "x": normalize_coordinate(raw.get("x"), f"{field}.x", nullable=False),
        "y": normalize_coordinate(raw.get("y"), f"{field}.y", nullable=False),
        "w": normalize_coordinate(raw.get("w"), f"{field}.w", nullable=True),
        "h": normalize_coordinate(raw.get("h"), f"{field}.h", nullable=True),
    }
    for key, limit in NODE_TEXT_CAPS.items():
        node[key] = normalize_text(raw.get(key), f"{field}.{key}", limit)
    node["tags"] = normalize_tags(raw.get("tags"), f"{field}.tags")
    return node


def normalize_endpoint(value: Any) -> str:
    """An edge endpoint; anything but a string is "", which no node id can match, so such an edge is dropped."""
    return value if isinstance(value, str) else ""


def normalize_edge(raw: Any, new_id: IdFactory, field: str = "edge") -> dict[str, Any]:
    """One edge in its API shape: {id, source, target, label, color}."""
    if not isinstance(raw, Mapping):
        raise InvalidBoardData(field, f"must be an object, not {type(raw).__name__}")
    return {
        "id": normalize_id(raw.get("id"), f"{field}.id", new_id),
        "source": normalize_endpoint(raw.get("source")),
        "target": normalize_endpoint(raw.get("target")),
        "label": normalize_text(raw.get("label"), f"{field}.label", EDGE_LABEL_MAX),
        "color": normalize_text(raw.get("color"), f"{field}.color", COLOR_MAX),
    }


def normalize_board_title(value: Any, field: str = "title") -> str:
    if value is None:
        raise InvalidBoardData(field, "must be a string, not null")
    return normalize_text(value, field, BOARD_TITLE_MAX)


def normalize_nodes(raw: Any, new_id: IdFactory, field: str = "nodes") -> list[dict[str, Any]]:
    """A list of nodes; a repeated id is rejected."""
    if not isinstance(raw, list):
        raise InvalidBoardData(field, f"must be a list, not {type(raw).__name__}")
    nodes = [normalize_node(item, new_id, f"{field}.{index}") for index, item in enumerate(raw)]
    _reject_duplicates(nodes, field)
    return nodes


def normalize_edges(raw: Any, new_id: IdFactory, field: str = "edges") -> list[dict[str, Any]]:
    """A list of edges (endpoints not yet checked); a repeated id is rejected."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise InvalidBoardData(field, f"must be a list, not {type(raw).__name__}")
    edges = [normalize_edge(item, new_id, f"{field}.{index}") for index, item in enumerate(raw)]
    _reject_duplicates(edges, field)
    return edges


def connected_edges(edges: Iterable[dict[str, Any]], node_ids: Iterable[str]) -> list[dict[str, Any]]:
    """The edges whose source and target both are in `node_ids`, in their order."""
    known = set(node_ids)
    return [edge for edge in edges if edge["source"] in known and edge["target"] in known]


def normalize_snapshot(
    raw_nodes: Any, raw_edges: Any, new_node_id: IdFactory, new_edge_id: IdFactory, prefix: str = ""
) -> Snapshot:
    """A whole board: nodes, then edges with dangling ones dropped; `prefix` leads the field names of errors."""
    nodes = normalize_nodes(raw_nodes, new_node_id, f"{prefix}nodes")
    edges = normalize_edges(raw_edges, new_edge_id, f"{prefix}edges")
    kept = connected_edges(edges, (node["id"] for node in nodes))
    retyped = 0
    if isinstance(raw_nodes, list):
        retyped = sum(
            1
            for raw in raw_nodes
            if isinstance(raw, Mapping) and normalize_node_type(raw.get("type")) != raw.get("type")
        )
    return Snapshot(nodes=nodes, edges=kept, dropped_edges=len(edges) - len(kept), retyped_nodes=retyped)


def _reject_duplicates(items: list[dict[str, Any]], field: str) -> None:
    seen: set[str] = set()
    for index, item in enumerate(items):
        if item["id"] in seen:
            raise InvalidBoardData(f"{field}.{index}.id", f"duplicate id {item['id']!r}; ids must be unique")
        seen.add(item["id"])


__all__ = [
    "BOARD_TITLE_MAX",
    "COLOR_MAX",
    "COORD_MAX",
    "COORD_MIN",
    "DEFAULT_NODE_TYPE",
    "EDGE_FIELDS",
    "EDGE_LABEL_MAX",
    "ID_DOT_SEGMENTS",
    "ID_FORBIDDEN",
    "ID_MAX",
    "ID_PATTERN",
    "NODE_FIELDS",
    "NODE_TEXT_CAPS",
    "NODE_TYPES",
    "IdFactory",
    "InvalidBoardData",
    "Snapshot",
    "clean_text",
    "connected_edges",
    "normalize_board_title",
    "normalize_coordinate",
    "normalize_edge",
    "normalize_edges",
    "normalize_endpoint",
    "normalize_id",
    "normalize_node",
    "normalize_node_type",
    "normalize_nodes",
    "normalize_snapshot",
    "normalize_tag",
    "normalize_tags",
    "normalize_text",
    "storable",
    "url_segment_problem",
]
