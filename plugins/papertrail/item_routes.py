"""Routes of single board items: list, create, read, update and delete nodes and edges.

Nodes and edges share the five routes and differ in a few rules, which each `ItemKind` subclass supplies: how an
item is shaped, stored and shown, what must exist before one is saved (an edge's two nodes), and what goes with
it when it is deleted (a node's edges, and its comments' and attachments' reference to it).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from datetime import datetime
from typing import Any

from flask import Response
from sqlalchemy.orm import Session

from exthost.sdk import HttpError

from . import rules, store
from .bodies import invalid, json_body
from .feature import EDITOR, VIEWER, Feature
from .models import Board, Edge, Node
from .replies import answer, no_content
from .shapes import edge_shape, node_shape

ITEMS = "/api/projects/<project_id>/papertrail/board/<board_id>"


class ItemKind(ABC):
    """The rules of one kind of board item; each kind (nodes, edges) implements the abstract methods."""

    singular = ""
    plural = ""
    prefix = ""  # of generated ids
    keys: tuple[str, ...] = ()  # the item's fields, "id" first
    model: store.ItemModel

    @abstractmethod
    def shape(self, raw: Any, new_id: rules.NewId) -> dict[str, Any]:
        """The checked, normalised item from a request body, drawing ids from `new_id` (400 on bad input)."""

    @abstractmethod
    def show(self, row: Any) -> dict[str, Any]:
        """A stored row as the API shows it."""

    @abstractmethod
    def create_row(self, board: Board, item: dict[str, Any], position: int, now: datetime) -> Node | Edge:
        """A new row for `item` at `position` on `board`."""

    @abstractmethod
    def update_row(self, row: Any, item: dict[str, Any], now: datetime) -> None:
        """Write `item`'s fields onto an existing row."""

    @abstractmethod
    def rows(self, db: Session, board_id: str) -> list[Any]:
        """Every stored item of the board, in board order."""

    def check_links(self, db: Session, board: Board, item: dict[str, Any]) -> None:
        """Refuse an item that refers to something missing (nothing to check by default)."""
        return

    def after_delete(self, db: Session, board: Board, item_id: str) -> None:
        """Clean up what referred to a deleted item (nothing by default)."""
        return

    def find(self, db: Session, board: Board, item_id: str) -> Any:
        """The stored item, or 404 ("Node not found" / "Edge not found")."""
        row = db.get(self.model, (board.id, item_id)) if rules.storable(item_id) else None
        if row is None:
            raise HttpError(404, f"{self.singular.capitalize()} not found")
        return row

    def merge(self, current: dict[str, Any], data: dict[str, Any], item_id: str) -> dict[str, Any]:
        """The item after a partial update: some known field must be given, and the id cannot change."""
        given = [key for key in self.keys if key in data]
        if not given:
            choices = ", ".join(repr(key) for key in self.keys[1:])
            raise HttpError(400, f"Nothing to update: give at least one of {choices}")
        if "id" in data and data["id"] != item_id:
            raise invalid("id", f"an item's id cannot change (it is {item_id!r})")
        return current | {key: data[key] for key in given}


class Nodes(ItemKind):
    singular, plural, prefix, keys, model = "node", "nodes", "n", rules.NODE_KEYS, Node

    def shape(self, raw: Any, new_id: rules.NewId) -> dict[str, Any]:
        return rules.node(raw, new_id)

    def show(self, row: Any) -> dict[str, Any]:
        return node_shape(row)

    def create_row(self, board: Board, item: dict[str, Any], position: int, now: datetime) -> Node | Edge:
        return store.new_node(board.id, item, position, now, now)

    def update_row(self, row: Any, item: dict[str, Any], now: datetime) -> None:
        store.write_node(row, item, now)

    def rows(self, db: Session, board_id: str) -> list[Any]:
        return list(store.nodes_of(db, board_id))

    def after_delete(self, db: Session, board: Board, item_id: str) -> None:
        # The node's edges go with it; comments and attachments stay on the board but lose the node.
        store.drop_edges_touching(db, board.id, item_id)
        store.detach_vanished_nodes(db, board.id)


