"""Import routes: check a bundle (`/import/validate`) and replace a board's content with one (`/import`).

A bundle arrives as a zip body, a JSON body, or a multipart file (zip or JSON). It is read and checked whole before
anything is written. The import then replaces rows and files in one transaction; files it wrote are removed again
if that transaction fails, and the folders of the attachments it replaced are removed only after it committed.
"""

from __future__ import annotations

from pathlib import Path

from flask import Response, request
from sqlalchemy.orm import Session

from exthost.sdk import CurrentUser, HttpError

from . import store
from .board_routes import BOARD
from .bodies import JSON_MIMETYPES, is_json_upload, multipart_file, raw_body
from .bundle import Bundle, BundleError, parse_json, read_document, read_zip, relink
from .disk import project_folder, read_capped, remove_tree
from .feature import EDITOR, Feature
from .models import Account, Attachment, Board, Comment
from .replies import answer
from .shapes import file_url

WHAT = "Import bundle"


def incoming_bundle(feature: Feature) -> Bundle:
    """The request's bundle, read and checked (400 malformed, 413 too big); new node and edge ids drawn as needed."""
    limit = feature.import_limit
    if request.mimetype == "multipart/form-data":
        storage = multipart_file("file", limit)
        data = read_capped(storage.stream, limit, WHAT)
        as_json = is_json_upload(storage)
    else:
        data = raw_body(limit, WHAT)
        as_json = request.mimetype in JSON_MIMETYPES
    try:
        if as_json:
            document, members = parse_json(data, "Import body"), None
        else:
            document, members = read_zip(data, limit)
        return read_document(document, members, feature.ids("n"), feature.ids("e"))
    except BundleError as exc:
        raise HttpError(exc.status, exc.message, details=exc.details) from exc


def comment_author(db: Session, author_id: str | None, importer: CurrentUser) -> str:
    """A comment keeps its author when that account exists in the importer's tenant; otherwise the importer signs."""
    if author_id is not None:
        account = db.get(Account, author_id)
        if account is not None and account.tenant_id == importer.tenant_id:
            return account.id
    return importer.id


def restore(
    feature: Feature, db: Session, importer: CurrentUser, board: Board, bundle: Bundle, written: list[Path]
) -> None:
    """Replace the board's content with the bundle's; each attachment folder created is added to `written`."""
    now = feature.ctx.clock.now()
    project_id = board.project_id
    store.empty(db, board.id)
    moved: dict[str, str] = {}
    rows: list[Attachment] = []
    for item in bundle.files:
        attachment_id = feature.ctx.ids.new("a")
        if bundle.source_project_id is not None:
            old = file_url(bundle.source_project_id, item.source_id, item.source_filename)
            moved[old] = file_url(project_id, attachment_id, item.filename)
        folder = project_folder(feature.root, project_id) / attachment_id
        folder.mkdir(parents=True)
        written.append(folder)
        (folder / item.filename).write_bytes(item.data)
        rows.append(
            Attachment(
                id=attachment_id,
                board_id=board.id,
                node_id=item.node_id,
                filename=item.filename,
                stored_path=f"{project_id}/{attachment_id}/{item.filename}",
                content_type=item.content_type,
                size=len(item.data),
                uploaded_by=importer.id,
                created_at=item.created_at or now,
            )
        )
    if bundle.title is not None:
        board.title = bundle.title
    store.set_nodes(db, board, relink(bundle.board.nodes, moved), now)
    store.set_edges(db, board, bundle.board.edges, now)
    db.add_all(rows)
    for comment in bundle.comments:
        db.add(
            Comment(
                id=feature.ctx.ids.new("c"),
                board_id=board.id,
                node_id=comment.node_id,
                author_id=comment_author(db, comment.author_id, importer),
                body=comment.body,
                created_at=comment.created_at or now,
                updated_at=comment.updated_at or comment.created_at or now,
            )
        )
    store.bump(board, now)
    db.flush()


def register_import_routes(feature: Feature) -> None:
    """Add the import routes to the plugin's router."""
    router = feature.ctx.router

    @router.post(f"{BOARD}/import/validate")
    def validate_import(project_id: str) -> Response:
        feature.user()
        with feature.ctx.transaction() as db:
            feature.access(db, project_id, EDITOR)
        bundle = incoming_bundle(feature)
        return answer({"ok": True, "summary": bundle.summary(), "warnings": bundle.warnings})

    @router.post(f"{BOARD}/import")
    def import_board(project_id: str) -> Response:
        importer = feature.user()
        with feature.ctx.transaction() as db:
            feature.access(db, project_id, EDITOR)
        bundle = incoming_bundle(feature)
        written: list[Path] = []
        try:
            with feature.ctx.transaction() as db:
                # Attachments are listed after the board is locked, so `replaced` is exactly what this import
                # replaces.
                project, board = feature.open_board(db, project_id, EDITOR)
                folder = project_folder(feature.root, project_id)
                replaced = [folder / row.id for row in store.attachments_of(db, board.id)]
                restore(feature, db, importer, board, bundle, written)
                body = store.board_document(db, board, project)
        except BaseException:
            for path in written:
                remove_tree(path)
            raise
        for path in replaced:
            remove_tree(path)
        return answer({"ok": True, "board": body, "summary": bundle.summary(), "warnings": bundle.warnings})
