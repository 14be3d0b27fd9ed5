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

A node or an edge is described by a table of (key, reader) pairs; shaping one runs the readers in table order, so
the table order is at once the key order of the API shape, the order in which a bad field is reported first, and
the order in which missing ids are drawn. Ids are drawn lazily in document order (all nodes, then all edges): the
parity tests pin the id service to one shared counter, so the sequence of `new_id()` calls is observable.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

NewId = Callable[[], str]
# A field reader: (raw value, dotted field path, id source) -> stored value.
Reader = Callable[[Any, str, NewId], Any]

NODE_TYPES = frozenset({"text", "note", "link", "image", "file", "quote"})
FALLBACK_TYPE = "text"
ID_MAX = 80
TITLE_MAX = 160
LABEL_MAX = 240
COLOR_MAX = 32
SMALLEST, LARGEST = -(2**31), 2**31 - 1
_COORDINATES = range(SMALLEST, LARGEST + 1)
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
# Characters a URL path segment cannot carry intact: the two separators (decoded before routing) and the C0 and C1
# control ranges.
_SEGMENT_BREAKERS = frozenset("/\\") | {chr(code) for code in (*range(0x20), *range(0x7F, 0xA0))}
_RELATIVE_STEPS = frozenset({".", ".."})


class BoardDataError(ValueError):
    """A rule the client's board data breaks, located by a dotted path (`field`, e.g. "nodes.2.x")."""

    def __init__(self, field: str, message: str):
        self.field, self.message = field, message
        super().__init__(f"{field}: {message}")

    def details(self) -> list[dict[str, str]]:
        """What the 400 answer lists under `details`: one entry naming the field and the problem."""
        return [dict(field=self.field, message=self.message)]


@dataclass(frozen=True)
class Snapshot:
    """The outcome of shaping a whole board: how many edges were dropped and nodes retyped, and what was kept."""

    dropped_edges: int
    retyped_nodes: int
    nodes: list[dict[str, Any]]
    edges: list[dict[str, Any]]


def _wrong_type(where: str, wanted: str, got: Any) -> BoardDataError:
    return BoardDataError(where, f"must be {wanted}, not {type(got).__name__}")


def scrub(text: str) -> str:
    """`text` as it can be stored: lone surrogates turned into "?", NUL characters taken out."""
    return text.encode("utf-8", errors="replace").decode("utf-8").replace("\x00", "")


def storable(text: str) -> bool:
    """True when `text` survives storage untouched: no NUL (PostgreSQL) and no lone surrogate (UTF-8)."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def capped_text(value: Any, field: str, cap: int) -> str:
    """A string field cut to `cap` characters; null is the empty string; another type is refused."""
    if isinstance(value, str):
        return scrub(value)[:cap]
    if value is not None:
        raise _wrong_type(field, "a string", value)
    return ""


def _whole_number(value: Any, field: str) -> int:
    # `true` is an int to Python but not a position to us.
    numeric = isinstance(value, int | float) and not isinstance(value, bool)
    if not numeric:
        raise _wrong_type(field, "a number", value)
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        raise BoardDataError(field, f"must be a finite number, not {value!r}")
    truncated = int(value)  # toward zero, as math.trunc
    if truncated not in _COORDINATES:
        raise BoardDataError(field, f"{truncated} is outside the range {SMALLEST}..{LARGEST}")
    return truncated


def coordinate(value: Any, field: str, *, optional: bool) -> int | None:
    """A position or size in whole units; a missing one is None when `optional` (w, h) and 0 otherwise (x, y)."""
    if value is not None:
        return _whole_number(value, field)
    return None if optional else 0


def tag(raw: str) -> str:
    """One tag as stored ("" means: drop it). Only one leading '#' goes, as in the legacy rules."""
    return scrub(raw).lower().strip().removeprefix("#").strip()


def tag_list(value: Any, field: str) -> list[str]:
    """The tags of a node: each normalised, blanks and repeats dropped, first occurrence kept."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise _wrong_type(field, "a list of strings", value)
    offender = next((position for position, raw in enumerate(value) if not isinstance(raw, str)), None)
    if offender is not None:
        raise _wrong_type(f"{field}.{offender}", "a string", value[offender])
    return list(dict.fromkeys(cleaned for cleaned in map(tag, value) if cleaned))


def segment_problem(value: str) -> str | None:
    """Why `value` could not be an id that is addressed as a URL path segment, or None if it can."""
    if value in _RELATIVE_STEPS:
        return f"{value!r} is not allowed: an id is part of its item's URL, where {value!r} means a relative step"
    breaker = next((char for char in value if char in _SEGMENT_BREAKERS), None)
    if breaker is None:
        return None
    return (
        f"must not contain {breaker!r}: an id is part of its item's URL, which cannot carry "
        "'/', '\\' or control characters (use '-' instead)"
    )


def _length_problem(value: str) -> str | None:
    if 0 < len(value) <= ID_MAX:
        return None
    return f"must be 1 to {ID_MAX} characters long, not {len(value)}"


def _storage_problem(value: str) -> str | None:
    return None if storable(value) else "must not contain NUL characters or lone surrogates"


# Checks on a client-chosen id, first failure reported.
_ID_CHECKS: tuple[Callable[[str], str | None], ...] = (_length_problem, _storage_problem, segment_problem)


