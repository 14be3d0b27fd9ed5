"""Deterministic edge cases derived from the limits the legacy code enforces, per feature.

Generation (`generated.py`) stays inside the documented schema or jumps far from a limit, so a plugin that caps a
board title at 159 instead of 160 characters would pass it. The cases here come from legacy's own constants (and
the pydantic models that state the blog's caps), read at run time, so they follow legacy when it changes:

- every length cap, numeric range and size limit at limit-1, limit and limit+1. A cap that truncates is probed with
  a value whose last character is a marker (`"aaa…Z"`), so the saved text at the limit differs from the one past it;
- values at type boundaries: numbers as strings, floats for ints, booleans, null, wrong nesting, NaN and infinity,
  huge integers;
- bodies without any known field, a JSON array, an empty body, a wrong Content-Type, for every operation with a body;
- import bundles that hit each check of `legacy_core/papertrail/bundle.py`;
- existing and missing resources of every kind, by the callers whose role matters.

A case's requests are built exactly (JSON through `json.dumps`, multipart with a fixed boundary). A step may be a
callable that builds the next request from the legacy answers so far (an upload, then a download of the id it
answered), returning None to stop; big bodies are built that way too, only when the case runs. Size limits are read
off the pair's legacy settings, so a harness that lowers them gets cheap cases at its own limits.
"""

from __future__ import annotations

import io
import json
import os
import struct
import warnings
import zipfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from werkzeug.datastructures import FileStorage
from werkzeug.test import stream_encode_multipart

from exthost.evidence.compare import CapturedRequest, CapturedResponse
from legacy_core.blog.posts import EXCERPT_LENGTH, FILE_NAME_MAX, SLUG_MAX, SUFFIX
from legacy_core.blog.schemas import ConfigureBody, CreatePostBody
from legacy_core.papertrail.board import COMMENT_MAX
from legacy_core.papertrail.bundle import (
    BOARD_JSON,
    BUNDLE_FORMAT,
    BUNDLE_VERSION,
    MAX_CENTRAL_DIRECTORY,
    MAX_MEMBERS,
    member_path,
)
from legacy_core.papertrail.files import EXTENSION_MAX, FILENAME_MAX
from legacy_core.papertrail.items import CommentBody
from legacy_core.papertrail.normalize import (
    BOARD_TITLE_MAX,
    COLOR_MAX,
    COORD_MAX,
    COORD_MIN,
    EDGE_LABEL_MAX,
    ID_MAX,
    NODE_TEXT_CAPS,
    NODE_TYPES,
)
from legacy_core.settings import Settings
from parity_tests.client import path_of
from parity_tests.pair import Pair, body_json

Step = CapturedRequest | Callable[[list[CapturedResponse]], CapturedRequest | None]
FEATURES = ("papertrail", "blog")
# A fixed multipart boundary, so a case's bytes never change (werkzeug's own is random).
BOUNDARY = "sovereign-edge-boundary"
JSON = "application/json"
ZIP_MOMENT = (2026, 1, 1, 0, 0, 0)
# The shapes of a body that carries none of what an operation expects: (label, Content-Type, bytes).
WRONG_BODIES: tuple[tuple[str, str | None, bytes], ...] = (
    ("empty object", JSON, b"{}"),
    ("unknown field only", JSON, b'{"unknown": 1}'),
    ("JSON array", JSON, b"[]"),
    ("empty body", None, b""),
    ("wrong Content-Type", "text/plain", b'{"title": "x"}'),
)


@dataclass(frozen=True)
class EdgeCase:
    """One deterministic case: who sends it, and 1-4 steps; `limit`/`offset` say which legacy limit it probes
    (a name unique in its feature, such as "BOARD_TITLE_MAX") and where: -1, 0 or +1 from it."""

    source: str
    user: str | None
    requests: tuple[Step, ...]
    limit: str | None = None
    offset: int = 0


def next_request(step: Step, answers: list[CapturedResponse]) -> CapturedRequest | None:
    """The request a step sends, given the legacy answers of the case so far (None: the case stops here)."""
    return step if isinstance(step, CapturedRequest) else step(answers)


def straddles(cases: Iterable[EdgeCase]) -> dict[str, tuple[EdgeCase, EdgeCase]]:
    """Each probed limit's two cases at the limit and one past it, by the limit's name."""
    at = {case.limit: case for case in cases if case.limit is not None and case.offset == 0}
    past = {case.limit: case for case in cases if case.limit is not None and case.offset == 1}
    return {name: (at[name], past[name]) for name in sorted(at.keys() & past.keys())}


class _Cases:
    """The cases of one feature as they are added; a repeated source is a bug in this module."""

    def __init__(self, feature: str):
        self.feature = feature
        self.items: list[EdgeCase] = []
        self.sources: set[str] = set()

    def add(self, what: str, user: str | None, *steps: Step, limit: str | None = None, offset: int = 0) -> None:
        source = f"edge:{what}"
        if source in self.sources:
            raise AssertionError(f"{self.feature}: two edge cases named {source!r}")
        if not 1 <= len(steps) <= 4:
            raise AssertionError(f"{self.feature}: {source!r} has {len(steps)} steps, not 1 to 4")
        self.sources.add(source)
        self.items.append(EdgeCase(source, user, tuple(steps), limit, offset))

    def around(
        self,
        what: str,
        name: str,
        limit: int,
        make: Callable[[int], Sequence[Step]],
        user: str | None = "alice",
        *,
        lower: bool = False,
    ) -> None:
        """Three cases probing the limit `name`: `make(n)` just inside it, at it and just past it (for an upper
        limit n = limit-1, limit, limit+1; for a `lower` one n = limit+1, limit, limit-1)."""
        direction = -1 if lower else 1
        for offset in (-1, 0, 1):
            value = limit + offset * direction
            where = f"{name}{value - limit:+d}" if offset else name
            self.add(f"{what} {value} ({where})", user, *make(value), limit=name, offset=offset)


class _Batch:
    """Checks of one step each that leave the state alone, sent four to a case (each named in the source), so
    the list stays short without losing one: `add` has the signature of `_Cases.add`."""

    def __init__(self, cases: _Cases, prefix: str):
        self.cases, self.prefix = cases, prefix
        self.pending: list[tuple[str, Step]] = []
        self.user: str | None = None

    def add(self, what: str, user: str | None, *steps: Step) -> None:
        if self.pending and (user != self.user or len(self.pending) + len(steps) > 4):
            self.flush()
        self.user = user
        self.pending.extend((what, step) for step in steps)

    def flush(self) -> None:
        if self.pending:
            labels = "; ".join(dict.fromkeys(label for label, _ in self.pending))
            self.cases.add(f"{self.prefix}: {labels}", self.user, *(step for _, step in self.pending))
        self.pending = []


# --- building requests ---


def json_request(method: str, path: str, body: Any) -> CapturedRequest:
    return CapturedRequest(method, path, headers=(("Content-Type", JSON),), body=json.dumps(body).encode())


def raw_request(method: str, path: str, body: bytes, content_type: str | None) -> CapturedRequest:
    headers = (("Content-Type", content_type),) if content_type is not None else ()
    return CapturedRequest(method, path, headers=headers, body=body)


def multipart(
    path: str, fields: dict[str, str], file: tuple[str, bytes, str] | None, field: str = "file"
) -> CapturedRequest:
    """A multipart/form-data POST of `fields` and one file part (name, bytes, Content-Type) under `field`."""
    values: dict[str, Any] = dict(fields)
    if file is not None:
        name, data, content_type = file
        values[field] = FileStorage(io.BytesIO(data), filename=name, content_type=content_type)
    stream, _, boundary = stream_encode_multipart(values, use_tempfile=False, boundary=BOUNDARY)
    headers = (("Content-Type", f"multipart/form-data; boundary={boundary}"),)
    return CapturedRequest("POST", path, headers=headers, body=stream.read())


def later(build: Callable[[], CapturedRequest]) -> Step:
    """A step built only when the case runs: keeps megabyte bodies out of the case list."""
    return lambda _answers: build()


def answered(index: int, *keys: str) -> Any:
    """The value at `keys` in the legacy answer `index` (JSON, 2xx), or None."""

    def read(answers: list[CapturedResponse]) -> Any:
        if index >= len(answers) or not 200 <= answers[index].status < 300:
            return None
        value = body_json(answers[index])
        for key in keys:
            value = value.get(key) if isinstance(value, dict) else None
        return value

    return read


