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
from dataclasses import dataclass, field
from datetime import UTC, datetime
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
    """A bundle that cannot be imported: the answer's status (400 or 413), message and optional details."""

    def __init__(self, message: str, *, status: int = 400, details: list[dict[str, str]] | None = None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.details = details


@dataclass(frozen=True)
class IncomingComment:
    node_id: str | None
    author_id: str | None
    body: str
    created_at: datetime | None
    updated_at: datetime | None


@dataclass(frozen=True)
class IncomingFile:
    source_id: str
    source_filename: str
    node_id: str | None
    filename: str
    content_type: str
    data: bytes
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
        distinct_tags = {name for item in self.board.nodes for name in item["tags"]}
        return {
            "title": self.title,
            "nodes": len(self.board.nodes),
            "edges": len(self.board.edges),
            "comments": len(self.comments),
            "attachments": len(self.files),
            "tags": len(distinct_tags),
            "uploadBytes": sum(len(item.data) for item in self.files),
            "droppedEdges": self.board.dropped_edges,
        }


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
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _as_list(value: Any, name: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise BundleError(f"'{name}' must be a list, not {type(value).__name__}")
    return value


def _node_reference(value: Any, node_ids: set[str]) -> tuple[str | None, bool]:
    """A node reference kept only when that node is in the bundle; the flag tells a reference was dropped."""
    if value is None:
        return None, False
    if isinstance(value, str) and value in node_ids:
        return value, False
    return None, True


def _comments(raw: Any, node_ids: set[str], warnings: list[str]) -> list[IncomingComment]:
    found: list[IncomingComment] = []
    unlinked = 0
    for index, item in enumerate(_as_list(raw, "comments")):
        if not isinstance(item, dict):
            raise BundleError(f"comments.{index} must be an object")
        raw_body = item.get("body")
        body = rules.scrub(raw_body).strip() if isinstance(raw_body, str) else ""
        if not body or len(body) > COMMENT_MAX:
            raise BundleError(f"comments.{index}.body must be a non-empty string of at most {COMMENT_MAX} characters")
        node_id, dropped = _node_reference(item.get("nodeId"), node_ids)
        unlinked += dropped
        author = item.get("authorId")
        found.append(
            IncomingComment(
                node_id=node_id,
                author_id=author if isinstance(author, str) else None,
                body=body,
                created_at=moment(item.get("createdAt")),
                updated_at=moment(item.get("updatedAt")),
            )
        )
    if unlinked:
        warnings.append(f"{unlinked} comment(s) referred to a missing node and were kept without one")
    return found


def _files(raw: Any, members: dict[str, bytes] | None, node_ids: set[str], warnings: list[str]) -> list[IncomingFile]:
    listed = _as_list(raw, "attachments")
    if members is None:  # a JSON import: there is nowhere the bytes could come from
        if listed:
            warnings.append(f"{len(listed)} attachment(s) skipped: a JSON import carries no files; import the zip")
        return []
    found: list[IncomingFile] = []
    claimed: set[str] = set()
    unlinked = 0
    for index, item in enumerate(listed):
        if not isinstance(item, dict):
            raise BundleError(f"attachments.{index} must be an object")
        source_id, filename = item.get("id"), item.get("filename")
        if not (isinstance(source_id, str) and source_id and isinstance(filename, str) and filename):
            raise BundleError(f"attachments.{index} needs a string 'id' and 'filename'")
        path = item.get("path") or member_name(source_id, filename)
        if not isinstance(path, str) or path not in members:
            raise BundleError(f"Bundle lacks the file {path!r} of attachment {source_id!r}")
        claimed.add(path)
        node_id, dropped = _node_reference(item.get("nodeId"), node_ids)
        unlinked += dropped
        stored_name = safe_name(filename)
        declared = item.get("contentType")
        found.append(
            IncomingFile(
                source_id=source_id,
                source_filename=filename,
                node_id=node_id,
                filename=stored_name,
                content_type=content_type_for(stored_name, declared if isinstance(declared, str) else None),
                data=members[path],
                created_at=moment(item.get("createdAt")),
            )
        )
    if unlinked:
        warnings.append(f"{unlinked} attachment(s) referred to a missing node and were kept without one")
    unclaimed = set(members) - claimed
    if unclaimed:
        warnings.append(f"{len(unclaimed)} file(s) in the bundle belong to no attachment and were ignored")
    return found


def read_document(
    document: Any, members: dict[str, bytes] | None, node_id: rules.NewId, edge_id: rules.NewId
) -> Bundle:
    """Check and normalise a board.json or a bare snapshot; `members` is None for a JSON import."""
    if not isinstance(document, dict):
        raise BundleError(f"{BOARD_JSON} must hold a JSON object, not {type(document).__name__}")
    version = document.get("version", VERSION)
    if version != VERSION:  # `!=`, as legacy: 1.0 and true compare equal to 1 and are accepted
        raise BundleError(f"Bundle version {version!r} is not supported; this server reads version {VERSION}")
    board = document.get("board", document)
    if not isinstance(board, dict) or "nodes" not in board:
        raise BundleError("Bundle holds no board: expected a 'board' object or a snapshot with a 'nodes' list")
    prefix = "" if board is document else "board."
    try:
        title = rules.board_title(board["title"], f"{prefix}title") if board.get("title") is not None else None
        content = rules.snapshot(board["nodes"], board.get("edges"), node_id, edge_id, prefix)
    except rules.BoardDataError as exc:
        raise BundleError("Invalid board data", details=exc.details()) from exc
    warnings: list[str] = []
    if content.dropped_edges:
        warnings.append(f"{content.dropped_edges} edge(s) dropped: their source or target is not a node")
    if content.retyped_nodes:
        warnings.append(f"{content.retyped_nodes} node(s) of unknown type imported as 'text'")
    node_ids = {item["id"] for item in content.nodes}
    comments = _comments(document.get("comments"), node_ids, warnings)
    files = _files(document.get("attachments"), members, node_ids, warnings)
    project = document.get("project")
    source = project.get("id") if isinstance(project, dict) else board.get("projectId")
    return Bundle(
        title=title,
        board=content,
        comments=comments,
        files=files,
        source_project_id=source if isinstance(source, str) and source else None,
        warnings=warnings,
    )


def _never_called() -> str:
    raise AssertionError("a shaped node always carries its id")


def relink(nodes: list[dict[str, Any]], moved: Mapping[str, str]) -> list[dict[str, Any]]:
    """Nodes whose links to the source project's files point at the restored copies.

    Each node goes through the node rules again (text caps may bite after a longer URL, and, as in legacy, its
    tags lose one more leading '#'); nothing is touched when no link moved.
    """
    if not moved:
        return nodes
    relinked: list[dict[str, Any]] = []
    for item in nodes:
        changed = dict(item)
        for key in LINK_FIELDS:
            for old, new in moved.items():
                changed[key] = changed[key].replace(old, new)
        relinked.append(rules.node(changed, _never_called))
    return relinked