def item_id(value: Any, field: str, new_id: NewId) -> str:
    """The id the client chose, if it passes every check, or a freshly drawn one when it sent none."""
    if value is None:
        return new_id()
    if not isinstance(value, str):
        raise _wrong_type(field, "a string", value)
    for check in _ID_CHECKS:
        problem = check(value)
        if problem is not None:
            raise BoardDataError(field, problem)
    return value


def node_type(value: Any) -> str:
    """A known node type, else the fallback."""
    return value if isinstance(value, str) and value in NODE_TYPES else FALLBACK_TYPE


def endpoint(value: Any) -> str:
    """An edge end; a non-string becomes "", which matches no node, so the edge is dropped or refused later."""
    return value if isinstance(value, str) else ""


def _axis(optional: bool) -> Reader:
    return lambda value, where, _draw: coordinate(value, where, optional=optional)


def _text(cap: int) -> Reader:
    return lambda value, where, _draw: capped_text(value, where, cap)


NODE_READERS: tuple[tuple[str, Reader], ...] = (
    ("id", item_id),
    ("type", lambda value, _where, _draw: node_type(value)),
    ("x", _axis(False)),
    ("y", _axis(False)),
    ("w", _axis(True)),
    ("h", _axis(True)),
    *((key, _text(cap)) for key, cap in NODE_TEXTS),
    ("tags", lambda value, where, _draw: tag_list(value, where)),
)
EDGE_READERS: tuple[tuple[str, Reader], ...] = (
    ("id", item_id),
    ("source", lambda value, _where, _draw: endpoint(value)),
    ("target", lambda value, _where, _draw: endpoint(value)),
    ("label", _text(LABEL_MAX)),
    ("color", _text(COLOR_MAX)),
)
NODE_KEYS = tuple(key for key, _ in NODE_READERS)
EDGE_KEYS = tuple(key for key, _ in EDGE_READERS)


def _shape(readers: tuple[tuple[str, Reader], ...], raw: Any, new_id: NewId, field: str) -> dict[str, Any]:
    if not isinstance(raw, Mapping):
        raise _wrong_type(field, "an object", raw)
    return {key: read(raw.get(key), f"{field}.{key}", new_id) for key, read in readers}


def node(raw: Any, new_id: NewId, field: str = "node") -> dict[str, Any]:
    """One node in its API shape, read through `NODE_READERS`."""
    return _shape(NODE_READERS, raw, new_id, field)


def edge(raw: Any, new_id: NewId, field: str = "edge") -> dict[str, Any]:
    """One edge in its API shape, read through `EDGE_READERS`."""
    return _shape(EDGE_READERS, raw, new_id, field)


def board_title(value: Any, field: str = "title") -> str:
    """A board title; unlike other text fields, an explicit null is refused."""
    if value is None:
        raise BoardDataError(field, "must be a string, not null")
    return capped_text(value, field, TITLE_MAX)


def _first_repeat(items: list[dict[str, Any]]) -> int | None:
    """The position of the earliest item whose id an earlier item already has."""
    first_seen: dict[str, int] = {}
    for position, item in enumerate(items):
        if first_seen.setdefault(item["id"], position) != position:
            return position
    return None


def _shaped_list(
    raw: Any, shaper: Callable[[Any, NewId, str], dict[str, Any]], new_id: NewId, field: str
) -> list[dict[str, Any]]:
    if not isinstance(raw, list):
        raise _wrong_type(field, "a list", raw)
    # Everything is shaped (and every missing id drawn) before repeats are looked for.
    shaped = [shaper(item, new_id, f"{field}.{position}") for position, item in enumerate(raw)]
    repeat = _first_repeat(shaped)
    if repeat is not None:
        repeated = shaped[repeat]["id"]
        raise BoardDataError(f"{field}.{repeat}.id", f"duplicate id {repeated!r}; ids must be unique")
    return shaped


def node_list(raw: Any, new_id: NewId, field: str = "nodes") -> list[dict[str, Any]]:
    """A list of nodes with unique ids."""
    return _shaped_list(raw, node, new_id, field)


def edge_list(raw: Any, new_id: NewId, field: str = "edges") -> list[dict[str, Any]]:
    """A list of edges with unique ids (null is none); endpoints are not checked here."""
    return [] if raw is None else _shaped_list(raw, edge, new_id, field)


def joined(edges: Iterable[dict[str, Any]], node_ids: Iterable[str]) -> list[dict[str, Any]]:
    """The edges both of whose ends are among `node_ids`, order kept."""
    present = frozenset(node_ids)
    return [item for item in edges if {item["source"], item["target"]} <= present]


def snapshot(raw_nodes: Any, raw_edges: Any, node_id: NewId, edge_id: NewId, prefix: str = "") -> Snapshot:
    """A whole board: nodes, then edges (dangling ones dropped); `prefix` starts every error's field name."""
    nodes = node_list(raw_nodes, node_id, f"{prefix}nodes")
    edges = edge_list(raw_edges, edge_id, f"{prefix}edges")
    kept = joined(edges, (item["id"] for item in nodes))
    # Every raw node was a mapping (or shaping would have failed); it was retyped when the stored type is not what it
    # sent, a missing type included.
    retyped = sum(shaped["type"] != sent.get("type") for sent, shaped in zip(raw_nodes, nodes, strict=True))
    return Snapshot(nodes=nodes, edges=kept, dropped_edges=len(edges) - len(kept), retyped_nodes=retyped)
