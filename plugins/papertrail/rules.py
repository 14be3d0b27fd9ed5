"""Board data rules: pure functions that turn client JSON into the stored shape of nodes, edges and titles.

Every save path (snapshot, patch, single items, import) goes through these, so the rules live in one place:

- node types outside `NODE_TYPES` become "text"; coordinates are truncated toward zero and must be finite numbers
  inside a signed 32-bit range (x, y default to 0; w, h stay null);
- text fields are cut to their caps (never refused), after NUL characters are dropped and lone surrogates become
  "?"; null counts as "";
- tags are lower-cased, stripped, lose exactly one leading "#" (so "##a" becomes "#a" now and "a" on the next save:
  the legacy behaviour, kept on purpose), blanks and repeats dropped;
- ids are 1..80 characters that can travel as one URL path segment; a missing id is generated; repeats refused;
- edges whose endpoints are not nodes of the same snapshot are dropped.

Ids are generated lazily, one per missing id, in document order (all nodes, then all edges): the parity tests pin
the id service to one shared counter, so the order of `new_id()` calls is part of the observable behaviour.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

NewId = Callable[[], str]

NODE_TYPES = frozenset({"text", "note", "link", "image", "file", "quote"})
FALLBACK_TYPE = "text"
ID_MAX = 80
TITLE_MAX = 160
LABEL_MAX = 240
COLOR_MAX = 32
INT32 = (-(2**31), 2**31 - 1)
# Node text fields in the order they are checked (an error names the first bad one) and their caps.
NODE_TEXTS: tuple[tuple[str, int], ...] = (
    ("title", 240),
    ("text", 4000),
    ("html", 10000),
    ("descHtml", 8000),
    ("url", 2000),
    ("imageUrl", 2000),
    ("color", COLOR_MAX),
)
NODE_KEYS = ("id", "type", "x", "y", "w", "h", *(key for key, _ in NODE_TEXTS), "tags")
EDGE_KEYS = ("id", "source", "target", "label", "color")
# Characters a URL path segment cannot carry intact: separators (decoded before routing) and control characters.
_NOT_IN_SEGMENT = re.compile(r"[/\\\x00-\x1f\x7f-\x9f]")


class BoardDataError(ValueError):
    """Board data that breaks a rule; `field` is a dotted path such as "nodes.2.x"."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message

    def details(self) -> list[dict[str, str]]:
        """The `details` list of the 400 answer."""
        return [{"field": self.field, "message": self.message}]


@dataclass(frozen=True)
class Snapshot:
    """A whole board after the rules: nodes and kept edges in order, and what had to be dropped or retyped."""

    nodes: list[dict[str, Any]]
    edges: list[dict[str, Any]]
    dropped_edges: int
    retyped_nodes: int


def _type_name(value: Any) -> str:
    return type(value).__name__


def scrub(text: str) -> str:
    """`text` as it can be stored: NUL characters removed, lone surrogates replaced by "?"."""
    return text.replace("\x00", "").encode("utf-8", errors="replace").decode("utf-8")


def storable(text: str) -> bool:
    """Whether `text` can be stored or looked up unchanged (PostgreSQL refuses NUL, UTF-8 lone surrogates)."""
    return scrub(text) == text


def capped_text(value: Any, field: str, cap: int) -> str:
    """A string field cut to `cap` characters; null is the empty string; another type is refused."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise BoardDataError(field, f"must be a string, not {_type_name(value)}")
    return scrub(value)[:cap]


def coordinate(value: Any, field: str, *, optional: bool) -> int | None:
    """A whole-number coordinate (truncated toward zero); null is 0, or None for an optional one (w, h)."""
    if value is None:
        return None if optional else 0
    # bool is an int subclass, but `true` is not a position.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BoardDataError(field, f"must be a number, not {_type_name(value)}")
    if isinstance(value, float) and not math.isfinite(value):
        raise BoardDataError(field, f"must be a finite number, not {value!r}")
    whole = math.trunc(value)
    low, high = INT32
    if whole < low or whole > high:
        raise BoardDataError(field, f"{whole} is outside the range {low}..{high}")
    return whole


def tag(raw: str) -> str:
    """One tag as stored ("" means: drop it). Only one leading '#' goes, as in the legacy rules."""
    return scrub(raw).lower().strip().removeprefix("#").strip()


def tag_list(value: Any, field: str) -> list[str]:
    """The tags of a node: each normalised, blanks and repeats dropped, first occurrence kept."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise BoardDataError(field, f"must be a list of strings, not {_type_name(value)}")
    kept: list[str] = []
    for index, raw in enumerate(value):
        if not isinstance(raw, str):
            raise BoardDataError(f"{field}.{index}", f"must be a string, not {_type_name(raw)}")
        cleaned = tag(raw)
        if cleaned and cleaned not in kept:
            kept.append(cleaned)
    return kept


def segment_problem(value: str) -> str | None:
    """Why `value` could not be an id that is addressed as a URL path segment, or None if it can."""
    if value in (".", ".."):
        return f"{value!r} is not allowed: an id is part of its item's URL, where {value!r} means a relative step"
    bad = _NOT_IN_SEGMENT.search(value)
    if bad is None:
        return None
    return (
        f"must not contain {bad.group()!r}: an id is part of its item's URL, which cannot carry "
        "'/', '\\' or control characters (use '-' instead)"
    )