class Edges(ItemKind):
    singular, plural, prefix, keys, model = "edge", "edges", "e", rules.EDGE_KEYS, Edge

    def shape(self, raw: Any, new_id: rules.NewId) -> dict[str, Any]:
        return rules.edge(raw, new_id)

    def show(self, row: Any) -> dict[str, Any]:
        return edge_shape(row)

    def create_row(self, board: Board, item: dict[str, Any], position: int, now: datetime) -> Node | Edge:
        return store.new_edge(board.id, item, position, now, now)

    def update_row(self, row: Any, item: dict[str, Any], now: datetime) -> None:
        store.write_edge(row, item, now)

    def rows(self, db: Session, board_id: str) -> list[Any]:
        return list(store.edges_of(db, board_id))

    def check_links(self, db: Session, board: Board, item: dict[str, Any]) -> None:
        for end in ("source", "target"):
            node_id = item[end]
            if not node_id or not rules.storable(node_id) or db.get(Node, (board.id, node_id)) is None:
                raise invalid(end, f"no node {node_id!r} on this board; an edge must join two existing nodes")


def _shaped(kind: ItemKind, raw: Any, new_id: rules.NewId) -> dict[str, Any]:
    try:
        return kind.shape(raw, new_id)
    except rules.BoardDataError as exc:
        raise HttpError(400, "Invalid request", details=exc.details()) from exc


def register_kind(feature: Feature, kind: ItemKind) -> None:
    """The five routes of one kind, under `.../board/<boardId>/<plural>`."""
    router = feature.ctx.router
    collection = f"{ITEMS}/{kind.plural}"
    member = f"{collection}/<item_id>"

    def list_items(project_id: str, board_id: str) -> Response:
        feature.user()
        with feature.ctx.transaction() as db:
            _, board = feature.open_items(db, project_id, board_id, VIEWER)
            return answer({kind.plural: [kind.show(row) for row in kind.rows(db, board.id)]})

    def create_item(project_id: str, board_id: str) -> Response:
        feature.user()
        with feature.ctx.transaction() as db:
            _, board = feature.open_items(db, project_id, board_id, EDITOR)
            item = _shaped(kind, json_body(), feature.ids(kind.prefix))
            kind.check_links(db, board, item)
            if db.get(kind.model, (board.id, item["id"])) is not None:
                raise HttpError(409, f"{kind.singular.capitalize()} {item['id']!r} already exists on this board")
            now = feature.ctx.clock.now()
            row = kind.create_row(board, item, store.next_position(db, kind.model, board.id), now)
            db.add(row)
            store.bump(board, now)
            db.flush()
            return answer({"ok": True, kind.singular: kind.show(row)}, 201)

    def read_item(project_id: str, board_id: str, item_id: str) -> Response:
        feature.user()
        with feature.ctx.transaction() as db:
            _, board = feature.open_items(db, project_id, board_id, VIEWER)
            return answer({kind.singular: kind.show(kind.find(db, board, item_id))})

    def update_item(project_id: str, board_id: str, item_id: str) -> Response:
        feature.user()
        with feature.ctx.transaction() as db:
            _, board = feature.open_items(db, project_id, board_id, EDITOR)
            row = kind.find(db, board, item_id)
            changed = kind.merge(kind.show(row), json_body(), item_id)
            # The merged item always carries its id, so no new id is ever drawn here.
            item = _shaped(kind, changed, lambda: item_id)
            kind.check_links(db, board, item)
            now = feature.ctx.clock.now()
            kind.update_row(row, item, now)
            store.bump(board, now)
            return answer({"ok": True, kind.singular: kind.show(row)})

    def delete_item(project_id: str, board_id: str, item_id: str) -> Response:
        feature.user()
        with feature.ctx.transaction() as db:
            _, board = feature.open_items(db, project_id, board_id, EDITOR)
            db.delete(kind.find(db, board, item_id))
            db.flush()
            kind.after_delete(db, board, item_id)
            store.bump(board, feature.ctx.clock.now())
        return no_content()

    router.add_url_rule(collection, f"list_{kind.plural}", list_items, methods=["GET"])
    router.add_url_rule(collection, f"create_{kind.singular}", create_item, methods=["POST"])
    router.add_url_rule(member, f"read_{kind.singular}", read_item, methods=["GET"])
    router.add_url_rule(member, f"update_{kind.singular}", update_item, methods=["PATCH"])
    router.add_url_rule(member, f"delete_{kind.singular}", delete_item, methods=["DELETE"])


def register_item_routes(feature: Feature) -> None:
    """Add the node and edge routes to the plugin's router."""
    for kind in (Nodes(), Edges()):
        register_kind(feature, kind)
