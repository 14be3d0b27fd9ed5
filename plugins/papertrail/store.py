"""Board persistence: finding, creating, locking and rewriting a board's rows (sessions passed in, no Flask).

Write paths lock the board right after their access check, so a check-then-write never interleaves with another
writer of the same board: PostgreSQL takes the row lock (`SELECT ... FOR UPDATE`); SQLite, whose driver starts a
transaction only at the first write, gets a no-op UPDATE that takes the database write lock at once.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, delete, func, insert, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from exthost.sdk import HttpError, ProjectInfo, isoformat

from .models import Attachment, Board, Comment, Edge, Node
from .rules import storable
from .shapes import edge_shape, node_shape, tag_counts

ItemModel = type[Node] | type[Edge]


def nodes_of(db: Session, board_id: str) -> list[Node]:
    query = select(Node).where(Node.board_id == board_id).order_by(Node.position, Node.id)
    return list(db.scalars(query))


def edges_of(db: Session, board_id: str) -> list[Edge]:
    query = select(Edge).where(Edge.board_id == board_id).order_by(Edge.position, Edge.id)
    return list(db.scalars(query))


def comments_of(db: Session, board_id: str, node_id: str | None = None) -> list[Comment]:
    query = select(Comment).where(Comment.board_id == board_id)
    if node_id is not None:
        query = query.where(Comment.node_id == node_id)
    return list(db.scalars(query.order_by(Comment.created_at, Comment.id)))


def attachments_of(db: Session, board_id: str) -> list[Attachment]:
    query = select(Attachment).where(Attachment.board_id == board_id)
    return list(db.scalars(query.order_by(Attachment.created_at, Attachment.id)))


def _how_many(db: Session, model: type[Comment] | type[Attachment], board_id: str) -> int:
    found = db.scalar(select(func.count()).select_from(model).where(model.board_id == board_id))
    return int(found or 0)


def board_document(db: Session, board: Board, project: ProjectInfo) -> dict[str, Any]:
    """The board as `GET .../board` answers it: content, tag counts, stats and its project."""
    nodes = [node_shape(row) for row in nodes_of(db, board.id)]
    edges = [edge_shape(row) for row in edges_of(db, board.id)]
    tags = tag_counts(nodes)
    stats = {
        "nodes": len(nodes),
        "edges": len(edges),
        "comments": _how_many(db, Comment, board.id),
        "attachments": _how_many(db, Attachment, board.id),
        "tags": len(tags),
    }
    return {
        "id": board.id,
        "projectId": board.project_id,
        "title": board.title,
        "nodes": nodes,
        "edges": edges,
        "tags": tags,
        "stats": stats,
        "project": {"id": project.id, "name": project.name, "slug": project.slug, "type": project.type},
        "createdAt": isoformat(board.created_at),
        "updatedAt": isoformat(board.updated_at),
    }


def board_of_project(db: Session, project_id: str) -> Board | None:
    return db.scalar(select(Board).where(Board.project_id == project_id))


def _insert_if_free(db: Session, values: dict[str, Any]) -> None:
    """Insert a board unless the project already has one: two first reads may race, and the loser must not 500."""
    dialect = db.get_bind().dialect.name
    statement: Any
    if dialect == "postgresql":
        statement = pg_insert(Board).values(**values).on_conflict_do_nothing()
    elif dialect == "sqlite":
        statement = sqlite_insert(Board).values(**values).on_conflict_do_nothing()
    else:
        statement = insert(Board).values(**values)
    db.execute(statement)


def board_for(db: Session, project: ProjectInfo, new_id: Callable[[], str], now: datetime) -> Board:
    """The project's board, created on first use and titled after the project."""
    found = board_of_project(db, project.id)
    if found is not None:
        return found
    # The id is drawn only when a board is really made: the id service is shared, and ids are compared with legacy.
    values = {
        "id": new_id(),
        "project_id": project.id,
        "title": project.name[:160],
        "created_at": now,
        "updated_at": now,
    }
    _insert_if_free(db, values)
    created = board_of_project(db, project.id)
    if created is None:  # pragma: no cover - the insert or the racing request's insert made it
        raise RuntimeError(f"board of project {project.id!r} missing right after it was created")
    return created


def board_in_project(db: Session, project_id: str, board_id: str) -> Board:
    """Board `board_id` if it belongs to the project; otherwise 404."""
    board = db.get(Board, board_id) if storable(board_id) else None
    if board is None or board.project_id != project_id:
        raise HttpError(404, "Board not found")
    return board


