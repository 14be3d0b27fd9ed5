"""Attachments on disk: counted request bodies, the upload route and the access-checked file route /uploads/...

Files live at `settings.papertrail_root/<projectId>/<attachmentId>/<safe name>`. Every path is built from a
server-made id and `safe_filename`, and resolved paths are checked to stay under the root, so no request can reach
outside it. A body is read in chunks and counted; Content-Length is only used to refuse early, never trusted.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path
from typing import IO

from flask import Blueprint, request, send_file
from werkzeug.datastructures import FileStorage
from werkzeug.wrappers import Response

from legacy_core.access import require_project
from legacy_core.db import transaction
from legacy_core.errors import ApiError, FeatureDisabled
from legacy_core.http import json_response
from legacy_core.models import PtAttachment, PtBoard, PtNode
from legacy_core.papertrail.board import attachment_json, lock_board, require_board, touch
from legacy_core.papertrail.files import choose_content_type, safe_filename, served_inline
from legacy_core.papertrail.normalize import storable
from legacy_core.requestctx import current_user, get_services, login_redirect, require_user
from legacy_core.settings import Settings

CHUNK = 64 * 1024
# Room for multipart boundaries and part headers on top of the file itself; the file is counted exactly.
MULTIPART_SLACK = 64 * 1024


def too_large(limit: int, what: str = "Upload") -> ApiError:
    return ApiError(413, f"{what} is larger than the limit of {limit} bytes")


def read_limited(stream: IO[bytes], limit: int, what: str) -> bytes:
    """All of `stream`, or a 413 as soon as more than `limit` bytes have come."""
    chunks = []
    total = 0
    while chunk := stream.read(CHUNK):
        total += len(chunk)
        if total > limit:
            raise too_large(limit, what)
        chunks.append(chunk)
    return b"".join(chunks)


def read_body(limit: int, what: str) -> bytes:
    """The raw request body, counted against `limit`."""
    if request.content_length is not None and request.content_length > limit:
        raise too_large(limit, what)
    return read_limited(request.stream, limit, what)


def form_file(field: str, limit: int) -> FileStorage:
    """The multipart file part `field`; the whole form is capped a little above `limit`."""
    request.max_content_length = limit + MULTIPART_SLACK
    storage = request.files.get(field)
    if storage is None:
        raise ApiError(
            400, f"Missing file: send multipart/form-data with the file in the field {field!r}", details=None
        )
    return storage


def project_dir(settings: Settings, project_id: str) -> Path:
    return settings.papertrail_root / project_id


def stage_stream(stream: IO[bytes], folder: Path, token: str, limit: int) -> tuple[Path, int]:
    """Copy `stream` into a hidden file of `folder`, counting; over `limit`, the file is removed and 413 raised."""
    folder.mkdir(parents=True, exist_ok=True)
    staged = folder / f".incoming-{token}"
    total = 0
    try:
        with staged.open("wb") as out:
            while chunk := stream.read(CHUNK):
                total += len(chunk)
                if total > limit:
                    raise too_large(limit)
                out.write(chunk)
    except BaseException:
        staged.unlink(missing_ok=True)
        drop_if_empty(folder)
        raise
    return staged, total


def resolve_stored(settings: Settings, stored_path: str) -> Path | None:
    """The absolute path of a stored file, or None when it would leave the uploads root or does not exist."""
    root = settings.papertrail_root.resolve()
    path = (root / stored_path).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        return None
    return path


def remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def drop_if_empty(folder: Path) -> None:
    """Remove a folder this request created for nothing, so a failed upload leaves no trace."""
    with contextlib.suppress(OSError):  # not empty or already gone: either way nothing to undo
        folder.rmdir()


def register_upload_routes(bp: Blueprint) -> None:
    @bp.post("/api/projects/<project_id>/papertrail/board/<board_id>/attachments/upload")
    def upload_attachment(project_id: str, board_id: str) -> Response:
        services = get_services()
        settings = services.settings
        user = require_user()
        with transaction(services.session_factory) as db:
            require_project(db, user, project_id, "editor", project_type="papertrail", settings=settings)
            require_board(db, project_id, board_id)
        limit = settings.PAPERTRAIL_UPLOAD_MAX_BYTES
        storage = form_file("file", limit)
        node_id = request.form.get("nodeId") or None
        folder = project_dir(settings, project_id)
        staged, size = stage_stream(storage.stream, folder, services.ids.token(), limit)
        final_dir: Path | None = None
        try:
            with transaction(services.session_factory) as db:
                board = lock_board(db, require_board(db, project_id, board_id).id)
                if node_id is not None and (not storable(node_id) or db.get(PtNode, (board.id, node_id)) is None):
                    raise ApiError(
                        400, "Invalid request", details=[{"field": "nodeId", "message": f"no node {node_id!r}"}]
                    )
                now = services.clock.now()
                attachment_id = services.ids.new("a")
                filename = safe_filename(storage.filename or "")
                final_dir = folder / attachment_id
                final_dir.mkdir(parents=True)
                os.replace(staged, final_dir / filename)
                attachment = PtAttachment(
                    id=attachment_id,
                    board_id=board.id,
                    node_id=node_id,
                    filename=filename,
                    stored_path=f"{project_id}/{attachment_id}/{filename}",
                    content_type=choose_content_type(filename, storage.mimetype),
                    size=size,
                    uploaded_by=user.id,
                    created_at=now,
                )
                db.add(attachment)
                touch(board, now)
                db.flush()
                body = attachment_json(attachment, project_id)
        except BaseException:
            staged.unlink(missing_ok=True)
            if final_dir is not None:
                remove_tree(final_dir)
            drop_if_empty(folder)
            raise
        return json_response({"ok": True, "attachment": body}, 201)

    @bp.get("/uploads/<project_id>/<attachment_id>/<filename>")
    def serve_upload(project_id: str, attachment_id: str, filename: str) -> Response:
        services = get_services()
        settings = services.settings
        user = current_user()
        if user is None:
            return login_redirect()
        with transaction(services.session_factory) as db:
            try:
                require_project(db, user, project_id, "viewer", project_type="papertrail", settings=settings)
            except FeatureDisabled:
                raise
            except ApiError as exc:  # no access looks exactly like no file: nothing leaks about other projects
                raise ApiError(404, "Not found") from exc
            attachment = db.get(PtAttachment, attachment_id) if storable(attachment_id) else None
            board = db.get(PtBoard, attachment.board_id) if attachment is not None else None
            if attachment is None or board is None or board.project_id != project_id or attachment.filename != filename:
                raise ApiError(404, "Not found")
            content_type, stored_path = attachment.content_type, attachment.stored_path
        path = resolve_stored(settings, stored_path)
        if path is None:
            raise ApiError(404, "Not found")
        response = send_file(
            path,
            mimetype=content_type,
            as_attachment=not served_inline(content_type),
            download_name=filename,
            conditional=True,
            max_age=0,
        )
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
        return response


__all__ = [
    "drop_if_empty",
    "form_file",
    "project_dir",
    "read_body",
    "read_limited",
    "register_upload_routes",
    "remove_tree",
    "resolve_stored",
    "stage_stream",
]