def marked(length: int, fill: str = "a", mark: str = "Z") -> str:
    """A string of `length` characters ending in `mark`: cut to any shorter cap, it loses the mark."""
    return fill * (length - 1) + mark if length > 0 else ""


def login(pair: Pair, user: str) -> CapturedRequest:
    return json_request("POST", "/login", {"email": pair.seed.email_of(user), "password": pair.seed.password})


def logout() -> CapturedRequest:
    return CapturedRequest("GET", "/logout")


def path_of_length(prefix: str, length: int) -> str:
    """An absolute path of exactly `length` characters under `prefix`, in segments a file system accepts."""
    rest = length - len(prefix) - 1
    segments = []
    while rest > 0:
        size = min(rest, 100)
        segments.append("d" * size)
        rest -= size + 1
    path = prefix + "/" + "/".join(segments)
    return path[:length] if len(path) >= length else path + "e" * (length - len(path))


# --- pydantic caps of the blog's request models ---


def model_limit(model: type[BaseModel], field: str, attribute: str = "max_length", *, item: bool = False) -> int:
    """A length bound (`max_length` or `min_length`) legacy's pydantic `model` declares on `field`, or with `item`
    on the items of its list; read from the model, so a changed cap moves the cases along."""
    info = model.model_fields[field]
    found = _bound(_list_item(info.annotation), attribute) if item else _bound(info.annotation, attribute)
    if not item:
        found = _bound_in(info.metadata, attribute) if _bound_in(info.metadata, attribute) is not None else found
    if found is None:
        raise LookupError(f"{model.__name__}.{field} declares no {attribute}{' on its items' if item else ''}")
    return found


def _bound_in(metadata: Iterable[Any], attribute: str) -> int | None:
    for entry in metadata:
        value = getattr(entry, attribute, None)
        if isinstance(value, int):
            return value
    return None


def _bound(annotation: Any, attribute: str) -> int | None:
    """A bound in an annotation's `Annotated` metadata, looking through unions (not into lists)."""
    found = _bound_in(getattr(annotation, "__metadata__", ()), attribute)
    if found is not None or getattr(annotation, "__origin__", None) is list:
        return found
    for argument in getattr(annotation, "__args__", ()):
        found = _bound(argument, attribute)
        if found is not None:
            return found
    return None


def _list_item(annotation: Any) -> Any:
    if getattr(annotation, "__origin__", None) is list:
        return annotation.__args__[0]
    for argument in getattr(annotation, "__args__", ()):
        inner = _list_item(argument)
        if inner is not None:
            return inner
    return None


# --- zip bundles, exactly as the bytes should be ---


def zip_bytes(members: Sequence[tuple[str, bytes]], *, deflate: bool = False) -> bytes:
    """A zip of `members` in order (duplicate names kept), every entry with one fixed timestamp."""
    buffer = io.BytesIO()
    with warnings.catch_warnings(), zipfile.ZipFile(buffer, "w") as archive:
        warnings.simplefilter("ignore")  # zipfile warns about a duplicate name, which is what a case wants
        for name, data in members:
            info = zipfile.ZipInfo(name, date_time=ZIP_MOMENT)
            info.compress_type = zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)
    return buffer.getvalue()


def patched_end_record(data: bytes, *, entries: int | None = None, size: int | None = None) -> bytes:
    """`data` with its end-of-central-directory record declaring other entry counts or directory size."""
    position = data.rfind(b"PK\x05\x06")
    fields = list(struct.unpack_from("<4s4H2LH", data, position))
    if entries is not None:
        fields[3] = fields[4] = entries
    if size is not None:
        fields[5] = size
    return data[:position] + struct.pack("<4s4H2LH", *fields) + data[position + 22 :]


def sized_zip(members: Sequence[tuple[str, bytes]], length: int, pad: str = "padding.bin") -> bytes:
    """A stored zip of exactly `length` bytes: `members` plus a member `pad` filled to make up the size."""
    bare = zip_bytes([*members, (pad, b"")])
    return zip_bytes([*members, (pad, b"\0" * max(0, length - len(bare)))])


def bundle_document(project_id: str, **changes: Any) -> dict[str, Any]:
    """A valid board.json of two nodes, one edge, one comment and one attachment (the file `ATTACHMENT`)."""
    document: dict[str, Any] = {
        "format": BUNDLE_FORMAT,
        "version": BUNDLE_VERSION,
        "exportedAt": "2026-01-01T00:00:00+00:00",
        "project": {"id": project_id},
        "board": {
            "title": "Imported board",
            "nodes": [
                {"id": "n1", "title": "One", "url": f"/uploads/{project_id}/{ATTACHMENT_ID}/{ATTACHMENT_NAME}"},
                {"id": "n2", "title": "Two", "tags": ["#Imported"]},
            ],
            "edges": [{"id": "e1", "source": "n1", "target": "n2", "label": "leads to"}],
        },
        "comments": [{"body": "Imported comment", "nodeId": "n1", "createdAt": "2026-01-01T00:00:00+00:00"}],
        "attachments": [
            {"id": ATTACHMENT_ID, "filename": ATTACHMENT_NAME, "contentType": "text/plain", "nodeId": "n1"}
        ],
    }
    document.update(changes)
    return document


ATTACHMENT_ID = "a_source0001"
ATTACHMENT_NAME = "notes.txt"
ATTACHMENT_BYTES = b"Imported attachment\n"


def bundle(document: Any, *extra: tuple[str, bytes], attachment: bool = True) -> bytes:
    """A zip of `document` as board.json, the attachment's file (unless not `attachment`) and `extra` members."""
    members = [(BOARD_JSON, json.dumps(document).encode())]
    if attachment:
        members.append((member_path(ATTACHMENT_ID, ATTACHMENT_NAME), ATTACHMENT_BYTES))
    return zip_bytes([*members, *extra])


def settings_limits(settings: Settings) -> dict[str, int]:
    """The size limits of the legacy side, by setting name."""
    return {
        "MAX_CONTENT_LENGTH": settings.MAX_CONTENT_LENGTH,
        "PAPERTRAIL_UPLOAD_MAX_BYTES": settings.PAPERTRAIL_UPLOAD_MAX_BYTES,
        "PAPERTRAIL_IMPORT_MAX_BYTES": settings.PAPERTRAIL_IMPORT_MAX_BYTES,
    }


def remotes_root(pair: Pair) -> str:
    """The folder the harness allows local blog remotes in (the shared remote URL lives there)."""
    return os.path.dirname(pair.seed.remote_url)


# --- the public entry point ---


def edge_cases(pair: Pair, feature: str) -> list[EdgeCase]:
    """The edge cases of `feature` ("papertrail" or "blog") for `pair`'s seed and legacy settings."""
    builders = {"papertrail": _papertrail_cases, "blog": _blog_cases}
    if feature not in builders:
        raise ValueError(f"unknown feature {feature!r}: edge cases exist for {', '.join(FEATURES)}")
    cases = _Cases(feature)
    builders[feature](cases, pair, pair.legacy.platform.services.settings)
    return cases.items


# --- PaperTrail ---


@dataclass(frozen=True)
class _Board:
    """The seeded PaperTrail project's paths and ids."""

    project: str
    board_id: str
    node: str
    other_node: str
    edge: str
    comment: str
    board: str
    items: str

    @classmethod
    def of(cls, pair: Pair) -> _Board:
        seeded = pair.seed.projects["papertrail"]
        board = path_of("api", "projects", seeded["id"], "papertrail", "board")
        return cls(
            seeded["id"],
            seeded["board_id"],
            seeded["node_ids"][0],
            seeded["node_ids"][1],
            seeded["edge_ids"][0],
            seeded["comment_ids"][0],
            board,
            board + path_of(seeded["board_id"]),
        )

    def node_path(self, node_id: str = "") -> str:
        return self.items + path_of("nodes", node_id)

    def edge_path(self, edge_id: str = "") -> str:
        return self.items + path_of("edges", edge_id)

    def comment_path(self, comment_id: str = "") -> str:
        return self.items + path_of("comments", comment_id)


