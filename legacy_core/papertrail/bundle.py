"""Board bundles: the export zip (board.json plus uploads/<attachmentId>/<file>) and reading one back, checked whole.

Reading never touches disk or the database: a bundle is parsed and normalised in memory, so an import that fails
here has changed nothing. Its nodes and edges pass the same checks as a saved snapshot: an id that could not be
addressed by its item URL (holding '/', '\\' or a control character, or "." / "..") makes the whole bundle a 400
naming the field (e.g. "board.nodes.3.id"); ids are never rewritten, since comments, attachments and links refer to
them. Zip members are looked up by name and never extracted by name, and names with '..', a leading '/' or '\\',
a drive letter or a backslash are refused outright.
"""

from __future__ import annotations

import io
import json
import re
import struct
import zipfile
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from legacy_core.papertrail.board import COMMENT_MAX
from legacy_core.papertrail.files import choose_content_type, safe_filename
from legacy_core.papertrail.normalize import (
    IdFactory,
    InvalidBoardData,
    Snapshot,
    clean_text,
    normalize_board_title,
    normalize_node,
    normalize_snapshot,
)

BOARD_JSON = "board.json"
UPLOADS_PREFIX = "uploads/"
BUNDLE_FORMAT = "papertrail-board"
BUNDLE_VERSION = 1
MAX_MEMBERS = 10000
# A central directory entry is 46 bytes plus its name, extra field and comment; a bundle's entries need far less
# than 1 KiB each on average, so a bigger directory is refused before anything parses it.
MAX_CENTRAL_DIRECTORY = MAX_MEMBERS * 1024
_EOCD = struct.Struct("<4s4H2LH")  # end of central directory: signature, disks, entries, size, offset, comment
_EOCD_SIGNATURE = b"PK\x05\x06"
_ZIP64_LOCATOR = struct.Struct("<4sLQL")  # signature, disk, offset of the Zip64 record, disks
_ZIP64_LOCATOR_SIGNATURE = b"PK\x06\x07"
_ZIP64_EOCD = struct.Struct("<4sQ2H2L4Q")  # signature, size, versions, disks, entries, entries, size, offset
_ZIP64_EOCD_SIGNATURE = b"PK\x06\x06"
_CENTRAL_ENTRY = struct.Struct("<4s6H3L5H2L")  # central directory file header (46 bytes)
_CENTRAL_SIGNATURE = b"PK\x01\x02"
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
_DRIVE = re.compile(r"^[A-Za-z]:")
_REWRITTEN_FIELDS = ("url", "imageUrl", "html", "descHtml", "text")


