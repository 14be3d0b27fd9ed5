"""Board bundles: the export document (board.json) and reading a bundle back, checked whole, without side effects.

A bundle is a zip holding `board.json` and `uploads/<attachmentId>/<file>` members, or, for a JSON import, just the
document (or a bare `{title?, nodes, edges}` snapshot). Reading normalises the board with the same rules as every
save; an id that could not be addressed by its URL fails the whole bundle (ids are never rewritten: comments,
attachments and node links refer to them). Nothing touches disk or the database here, so a refused bundle changed
nothing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import reduce
from typing import Any

from . import rules
from .archive import ArchiveError, read_members
from .filenames import content_type_for, safe_name

BOARD_JSON = "board.json"
FORMAT = "papertrail-board"
VERSION = 1
COMMENT_MAX = 10000
# Node fields that may hold links to the source project's uploads, rewritten to the restored copies on import.
LINK_FIELDS = ("url", "imageUrl", "html", "descHtml", "text")


class BundleError(ValueError):
    """Why a bundle is refused: the HTTP status to answer (400 malformed, 413 too big), the message, maybe details."""

    def __init__(self, message: str, *, status: int = 400, details: list[dict[str, str]] | None = None):
        super().__init__(message)
        self.status, self.details, self.message = status, details, message


@dataclass(frozen=True)
class IncomingComment:
    body: str
    node_id: str | None
    author_id: str | None
    created_at: datetime | None
    updated_at: datetime | None


@dataclass(frozen=True)
class IncomingFile:
    data: bytes
    filename: str
    content_type: str
    node_id: str | None
    source_id: str
    source_filename: str
    created_at: datetime | None


@dataclass(frozen=True)
class Bundle:
    """A bundle read and normalised, ready to replace a board's content."""

    title: str | None
    board: rules.Snapshot
    comments: list[IncomingComment]
    files: list[IncomingFile]
    source_project_id: str | None
    warnings: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """What an import would bring (the `summary` of the validate and import answers)."""
        nodes, edges = self.board.nodes, self.board.edges
        tag_names: set[str] = set().union(*(item["tags"] for item in nodes))
        counts = {
            "nodes": len(nodes),
            "edges": len(edges),
            "comments": len(self.comments),
            "attachments": len(self.files),
            "tags": len(tag_names),
        }
        upload_bytes = sum(len(item.data) for item in self.files)
        return {"title": self.title, **counts, "uploadBytes": upload_bytes, "droppedEdges": self.board.dropped_edges}


def member_name(attachment_id: str, filename: str) -> str:
    """Where an attachment's bytes sit inside a bundle."""
    return f"uploads/{attachment_id}/{filename}"


def export_document(
    board: Mapping[str, Any], comments: list[dict[str, Any]], files: list[dict[str, Any]], exported_at: str | None
) -> dict[str, Any]:
    """board.json: the board's API document cut to its content, its comments and its attachments with their paths."""
    content_keys = ("id", "projectId", "title", "nodes", "edges", "createdAt", "updatedAt")
    return {
        "format": FORMAT,
        "version": VERSION,
        "exportedAt": exported_at,
        "project": board["project"],
        "board": {key: board[key] for key in content_keys},
        "comments": comments,
        "attachments": [{**item, "path": member_name(item["id"], item["filename"])} for item in files],
    }


def document_bytes(document: Mapping[str, Any]) -> bytes:
    """board.json as stored in the zip: indented, UTF-8, non-ASCII kept as is."""
    return json.dumps(document, ensure_ascii=False, indent=2).encode("utf-8")


def parse_json(data: bytes, what: str) -> Any:
    """`data` decoded as UTF-8 JSON; a 400 naming `what` otherwise."""
    try:
        return json.loads(data.decode("utf-8"))
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise BundleError(f"{what} is not valid JSON: {exc}") from exc