def _download(index: int = 0, filename: str | None = None) -> Step:
    """GET of the attachment the upload answer `index` describes (under another file name, if given)."""

    def build(answers: list[CapturedResponse]) -> CapturedRequest | None:
        url = answered(index, "attachment", "url")(answers)
        if not isinstance(url, str):
            return None
        if filename is not None:
            url = url.rsplit("/", 1)[0] + "/" + filename
        return CapturedRequest("GET", path_of(*url.split("/")))

    return build


def _papertrail_cases(cases: _Cases, pair: Pair, settings: Settings) -> None:
    b = _Board.of(pair)
    _text_caps(cases, b)
    _node_values(cases, b)
    _papertrail_bodies(cases, b)
    _body_limit(cases, "PATCH", b.board, {"title": "Padded"}, settings.MAX_CONTENT_LENGTH, "board patch")
    _uploads(cases, b, pair, settings)
    _imports(cases, b, pair, settings)
    _papertrail_resources(cases, b, pair)


def _text_caps(cases: _Cases, b: _Board) -> None:
    """Every text cap and id length at limit-1, limit and limit+1, on each path that saves it."""
    cases.around(
        "board title length",
        "BOARD_TITLE_MAX",
        BOARD_TITLE_MAX,
        lambda n: [json_request("PATCH", b.board, {"title": marked(n)})],
    )
    cases.around(
        "snapshot board title length",
        "BOARD_TITLE_MAX@snapshot",
        BOARD_TITLE_MAX,
        lambda n: [json_request("POST", b.board, {"title": marked(n), "nodes": []})],
    )

    def node_text(key: str) -> Callable[[int], list[Step]]:
        return lambda n: [json_request("POST", b.node_path(), {"id": "edge-node", key: marked(n)})]

    for key, cap in NODE_TEXT_CAPS.items():
        cases.around(f"node {key} length", f"NODE_TEXT_CAPS[{key}]", cap, node_text(key))
    cases.around(
        "patched node title length",
        "NODE_TEXT_CAPS[title]@patch",
        NODE_TEXT_CAPS["title"],
        lambda n: [json_request("PATCH", b.node_path(b.node), {"title": marked(n)})],
    )
    edge = {"id": "edge-edge", "source": b.node, "target": b.other_node}
    cases.around(
        "edge label length",
        "EDGE_LABEL_MAX",
        EDGE_LABEL_MAX,
        lambda n: [json_request("POST", b.edge_path(), {**edge, "label": marked(n)})],
    )
    cases.around(
        "edge color length",
        "COLOR_MAX@edge",
        COLOR_MAX,
        lambda n: [json_request("POST", b.edge_path(), {**edge, "color": marked(n)})],
    )
    cases.around(
        "patched edge label length",
        "EDGE_LABEL_MAX@patch",
        EDGE_LABEL_MAX,
        lambda n: [json_request("PATCH", b.edge_path(b.edge), {"label": marked(n)})],
    )
    cases.around(
        "node id length",
        "ID_MAX",
        ID_MAX,
        lambda n: [
            json_request("POST", b.node_path(), {"id": marked(n, "n")}),
            CapturedRequest("GET", b.node_path(marked(n, "n"))),
        ],
    )
    cases.around(
        "edge id length",
        "ID_MAX@edge",
        ID_MAX,
        lambda n: [
            json_request("POST", b.edge_path(), {**edge, "id": marked(n, "e")}),
            CapturedRequest("GET", b.edge_path(marked(n, "e"))),
        ],
    )
    cases.around(
        "snapshot node id length",
        "ID_MAX@snapshot",
        ID_MAX,
        lambda n: [json_request("POST", b.board, {"nodes": [{"id": marked(n, "n")}]})],
    )
    cases.add("node id empty", "alice", json_request("POST", b.node_path(), {"id": ""}))
    cases.around(
        "comment body length",
        "COMMENT_MAX",
        COMMENT_MAX,
        lambda n: [json_request("POST", b.comment_path(), {"body": marked(n)})],
    )
    cases.around(
        "edited comment body length",
        "COMMENT_MAX@edit",
        COMMENT_MAX,
        lambda n: [json_request("PATCH", b.comment_path(b.comment), {"body": marked(n)})],
    )
    cases.add(
        "comment body over the cap before stripping",
        "alice",
        json_request("POST", b.comment_path(), {"body": "  " + marked(COMMENT_MAX) + "\n"}),
    )
    node_id_max = model_limit(CommentBody, "nodeId")
    cases.around(
        "comment nodeId length",
        "CommentBody.nodeId",
        node_id_max,
        lambda n: [
            json_request("POST", b.node_path(), {"id": marked(n, "n")}),
            json_request("POST", b.comment_path(), {"body": "On a long id", "nodeId": marked(n, "n")}),
        ],
    )
    batch = _Batch(cases, "comment values")
    for label, body in (("blank", "   "), ("empty", ""), ("NUL only", "\x00"), ("null", None), ("a number", 5)):
        batch.add(f"body {label}", "alice", json_request("POST", b.comment_path(), {"body": body}))
    for label, node in (("missing node", "nowhere"), ("empty nodeId", ""), ("nodeId a number", 5)):
        batch.add(f"on {label}", "alice", json_request("POST", b.comment_path(), {"body": "x", "nodeId": node}))
    batch.flush()


