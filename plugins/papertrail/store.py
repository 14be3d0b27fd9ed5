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


def _listed(db: Session, model: Any, *criteria: Any, order: tuple[Any, ...]) -> list[Any]:
    return list(db.scalars(select(model).where(*criteria).order_by(*order)))


def nodes_of(db: Session, board_id: str) -> list[Node]:
    """The board's nodes in drawing order."""
    return _listed(db, Node, Node.board_id == board_id, order=(Node.position, Node.id))


def edges_of(db: Session, board_id: str) -> list[Edge]:
    """The board's edges in drawing order."""
    return _listed(db, Edge, Edge.board_id == board_id, order=(Edge.position, Edge.id))


def comments_of(db: Session, board_id: str, node_id: str | None = None) -> list[Comment]:
    """The board's comments, oldest first; only one node's when `node_id` is given."""
    criteria = [Comment.board_id == board_id]
    if node_id is not None:
        criteria.append(Comment.node_id == node_id)
    return _listed(db, Comment, *criteria, order=(Comment.created_at, Comment.id))


def attachments_of(db: Session, board_id: str) -> list[Attachment]:
    """The board's attachments, oldest first."""
    return _listed(db, Attachment, Attachment.board_id == board_id, order=(Attachment.created_at, Attachment.id))


def _how_many(db: Session, model: type[Comment] | type[Attachment], board_id: str) -> int:
    counted = select(func.count()).select_from(model).where(model.board_id == board_id)
    return db.scalar(counted) or 0