def item_id(value: Any, field: str, new_id: NewId) -> str:
    """The client's id, checked, or a generated one when it is missing or null."""
    if value is None:
        return new_id()
    if not isinstance(value, str):
        raise BoardDataError(field, f"must be a string, not {_type_name(value)}")
    if len(value) < 1 or len(value) > ID_MAX:
        raise BoardDataError(field, f"must be 1 to {ID_MAX} characters long, not {len(value)}")
    if not storable(value):
        raise BoardDataError(field, "must not contain NUL characters or lone surrogates")
    problem = segment_problem(value)
    if problem is not None:
        raise BoardDataError(field, problem)
    return value


def node_type(value: Any) -> str:
    """A known node type, else the fallback."""
    return value if isinstance(value, str) and value in NODE_TYPES else FALLBACK_TYPE


def endpoint(value: Any) -> str:
    """An edge end; a non-string becomes "", which matches no node, so the edge is dropped or refused later."""
    return value if isinstance(value, str) else ""


def node(raw: Any, new_id: NewId, field: str = "node") -> dict[str, Any]:
    """One node in its API shape (keys in `NODE_KEYS` order); fields are checked in that order too."""
    if not isinstance(raw, Mapping):
        raise BoardDataError(field, f"must be an object, not {_type_name(raw)}")
    shaped: dict[str, Any] = {"id": item_id(raw.get("id"), f"{field}.id", new_id), "type": node_type(raw.get("type"))}
    for axis, optional in (("x", False), ("y", False), ("w", True), ("h", True)):
        shaped[axis] = coordinate(raw.get(axis), f"{field}.{axis}", optional=optional)
    for key, cap in NODE_TEXTS:
        shaped[key] = capped_text(raw.get(key), f"{field}.{key}", cap)
    shaped["tags"] = tag_list(raw.get("tags"), f"{field}.tags")
    return shaped


def edge(raw: Any, new_id: NewId, field: str = "edge") -> dict[str, Any]:
    """One edge in its API shape: id, source, target, label, color."""
    if not isinstance(raw, Mapping):
        raise BoardDataError(field, f"must be an object, not {_type_name(raw)}")
    shaped_id = item_id(raw.get("id"), f"{field}.id", new_id)
    return {
        "id": shaped_id,
        "source": endpoint(raw.get("source")),
        "target": endpoint(raw.get("target")),
        "label": capped_text(raw.get("label"), f"{field}.label", LABEL_MAX),
        "color": capped_text(raw.get("color"), f"{field}.color", COLOR_MAX),
    }


def board_title(value: Any, field: str = "title") -> str:
    """A board title; unlike other text fields, an explicit null is refused."""
    if value is None:
        raise BoardDataError(field, "must be a string, not null")
    return capped_text(value, field, TITLE_MAX)


def _refuse_repeats(items: list[dict[str, Any]], field: str) -> None:
    seen: set[str] = set()
    for index, item in enumerate(items):
        if item["id"] in seen:
            raise BoardDataError(f"{field}.{index}.id", f"duplicate id {item['id']!r}; ids must be unique")
        seen.add(item["id"])


def node_list(raw: Any, new_id: NewId, field: str = "nodes") -> list[dict[str, Any]]:
    """A list of nodes; every node is shaped (and its ids drawn) before repeats are looked for."""
    if not isinstance(raw, list):
        raise BoardDataError(field, f"must be a list, not {_type_name(raw)}")
    nodes = [node(item, new_id, f"{field}.{index}") for index, item in enumerate(raw)]
    _refuse_repeats(nodes, field)
    return nodes


def edge_list(raw: Any, new_id: NewId, field: str = "edges") -> list[dict[str, Any]]:
    """A list of edges (null is none); endpoints are not checked here."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise BoardDataError(field, f"must be a list, not {_type_name(raw)}")
    edges = [edge(item, new_id, f"{field}.{index}") for index, item in enumerate(raw)]
    _refuse_repeats(edges, field)
    return edges


def joined(edges: Iterable[dict[str, Any]], node_ids: Iterable[str]) -> list[dict[str, Any]]:
    """The edges both of whose ends are among `node_ids`, order kept."""
    present = set(node_ids)
    return [item for item in edges if item["source"] in present and item["target"] in present]


def snapshot(raw_nodes: Any, raw_edges: Any, node_id: NewId, edge_id: NewId, prefix: str = "") -> Snapshot:
    """A whole board: nodes, then edges (dangling ones dropped); `prefix` starts every error's field name."""
    nodes = node_list(raw_nodes, node_id, f"{prefix}nodes")
    edges = edge_list(raw_edges, edge_id, f"{prefix}edges")
    kept = joined(edges, (item["id"] for item in nodes))
    # A node counts as retyped when its stored type differs from what was sent, a missing type included.
    retyped = sum(1 for raw in raw_nodes if isinstance(raw, Mapping) and node_type(raw.get("type")) != raw.get("type"))
    return Snapshot(nodes=nodes, edges=kept, dropped_edges=len(edges) - len(kept), retyped_nodes=retyped)