def _node_values(cases: _Cases, b: _Board) -> None:
    """Coordinates at the 32-bit edges, values of the wrong type, ids that cannot be URL segments, tags, types."""
    create = b.node_path()

    def node(ident: str = "edge-node", **fields: Any) -> list[Step]:
        return [json_request("POST", create, {"id": ident, **fields})]

    cases.around("node x", "COORD_MAX", COORD_MAX, lambda n: node(x=n))
    cases.around("node y", "COORD_MIN", COORD_MIN, lambda n: node(y=n), lower=True)
    cases.around("node w", "COORD_MAX@w", COORD_MAX, lambda n: node(w=n))
    values: tuple[tuple[str, Any], ...] = (
        ("x COORD_MAX+0.5 (truncated)", COORD_MAX + 0.5),
        ("x COORD_MIN-0.5 (truncated toward zero)", COORD_MIN - 0.5),
        ("x COORD_MAX+1.0", COORD_MAX + 1.0),
        ("x -0.9", -0.9),
        ("x 10.9", 10.9),
        ("x as a string", "10"),
        ("x true", True),
        ("x null", None),
        ("x an object", {"value": 1}),
        ("x a list", [1]),
        ("x a huge int", 10**30),
        ("x 1e308", 1e308),
        ("w as a string", "5"),
        ("h null", None),
    )
    batch = _Batch(cases, "node values")
    for index, (label, value) in enumerate(values):
        key = label.split(" ", 1)[0]
        batch.add(label, "alice", *node(f"value-{index}", **{key: value}))
    for literal in ("NaN", "Infinity", "-Infinity"):
        body = b'{"id": "edge-node", "x": ' + literal.encode() + b"}"
        batch.add(f"x {literal}", "alice", raw_request("POST", create, body, JSON))
    batch.flush()
    cases.add(
        "node title lone surrogate",
        "alice",
        raw_request("POST", create, b'{"id": "edge-node", "title": "a\\ud800b"}', JSON),
    )
    cases.add("node id lone surrogate", "alice", raw_request("POST", create, b'{"id": "a\\udfffb"}', JSON))
    cases.add("node title NUL", "alice", *node(title="a\x00b"))
    batch = _Batch(cases, "node title")
    for label, value in (("a number", 5), ("true", True), ("a list", ["a"]), ("an object", {"a": 1})):
        batch.add(label, "alice", *node(title=value))
    batch.flush()
    cases.add("node title null", "alice", *node(title=None))
    batch = _Batch(cases, "node id")
    for label, ident in (
        ("dot", "."),
        ("dot dot", ".."),
        ("slash", "a/b"),
        ("backslash", "a\\b"),
        ("C0 control", "a\x1fb"),
        ("DEL", "a\x7fb"),
        ("C1 control", "a\x85b"),
        ("last C1 control", "a\x9fb"),
        ("a number", 5),
    ):
        batch.add(label, "alice", json_request("POST", create, {"id": ident}))
    batch.flush()
    for label, ident in (("no-break space", "a\xa0b"), ("percent", "%2F"), ("three dots", "..."), ("question", "a?b")):
        cases.add(
            f"node id {label}",
            "alice",
            json_request("POST", create, {"id": ident}),
            CapturedRequest("GET", b.node_path(ident)),
        )
    cases.add("node id null (generated)", "alice", json_request("POST", create, {"id": None, "title": "t"}))
    cases.add("node id taken", "alice", json_request("POST", create, {"id": b.node}))
    cases.add("node tags normalised", "alice", *node(tags=["##A", " #b ", "", "a", "A", "#", "  ", "\x00C"]))
    batch = _Batch(cases, "node tags")
    for index, (label, tags) in enumerate(
        (("a string", "a"), ("with a number", ["a", 1]), ("null", None), ("an object", {"a": 1}))
    ):
        batch.add(label, "alice", *node(f"tags-{index}", tags=tags))
    batch.flush()
    types = [*NODE_TYPES, "TEXT", "Note ", 5, None, ""]
    cases.add(
        "snapshot node types",
        "alice",
        json_request(
            "POST", b.board, {"nodes": [{"id": f"t{index}", "type": kind} for index, kind in enumerate(types)]}
        ),
    )
    edge = {"id": "edge-edge", "source": b.node, "target": b.other_node}
    batch = _Batch(cases, "edge values")
    for label, change in (
        ("source missing", {"source": "nowhere"}),
        ("source a number", {"source": 5}),
        ("self loop", {"target": b.node}),
        ("label a number", {"label": 5}),
        ("id taken", {"id": b.edge}),
    ):
        batch.add(label, "alice", json_request("POST", b.edge_path(), {**edge, **change}))
    batch.flush()
    cases.add("patched edge source missing", "alice", json_request("PATCH", b.edge_path(b.edge), {"source": "nowhere"}))
    for label, change in (
        ("id changed", {"id": "renamed"}),
        ("id kept", {"id": b.node, "title": "Same id"}),
        ("x as a string", {"x": "1"}),
    ):
        cases.add(f"patched node {label}", "alice", json_request("PATCH", b.node_path(b.node), change))
    snapshot_cases: tuple[tuple[str, Any], ...] = (
        ("nodes missing", {"title": "No nodes"}),
        ("nodes null", {"nodes": None}),
        ("nodes an object", {"nodes": {}}),
        ("node a number", {"nodes": [5]}),
        ("edges null", {"nodes": [{"id": "a"}], "edges": None}),
        ("edges a string", {"nodes": [], "edges": "x"}),
        ("title null", {"title": None, "nodes": []}),
        ("title a number", {"title": 5, "nodes": []}),
        ("duplicate node ids", {"nodes": [{"id": "a"}, {"id": "a"}]}),
        ("duplicate edge ids", {"nodes": [{"id": "a"}], "edges": [{"id": "e", "source": "a", "target": "a"}] * 2}),
        ("dangling edge dropped", {"nodes": [{"id": "a"}], "edges": [{"id": "e", "source": "a", "target": "z"}]}),
    )
    batch = _Batch(cases, "snapshot")
    for label, snapshot in snapshot_cases:
        batch.add(label, "alice", json_request("POST", b.board, snapshot))
    batch.flush()
    for label, patch in (
        ("title null", {"title": None}),
        ("edges only", {"edges": []}),
        ("nodes emptied", {"nodes": []}),
    ):
        cases.add(
            f"board patch {label}",
            "alice",
            json_request("PATCH", b.board, patch),
            CapturedRequest("GET", b.comment_path()),
        )


def _papertrail_bodies(cases: _Cases, b: _Board) -> None:
    """Every operation with a JSON body, sent bodies that carry nothing it expects."""
    operations = (
        ("POST", b.board, "board"),
        ("PATCH", b.board, "board"),
        ("POST", b.node_path(), "node"),
        ("PATCH", b.node_path(b.node), "node"),
        ("POST", b.edge_path(), "edge"),
        ("PATCH", b.edge_path(b.edge), "edge"),
        ("POST", b.comment_path(), "comment"),
        ("PATCH", b.comment_path(b.comment), "comment"),
    )
    for method, path, kind in operations:
        batch = _Batch(cases, f"{method} {kind} body")
        for label, content_type, body in WRONG_BODIES:
            batch.add(label, "alice", raw_request(method, path, body, content_type))
        batch.flush()
    cases.add("PATCH board: invalid JSON", "alice", raw_request("PATCH", b.board, b'{"title": ', JSON))
    cases.add("POST node: JSON null", "alice", raw_request("POST", b.node_path(), b"null", JSON))
    cases.add(
        "POST node: nested too deeply",
        "alice",
        raw_request("POST", b.node_path(), b"[" * 100_000 + b"]" * 100_000, JSON),
    )


def padded_json(method: str, path: str, body: Any, length: int) -> CapturedRequest:
    """`body` as JSON followed by blanks up to exactly `length` bytes (still valid JSON, cheap to parse)."""
    text = json.dumps(body).encode()
    return raw_request(method, path, text + b" " * (length - len(text)), JSON)


def _body_limit(cases: _Cases, method: str, path: str, body: Any, limit: int, where: str) -> None:
    """MAX_CONTENT_LENGTH (every body but uploads' and imports'), on one route of the feature."""
    cases.around(
        f"{where} body size",
        "MAX_CONTENT_LENGTH",
        limit,
        lambda n: [later(lambda: padded_json(method, path, body, n))],
    )


def _upload(
    b: _Board,
    name: str,
    data: bytes = b"Edge attachment\n",
    content_type: str = "text/plain",
    fields: dict[str, str] | None = None,
) -> CapturedRequest:
    return multipart(b.items + "/attachments/upload", fields or {}, (name, data, content_type))


def _uploads(cases: _Cases, b: _Board, pair: Pair, settings: Settings) -> None:
    """Upload sizes and file names at their limits, odd names and content types, each followed by its download."""
    limit = settings.PAPERTRAIL_UPLOAD_MAX_BYTES
    cases.around(
        "upload size",
        "PAPERTRAIL_UPLOAD_MAX_BYTES",
        limit,
        lambda n: [later(lambda: _upload(b, "size.bin", b"s" * n, "application/octet-stream"))],
    )
    cases.add("upload of an empty file", "alice", _upload(b, "empty.txt", b""), _download())
    cases.around(
        "upload file name length",
        "FILENAME_MAX",
        FILENAME_MAX,
        lambda n: [_upload(b, marked(n - 4) + ".txt"), _download()],
    )
    cases.around(
        "upload extension length",
        "EXTENSION_MAX",
        EXTENSION_MAX,
        lambda n: [_upload(b, "b" * 200 + "." + marked(n - 1, "e", "X")), _download()],
    )
    names = (
        ("empty", ""),
        ("folders", "../../etc/passwd"),
        ("windows path", "C:\\Users\\x\\report.pdf"),
        ("hidden", ".htaccess"),
        ("accents and spaces", "naïve café.txt"),
        ("no ASCII", "日本語"),
        ("underscores only", "___"),
        ("two extensions", "a.tar.gz"),
        ("no extension", "README"),
        ("html", "page.html"),
        ("svg", "image.svg"),
    )
    for label, name in names:
        cases.add(f"upload file name {label}", "alice", _upload(b, name), _download())
    for label, declared in (
        ("declared type kept", "application/x-custom"),
        ("declared type malformed", "Bad Type!"),
        ("declared type with parameters", "Text/Plain; charset=utf-8"),
    ):
        cases.add(f"upload {label}", "alice", _upload(b, "data.unknownext", b"x", declared), _download())
    cases.add("upload png bytes that are not an image", "alice", _upload(b, "photo.png", b"not a png"), _download())
    for label, node in (
        ("existing node", b.node),
        ("missing node", "nowhere"),
        ("empty nodeId", ""),
        ("long nodeId", marked(ID_MAX + 1, "n")),
    ):
        cases.add(f"upload on {label}", "alice", _upload(b, "linked.txt", fields={"nodeId": node}), _download())
    cases.add(
        "upload without a file part", "alice", multipart(b.items + "/attachments/upload", {"nodeId": b.node}, None)
    )
    cases.add(
        "upload in the wrong part",
        "alice",
        multipart(b.items + "/attachments/upload", {}, ("x.txt", b"x", "text/plain"), field="attachment"),
    )
    cases.add("upload as JSON", "alice", json_request("POST", b.items + "/attachments/upload", {"file": "x"}))
    cases.add("upload with an empty body", "alice", raw_request("POST", b.items + "/attachments/upload", b"", None))
    wrong_board = b.board + path_of("b_missing", "attachments", "upload")
    cases.add("upload to a missing board", "alice", multipart(wrong_board, {}, ("x.txt", b"x", "text/plain")))
    for user in ("carol", "dave", None):
        cases.add(f"upload by {user or 'nobody'}", user, _upload(b, "x.txt"))
    for user in ("carol", "dave"):
        cases.add(f"download by {user}", "alice", _upload(b, "shared.txt"), login(pair, user), _download())
    cases.add("download by nobody", "alice", _upload(b, "shared.txt"), logout(), _download())
    cases.add("download under another file name", "alice", _upload(b, "right.txt"), _download(filename="wrong.txt"))
    cases.add(
        "download of a missing attachment",
        "alice",
        CapturedRequest("GET", path_of("uploads", b.project, "a_missing", "x.txt")),
    )
    cases.add(
        "export after an upload", "alice", _upload(b, "exported.txt"), CapturedRequest("GET", b.board + "/export")
    )