class BundleError(ValueError):
    """A bundle that cannot be imported: `status` is 400 (malformed) or 413 (too large)."""

    def __init__(self, message: str, *, status: int = 400, details: list[dict[str, str]] | None = None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.details = details


@dataclass(frozen=True)
class ImportedComment:
    node_id: str | None
    author_id: str | None
    body: str
    created_at: datetime | None
    updated_at: datetime | None


@dataclass(frozen=True)
class ImportedAttachment:
    source_id: str
    node_id: str | None
    filename: str
    source_filename: str
    content_type: str
    data: bytes
    created_at: datetime | None


@dataclass(frozen=True)
class ParsedBundle:
    """A bundle checked and normalised, ready to replace a board."""

    title: str | None
    snapshot: Snapshot
    comments: list[ImportedComment]
    attachments: list[ImportedAttachment]
    source_project_id: str | None
    warnings: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        tags = {tag for node in self.snapshot.nodes for tag in node["tags"]}
        return {
            "title": self.title,
            "nodes": len(self.snapshot.nodes),
            "edges": len(self.snapshot.edges),
            "comments": len(self.comments),
            "attachments": len(self.attachments),
            "tags": len(tags),
            "uploadBytes": sum(len(item.data) for item in self.attachments),
            "droppedEdges": self.snapshot.dropped_edges,
        }


def member_path(attachment_id: str, filename: str) -> str:
    return f"{UPLOADS_PREFIX}{attachment_id}/{filename}"


def export_document(
    board: Mapping[str, Any],
    comments: list[dict[str, Any]],
    attachments: list[dict[str, Any]],
    exported_at: str | None,
) -> dict[str, Any]:
    """The board.json of a bundle, from the board's API JSON, its comments and its attachments' JSON."""
    return {
        "format": BUNDLE_FORMAT,
        "version": BUNDLE_VERSION,
        "exportedAt": exported_at,
        "project": board["project"],
        "board": {
            "id": board["id"],
            "projectId": board["projectId"],
            "title": board["title"],
            "nodes": board["nodes"],
            "edges": board["edges"],
            "createdAt": board["createdAt"],
            "updatedAt": board["updatedAt"],
        },
        "comments": comments,
        "attachments": [{**item, "path": member_path(item["id"], item["filename"])} for item in attachments],
    }


def build_zip(document: Mapping[str, Any], files: list[tuple[str, bytes]], moment: datetime) -> bytes:
    """A zip holding board.json and the given members; every entry carries the same timestamp."""
    stamp = max(moment.astimezone(UTC).timetuple()[:6], ZIP_EPOCH)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        entries = [(BOARD_JSON, json.dumps(document, ensure_ascii=False, indent=2).encode("utf-8")), *files]
        for name, data in entries:
            info = zipfile.ZipInfo(name, date_time=stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)
    return buffer.getvalue()


def unsafe_member(name: str) -> bool:
    """Whether a zip member name could point outside the folder it is extracted to."""
    if not name or name.startswith(("/", "\\")) or "\\" in name or _DRIVE.match(name) or "\x00" in name:
        return True
    return any(part == ".." for part in name.split("/"))


def _too_many(count: int) -> BundleError:
    return BundleError(f"Bundle has {count} members; at most {MAX_MEMBERS} are allowed")


def _end_record(data: bytes) -> tuple[int, int, int]:
    """Where the central directory ends (its end record starts), its declared entry count and its size in bytes.

    Looked up as `zipfile` does (the last end record, Zip64 when its locator precedes the record), so the numbers
    checked are the ones `zipfile` would use.
    """
    position = len(data) - _EOCD.size
    if position < 0:
        raise BundleError("Bundle is not a valid zip file")
    if data[position : position + 4] != _EOCD_SIGNATURE or data[-2:] != b"\x00\x00":
        position = data.rfind(_EOCD_SIGNATURE, max(0, len(data) - _EOCD.size - 0xFFFF))
        if position < 0 or position + _EOCD.size > len(data):
            raise BundleError("Bundle is not a valid zip file")
    _sig, _disk, _cd_disk, on_disk, total, size, _offset, _comment = _EOCD.unpack_from(data, position)
    count = max(on_disk, total)
    locator = position - _ZIP64_LOCATOR.size
    if locator >= 0 and data[locator : locator + 4] == _ZIP64_LOCATOR_SIGNATURE:
        record = locator - _ZIP64_EOCD.size
        if record < 0 or data[record : record + 4] != _ZIP64_EOCD_SIGNATURE:
            raise BundleError("Bundle is not a valid zip file")
        fields = _ZIP64_EOCD.unpack_from(data, record)
        count, size, position = max(fields[6], fields[7]), fields[8], record
    return position, count, size


def check_directory(data: bytes) -> None:
    """Refuse a zip whose central directory is too big to parse, before `zipfile` reads it whole.

    `zipfile.ZipFile` parses every central directory entry up front (530,000 empty members cost seconds and
    hundreds of MB), so the declared entry count and directory size are checked first, then the entries themselves
    are counted (their fixed headers only) up to one past MAX_MEMBERS, since `zipfile` trusts the size, not the count.
    """
    end, count, size = _end_record(data)
    if count > MAX_MEMBERS:
        raise _too_many(count)
    if size > MAX_CENTRAL_DIRECTORY:
        raise BundleError(f"Bundle's central directory is {size} bytes; at most {MAX_CENTRAL_DIRECTORY} are allowed")
    if size > end:
        raise BundleError("Bundle is not a valid zip file")
    position, entries = end - size, 0
    while position < end:
        if entries == MAX_MEMBERS:
            raise BundleError(f"Bundle has more than {MAX_MEMBERS} members; at most {MAX_MEMBERS} are allowed")
        if position + _CENTRAL_ENTRY.size > end or data[position : position + 4] != _CENTRAL_SIGNATURE:
            raise BundleError("Bundle is not a valid zip file")
        header = _CENTRAL_ENTRY.unpack_from(data, position)
        position += _CENTRAL_ENTRY.size + header[10] + header[11] + header[12]
        entries += 1


def read_zip(data: bytes, max_uncompressed: int) -> tuple[Any, dict[str, bytes]]:
    """board.json (parsed) and the other members of a zip bundle, checked for size, member count, unsafe and
    duplicate names."""
    check_directory(data)
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zlib.error, ValueError, EOFError, OSError) as exc:
        raise BundleError("Bundle is not a valid zip file") from exc
    with archive:
        infos = archive.infolist()
        if len(infos) > MAX_MEMBERS:
            raise _too_many(len(infos))
        names: set[str] = set()
        for info in infos:
            if unsafe_member(info.filename):
                raise BundleError(f"Bundle member {info.filename!r} has an unsafe path ('..', absolute or backslash)")
            if info.filename in names:
                raise BundleError(f"Bundle has more than one member named {info.filename!r}")
            names.add(info.filename)
        if sum(info.file_size for info in infos) > max_uncompressed:
            raise BundleError(f"Bundle unpacks to more than {max_uncompressed} bytes", status=413)
        members: dict[str, bytes] = {}
        try:
            for info in infos:
                if not info.is_dir():
                    members[info.filename] = archive.read(info)
        except (zipfile.BadZipFile, zlib.error, NotImplementedError, RuntimeError, EOFError, ValueError) as exc:
            raise BundleError(f"Bundle member could not be read: {exc}") from exc
    raw = members.pop(BOARD_JSON, None)
    if raw is None:
        raise BundleError(f"Bundle has no {BOARD_JSON} at its top level")
    return parse_json(raw, BOARD_JSON), members


