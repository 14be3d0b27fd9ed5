"""Import routes: check a bundle (`/import/validate`) and replace a board's content with one (`/import`).

A bundle arrives as a zip body, a JSON body, or a multipart file (zip or JSON). It is read and checked whole before
anything is written. The import then replaces rows and files in one transaction; files it wrote are removed again
if that transaction fails, and the folders of the attachments it replaced are removed only after it committed.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from flask import Response, request
from sqlalchemy.orm import Session

from exthost.sdk import CurrentUser, HttpError

from . import store
from .board_routes import BOARD
from .bodies import JSON_MIMETYPES, is_json_upload, multipart_file, raw_body
from .bundle import Bundle, BundleError, IncomingFile, parse_json, read_document, read_zip, relink
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
    """Who signs an imported comment: its recorded author if that account lives in the importer's tenant, else the
    importer."""
    account = None if author_id is None else db.get(Account, author_id)
    keep = account is not None and account.tenant_id == importer.tenant_id
    return account.id if keep and account is not None else importer.id


def _unpack_file(
    feature: Feature, board: Board, item: IncomingFile, uploader: str, now: datetime, written: list[Path]
) -> Attachment:
    """Put one bundled file on disk under a freshly drawn attachment id; the row describing it (not yet added)."""
    new_id = feature.ctx.ids.new("a")
    target = project_folder(feature.root, board.project_id) / new_id
    target.mkdir(parents=True)
    written.append(target)
    (target / item.filename).write_bytes(item.data)
    return Attachment(
        id=new_id,
        board_id=board.id,
        node_id=item.node_id,
        filename=item.filename,
        stored_path="/".join((board.project_id, new_id, item.filename)),
        content_type=item.content_type,
        size=len(item.data),
        uploaded_by=uploader,
        created_at=item.created_at or now,
    )


def restore(
    feature: Feature, db: Session, importer: CurrentUser, board: Board, bundle: Bundle, written: list[Path]
) -> None:
    """Replace the board's content with the bundle's; each attachment folder created is added to `written`."""
    now = feature.ctx.clock.now()
    store.empty(db, board.id)
    unpacked = [_unpack_file(feature, board, item, importer.id, now, written) for item in bundle.files]
    source = bundle.source_project_id
    # Old upload URL -> URL of the restored copy; only meaningful when the bundle says where it came from.
    moved = (
        {}
        if source is None
        else {
            file_url(source, item.source_id, item.source_filename): file_url(board.project_id, row.id, row.filename)
            for item, row in zip(bundle.files, unpacked, strict=True)
        }
    )
    if bundle.title is not None:
        board.title = bundle.title
    store.set_nodes(db, board, relink(bundle.board.nodes, moved), now)
    store.set_edges(db, board, bundle.board.edges, now)
    db.add_all(unpacked)
    for note in bundle.comments:
        created = note.created_at or now
        db.add(
            Comment(
                id=feature.ctx.ids.new("c"),
                board_id=board.id,
                node_id=note.node_id,
                author_id=comment_author(db, note.author_id, importer),
                body=note.body,
                created_at=created,
                updated_at=note.updated_at or created,
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
