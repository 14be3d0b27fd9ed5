"""PaperTrail item routes: nodes, edges and comments of a board, one at a time (every write bumps the board)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
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


def no_check(db: Session, board: PtBoard, item: dict[str, Any]) -> None:
    """Nodes refer to nothing else on the board, so there is nothing to check."""


def drop_node_links(db: Session, board: PtBoard, node_id: str) -> None:
    """A deleted node takes its edges along; comments and attachments keep the board but lose the node."""
    db.execute(
        delete(PtEdge).where(PtEdge.board_id == board.id, or_(PtEdge.source == node_id, PtEdge.target == node_id))
    )
    db.flush()
    unlink_missing_nodes(db, board.id)


def no_links(db: Session, board: PtBoard, edge_id: str) -> None:
    """Nothing refers to an edge."""


@dataclass(frozen=True)
class ItemKind:
    """What differs between the node routes and the edge routes; the routes themselves are written once."""

    name: str
    plural: str
    model: type[PtNode] | type[PtEdge]
    id_prefix: str
    fields: tuple[str, ...]
    normalize: Callable[[Any, Callable[[], str]], dict[str, Any]]
    to_json: Callable[[Any], dict[str, Any]]
    new_row: Callable[[str, dict[str, Any], int, datetime, datetime], PtNode | PtEdge]
    apply: Callable[[Any, dict[str, Any], datetime], None]
    load: Callable[[Session, str], Sequence[PtNode | PtEdge]]
    check: Callable[[Session, PtBoard, dict[str, Any]], None]  # before saving: do referenced nodes exist?
    unlink: Callable[[Session, PtBoard, str], None]  # on delete: what refers to the item

    def get(self, db: Session, board: PtBoard, item_id: str) -> Any:
        row = db.get(self.model, (board.id, item_id)) if storable(item_id) else None
        if row is None:
            raise ApiError(404, f"{self.name.capitalize()} not found")
        return row


NODES = ItemKind(
    "node", "nodes", PtNode, "n", NODE_FIELDS, normalize_node, node_json, node_row, apply_node, load_nodes,
    no_check, drop_node_links,
)  # fmt: skip
EDGES = ItemKind(
    "edge", "edges", PtEdge, "e", EDGE_FIELDS, normalize_edge, edge_json, edge_row, apply_edge, load_edges,
    check_endpoints, no_links,
)  # fmt: skip


def open_own_comment(
    db: Session, user: CurrentUser, project_id: str, board_id: str, comment_id: str
) -> tuple[PtBoard, PtComment]:
    """The locked board and a comment the caller may change: its author (any role) or a project owner."""
    access, board = open_items(db, user, project_id, board_id, "viewer")
    board = lock_board(db, board.id)  # a viewer may change their own comment: a write all the same
    comment = get_comment(db, board, comment_id)
    if comment.author_id != user.id and access.role != "owner":
        raise ApiError(403, "Forbidden")
    return board, comment


def register_kind_routes(bp: Blueprint, kind: ItemKind) -> None:
    """List, create, read, update and delete routes of one kind of board item (`/nodes` or `/edges`)."""
    collection = f"{ITEMS}/{kind.plural}"
    id_arg = f"{kind.name}_id"  # `<node_id>`, `<edge_id>`: the names the URL rules have always had
    member = f"{collection}/<{id_arg}>"

    def list_items(project_id: str, board_id: str) -> Response:
        services = get_services()
        user = require_user()
        with transaction(services.session_factory) as db:
            _, board = open_items(db, user, project_id, board_id, "viewer")
            return json_response({kind.plural: [kind.to_json(row) for row in kind.load(db, board.id)]})

    def create_item(project_id: str, board_id: str) -> Response:
        services = get_services()
        user = require_user()
        with transaction(services.session_factory) as db:
            _, board = open_items(db, user, project_id, board_id, "editor")
            item = kind.normalize(json_object(), lambda: services.ids.new(kind.id_prefix))
            kind.check(db, board, item)
            if db.get(kind.model, (board.id, item["id"])) is not None:
                raise ApiError(409, f"{kind.name.capitalize()} {item['id']!r} already exists on this board")
            now = services.clock.now()
            row = kind.new_row(board.id, item, next_position(db, kind.model, board.id), now, now)
            db.add(row)
            touch(board, now)
            db.flush()
            return json_response({"ok": True, kind.name: kind.to_json(row)}, 201)

    def read_item(project_id: str, board_id: str, **path: str) -> Response:
        item_id = path[id_arg]
        services = get_services()
        user = require_user()
        with transaction(services.session_factory) as db:
            _, board = open_items(db, user, project_id, board_id, "viewer")
            return json_response({kind.name: kind.to_json(kind.get(db, board, item_id))})

    def update_item(project_id: str, board_id: str, **path: str) -> Response:
        item_id = path[id_arg]
        services = get_services()
        user = require_user()
        with transaction(services.session_factory) as db:
            _, board = open_items(db, user, project_id, board_id, "editor")
            row = kind.get(db, board, item_id)
            changed = merged(kind.to_json(row), json_object(), kind.fields, item_id)
            item = kind.normalize(changed, lambda: item_id)
            kind.check(db, board, item)
            now = services.clock.now()
            kind.apply(row, item, now)
            touch(board, now)
            return json_response({"ok": True, kind.name: kind.to_json(row)})

    def delete_item(project_id: str, board_id: str, **path: str) -> Response:
        item_id = path[id_arg]
        services = get_services()
        user = require_user()
        with transaction(services.session_factory) as db:
            _, board = open_items(db, user, project_id, board_id, "editor")
            row = kind.get(db, board, item_id)
            db.delete(row)
            db.flush()
            kind.unlink(db, board, item_id)
            touch(board, services.clock.now())
        return no_content()

    bp.add_url_rule(collection, f"list_{kind.plural}", list_items, methods=["GET"])
    bp.add_url_rule(collection, f"create_{kind.name}", create_item, methods=["POST"])
    bp.add_url_rule(member, f"read_{kind.name}", read_item, methods=["GET"])
    bp.add_url_rule(member, f"update_{kind.name}", update_item, methods=["PATCH"])
    bp.add_url_rule(member, f"delete_{kind.name}", delete_item, methods=["DELETE"])


def register_item_routes(bp: Blueprint) -> None:
    for kind in (NODES, EDGES):
        register_kind_routes(bp, kind)

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
            board, comment = open_own_comment(db, user, project_id, board_id, comment_id)
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
            board, comment = open_own_comment(db, user, project_id, board_id, comment_id)
            db.delete(comment)
            touch(board, services.clock.now())
        return no_content()


def _comment_text(value: str) -> str:
    text = clean_text(value).strip()
    if not text:
        raise invalid("body", "must not be blank")
    return text


__all__ = ["register_item_routes"]