def parse_json(data: bytes, what: str) -> Any:
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise BundleError(f"{what} is not valid JSON: {exc}") from exc


def parse_timestamp(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def parse_document(
    document: Any, files: dict[str, bytes] | None, new_node_id: IdFactory, new_edge_id: IdFactory
) -> ParsedBundle:
    """Check and normalise a board.json (or a bare {title?, nodes, edges} snapshot); `files` is None for JSON."""
    if not isinstance(document, dict):
        raise BundleError(f"{BOARD_JSON} must hold a JSON object, not {type(document).__name__}")
    version = document.get("version", BUNDLE_VERSION)
    if version != BUNDLE_VERSION:
        raise BundleError(f"Bundle version {version!r} is not supported; this server reads version {BUNDLE_VERSION}")
    board = document.get("board", document)
    if not isinstance(board, dict) or "nodes" not in board:
        raise BundleError("Bundle holds no board: expected a 'board' object or a snapshot with a 'nodes' list")
    prefix = "board." if board is not document else ""
    try:
        title = normalize_board_title(board["title"], f"{prefix}title") if board.get("title") is not None else None
        snapshot = normalize_snapshot(board["nodes"], board.get("edges"), new_node_id, new_edge_id, prefix)
    except InvalidBoardData as exc:
        raise BundleError("Invalid board data", details=exc.details()) from exc
    warnings: list[str] = []
    if snapshot.dropped_edges:
        warnings.append(f"{snapshot.dropped_edges} edge(s) dropped: their source or target is not a node")
    if snapshot.retyped_nodes:
        warnings.append(f"{snapshot.retyped_nodes} node(s) of unknown type imported as 'text'")
    node_ids = {node["id"] for node in snapshot.nodes}
    comments = _comments(document.get("comments"), node_ids, warnings)
    attachments = _attachments(document.get("attachments"), files, node_ids, warnings)
    project = document.get("project")
    source = project.get("id") if isinstance(project, dict) else board.get("projectId")
    return ParsedBundle(
        title=title,
        snapshot=snapshot,
        comments=comments,
        attachments=attachments,
        source_project_id=source if isinstance(source, str) and source else None,
        warnings=warnings,
    )


def _list(value: Any, name: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise BundleError(f"'{name}' must be a list, not {type(value).__name__}")
    return value


def _node_ref(value: Any, node_ids: set[str]) -> tuple[str | None, bool]:
    """A node reference kept only when the node exists; the flag says a reference was dropped."""
    if value is None:
        return None, False
    if isinstance(value, str) and value in node_ids:
        return value, False
    return None, True


def _comments(raw: Any, node_ids: set[str], warnings: list[str]) -> list[ImportedComment]:
    comments = []
    unlinked = 0
    for index, item in enumerate(_list(raw, "comments")):
        if not isinstance(item, dict):
            raise BundleError(f"comments.{index} must be an object")
        body = item.get("body")
        body = clean_text(body).strip() if isinstance(body, str) else ""
        if not body or len(body) > COMMENT_MAX:
            raise BundleError(f"comments.{index}.body must be a non-empty string of at most {COMMENT_MAX} characters")
        node_id, dropped = _node_ref(item.get("nodeId"), node_ids)
        unlinked += dropped
        author = item.get("authorId")
        comments.append(
            ImportedComment(
                node_id=node_id,
                author_id=author if isinstance(author, str) else None,
                body=body,
                created_at=parse_timestamp(item.get("createdAt")),
                updated_at=parse_timestamp(item.get("updatedAt")),
            )
        )
    if unlinked:
        warnings.append(f"{unlinked} comment(s) referred to a missing node and were kept without one")
    return comments


def _attachments(
    raw: Any, files: dict[str, bytes] | None, node_ids: set[str], warnings: list[str]
) -> list[ImportedAttachment]:
    items = _list(raw, "attachments")
    if files is None:
        if items:
            warnings.append(f"{len(items)} attachment(s) skipped: a JSON import carries no files; import the zip")
        return []
    attachments = []
    used: set[str] = set()
    unlinked = 0
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise BundleError(f"attachments.{index} must be an object")
        source_id, filename = item.get("id"), item.get("filename")
        if not isinstance(source_id, str) or not source_id or not isinstance(filename, str) or not filename:
            raise BundleError(f"attachments.{index} needs a string 'id' and 'filename'")
        path = item.get("path") or member_path(source_id, filename)
        if not isinstance(path, str) or path not in files:
            raise BundleError(f"Bundle lacks the file {path!r} of attachment {source_id!r}")
        used.add(path)
        node_id, dropped = _node_ref(item.get("nodeId"), node_ids)
        unlinked += dropped
        safe = safe_filename(filename)
        declared = item.get("contentType")
        attachments.append(
            ImportedAttachment(
                source_id=source_id,
                node_id=node_id,
                filename=safe,
                source_filename=filename,
                content_type=choose_content_type(safe, declared if isinstance(declared, str) else None),
                data=files[path],
                created_at=parse_timestamp(item.get("createdAt")),
            )
        )
    if unlinked:
        warnings.append(f"{unlinked} attachment(s) referred to a missing node and were kept without one")
    ignored = sorted(set(files) - used)
    if ignored:
        warnings.append(f"{len(ignored)} file(s) in the bundle belong to no attachment and were ignored")
    return attachments


def rewrite_upload_urls(nodes: list[dict[str, Any]], replacements: Mapping[str, str]) -> list[dict[str, Any]]:
    """Nodes whose links to the source project's uploads point at the restored copies, normalised again."""
    if not replacements:
        return nodes
    result = []
    for node in nodes:
        changed = dict(node)
        for key in _REWRITTEN_FIELDS:
            for old, new in replacements.items():
                changed[key] = changed[key].replace(old, new)
        result.append(normalize_node(changed, _no_new_ids))
    return result


def _no_new_ids() -> str:
    raise AssertionError("a normalised node always has an id")


__all__ = [
    "BOARD_JSON",
    "BUNDLE_FORMAT",
    "BUNDLE_VERSION",
    "BundleError",
    "ImportedAttachment",
    "ImportedComment",
    "ParsedBundle",
    "build_zip",
    "export_document",
    "member_path",
    "parse_document",
    "parse_json",
    "read_zip",
    "rewrite_upload_urls",
    "unsafe_member",
]
