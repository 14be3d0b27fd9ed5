"""PaperTrail item routes: nodes, edges and comments of a board, one at a time (every write bumps the board)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import delete, or_
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from legacy_core.access import ProjectAccess, require_project
from legacy_core.auth import CurrentUser
from legacy_core.db import transaction
from legacy_core.errors import ApiError
from legacy_core.http import json_object, json_response, no_content, parse
from legacy_core.models import PtBoard, PtComment, PtEdge, PtNode
from legacy_core.papertrail.board import (
    COMMENT_MAX,
    apply_edge,
    apply_node,
    comment_json,
    edge_json,
    edge_row,
    load_comments,
    load_edges,
    load_nodes,
    lock_board,
    next_position,
    node_json,
    node_row,
    require_board,
    touch,
    unlink_missing_nodes,
)
from legacy_core.papertrail.normalize import (
    EDGE_FIELDS,
    NODE_FIELDS,
    clean_text,
    normalize_edge,
    normalize_node,
    storable,
)
from legacy_core.requestctx import get_services, require_user

ITEMS = "/api/projects/<project_id>/papertrail/board/<board_id>"


class CommentBody(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True, extra="ignore")

    body: str = Field(min_length=1, max_length=COMMENT_MAX)
    nodeId: str | None = Field(default=None, min_length=1, max_length=80)


class CommentUpdate(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True, extra="ignore")

    body: str = Field(min_length=1, max_length=COMMENT_MAX)


def invalid(field: str, message: str) -> ApiError:
    return ApiError(400, "Invalid request", details=[{"field": field, "message": message}])


def open_items(
    db: Session, user: CurrentUser, project_id: str, board_id: str, minimum: str
) -> tuple[ProjectAccess, PtBoard]:
    """The access and the board; for writers (`minimum` above viewer) the board is locked (see `lock_board`)."""
    services = get_services()
    access = require_project(db, user, project_id, minimum, project_type="papertrail", settings=services.settings)
    board = require_board(db, project_id, board_id)
    if minimum != "viewer":
        board = lock_board(db, board.id)
    return access, board


def get_node(db: Session, board: PtBoard, node_id: str) -> PtNode:
    node = db.get(PtNode, (board.id, node_id)) if storable(node_id) else None
    if node is None:
        raise ApiError(404, "Node not found")
    return node


def get_edge(db: Session, board: PtBoard, edge_id: str) -> PtEdge:
    edge = db.get(PtEdge, (board.id, edge_id)) if storable(edge_id) else None
    if edge is None:
        raise ApiError(404, "Edge not found")
    return edge


def get_comment(db: Session, board: PtBoard, comment_id: str) -> PtComment:
    comment = db.get(PtComment, comment_id) if storable(comment_id) else None
    if comment is None or comment.board_id != board.id:
        raise ApiError(404, "Comment not found")
    return comment


def merged(current: dict[str, Any], data: dict[str, Any], fields: tuple[str, ...], path_id: str) -> dict[str, Any]:
    """The item after a partial update; at least one known field must be given and the id cannot change."""
    given = [key for key in fields if key in data]
    if not given:
        raise ApiError(400, f"Nothing to update: give at least one of {', '.join(repr(key) for key in fields[1:])}")
    if "id" in data and data["id"] != path_id:
        raise invalid("id", f"an item's id cannot change (it is {path_id!r})")
    return {**current, **{key: data[key] for key in given}}


def check_endpoints(db: Session, board: PtBoard, edge: dict[str, Any]) -> None:
    for key in ("source", "target"):
        if not edge[key] or not storable(edge[key]) or db.get(PtNode, (board.id, edge[key])) is None:
            raise invalid(key, f"no node {edge[key]!r} on this board; an edge must join two existing nodes")


def may_change_comment(access: ProjectAccess, comment: PtComment, user: CurrentUser) -> bool:
    return comment.author_id == user.id or access.role == "owner"


def register_item_routes(bp: Blueprint) -> None:
    @bp.get(f"{ITEMS}/nodes")
    def list_nodes(project_id: str, board_id: str) -> Response:
        services = get_services()
        user = require_user()
        with transaction(services.session_factory) as db:
            _, board = open_items(db, user, project_id, board_id, "viewer")
            return json_response({"nodes": [node_json(row) for row in load_nodes(db, board.id)]})

    @bp.post(f"{ITEMS}/nodes")
    def create_node(project_id: str, board_id: str) -> Response:
        services = get_services()
        user = require_user()
        with transaction(services.session_factory) as db:
            _, board = open_items(db, user, project_id, board_id, "editor")
            node = normalize_node(json_object(), lambda: services.ids.new("n"))
            if db.get(PtNode, (board.id, node["id"])) is not None:
                raise ApiError(409, f"Node {node['id']!r} already exists on this board")
            now = services.clock.now()
            row = node_row(board.id, node, next_position(db, PtNode, board.id), now, now)
            db.add(row)
            touch(board, now)
            db.flush()
            return json_response({"ok": True, "node": node_json(row)}, 201)

    @bp.get(f"{ITEMS}/nodes/<node_id>")
    def read_node(project_id: str, board_id: str, node_id: str) -> Response:
        services = get_services()
        user = require_user()
        with transaction(services.session_factory) as db:
            _, board = open_items(db, user, project_id, board_id, "viewer")
            return json_response({"node": node_json(get_node(db, board, node_id))})

    @bp.patch(f"{ITEMS}/nodes/<node_id>")
    def update_node(project_id: str, board_id: str, node_id: str) -> Response:
        services = get_services()
        user = require_user()
        with transaction(services.session_factory) as db:
            _, board = open_items(db, user, project_id, board_id, "editor")
            row = get_node(db, board, node_id)
            changed = merged(node_json(row), json_object(), NODE_FIELDS, node_id)
            node = normalize_node(changed, lambda: node_id)
            now = services.clock.now()
            apply_node(row, node, now)
            touch(board, now)
            return json_response({"ok": True, "node": node_json(row)})

    @bp.delete(f"{ITEMS}/nodes/<node_id>")
    def delete_node(project_id: str, board_id: str, node_id: str) -> Response:
        services = get_services()
        user = require_user()
        with transaction(services.session_factory) as db:
            _, board = open_items(db, user, project_id, board_id, "editor")
            row = get_node(db, board, node_id)
            db.execute(
                delete(PtEdge).where(
                    PtEdge.board_id == board.id, or_(PtEdge.source == node_id, PtEdge.target == node_id)
                )
            )
            db.delete(row)
            db.flush()
            unlink_missing_nodes(db, board.id)
            touch(board, services.clock.now())
        return no_content()

    @bp.get(f"{ITEMS}/edges")
    def list_edges(project_id: str, board_id: str) -> Response:
        services = get_services()
        user = require_user()
        with transaction(services.session_factory) as db:
            _, board = open_items(db, user, project_id, board_id, "viewer")
            return json_response({"edges": [edge_json(row) for row in load_edges(db, board.id)]})

    @bp.post(f"{ITEMS}/edges")
    def create_edge(project_id: str, board_id: str) -> Response:
        services = get_services()
        user = require_user()
        with transaction(services.session_factory) as db:
            _, board = open_items(db, user, project_id, board_id, "editor")
            edge = normalize_edge(json_object(), lambda: services.ids.new("e"))
            check_endpoints(db, board, edge)
            if db.get(PtEdge, (board.id, edge["id"])) is not None:
                raise ApiError(409, f"Edge {edge['id']!r} already exists on this board")
            now = services.clock.now()
            row = edge_row(board.id, edge, next_position(db, PtEdge, board.id), now, now)
            db.add(row)
            touch(board, now)
            db.flush()
            return json_response({"ok": True, "edge": edge_json(row)}, 201)

    @bp.get(f"{ITEMS}/edges/<edge_id>")
    def read_edge(project_id: str, board_id: str, edge_id: str) -> Response:
        services = get_services()
        user = require_user()
        with transaction(services.session_factory) as db:
            _, board = open_items(db, user, project_id, board_id, "viewer")
            return json_response({"edge": edge_json(get_edge(db, board, edge_id))})

    @bp.patch(f"{ITEMS}/edges/<edge_id>")
    def update_edge(project_id: str, board_id: str, edge_id: str) -> Response:
        services = get_services()
        user = require_user()
        with transaction(services.session_factory) as db:
            _, board = open_items(db, user, project_id, board_id, "editor")
            row = get_edge(db, board, edge_id)
            changed = merged(edge_json(row), json_object(), EDGE_FIELDS, edge_id)
            edge = normalize_edge(changed, lambda: edge_id)
            check_endpoints(db, board, edge)
            now = services.clock.now()
            apply_edge(row, edge, now)
            touch(board, now)
            return json_response({"ok": True, "edge": edge_json(row)})

    @bp.delete(f"{ITEMS}/edges/<edge_id>")
    def delete_edge(project_id: str, board_id: str, edge_id: str) -> Response:
        services = get_services()
        user = require_user()
        with transaction(services.session_factory) as db:
            _, board = open_items(db, user, project_id, board_id, "editor")
            db.delete(get_edge(db, board, edge_id))
            touch(board, services.clock.now())
        return no_content()

    @bp.get(f"{ITEMS}/comments")
    def list_comments(project_id: str, board_id: str) -> Response:
        services = get_services()
        user = require_user()
        with transaction(services.session_factory) as db:
            _, board = open_items(db, user, project_id, board_id, "viewer")
            node_id = request.args.get("nodeId") or None
            if node_id is not None and not storable(node_id):
                return json_response({"comments": []})  # no stored node id can hold such characters
            return json_response({"comments": [comment_json(row) for row in load_comments(db, board.id, node_id)]})

    @bp.post(f"{ITEMS}/comments")
    def create_comment(project_id: str, board_id: str) -> Response:
        services = get_services()
        user = require_user()
        with transaction(services.session_factory) as db:
            _, board = open_items(db, user, project_id, board_id, "editor")
            body = parse(CommentBody, json_object())
            text = _comment_text(body.body)
            if body.nodeId is not None and (
                not storable(body.nodeId) or db.get(PtNode, (board.id, body.nodeId)) is None
            ):
                raise invalid("nodeId", f"no node {body.nodeId!r} on this board")
            now = services.clock.now()
            comment = PtComment(
                id=services.ids.new("c"),
                board_id=board.id,
                node_id=body.nodeId,
                author_id=user.id,
                body=text,
                created_at=now,
                updated_at=now,
            )
            db.add(comment)
            touch(board, now)
            db.flush()
            return json_response({"ok": True, "comment": comment_json(comment)}, 201)

    @bp.patch(f"{ITEMS}/comments/<comment_id>")
    def update_comment(project_id: str, board_id: str, comment_id: str) -> Response:
        services = get_services()
        user = require_user()
        with transaction(services.session_factory) as db:
            access, board = open_items(db, user, project_id, board_id, "viewer")
            board = lock_board(db, board.id)  # a viewer may change their own comment: a write all the same
            comment = get_comment(db, board, comment_id)
            if not may_change_comment(access, comment, user):
                raise ApiError(403, "Forbidden")
            body = parse(CommentUpdate, json_object())
            now = services.clock.now()
            comment.body = _comment_text(body.body)
            comment.updated_at = now
            touch(board, now)
            return json_response({"ok": True, "comment": comment_json(comment)})

    @bp.delete(f"{ITEMS}/comments/<comment_id>")
    def delete_comment(project_id: str, board_id: str, comment_id: str) -> Response:
        services = get_services()
        user = require_user()
        with transaction(services.session_factory) as db:
            access, board = open_items(db, user, project_id, board_id, "viewer")
            board = lock_board(db, board.id)  # a viewer may change their own comment: a write all the same
            comment = get_comment(db, board, comment_id)
            if not may_change_comment(access, comment, user):
                raise ApiError(403, "Forbidden")
            db.delete(comment)
            touch(board, services.clock.now())
        return no_content()


def _comment_text(value: str) -> str:
    text = clean_text(value).strip()
    if not text:
        raise invalid("body", "must not be blank")
    return text


__all__ = ["register_item_routes"]
