"""Attachment routes: upload a file to a board, and serve stored files (access-checked) under `/uploads/...`."""

from __future__ import annotations

import os
from pathlib import Path

from flask import Response, request, send_file
from werkzeug.wrappers import Response as BaseResponse

from exthost.sdk import FeatureDisabled, HttpError

from . import rules, store
from .bodies import invalid, multipart_file
from .disk import existing_file, project_folder, remove_if_empty, remove_tree, stage
from .feature import EDITOR, VIEWER, Feature
from .filenames import content_type_for, safe_name, shown_inline
from .item_routes import ITEMS
from .models import Attachment, Board, Node
from .pages import login_redirect
from .replies import answer
from .shapes import attachment_shape

FILES = "/uploads/<project_id>/<attachment_id>/<filename>"
NOT_FOUND = "Not found"
# Served files never run in the platform's origin: no sniffing, no scripts, no plugins, a sandboxed document.
FILE_HEADERS = {"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "default-src 'none'; sandbox"}


def register_upload_routes(feature: Feature) -> None:
    """Add the upload and file routes to the plugin's router."""
    router = feature.ctx.router

    @router.post(f"{ITEMS}/attachments/upload")
    def upload_attachment(project_id: str, board_id: str) -> Response:
        user = feature.user()
        with feature.ctx.transaction() as db:
            feature.access(db, project_id, EDITOR)
            store.board_in_project(db, project_id, board_id)
        limit = feature.upload_limit
        storage = multipart_file("file", limit)
        node_id = request.form.get("nodeId") or None
        folder = project_folder(feature.root, project_id)
        # The file is staged (counted against the limit) before the board is locked, so a slow upload never holds
        # the board's write lock.
        staged, size = stage(storage.stream, folder, feature.ctx.ids.token(), limit)
        final: Path | None = None
        try:
            with feature.ctx.transaction() as db:
                board = store.lock(db, store.board_in_project(db, project_id, board_id).id)
                if node_id is not None and (not rules.storable(node_id) or db.get(Node, (board.id, node_id)) is None):
                    raise invalid("nodeId", f"no node {node_id!r}")
                now = feature.ctx.clock.now()
                attachment_id = feature.ctx.ids.new("a")
                filename = safe_name(storage.filename or "")
                final = folder / attachment_id
                final.mkdir(parents=True)
                os.replace(staged, final / filename)
                row = Attachment(
                    id=attachment_id,
                    board_id=board.id,
                    node_id=node_id,
                    filename=filename,
                    stored_path=f"{project_id}/{attachment_id}/{filename}",
                    content_type=content_type_for(filename, storage.mimetype),
                    size=size,
                    uploaded_by=user.id,
                    created_at=now,
                )
                db.add(row)
                store.bump(board, now)
                db.flush()
                body = attachment_shape(row, project_id)
        except BaseException:
            staged.unlink(missing_ok=True)
            if final is not None:
                remove_tree(final)
            remove_if_empty(folder)
            raise
        return answer({"ok": True, "attachment": body}, 201)

    @router.get(FILES)
    def serve_file(project_id: str, attachment_id: str, filename: str) -> BaseResponse:
        if feature.ctx.auth.current_user() is None:
            return login_redirect()
        with feature.ctx.transaction() as db:
            try:
                feature.access(db, project_id, VIEWER)
            except FeatureDisabled:
                raise
            except HttpError as exc:  # no access looks exactly like no file: nothing leaks about other projects
                raise HttpError(404, NOT_FOUND) from exc
            row = db.get(Attachment, attachment_id) if rules.storable(attachment_id) else None
            board = db.get(Board, row.board_id) if row is not None else None
            if row is None or board is None or board.project_id != project_id or row.filename != filename:
                raise HttpError(404, NOT_FOUND)
            content_type, stored_path = row.content_type, row.stored_path
        path = existing_file(feature.root, stored_path)
        if path is None:
            raise HttpError(404, NOT_FOUND)
        response = send_file(
            path,
            mimetype=content_type,
            as_attachment=not shown_inline(content_type),
            download_name=filename,
            conditional=True,
            max_age=0,
        )
        response.headers.update(FILE_HEADERS)
        return response