def lock(db: Session, board_id: str) -> Board:
    """Hold the board's write lock until the transaction ends; the board, freshly read (see the module doc)."""
    query = select(Board).where(Board.id == board_id)
    if db.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    else:
        noop = update(Board).where(Board.id == board_id).values(id=Board.id)
        db.execute(noop.execution_options(synchronize_session=False))
    board = db.scalar(query.execution_options(populate_existing=True))
    if board is None:  # a writer that held the lock before us deleted it
        raise HttpError(404, "Board not found")
    return board


def detach_vanished_nodes(db: Session, board_id: str) -> None:
    """Comments and attachments whose node no longer exists lose the reference (a later node of that id is new)."""
    live = select(Node.id).where(Node.board_id == board_id)
    for model in (Comment, Attachment):
        stale: ColumnElement[bool] = model.node_id.not_in(live)
        db.execute(
            update(model)
            .where(model.board_id == board_id, model.node_id.is_not(None), stale)
            .values(node_id=None)
            .execution_options(synchronize_session="fetch")
        )


def write_node(row: Node, item: dict[str, Any], now: datetime) -> None:
    """Copy a shaped node's fields (its id aside) onto a row."""
    row.type = item["type"]
    row.x, row.y, row.w, row.h = item["x"], item["y"], item["w"], item["h"]
    row.title, row.text, row.html = item["title"], item["text"], item["html"]
    row.desc_html, row.url, row.image_url = item["descHtml"], item["url"], item["imageUrl"]
    row.color, row.tags = item["color"], list(item["tags"])
    row.updated_at = now


def write_edge(row: Edge, item: dict[str, Any], now: datetime) -> None:
    """Copy a shaped edge's fields (its id aside) onto a row."""
    row.source, row.target, row.label, row.color = item["source"], item["target"], item["label"], item["color"]
    row.updated_at = now


def new_node(board_id: str, item: dict[str, Any], position: int, created: datetime, now: datetime) -> Node:
    row = Node(board_id=board_id, id=item["id"], position=position, created_at=created)
    write_node(row, item, now)
    return row


def new_edge(board_id: str, item: dict[str, Any], position: int, created: datetime, now: datetime) -> Edge:
    row = Edge(board_id=board_id, id=item["id"], position=position, created_at=created)
    write_edge(row, item, now)
    return row


def set_nodes(db: Session, board: Board, items: list[dict[str, Any]], now: datetime) -> None:
    """Make the board's nodes exactly `items`, in order; surviving ids keep their creation time."""
    born = {
        row.id: row.created_at for row in db.execute(select(Node.id, Node.created_at).where(Node.board_id == board.id))
    }
    db.execute(delete(Node).where(Node.board_id == board.id))
    db.add_all(new_node(board.id, item, index, born.get(item["id"], now), now) for index, item in enumerate(items))
    db.flush()
    detach_vanished_nodes(db, board.id)


def set_edges(db: Session, board: Board, items: list[dict[str, Any]], now: datetime) -> None:
    """Make the board's edges exactly `items`, in order; surviving ids keep their creation time."""
    born = {
        row.id: row.created_at for row in db.execute(select(Edge.id, Edge.created_at).where(Edge.board_id == board.id))
    }
    db.execute(delete(Edge).where(Edge.board_id == board.id))
    db.add_all(new_edge(board.id, item, index, born.get(item["id"], now), now) for index, item in enumerate(items))
    db.flush()


def drop_edges_touching(db: Session, board_id: str, node_id: str) -> None:
    """Remove the edges that start or end at a node (the node is being deleted)."""
    touching = or_(Edge.source == node_id, Edge.target == node_id)
    db.execute(delete(Edge).where(Edge.board_id == board_id, touching))
    db.flush()


def next_position(db: Session, model: ItemModel, board_id: str) -> int:
    """The position after the board's last item of this kind (0 on an empty board)."""
    highest = db.scalar(select(func.max(model.position)).where(model.board_id == board_id))
    return 0 if highest is None else int(highest) + 1


def empty(db: Session, board_id: str) -> None:
    """Delete every row hanging off the board (the board itself stays)."""
    for model in (Comment, Attachment, Edge, Node):
        db.execute(delete(model).where(model.board_id == board_id))


def bump(board: Board, now: datetime) -> None:
    """Every write moves the board's `updatedAt`."""
    board.updated_at = now