def _imports(cases: _Cases, b: _Board, pair: Pair, settings: Settings) -> None:
    """Import bundles hitting each check of legacy's bundle reader, on /import/validate (nothing written) and a few
    on /import; sizes around PAPERTRAIL_IMPORT_MAX_BYTES."""
    validate, do_import = b.board + "/import/validate", b.board + "/import"
    v = _Batch(cases, "import validate")

    def check(body: bytes, content_type: str | None = "application/zip") -> list[Step]:
        return [raw_request("POST", validate, body, content_type)]

    document = bundle_document(b.project)
    valid = bundle(document)
    cases.add(
        "import valid bundle",
        "alice",
        raw_request("POST", do_import, valid, "application/zip"),
        CapturedRequest("GET", b.comment_path()),
        lambda answers: _restored(answers),
    )
    v.add("valid bundle", "alice", *check(valid))
    cases.add("import valid bundle by the editor", "bob", raw_request("POST", do_import, valid, "application/zip"))
    for user in ("carol", "dave", None):
        cases.add(f"import by {user or 'nobody'}", user, raw_request("POST", do_import, valid, "application/zip"))
    v.add("bundle sent as text/plain", "alice", *check(valid, "text/plain"))
    v.add("empty body", "alice", *check(b"", None))
    v.add("not a zip", "alice", *check(b"this is not a zip file at all, just text"))
    v.add("shorter than an end record", "alice", *check(b"PK\x05\x06"))
    v.add("truncated zip", "alice", *check(valid[: len(valid) // 2]))
    v.add("zip without its end record", "alice", *check(valid[:-22]))
    v.add("bytes after the end record", "alice", *check(valid + b"trailing bytes"))
    end = valid.rfind(b"PK\x05\x06")
    locator = struct.pack("<4sLQL", b"PK\x06\x07", 0, 0, 1)
    v.add("Zip64 locator without its record", "alice", *check(valid[:end] + locator + valid[end:]))
    first_entry = valid.find(b"PK\x01\x02")
    v.add(
        "damaged central directory entry",
        "alice",
        *check(valid[:first_entry] + b"PK\x09\x09" + valid[first_entry + 4 :]),
    )
    cases.around(
        "import validate declared directory size",
        "MAX_CENTRAL_DIRECTORY",
        MAX_CENTRAL_DIRECTORY,
        lambda n: check(patched_end_record(valid, size=n)),
    )
    v.add(
        f"declared {MAX_MEMBERS + 1} entries",
        "alice",
        *check(patched_end_record(valid, entries=MAX_MEMBERS + 1)),
    )

    def members(count: int, declared: int | None = None) -> Callable[[], CapturedRequest]:
        def build() -> CapturedRequest:
            extra = [(f"m/{index}", b"") for index in range(count - 1)]
            data = zip_bytes([(BOARD_JSON, json.dumps({"nodes": []}).encode()), *extra])
            data = patched_end_record(data, entries=declared) if declared is not None else data
            return raw_request("POST", validate, data, "application/zip")

        return build

    cases.around("import validate member count", "MAX_MEMBERS", MAX_MEMBERS, lambda n: [later(members(n))])
    v.add(f"{MAX_MEMBERS + 1} members declaring 1", "alice", later(members(MAX_MEMBERS + 1, 1)))
    stored = zip_bytes([(BOARD_JSON, json.dumps(document).encode())])
    data_at = stored.find(b"{", stored.find(BOARD_JSON.encode()))
    v.add("member failing its CRC", "alice", *check(stored[:data_at] + b"[" + stored[data_at + 1 :]))
    method_at = [stored.find(b"PK\x03\x04") + 8, stored.find(b"PK\x01\x02") + 10]
    unknown_method = bytearray(stored)
    for at in method_at:
        unknown_method[at : at + 2] = struct.pack("<H", 99)
    v.add("member of an unknown compression", "alice", *check(bytes(unknown_method)))
    for label, name in (
        ("parent step", "../board.json"),
        ("inner parent step", "uploads/../../x"),
        ("absolute", "/board.json"),
        ("leading backslash", "\\board.json"),
        ("backslash", "uploads\\x.txt"),
        ("drive letter", "C:board.json"),
        ("empty name", ""),
    ):
        v.add(f"member name {label}", "alice", *check(bundle(document, (name, b"x"))))
    v.add(
        "duplicate board.json",
        "alice",
        *check(bundle(document, (BOARD_JSON, json.dumps(document).encode()))),
    )
    v.add(
        "duplicate upload member",
        "alice",
        *check(bundle(document, (member_path(ATTACHMENT_ID, ATTACHMENT_NAME), b"again"))),
    )
    v.add("folder member", "alice", *check(bundle(document, ("uploads/", b""))))
    v.add(
        "without board.json",
        "alice",
        *check(zip_bytes([(member_path(ATTACHMENT_ID, ATTACHMENT_NAME), ATTACHMENT_BYTES)])),
    )
    v.add(
        "board.json in a folder",
        "alice",
        *check(zip_bytes([("export/" + BOARD_JSON, json.dumps(document).encode())])),
    )
    for label, raw in (
        ("not JSON", b"{not json"),
        ("not UTF-8", b"\xff\xfe{}"),
        ("nested too deeply", b"[" * 100_000 + b"]" * 100_000),
        ("a list", b"[]"),
    ):
        v.add(f"board.json {label}", "alice", *check(zip_bytes([(BOARD_JSON, raw)])))
    for label, version in (("2", 2), ("'1'", "1"), ("1.0", 1.0), ("true", True), ("null", None), ("0", 0)):
        v.add(f"version {label}", "alice", *check(bundle({**document, "version": version})))
    no_version = {key: value for key, value in document.items() if key != "version"}
    v.add("version missing", "alice", *check(bundle(no_version)))
    v.add("another format", "alice", *check(bundle({**document, "format": "other-board"})))
    board = document["board"]
    for label, changed in (
        ("no board", {key: value for key, value in document.items() if key != "board"}),
        ("board a list", {**document, "board": []}),
        ("board without nodes", {**document, "board": {"title": "x"}}),
        ("bare snapshot", {"title": "Bare", "nodes": [{"id": "x", "x": 1.5}], "edges": []}),
        ("bare snapshot bad node", {"nodes": [{"id": "x", "x": "1"}]}),
        ("title a number", {**document, "board": {**board, "title": 5}}),
        ("title null", {**document, "board": {**board, "title": None}}),
        ("node x a string", {**document, "board": {**board, "nodes": [{"id": "n1", "x": "1"}]}}),
        ("node id a slash", {**document, "board": {**board, "nodes": [{"id": "n/1"}]}}),
        (
            "dangling edge and unknown type",
            {
                **document,
                "board": {
                    **board,
                    "nodes": [{"id": "n1", "type": "diagram"}, {"id": "n2"}],
                    "edges": [{"id": "e", "source": "n1", "target": "zz"}],
                },
            },
        ),
        ("comments not a list", {**document, "comments": "x"}),
        ("comment not an object", {**document, "comments": [5]}),
        ("comment body empty", {**document, "comments": [{"body": "  "}]}),
        ("comment on a missing node", {**document, "comments": [{"body": "x", "nodeId": "zz"}]}),
        ("attachments not a list", {**document, "attachments": {}}),
        ("attachment not an object", {**document, "attachments": ["x"]}),
        ("attachment without id", {**document, "attachments": [{"filename": ATTACHMENT_NAME}]}),
        ("attachment on a missing node", {**document, "attachments": [{**document["attachments"][0], "nodeId": "zz"}]}),
        (
            "attachment unsafe file name",
            {
                **document,
                "attachments": [
                    {
                        **document["attachments"][0],
                        "filename": "../../" + ATTACHMENT_NAME,
                        "path": member_path(ATTACHMENT_ID, ATTACHMENT_NAME),
                    }
                ],
            },
        ),
    ):
        v.add(f"{label}", "alice", *check(bundle(changed)))
    cases.around(
        "import validate board title length",
        "BOARD_TITLE_MAX@import",
        BOARD_TITLE_MAX,
        lambda n: check(bundle({**document, "board": {**board, "title": marked(n)}})),
    )
    cases.around(
        "import validate comment body length",
        "COMMENT_MAX@import",
        COMMENT_MAX,
        lambda n: check(bundle({**document, "comments": [{"body": marked(n)}]})),
    )
    v.add("referenced upload missing", "alice", *check(bundle(document, attachment=False)))
    v.add(
        "upload nobody references",
        "alice",
        *check(bundle(document, ("uploads/a_other/extra.txt", b"extra"))),
    )
    author = pair.seed.users["bob"].id
    authored = {**document, "comments": [{"body": "By bob", "authorId": author}, {"body": "By ?", "authorId": "u_x"}]}
    cases.add(
        "import comment authors",
        "alice",
        raw_request("POST", do_import, bundle(authored), "application/zip"),
        CapturedRequest("GET", b.comment_path()),
    )
    snapshot = {"title": "From JSON", "nodes": [{"id": "j1"}], "attachments": document["attachments"]}
    v.add("JSON body", "alice", *check(json.dumps(snapshot).encode(), JSON))
    v.add("JSON body not an object", "alice", *check(b"[1, 2]", JSON))
    form = multipart(validate, {}, ("board.zip", valid, "application/zip"))
    v.add("multipart zip", "alice", form)
    v.add(
        "multipart JSON by name",
        "alice",
        multipart(validate, {}, ("board.json", json.dumps(snapshot).encode(), "application/octet-stream")),
    )
    v.add("multipart without a file", "alice", multipart(validate, {"x": "y"}, None))
    v.flush()
    _import_sizes(cases, validate, document, settings.PAPERTRAIL_IMPORT_MAX_BYTES)


def _import_sizes(cases: _Cases, validate: str, document: dict[str, Any], limit: int) -> None:
    """The import limit on the body (zip, JSON, multipart file) and on what a zip unpacks to."""
    members = [
        (BOARD_JSON, json.dumps(document).encode()),
        (member_path(ATTACHMENT_ID, ATTACHMENT_NAME), ATTACHMENT_BYTES),
    ]
    cases.around(
        "import body size",
        "PAPERTRAIL_IMPORT_MAX_BYTES",
        limit,
        lambda n: [later(lambda: raw_request("POST", validate, sized_zip(members, n), "application/zip"))],
    )

    def unpacking(n: int) -> CapturedRequest:
        # One deflated member of zeros makes the archive unpack to exactly n bytes while it stays small.
        filler = n - sum(len(data) for _, data in members)
        return raw_request(
            "POST", validate, zip_bytes([*members, ("zeros.bin", b"\0" * filler)], deflate=True), "application/zip"
        )

    cases.around(
        "import unpacked size", "PAPERTRAIL_IMPORT_MAX_BYTES@unpacked", limit, lambda n: [later(lambda: unpacking(n))]
    )

    cases.around(
        "import JSON body size",
        "PAPERTRAIL_IMPORT_MAX_BYTES@json",
        limit,
        lambda n: [later(lambda: padded_json("POST", validate, {"nodes": [{"id": "padded"}]}, n))],
    )
    cases.add(
        f"import multipart file {limit + 1} (PAPERTRAIL_IMPORT_MAX_BYTES+1)",
        "alice",
        later(lambda: multipart(validate, {}, ("big.zip", sized_zip(members, limit + 1), "application/zip"))),
    )


def _restored(answers: list[CapturedResponse]) -> CapturedRequest | None:
    """GET of the first imported node's link, which the import rewrote to the restored attachment's URL."""
    nodes = answered(0, "board", "nodes")(answers)
    url = nodes[0].get("url") if isinstance(nodes, list) and nodes and isinstance(nodes[0], dict) else None
    return CapturedRequest("GET", path_of(*url.split("/"))) if isinstance(url, str) and url else None


def _papertrail_resources(cases: _Cases, b: _Board, pair: Pair) -> None:
    """Existing and missing boards, items, comments and projects, by the callers whose role decides."""
    for user in ("alice", "bob", "carol", "dave", None):
        cases.add(f"board read by {user or 'nobody'}", user, CapturedRequest("GET", b.board))
    other = pair.seed.projects["blog"]["id"]
    for label, project in (("the blog project", other), ("a missing project", "p_missing")):
        cases.add(
            f"board of {label}",
            "alice",
            CapturedRequest("GET", path_of("api", "projects", project, "papertrail", "board")),
        )
    for user in ("carol", "dave", None):
        cases.add(f"export by {user or 'nobody'}", user, CapturedRequest("GET", b.board + "/export"))
    cases.add("node read by the viewer", "carol", CapturedRequest("GET", b.node_path(b.node)))
    cases.add("node read by a stranger", "dave", CapturedRequest("GET", b.node_path(b.node)))
    cases.add("missing node read", "carol", CapturedRequest("GET", b.node_path("nowhere")))
    cases.add(
        "node on a missing board", "alice", CapturedRequest("GET", b.board + path_of("b_missing", "nodes", b.node))
    )
    cases.add(
        "edges and nodes listed", "carol", CapturedRequest("GET", b.edge_path()), CapturedRequest("GET", b.node_path())
    )
    cases.add("edge read", "carol", CapturedRequest("GET", b.edge_path(b.edge)))
    cases.add("missing edge read", "carol", CapturedRequest("GET", b.edge_path("nowhere")))
    for label, query in (
        ("of a node", f"nodeId={b.node}"),
        ("of a missing node", "nodeId=nowhere"),
        ("empty nodeId", "nodeId="),
    ):
        cases.add(f"comments {label}", "carol", CapturedRequest("GET", b.comment_path(), query=query))
    cases.add("node patched by the viewer", "carol", json_request("PATCH", b.node_path(b.node), {"title": "No"}))
    cases.add(
        "node deleted by the editor",
        "bob",
        CapturedRequest("DELETE", b.node_path(b.node)),
        CapturedRequest("GET", b.edge_path()),
        CapturedRequest("GET", b.comment_path()),
    )
    cases.add(
        "edge deleted", "bob", CapturedRequest("DELETE", b.edge_path(b.edge)), CapturedRequest("GET", b.edge_path())
    )
    for kind, path in (
        ("node", b.node_path("nowhere")),
        ("edge", b.edge_path("nowhere")),
        ("comment", b.comment_path("c_missing")),
    ):
        cases.add(f"missing {kind} deleted", "alice", CapturedRequest("DELETE", path))
    for user in ("alice", "bob", "carol", "dave"):
        cases.add(
            f"comment edited by {user}", user, json_request("PATCH", b.comment_path(b.comment), {"body": "Edited"})
        )
    cases.add(
        "comment deleted by the owner",
        "alice",
        CapturedRequest("DELETE", b.comment_path(b.comment)),
        CapturedRequest("GET", b.comment_path()),
    )
    cases.add("comment deleted by the viewer", "carol", CapturedRequest("DELETE", b.comment_path(b.comment)))
    cases.add("board deleted by the editor", "bob", CapturedRequest("DELETE", b.board))
    cases.add(
        "board deleted by the owner",
        "alice",
        CapturedRequest("DELETE", b.board),
        CapturedRequest("GET", b.node_path(b.node)),
        CapturedRequest("GET", b.board),
    )
    for label, path in (("blog project", pair.seed.projects["blog"]["id"]), ("missing project", "p_missing")):
        cases.add(
            f"download from the {label}", "alice", CapturedRequest("GET", path_of("uploads", path, "a_x", "x.txt"))
        )
    cases.add(
        "download by nobody without an upload",
        None,
        CapturedRequest("GET", path_of("uploads", b.project, "a_x", "x.txt")),
    )


# --- Blog ---


def _new_blog_project(name: str = "Edge blog") -> CapturedRequest:
    return json_request("POST", "/api/projects", {"name": name, "type": "blog"})


def _in_new_project(
    method: str, tail: Sequence[str], body: Any = None, raw: bytes | None = None, content_type: str | None = JSON
) -> Step:
    """A request to the project the case's first answer created (raw bytes, or `body` as JSON)."""

    def build(answers: list[CapturedResponse]) -> CapturedRequest | None:
        project = answered(0, "id")(answers)
        if not isinstance(project, str):
            return None
        path = path_of("api", "projects", project, *tail)
        if raw is not None:
            return raw_request(method, path, raw, content_type)
        return json_request(method, path, body) if body is not None else CapturedRequest(method, path)

    return build


def _blog_cases(cases: _Cases, pair: Pair, settings: Settings) -> None:
    blog = pair.seed.projects["blog"]
    posts = path_of("api", "projects", blog["id"], "blog", "post")
    existing = blog["files"][0]
    _post_caps(cases, posts, existing, settings)
    _post_values(cases, posts, existing)
    patch = posts + path_of(existing)
    _body_limit(cases, "PATCH", patch, {"title": "Padded"}, settings.MAX_CONTENT_LENGTH, "post patch")
    _configure_cases(cases, pair)
    _blog_resources(cases, pair, posts, existing)


def _post_caps(cases: _Cases, posts: str, existing: str, settings: Settings) -> None:
    """The caps of CreatePostBody (read off legacy's model), file names, slugs and the excerpt."""
    post = {"title": "Edge post", "body": "Edge body"}

    def create(**fields: Any) -> list[Step]:
        return [json_request("POST", posts, {**post, **fields})]

    title_max = model_limit(CreatePostBody, "title")
    cases.around("post title length", "CreatePostBody.title", title_max, lambda n: create(title=marked(n)))
    cases.around(
        "patched post title length",
        "CreatePostBody.title@patch",
        title_max,
        lambda n: [json_request("PATCH", posts + path_of(existing), {"title": marked(n)})],
    )
    cases.around(
        "post title blank length",
        "CreatePostBody.title@min",
        model_limit(CreatePostBody, "title", "min_length"),
        lambda n: create(title=" " + "t" * n + " "),
        lower=True,
    )
    cases.around(
        "post description length",
        "CreatePostBody.description",
        model_limit(CreatePostBody, "description"),
        lambda n: create(description=marked(n)),
    )
    cases.around(
        "post tag length",
        "CreatePostBody.tags[]",
        model_limit(CreatePostBody, "tags", item=True),
        lambda n: create(tags=[marked(n)]),
    )
    cases.around(
        "post tag count",
        "CreatePostBody.tags",
        model_limit(CreatePostBody, "tags"),
        lambda n: create(tags=[f"tag{index}" for index in range(n)]),
    )
    # A valid date-time of any length from 10 characters up: more digits of a second's fraction.
    cases.around(
        "post pubDate length",
        "CreatePostBody.pubDate",
        model_limit(CreatePostBody, "pub_date"),
        lambda n: create(pubDate="2026-01-31T09:30:00." + "0" * (n - 26) + "+00:00"),
    )
    cases.around(
        "post pubDate short",
        "CreatePostBody.pubDate@min",
        model_limit(CreatePostBody, "pub_date", "min_length"),
        lambda n: create(pubDate="2026-01-31"[:n] if n <= 10 else "2026-01-31Z"),
        lower=True,
    )
    body_max = model_limit(CreatePostBody, "body")
    if body_max + 1000 < settings.MAX_CONTENT_LENGTH:  # else the body limit answers first: nothing to straddle
        cases.around(
            "post body length",
            "CreatePostBody.body",
            body_max,
            lambda n: [later(lambda: json_request("POST", posts, {**post, "body": marked(n)}))],
        )
    cases.around(
        "post file name length",
        "FILE_NAME_MAX",
        FILE_NAME_MAX,
        lambda n: create(file=marked(n - len(SUFFIX), "f") + SUFFIX),
    )
    cases.around(
        "post file name length before the suffix",
        "FILE_NAME_MAX@suffixed",
        FILE_NAME_MAX - len(SUFFIX),
        lambda n: create(file=marked(n, "f")),
    )
    cases.around(
        "post file field length",
        "CreatePostBody.file",
        model_limit(CreatePostBody, "file"),
        lambda n: create(file=marked(n - len(SUFFIX), "f") + SUFFIX),
    )
    cases.around(
        "post read name length",
        "FILE_NAME_MAX@path",
        FILE_NAME_MAX,
        lambda n: [CapturedRequest("GET", posts + path_of(marked(n - len(SUFFIX), "f") + SUFFIX))],
    )
    cases.around("post slug length", "SLUG_MAX", SLUG_MAX, lambda n: create(title=marked(n, "s", "z")))
    cases.add("post slug cut at a dash", "alice", *create(title="s" * (SLUG_MAX - 1) + " tail"))
    cases.around(
        "post excerpt length",
        "EXCERPT_LENGTH",
        EXCERPT_LENGTH,
        lambda n: [*create(body=marked(n, "w", "Q")), CapturedRequest("GET", posts + "/all")],
    )


def _post_values(cases: _Cases, posts: str, existing: str) -> None:
    """Type boundaries, normalised names and every body shape of the post operations."""
    post = {"title": "Edge post", "body": "Edge body"}

    def create(**fields: Any) -> list[Step]:
        return [json_request("POST", posts, {**post, **fields})]

    batch = _Batch(cases, "post values")
    checks: tuple[tuple[str, dict[str, Any]], ...] = (
        ("title a number", {"title": 5}),
        ("title null", {"title": None}),
        ("title true", {"title": True}),
        ("title without ASCII", {"title": "日本語"}),
        ("title with accents", {"title": "Déjà vu"}),
        ("body missing", {"body": None}),
        ("body a number", {"body": 5}),
        ("body lone surrogate", {"body": "\ud800"}),
        ("draft yes", {"draft": "yes"}),
        ("draft 1", {"draft": 1}),
        ("draft 2", {"draft": 2}),
        ("draft 'true'", {"draft": "true"}),
        ("draft null", {"draft": None}),
        ("draft true", {"draft": True}),
        ("tags a string", {"tags": "news"}),
        ("tags with a number", {"tags": ["a", 1]}),
        ("tags with null", {"tags": ["a", None]}),
        ("tags blank", {"tags": ["  "]}),
        ("pubDate a number", {"pubDate": 20260131}),
        ("pubDate not a day", {"pubDate": "2026-02-30"}),
        ("pubDate date-time", {"pubDate": "2026-01-31T09:30:00Z"}),
        ("pubDate padded", {"pubDate": "  2026-01-31  "}),
        ("description null", {"description": None}),
        ("description a list", {"description": ["x"]}),
        ("file empty", {"file": ""}),
        ("file blank", {"file": "   "}),
        ("file a number", {"file": 5}),
        ("file with a slash", {"file": "a/b.md"}),
        ("file hidden", {"file": ".hidden"}),
        ("file with dot dot", {"file": "a..b"}),
        ("file upper-case suffix", {"file": "Upper.MD"}),
        ("file double suffix", {"file": "twice.md.md"}),
        ("file taken", {"file": existing}),
    )
    for index, (label, fields) in enumerate(checks):
        # Each its own title: a check that creates its post must not make the next one a 409.
        batch.add(label, "alice", *create(**{"title": f"Edge post {index}", **fields}))
    batch.flush()
    cases.add("post title taken twice", "alice", *create(title="Twice"), *create(title="Twice"))
    update = posts + path_of(existing)
    for label, fields in (
        ("renamed", {"file": "renamed-edge"}),
        ("renamed onto another post", {"file": existing}),
        ("draft", {"draft": True}),
        ("description null only", {"description": None}),
    ):
        cases.add(
            f"post patched {label}",
            "alice",
            json_request("PATCH", update, fields),
            CapturedRequest("GET", posts + "/all"),
        )
    for method, path, kind in (("POST", posts, "new post"), ("PATCH", update, "post")):
        batch = _Batch(cases, f"{method} {kind} body")
        for label, content_type, body in WRONG_BODIES:
            batch.add(label, "alice", raw_request(method, path, body, content_type))
        batch.flush()
    cases.add("POST new post: JSON null", "alice", raw_request("POST", posts, b"null", JSON))
    cases.add("PATCH post: invalid JSON", "alice", raw_request("PATCH", update, b"{", JSON))


def _configure_cases(cases: _Cases, pair: Pair) -> None:
    """PATCH /configure of a new blog project: ConfigureBody's caps, with a remote that cannot be cloned (so the
    case stays on this machine and fast), and every body shape; one real configuration of the shared remote."""
    missing_remote = os.path.join(remotes_root(pair), "no-such-remote")
    config = {
        "repoUrl": missing_remote,
        "branch": "main",
        "contentDir": "src/content/blog",
        "gitUserName": "Edge Bot",
        "gitUserEmail": "edge@example.test",
    }

    def configure(**fields: Any) -> list[Step]:
        return [_new_blog_project(), _in_new_project("PATCH", ["configure"], {**config, **fields})]

    caps: dict[str, Callable[[int], str]] = {
        "repoUrl": lambda n: path_of_length(missing_remote, n),
        "branch": lambda n: marked(n, "b", "z"),
        "contentDir": lambda n: marked(n, "c", "z"),
        "gitUserName": lambda n: marked(n, "g", "z"),
        "gitUserEmail": lambda n: "e" * (n - len("@example.test")) + "@example.test",
        "gitAuthToken": lambda n: marked(n, "t", "z"),
    }
    fields = {info.alias or name: name for name, info in ConfigureBody.model_fields.items()}

    def configured(key: str) -> Callable[[int], list[Step]]:
        return lambda n: configure(**{key: caps[key](n)})

    for key in caps:
        limit = model_limit(ConfigureBody, fields[key])
        cases.around(f"configure {key} length", f"ConfigureBody.{key}", limit, configured(key))
    cases.around(
        "configure gitUserEmail short",
        "ConfigureBody.gitUserEmail@min",
        model_limit(ConfigureBody, "git_user_email", "min_length"),
        lambda n: configure(gitUserEmail=("a@b" + "c" * n)[:n]),
        lower=True,
    )
    refused: tuple[tuple[str, dict[str, Any]], ...] = (
        ("repoUrl a number", {"repoUrl": 5}),
        ("repoUrl null", {"repoUrl": None}),
        ("repoUrl with a space", {"repoUrl": missing_remote + " x"}),
        ("repoUrl option", {"repoUrl": "-uhack"}),
        ("repoUrl with credentials", {"repoUrl": "https://user:pw@example.test/r.git"}),
        ("repoUrl outside the remotes folder", {"repoUrl": "/nonexistent/remote"}),
        ("repoUrl network", {"repoUrl": "https://example.test/r.git"}),
        ("branch with dot dot", {"branch": "a..b"}),
        ("branch ending .lock", {"branch": "main.lock"}),
        ("contentDir parent", {"contentDir": "../x"}),
        ("contentDir .git", {"contentDir": ".git/x"}),
        ("gitUserEmail without at", {"gitUserEmail": "nobody"}),
        ("gitUserName with angle", {"gitUserName": "a<b"}),
        ("snake_case names", {"repo_url": missing_remote}),
        ("missing branch", {"branch": "no-such-branch"}),
    )
    for start in range(0, len(refused), 3):  # none configures the project: three tries on one new project
        chunk = refused[start : start + 3]
        steps = [_in_new_project("PATCH", ["configure"], {**config, **change}) for _, change in chunk]
        cases.add(f"configure refused: {'; '.join(label for label, _ in chunk)}", "alice", _new_blog_project(), *steps)
    for label, content_type, body in WRONG_BODIES:
        cases.add(
            f"configure: {label}",
            "alice",
            _new_blog_project(),
            _in_new_project("PATCH", ["configure"], raw=body, content_type=content_type),
        )
    real = {**config, "repoUrl": pair.seed.remote_url}
    cases.add(
        "configure the shared remote",
        "alice",
        _new_blog_project(),
        _in_new_project("PATCH", ["configure"], real),
        _in_new_project("GET", ["blog", "post", "all"]),
    )
    cases.add(
        "unconfigured blog",
        "alice",
        _new_blog_project(),
        _in_new_project("GET", ["configure"]),
        _in_new_project("GET", ["blog", "post", "all"]),
        _in_new_project("POST", ["blog", "pull"]),
    )
    seeded = path_of("api", "projects", pair.seed.projects["blog"]["id"], "configure")
    cases.add("configure twice", "alice", json_request("PATCH", seeded, real))
    cases.add("configure by the editor", "bob", json_request("PATCH", seeded, real))
    cases.add("configuration read by the viewer", "carol", CapturedRequest("GET", seeded))


def _blog_resources(cases: _Cases, pair: Pair, posts: str, existing: str) -> None:
    """Existing, missing and oddly named posts and projects, by the callers whose role decides."""
    post = posts + path_of(existing)
    for user in ("alice", "carol", "dave", None):
        cases.add(f"post read by {user or 'nobody'}", user, CapturedRequest("GET", post))
        cases.add(f"posts listed by {user or 'nobody'}", user, CapturedRequest("GET", posts + "/all"))
    batch = _Batch(cases, "post read")
    for label, name in (
        ("missing", "no-such-post.md"),
        ("without suffix", existing.removesuffix(SUFFIX)),
        ("all.md", "all.md"),
        ("hidden", ".git"),
        ("dot dot", "a..b"),
        ("slash", "a/b"),
        ("backslash", "a\\b"),
        ("control", "a\x01b"),
        ("upper-case suffix", existing.removesuffix(SUFFIX) + ".MD"),
        ("non-ASCII", "ünï"),
        ("question mark", "what?.md"),
        ("percent", "100%.md"),
        ("spaces", " padded .md"),
    ):
        batch.add(label, "carol", CapturedRequest("GET", posts + path_of(name)))
    batch.add("with a leading slash", "carol", CapturedRequest("GET", posts + "//" + existing))
    batch.flush()
    papertrail = pair.seed.projects["papertrail"]["id"]
    for label, project in (("the PaperTrail project", papertrail), ("a missing project", "p_missing")):
        cases.add(
            f"posts of {label}",
            "alice",
            CapturedRequest("GET", path_of("api", "projects", project, "blog", "post", "all")),
        )
    for user in ("carol", "dave", None):
        who = user or "nobody"
        cases.add(f"post created by {who}", user, json_request("POST", posts, {"title": "No", "body": "x"}))
        cases.add(f"post deleted by {who}", user, CapturedRequest("DELETE", post))
        cases.add(f"post published by {who}", user, CapturedRequest("POST", post))
    cases.add("post patched by the viewer", "carol", json_request("PATCH", post, {"title": "No"}))
    cases.add(
        "pull by the viewer",
        "carol",
        CapturedRequest("POST", path_of("api", "projects", pair.seed.projects["blog"]["id"], "blog", "pull")),
    )
    cases.add(
        "pull by the editor",
        "bob",
        CapturedRequest("POST", path_of("api", "projects", pair.seed.projects["blog"]["id"], "blog", "pull")),
    )
    cases.add("unchanged post published", "bob", CapturedRequest("POST", post))
    cases.add(
        "new post published",
        "bob",
        json_request("POST", posts, {"title": "Fresh", "body": "New"}),
        CapturedRequest("POST", posts + path_of("fresh.md")),
        CapturedRequest("GET", posts + "/all"),
    )
    cases.add("missing post published", "bob", CapturedRequest("POST", posts + path_of("no-such-post.md")))
    cases.add("post deleted", "bob", CapturedRequest("DELETE", post), CapturedRequest("GET", post))
    cases.add("missing post deleted", "bob", CapturedRequest("DELETE", posts + path_of("no-such-post.md")))
    cases.add(
        "unpublished post deleted",
        "bob",
        json_request("POST", posts, {"title": "Brief", "body": "x"}),
        CapturedRequest("DELETE", posts + path_of("brief.md")),
    )
    cases.add(
        "renamed post published",
        "bob",
        json_request("PATCH", post, {"file": "moved"}),
        CapturedRequest("POST", posts + path_of("moved.md")),
        CapturedRequest("GET", post),
    )


__all__ = ["FEATURES", "EdgeCase", "Step", "edge_cases", "next_request", "straddles"]
