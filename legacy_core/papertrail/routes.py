"""PaperTrail routes: the board as a whole (read, replace, patch, delete), its export and import.

Node, edge and comment routes live in `items.py`, attachment files in `uploads.py`; all go on one blueprint, whose
first check is the PAPERTRAIL project-type toggle (off -> a bare 404 for every route, signed in or not).
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, request
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from legacy_core.access import require_project
from legacy_core.auth import CurrentUser
from legacy_core.clock import isoformat
from legacy_core.db import transaction
from legacy_core.errors import ApiError, FeatureDisabled
from legacy_core.http import json_object, json_response, no_content
from legacy_core.models import Project, PtAttachment, PtBoard, PtComment, User
from legacy_core.papertrail.board import (
    attachment_json,
    board_json,
    clear_board,
    comment_json,
    edge_json,
    ensure_board,
    find_board,
    load_attachments,
    load_comments,
    load_edges,
    load_nodes,
    lock_board,
    node_json,
    replace_edges,
    replace_nodes,
    touch,
    upload_url,
)
from legacy_core.papertrail.bundle import (
    BundleError,
    ParsedBundle,
    build_zip,
    export_document,
    member_path,
    parse_document,
    parse_json,
    read_zip,
    rewrite_upload_urls,
)
from legacy_core.papertrail.items import register_item_routes
from legacy_core.papertrail.normalize import (
    IdFactory,
    InvalidBoardData,
    connected_edges,
    normalize_board_title,
    normalize_edges,
    normalize_nodes,
    normalize_snapshot,
)
from legacy_core.papertrail.uploads import (
    form_file,
    project_dir,
    read_body,
    read_limited,
    register_upload_routes,
    remove_tree,
    resolve_stored,
)
from legacy_core.requestctx import get_services, require_user
from legacy_core.services import Services

BOARD = "/api/projects/<project_id>/papertrail/board"
BOARD_FIELDS = ("title", "nodes", "edges")
JSON_TYPES = ("application/json", "text/json")


def id_factory(services: Services, prefix: str) -> IdFactory:
    return lambda: services.ids.new(prefix)


def open_board(db: Session, user: CurrentUser, project_id: str, minimum: str) -> tuple[Project, PtBoard]:
    """The project (access checked) and its board, created on first use; locked for writers (`minimum` not viewer)."""
    services = get_services()
    access = require_project(db, user, project_id, minimum, project_type="papertrail", settings=services.settings)
    board = ensure_board(db, access.project, id_factory(services, "b"), services.clock.now())
    if minimum != "viewer":
        board = lock_board(db, board.id)
    return access.project, board


def make_papertrail_blueprint() -> Blueprint:
    bp = Blueprint("papertrail", __name__)

    @bp.errorhandler(InvalidBoardData)
    def _invalid_board_data(exc: InvalidBoardData) -> Response:
        # Raised by the normalisation rules on every save path; the transaction has rolled back already.
        return json_response(ApiError(400, "Invalid request", details=exc.details()).body(), 400)

    @bp.before_request
    def _feature_enabled() -> None:
        if not get_services().settings.project_type_enabled("papertrail"):
            raise FeatureDisabled("papertrail")

    @bp.get(BOARD)
    def get_board(project_id: str) -> Response:
        services = get_services()
        user = require_user()
        with transaction(services.session_factory) as db:
            project, board = open_board(db, user, project_id, "viewer")
            return json_response({"board": board_json(db, board, project)})

    @bp.post(BOARD)
    def save_board(project_id: str) -> Response:
        services = get_services()
        user = require_user()
        with transaction(services.session_factory) as db:
            project, board = open_board(db, user, project_id, "editor")
            data = json_object()
            if "nodes" not in data:
                raise ApiError(400, "Invalid request", details=[{"field": "nodes", "message": "Field required"}])
            title = normalize_board_title(data["title"]) if "title" in data else None
            snapshot = normalize_snapshot(
                data["nodes"], data.get("edges"), id_factory(services, "n"), id_factory(services, "e")
            )
            now = services.clock.now()
            if title is not None:
                board.title = title
            replace_nodes(db, board, snapshot.nodes, now)
            replace_edges(db, board, snapshot.edges, now)
            touch(board, now)
            return json_response({"ok": True, "board": board_json(db, board, project)})

    @bp.patch(BOARD)
    def patch_board(project_id: str) -> Response:
        services = get_services()
        user = require_user()
        with transaction(services.session_factory) as db:
            project, board = open_board(db, user, project_id, "editor")
            data = json_object()
            if not any(key in data for key in BOARD_FIELDS):
                raise ApiError(400, "Nothing to update: give at least one of 'title', 'nodes', 'edges'")
            title = normalize_board_title(data["title"]) if "title" in data else None
            nodes = (
                normalize_nodes(data["nodes"], id_factory(services, "n"))
                if "nodes" in data
                else [node_json(row) for row in load_nodes(db, board.id)]
            )
            edges = (
                normalize_edges(data["edges"], id_factory(services, "e"))
                if "edges" in data
                else [edge_json(row) for row in load_edges(db, board.id)]
            )
            now = services.clock.now()
            if title is not None:
                board.title = title
            if "nodes" in data:
                replace_nodes(db, board, nodes, now)
            if "nodes" in data or "edges" in data:
                replace_edges(db, board, connected_edges(edges, (node["id"] for node in nodes)), now)
            touch(board, now)
            return json_response({"ok": True, "board": board_json(db, board, project)})

    @bp.delete(BOARD)
    def delete_board(project_id: str) -> Response:
        services = get_services()
        user = require_user()
        with transaction(services.session_factory) as db:
            require_project(db, user, project_id, "owner", project_type="papertrail", settings=services.settings)
            board = find_board(db, project_id)
            if board is None:
                raise ApiError(404, "Board not found")
            board = lock_board(db, board.id)
            clear_board(db, board.id)
            db.delete(board)
        remove_tree(project_dir(services.settings, project_id))
        return no_content()

    @bp.get(f"{BOARD}/export")
    def export_board(project_id: str) -> Response:
        services = get_services()
        user = require_user()
        with transaction(services.session_factory) as db:
            project, board = open_board(db, user, project_id, "viewer")
            body = board_json(db, board, project)
            comments = [comment_json(row) for row in load_comments(db, board.id)]
            stored = [
                (row, resolve_stored(services.settings, row.stored_path)) for row in load_attachments(db, board.id)
            ]
            slug, moment = project.slug, board.updated_at
        present = [(row, path) for row, path in stored if path is not None]
        document = export_document(
            body, comments, [attachment_json(row, project_id) for row, _ in present], isoformat(services.clock.now())
        )
        files = [(member_path(row.id, row.filename), Path(path).read_bytes()) for row, path in present]
        response = Response(build_zip(document, files, moment), mimetype="application/zip")
        response.headers["Content-Disposition"] = f'attachment; filename="{slug}-papertrail.zip"'
        return response

    @bp.post(f"{BOARD}/import/validate")
    def validate_import(project_id: str) -> Response:
        services = get_services()
        user = require_user()
        with transaction(services.session_factory) as db:
            require_project(db, user, project_id, "editor", project_type="papertrail", settings=services.settings)
        parsed = read_import(services, id_factory(services, "n"), id_factory(services, "e"))
        return json_response({"ok": True, "summary": parsed.summary(), "warnings": parsed.warnings})

    @bp.post(f"{BOARD}/import")
    def import_board(project_id: str) -> Response:
        services = get_services()
        user = require_user()
        with transaction(services.session_factory) as db:
            require_project(db, user, project_id, "editor", project_type="papertrail", settings=services.settings)
        parsed = read_import(services, id_factory(services, "n"), id_factory(services, "e"))
        written: list[Path] = []
        try:
            with transaction(services.session_factory) as db:
                # The board is locked before its attachments are listed, so `old_dirs` is exactly what this import
                # replaces; the folders go only once the transaction has committed.
                project, board = open_board(db, user, project_id, "editor")
                old_dirs = [
                    project_dir(services.settings, project_id) / row.id for row in load_attachments(db, board.id)
                ]
                apply_import(db, services, user, board, parsed, written)
                body = board_json(db, board, project)
        except BaseException:
            for folder in written:
                remove_tree(folder)
            raise
        for folder in old_dirs:
            remove_tree(folder)
        return json_response({"ok": True, "board": body, "summary": parsed.summary(), "warnings": parsed.warnings})

    register_item_routes(bp)
    register_upload_routes(bp)
    return bp


def read_import(services: Services, new_node_id: IdFactory, new_edge_id: IdFactory | None = None) -> ParsedBundle:
    """The bundle of an import request (zip body, multipart file or JSON), checked whole; 400/413 otherwise."""
    limit = services.settings.PAPERTRAIL_IMPORT_MAX_BYTES
    what = "Import bundle"
    if request.mimetype == "multipart/form-data":
        storage = form_file("file", limit)
        data = read_limited(storage.stream, limit, what)
        is_json = storage.mimetype in JSON_TYPES or (storage.filename or "").lower().endswith(".json")
    else:
        data = read_body(limit, what)
        is_json = request.mimetype in JSON_TYPES
    try:
        if is_json:
            document, files = parse_json(data, "Import body"), None
        else:
            document, files = read_zip(data, limit)
        return parse_document(document, files, new_node_id, new_edge_id or new_node_id)
    except BundleError as exc:
        raise ApiError(exc.status, exc.message, details=exc.details) from exc


def apply_import(
    db: Session, services: Services, user: CurrentUser, board: PtBoard, parsed: ParsedBundle, written: list[Path]
) -> None:
    """Replace the board's content with a parsed bundle; every folder of files written is added to `written`."""
    now = services.clock.now()
    project_id = board.project_id
    clear_board(db, board.id)
    replacements: dict[str, str] = {}
    rows: list[PtAttachment] = []
    for item in parsed.attachments:
        attachment_id = services.ids.new("a")
        if parsed.source_project_id is not None:
            old = upload_url(parsed.source_project_id, item.source_id, item.source_filename)
            replacements[old] = upload_url(project_id, attachment_id, item.filename)
        folder = project_dir(services.settings, project_id) / attachment_id
        folder.mkdir(parents=True)
        written.append(folder)
        (folder / item.filename).write_bytes(item.data)
        rows.append(
            PtAttachment(
                id=attachment_id,
                board_id=board.id,
                node_id=item.node_id,
                filename=item.filename,
                stored_path=f"{project_id}/{attachment_id}/{item.filename}",
                content_type=item.content_type,
                size=len(item.data),
                uploaded_by=user.id,
                created_at=item.created_at or now,
            )
        )
    if parsed.title is not None:
        board.title = parsed.title
    replace_nodes(db, board, rewrite_upload_urls(parsed.snapshot.nodes, replacements), now)
    replace_edges(db, board, parsed.snapshot.edges, now)
    db.add_all(rows)
    for comment in parsed.comments:
        db.add(
            PtComment(
                id=services.ids.new("c"),
                board_id=board.id,
                node_id=comment.node_id,
                author_id=_author(db, comment.author_id, user),
                body=comment.body,
                created_at=comment.created_at or now,
                updated_at=comment.updated_at or comment.created_at or now,
            )
        )
    touch(board, now)
    db.flush()


def _author(db: Session, author_id: str | None, user: CurrentUser) -> str:
    """Keep a comment's author when that user exists in the importer's tenant; otherwise the importer signs it."""
    if author_id is not None:
        author = db.get(User, author_id)
        if author is not None and author.tenant_id == user.tenant_id:
            return author.id
    return user.id


__all__ = ["make_papertrail_blueprint"]
