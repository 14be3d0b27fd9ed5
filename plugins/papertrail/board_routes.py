"""Routes of the board as a whole: read, replace (POST), patch, delete, and the zip export."""

from __future__ import annotations

from pathlib import Path

from flask import Response
from werkzeug.wrappers import Response as BaseResponse

from exthost.sdk import HttpError, isoformat

from . import rules, store
from .archive import write_zip
from .bodies import json_body
from .bundle import BOARD_JSON, document_bytes, export_document, member_name
from .disk import existing_file, project_folder, remove_tree
from .feature import EDITOR, OWNER, VIEWER, Feature
from .replies import answer, no_content
from .shapes import attachment_shape, comment_shape, edge_shape, node_shape

BOARD = "/api/projects/<project_id>/papertrail/board"
PATCHABLE = ("title", "nodes", "edges")


def register_board_routes(feature: Feature) -> None:
    """Add the whole-board routes to the plugin's router."""
    router = feature.ctx.router

    @router.get(BOARD)
    def read_board(project_id: str) -> Response:
        feature.user()
        with feature.ctx.transaction() as db:
            project, board = feature.open_board(db, project_id, VIEWER)
            return answer({"board": store.board_document(db, board, project)})

    @router.post(BOARD)
    def replace_board(project_id: str) -> Response:
        feature.user()
        with feature.ctx.transaction() as db:
            # The board is opened (and possibly created) before the body is read, as legacy does: a bad body then
            # rolls the creation back, but the board id has been drawn all the same.
            project, board = feature.open_board(db, project_id, EDITOR)
            data = json_body()
            if "nodes" not in data:
                raise HttpError(400, "Invalid request", details=[{"field": "nodes", "message": "Field required"}])
            try:
                title = rules.board_title(data["title"]) if "title" in data else None
                content = rules.snapshot(data["nodes"], data.get("edges"), feature.ids("n"), feature.ids("e"))
            except rules.BoardDataError as exc:
                raise HttpError(400, "Invalid request", details=exc.details()) from exc
            now = feature.ctx.clock.now()
            if title is not None:
                board.title = title
            store.set_nodes(db, board, content.nodes, now)
            store.set_edges(db, board, content.edges, now)
            store.bump(board, now)
            return answer({"ok": True, "board": store.board_document(db, board, project)})

    @router.patch(BOARD)
    def patch_board(project_id: str) -> Response:
        feature.user()
        with feature.ctx.transaction() as db:
            project, board = feature.open_board(db, project_id, EDITOR)
            data = json_body()
            if not any(key in data for key in PATCHABLE):
                raise HttpError(400, "Nothing to update: give at least one of 'title', 'nodes', 'edges'")
            try:
                title = rules.board_title(data["title"]) if "title" in data else None
                if "nodes" in data:
                    nodes = rules.node_list(data["nodes"], feature.ids("n"))
                else:
                    nodes = [node_shape(row) for row in store.nodes_of(db, board.id)]
                if "edges" in data:
                    edges = rules.edge_list(data["edges"], feature.ids("e"))
                else:
                    edges = [edge_shape(row) for row in store.edges_of(db, board.id)]
            except rules.BoardDataError as exc:
                raise HttpError(400, "Invalid request", details=exc.details()) from exc
            now = feature.ctx.clock.now()
            if title is not None:
                board.title = title
            if "nodes" in data:
                store.set_nodes(db, board, nodes, now)
            if "nodes" in data or "edges" in data:
                # Edges (new or kept) must join nodes of the board as it now is.
                store.set_edges(db, board, rules.joined(edges, (item["id"] for item in nodes)), now)
            store.bump(board, now)
            return answer({"ok": True, "board": store.board_document(db, board, project)})

    @router.delete(BOARD)
    def delete_board(project_id: str) -> Response:
        feature.user()
        with feature.ctx.transaction() as db:
            feature.access(db, project_id, OWNER)
            found = store.board_of_project(db, project_id)
            if found is None:
                raise HttpError(404, "Board not found")
            board = store.lock(db, found.id)
            store.empty(db, board.id)
            db.delete(board)
        # Files go only once the rows are gone for good.
        remove_tree(project_folder(feature.root, project_id))
        return no_content()

    @router.get(f"{BOARD}/export")
    def export_board(project_id: str) -> BaseResponse:
        feature.user()
        with feature.ctx.transaction() as db:
            project, board = feature.open_board(db, project_id, VIEWER)
            document = store.board_document(db, board, project)
            comments = [comment_shape(row) for row in store.comments_of(db, board.id)]
            rows = store.attachments_of(db, board.id)
            located = [(row, existing_file(feature.root, row.stored_path)) for row in rows]
            stamp = board.updated_at
        # An attachment whose file is gone from disk is left out of the bundle altogether (row and file).
        present = [(row, path) for row, path in located if path is not None]
        shown = [attachment_shape(row, project_id) for row, _ in present]
        bundle = export_document(document, comments, shown, isoformat(feature.ctx.clock.now()))
        members = [(BOARD_JSON, document_bytes(bundle))]
        members += [(member_name(row.id, row.filename), Path(path).read_bytes()) for row, path in present]
        response = BaseResponse(write_zip(members, stamp), mimetype="application/zip")
        response.headers["Content-Disposition"] = f'attachment; filename="{project.slug}-papertrail.zip"'
        return response