def board_document(db: Session, board: Board, project: ProjectInfo) -> dict[str, Any]:
    """The board as `GET .../board` answers it: content, tag counts, stats and its project."""
    content: dict[str, list[dict[str, Any]]] = {
        "nodes": list(map(node_shape, nodes_of(db, board.id))),
        "edges": list(map(edge_shape, edges_of(db, board.id))),
    }
    tags = tag_counts(content["nodes"])
    stats = {kind: len(items) for kind, items in content.items()}
    stats.update(
        comments=_how_many(db, Comment, board.id), attachments=_how_many(db, Attachment, board.id), tags=len(tags)
    )
    return {
        "id": board.id,
        "projectId": board.project_id,
        "title": board.title,
        **content,
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
    """Board `board_id` if it belongs to the project; otherwise 404 (an id that could never be stored included)."""
    if storable(board_id):
        candidate = db.get(Board, board_id)
        if candidate is not None and candidate.project_id == project_id:
            return candidate
    raise HttpError(404, "Board not found")


def _take_sqlite_write_lock(db: Session, board_id: str) -> None:
    """An UPDATE that changes nothing but makes SQLite grant this transaction the database write lock now."""
    same_id = update(Board).where(Board.id == board_id).values(id=Board.id)
    db.execute(same_id.execution_options(synchronize_session=False))


def lock(db: Session, board_id: str) -> Board:
    """Hold the board's write lock until the transaction ends; the board, freshly read (see the module doc)."""
    fresh = select(Board).where(Board.id == board_id).execution_options(populate_existing=True)
    if db.get_bind().dialect.name == "postgresql":
        fresh = fresh.with_for_update()
    else:
        _take_sqlite_write_lock(db, board_id)
    locked = db.scalars(fresh).first()
    if locked is not None:
        return locked
    raise HttpError(404, "Board not found")  # the previous lock holder deleted it


# Rows that may point at a node of their board.
_NODE_HOLDERS = (Comment, Attachment)


def detach_vanished_nodes(db: Session, board_id: str) -> None:
    """Comments and attachments whose node no longer exists lose the reference (a later node of that id is new)."""
    live_ids = select(Node.id).where(Node.board_id == board_id)
    for model in _NODE_HOLDERS:
        orphaned: list[ColumnElement[bool]] = [
            model.board_id == board_id,
            model.node_id.is_not(None),
            model.node_id.not_in(live_ids),
        ]
        unlink = update(model).where(*orphaned).values(node_id=None)
        db.execute(unlink.execution_options(synchronize_session="fetch"))


# Shaped node key -> column attribute, for every field but the id and the tags (which get a fresh list).
_NODE_COLUMNS = (
    ("type", "type"),
    ("x", "x"),
    ("y", "y"),
    ("w", "w"),
    ("h", "h"),
    ("title", "title"),
    ("text", "text"),
    ("html", "html"),
    ("descHtml", "desc_html"),
    ("url", "url"),
    ("imageUrl", "image_url"),
    ("color", "color"),
)
_EDGE_COLUMNS = ("source", "target", "label", "color")


def write_node(row: Node, item: dict[str, Any], now: datetime) -> None:
    """Copy a shaped node's fields (its id aside) onto a row."""
    for key, column in _NODE_COLUMNS:
        setattr(row, column, item[key])
    row.tags = list(item["tags"])
    row.updated_at = now


def write_edge(row: Edge, item: dict[str, Any], now: datetime) -> None:
    """Copy a shaped edge's fields (its id aside) onto a row."""
    for key in _EDGE_COLUMNS:
        setattr(row, key, item[key])
    row.updated_at = now


def new_node(board_id: str, item: dict[str, Any], position: int, created: datetime, now: datetime) -> Node:
    """A fresh row for a shaped node at `position`."""
    row = Node(board_id=board_id, id=item["id"], position=position, created_at=created)
    write_node(row, item, now)
    return row


def new_edge(board_id: str, item: dict[str, Any], position: int, created: datetime, now: datetime) -> Edge:
    """A fresh row for a shaped edge at `position`."""
    row = Edge(board_id=board_id, id=item["id"], position=position, created_at=created)
    write_edge(row, item, now)
    return row


RowMaker = Callable[[str, dict[str, Any], int, datetime, datetime], Node | Edge]


def _rewrite(
    db: Session, model: ItemModel, make: RowMaker, board_id: str, items: list[dict[str, Any]], now: datetime
) -> None:
    """Delete the board's rows of `model` and insert `items` in their place, each keeping an earlier creation time."""
    query = select(model.id, model.created_at).where(model.board_id == board_id)
    first_created: dict[str, datetime] = {identity: created for identity, created in db.execute(query)}
    db.execute(delete(model).where(model.board_id == board_id))
    fresh = [
        make(board_id, item, position, first_created.get(item["id"], now), now) for position, item in enumerate(items)
    ]
    db.add_all(fresh)
    db.flush()


def set_nodes(db: Session, board: Board, items: list[dict[str, Any]], now: datetime) -> None:
    """Make the board's nodes exactly `items`, in order; then cut references to the nodes that are gone."""
    _rewrite(db, Node, new_node, board.id, items, now)
    detach_vanished_nodes(db, board.id)


def set_edges(db: Session, board: Board, items: list[dict[str, Any]], now: datetime) -> None:
    """Make the board's edges exactly `items`, in order."""
    _rewrite(db, Edge, new_edge, board.id, items, now)


def drop_edges_touching(db: Session, board_id: str, node_id: str) -> None:
    """Remove the edges that start or end at a node (the node is being deleted)."""
    touching = or_(Edge.source == node_id, Edge.target == node_id)
    db.execute(delete(Edge).where(Edge.board_id == board_id, touching))
    db.flush()


def next_position(db: Session, model: ItemModel, board_id: str) -> int:
    """One past the board's highest position for this kind of item; 0 when it has none."""
    following = select(func.coalesce(func.max(model.position) + 1, 0)).where(model.board_id == board_id)
    return int(db.scalar(following) or 0)


# Everything that belongs to a board, children before what they may point at.
_BOARD_CONTENT = (Comment, Attachment, Edge, Node)


def empty(db: Session, board_id: str) -> None:
    """Remove the board's content; the board row itself is kept."""
    for model in _BOARD_CONTENT:
        db.execute(delete(model).where(model.board_id == board_id))


def bump(board: Board, now: datetime) -> None:
    """Record a write: the board's `updatedAt` becomes `now`."""
    board.updated_at = now