def read_zip(data: bytes, max_unpacked: int) -> tuple[Any, dict[str, bytes]]:
    """The parsed board.json of a zip bundle and its other members."""
    try:
        members = read_members(data, max_unpacked)
    except ArchiveError as exc:
        raise BundleError(exc.message, status=exc.status) from exc
    document = members.pop(BOARD_JSON, None)
    if document is None:
        raise BundleError(f"Bundle has no {BOARD_JSON} at its top level")
    return parse_json(document, BOARD_JSON), members


def moment(value: Any) -> datetime | None:
    """An ISO 8601 timestamp of the bundle (UTC when it names no zone), or None when absent or unreadable."""
    if isinstance(value, str):
        with suppress(ValueError):
            parsed = datetime.fromisoformat(value)
            return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed
    return None


def _as_list(value: Any, name: str) -> list[Any]:
    """`value` when it is a list, [] for null; any other JSON value is refused."""
    if isinstance(value, list):
        return value
    if value is not None:
        raise BundleError(f"'{name}' must be a list, not {type(value).__name__}")
    return []


def _link(value: Any, node_ids: set[str]) -> tuple[str | None, bool]:
    """The node a comment or attachment hangs on, if the bundle has it, and whether a reference had to be cut."""
    kept = value if isinstance(value, str) and value in node_ids else None
    return kept, value is not None and kept is None


def _one_comment(position: int, raw: Any, node_ids: set[str]) -> tuple[IncomingComment, bool]:
    if not isinstance(raw, dict):
        raise BundleError(f"comments.{position} must be an object")
    text = raw.get("body")
    body = rules.scrub(text).strip() if isinstance(text, str) else ""
    if not 0 < len(body) <= COMMENT_MAX:
        raise BundleError(f"comments.{position}.body must be a non-empty string of at most {COMMENT_MAX} characters")
    node_id, cut = _link(raw.get("nodeId"), node_ids)
    author = raw.get("authorId")
    comment = IncomingComment(
        body=body,
        node_id=node_id,
        author_id=author if isinstance(author, str) else None,
        created_at=moment(raw.get("createdAt")),
        updated_at=moment(raw.get("updatedAt")),
    )
    return comment, cut


def _comments(raw: Any, node_ids: set[str], warnings: list[str]) -> list[IncomingComment]:
    read = [_one_comment(position, item, node_ids) for position, item in enumerate(_as_list(raw, "comments"))]
    cut = sum(flag for _, flag in read)
    if cut:
        warnings.append(f"{cut} comment(s) referred to a missing node and were kept without one")
    return [comment for comment, _ in read]


def _filled(value: Any) -> str | None:
    """`value` if it is a non-empty string."""
    return value if isinstance(value, str) and value else None


def _one_file(position: int, raw: Any, members: dict[str, bytes], node_ids: set[str]) -> tuple[IncomingFile, str, bool]:
    """One listed attachment with its bytes, the member they came from, and whether its node reference was cut."""
    if not isinstance(raw, dict):
        raise BundleError(f"attachments.{position} must be an object")
    source_id, original = _filled(raw.get("id")), _filled(raw.get("filename"))
    if source_id is None or original is None:
        raise BundleError(f"attachments.{position} needs a string 'id' and 'filename'")
    location = raw.get("path") or member_name(source_id, original)
    if not isinstance(location, str) or location not in members:
        raise BundleError(f"Bundle lacks the file {location!r} of attachment {source_id!r}")
    node_id, cut = _link(raw.get("nodeId"), node_ids)
    filename = safe_name(original)
    claimed_type = raw.get("contentType")
    incoming = IncomingFile(
        data=members[location],
        filename=filename,
        content_type=content_type_for(filename, claimed_type if isinstance(claimed_type, str) else None),
        node_id=node_id,
        source_id=source_id,
        source_filename=original,
        created_at=moment(raw.get("createdAt")),
    )
    return incoming, location, cut


