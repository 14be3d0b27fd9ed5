"""Building blocks of the edge cases: `EdgeCase` and its steps, the `Cases` collector, exact request builders,
the length bounds legacy's pydantic models declare, and zip bundles built byte for byte.

The feature modules (`edges_papertrail`, `edges_bundles`, `edges_blog`) build their cases from these; this module
imports none of them.
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
from legacy_core.papertrail.bundle import BOARD_JSON, BUNDLE_FORMAT, BUNDLE_VERSION, member_path
from parity_tests.pair import Pair, body_json

Step = CapturedRequest | Callable[[list[CapturedResponse]], CapturedRequest | None]
# Steps of one case: most are 1 to 4; a sequence that sets up a second blog on the same remote needs up to 7.
MAX_STEPS = 7
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
    """One deterministic case: who sends it, and 1 to MAX_STEPS steps; `limit`/`offset` say which legacy limit it probes
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


class Cases:
    """The cases of one feature as they are added; a repeated source is a bug in the module adding it."""

    def __init__(self, feature: str):
        self.feature = feature
        self.items: list[EdgeCase] = []
        self.sources: set[str] = set()

    def add(self, what: str, user: str | None, *steps: Step, limit: str | None = None, offset: int = 0) -> None:
        source = f"edge:{what}"
        if source in self.sources:
            raise AssertionError(f"{self.feature}: two edge cases named {source!r}")
        if not 1 <= len(steps) <= MAX_STEPS:
            raise AssertionError(f"{self.feature}: {source!r} has {len(steps)} steps, not 1 to {MAX_STEPS}")
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


class Batch:
    """Checks of one step each that leave the state alone, sent four to a case (each named in the source), so
    the list stays short without losing one: `add` has the signature of `Cases.add`."""

    def __init__(self, cases: Cases, prefix: str):
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


def padded_json(method: str, path: str, body: Any, length: int) -> CapturedRequest:
    """`body` as JSON followed by blanks up to exactly `length` bytes (still valid JSON, cheap to parse)."""
    text = json.dumps(body).encode()
    return raw_request(method, path, text + b" " * (length - len(text)), JSON)


def body_limit(cases: Cases, method: str, path: str, body: Any, limit: int, where: str) -> None:
    """MAX_CONTENT_LENGTH (every body but uploads' and imports'), on one route of the feature."""
    cases.around(
        f"{where} body size",
        "MAX_CONTENT_LENGTH",
        limit,
        lambda n: [later(lambda: padded_json(method, path, body, n))],
    )


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


def remotes_root(pair: Pair) -> str:
    """The folder the harness allows local blog remotes in (the shared remote URL lives there)."""
    return os.path.dirname(pair.seed.remote_url)