def _files(raw: Any, members: dict[str, bytes] | None, node_ids: set[str], warnings: list[str]) -> list[IncomingFile]:
    listed = _as_list(raw, "attachments")
    if members is None:  # a JSON import: there is nowhere the bytes could come from
        if listed:
            warnings.append(f"{len(listed)} attachment(s) skipped: a JSON import carries no files; import the zip")
        return []
    read = [_one_file(position, item, members, node_ids) for position, item in enumerate(listed)]
    cut = sum(flag for _, _, flag in read)
    if cut:
        warnings.append(f"{cut} attachment(s) referred to a missing node and were kept without one")
    orphans = members.keys() - {location for _, location, _ in read}
    if orphans:
        warnings.append(f"{len(orphans)} file(s) in the bundle belong to no attachment and were ignored")
    return [incoming for incoming, _, _ in read]


def _board_of(document: Any) -> tuple[dict[str, Any], str]:
    """The board object of a bundle document and the prefix of its error fields ("" for a bare snapshot)."""
    if not isinstance(document, dict):
        raise BundleError(f"{BOARD_JSON} must hold a JSON object, not {type(document).__name__}")
    version = document.get("version", VERSION)
    if version != VERSION:  # deliberately `!=`: 1.0 and true equal 1, and legacy lets them through
        raise BundleError(f"Bundle version {version!r} is not supported; this server reads version {VERSION}")
    if "board" not in document:
        board: Any = document
    else:
        board = document["board"]
    if isinstance(board, dict) and "nodes" in board:
        return board, ("" if board is document else "board.")
    raise BundleError("Bundle holds no board: expected a 'board' object or a snapshot with a 'nodes' list")


def _source_project(document: dict[str, Any], board: dict[str, Any]) -> str | None:
    """The id of the project the bundle was exported from, when it names one."""
    project = document.get("project")
    found = project.get("id") if isinstance(project, dict) else board.get("projectId")
    return found if isinstance(found, str) and found != "" else None


def read_document(
    document: Any, members: dict[str, bytes] | None, node_id: rules.NewId, edge_id: rules.NewId
) -> Bundle:
    """Check and normalise a board.json or a bare snapshot; `members` is None for a JSON import."""
    board, prefix = _board_of(document)
    raw_title = board.get("title")
    try:
        title = None if raw_title is None else rules.board_title(raw_title, f"{prefix}title")
        content = rules.snapshot(board["nodes"], board.get("edges"), node_id, edge_id, prefix)
    except rules.BoardDataError as exc:
        raise BundleError("Invalid board data", details=exc.details()) from exc
    notes = (
        (content.dropped_edges, "edge(s) dropped: their source or target is not a node"),
        (content.retyped_nodes, "node(s) of unknown type imported as 'text'"),
    )
    warnings = [f"{count} {text}" for count, text in notes if count]
    present = {item["id"] for item in content.nodes}
    comments = _comments(document.get("comments"), present, warnings)
    files = _files(document.get("attachments"), members, present, warnings)
    return Bundle(
        title=title,
        board=content,
        comments=comments,
        files=files,
        source_project_id=_source_project(document, board),
        warnings=warnings,
    )


def _never_called() -> str:
    raise AssertionError("relinking reshapes nodes that already carry ids; none can be missing")


def _swap_links(text: str, moved: Mapping[str, str]) -> str:
    """`text` with each old upload URL replaced by its new one, one mapping after the other."""
    return reduce(lambda current, pair: current.replace(pair[0], pair[1]), moved.items(), text)


def relink(nodes: list[dict[str, Any]], moved: Mapping[str, str]) -> list[dict[str, Any]]:
    """Nodes whose links to the source project's files point at the restored copies.

    Each node goes through the node rules again (text caps may bite after a longer URL, and, as in legacy, its
    tags lose one more leading '#'); nothing is touched when no link moved.
    """
    if not moved:
        return nodes
    return [
        rules.node({**item, **{key: _swap_links(item[key], moved) for key in LINK_FIELDS}}, _never_called)
        for item in nodes
    ]
