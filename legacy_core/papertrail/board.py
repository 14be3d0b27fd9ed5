"""Board queries and JSON serialisation: loading, replacing and describing a project's board (no Flask here)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from legacy_core.clock import isoformat
from legacy_core.db import insert_unless_taken
from legacy_core.errors import ApiError
from legacy_core.models import Project, PtAttachment, PtBoard, PtComment, PtEdge, PtNode
from legacy_core.papertrail.normalize import storable

COMMENT_MAX = 10000


def node_json(node: PtNode) -> dict[str, Any]:
    return {
        "id": node.id,
        "type": node.type,
        "x": node.x,
        "y": node.y,
        "w": node.w,
        "h": node.h,
        "title": node.title,
        "text": node.text,
        "html": node.html,
        "descHtml": node.desc_html,
        "url": node.url,
        "imageUrl": node.image_url,
        "color": node.color,
        "tags": list(node.tags or []),
    }


def edge_json(edge: PtEdge) -> dict[str, Any]:
    return {"id": edge.id, "source": edge.source, "target": edge.target, "label": edge.label, "color": edge.color}


def comment_json(comment: PtComment) -> dict[str, Any]:
    return {
        "id": comment.id,
        "nodeId": comment.node_id,
        "authorId": comment.author_id,
        "body": comment.body,
        "createdAt": isoformat(comment.created_at),
        "updatedAt": isoformat(comment.updated_at),
    }


def upload_url(project_id: str, attachment_id: str, filename: str) -> str:
    return f"/uploads/{project_id}/{attachment_id}/{filename}"


def attachment_json(attachment: PtAttachment, project_id: str) -> dict[str, Any]:
    return {
        "id": attachment.id,
        "filename": attachment.filename,
        "contentType": attachment.content_type,
        "size": attachment.size,
        "url": upload_url(project_id, attachment.id, attachment.filename),
        "nodeId": attachment.node_id,
        "createdAt": isoformat(attachment.created_at),
    }


def tag_counts(nodes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """How many nodes carry each tag, sorted by tag."""
    counts = Counter(tag for node in nodes for tag in node["tags"])
    return [{"tag": tag, "count": counts[tag]} for tag in sorted(counts)]


def load_nodes(db: Session, board_id: str) -> list[PtNode]:
    return list(db.scalars(select(PtNode).where(PtNode.board_id == board_id).order_by(PtNode.position, PtNode.id)))


def load_edges(db: Session, board_id: str) -> list[PtEdge]:
    return list(db.scalars(select(PtEdge).where(PtEdge.board_id == board_id).order_by(PtEdge.position, PtEdge.id)))


def load_comments(db: Session, board_id: str, node_id: str | None = None) -> list[PtComment]:
    query = select(PtComment).where(PtComment.board_id == board_id)
    if node_id is not None:
        query = query.where(PtComment.node_id == node_id)
    return list(db.scalars(query.order_by(PtComment.created_at, PtComment.id)))


def load_attachments(db: Session, board_id: str) -> list[PtAttachment]:
    return list(
        db.scalars(
            select(PtAttachment)
            .where(PtAttachment.board_id == board_id)
            .order_by(PtAttachment.created_at, PtAttachment.id)
        )
    )


def _count(db: Session, model: type[PtComment] | type[PtAttachment], board_id: str) -> int:
    return int(db.scalar(select(func.count()).select_from(model).where(model.board_id == board_id)) or 0)


def board_json(db: Session, board: PtBoard, project: Project) -> dict[str, Any]:
    """The whole board as GET /board answers it."""
    nodes = [node_json(node) for node in load_nodes(db, board.id)]
    edges = [edge_json(edge) for edge in load_edges(db, board.id)]
    tags = tag_counts(nodes)
    return {
        "id": board.id,
        "projectId": board.project_id,
        "title": board.title,
        "nodes": nodes,
        "edges": edges,
        "tags": tags,
        "stats": {
            "nodes": len(nodes),
            "edges": len(edges),
            "comments": _count(db, PtComment, board.id),
            "attachments": _count(db, PtAttachment, board.id),
            "tags": len(tags),
        },
        "project": {"id": project.id, "name": project.name, "slug": project.slug, "type": project.type},
        "createdAt": isoformat(board.created_at),
        "updatedAt": isoformat(board.updated_at),
    }


def find_board(db: Session, project_id: str) -> PtBoard | None:
    return db.scalar(select(PtBoard).where(PtBoard.project_id == project_id))


def ensure_board(db: Session, project: Project, new_id: Callable[[], str], now: datetime) -> PtBoard:
    """The project's board, created (titled after the project) when it has none yet."""
    board = find_board(db, project.id)
    if board is None:
        # Two first reads may race; the loser's insert does nothing and it reads the winner's board.
        values = {"project_id": project.id, "title": project.name[:160], "created_at": now, "updated_at": now}
        insert_unless_taken(db, PtBoard, {"id": new_id(), **values})
        board = find_board(db, project.id)
        assert board is not None  # inserted just now, or by the request that won the race
    return board


def require_board(db: Session, project_id: str, board_id: str) -> PtBoard:
    """The board `board_id` if it belongs to the project, else a 404."""
    board = db.get(PtBoard, board_id) if storable(board_id) else None
    if board is None or board.project_id != project_id:
        raise ApiError(404, "Board not found")
    return board


def lock_board(db: Session, board_id: str) -> PtBoard:
    """Serialise the writers of one board: hold its row lock until the transaction ends; the board, fresh.

    Every write path calls this right after its access check, so a check-then-write (an id that exists, the list
    of old attachment folders, delete-all-then-insert of a snapshot) sees the latest committed state and no other
    writer of the board can interleave. PostgreSQL takes the row lock with SELECT ... FOR UPDATE. SQLite (pysqlite
    begins a transaction only at the first DML) gets a no-op UPDATE, which takes the database write lock at once,
    so every later read of the request sees what the previous writer committed.
    """
    if db.get_bind().dialect.name == "postgresql":
        query = select(PtBoard).where(PtBoard.id == board_id).with_for_update()
    else:
        db.execute(
            update(PtBoard)
            .where(PtBoard.id == board_id)
            .values(id=PtBoard.id)
            .execution_options(synchronize_session=False)
        )
        query = select(PtBoard).where(PtBoard.id == board_id)
    board = db.scalar(query.execution_options(populate_existing=True))
    if board is None:  # deleted by a writer that held the lock before us
        raise ApiError(404, "Board not found")
    return board


def unlink_missing_nodes(db: Session, board_id: str) -> None:
    """Comments and attachments of the board whose node is gone keep no node id (a later node of that id is new)."""
    node_ids = select(PtNode.id).where(PtNode.board_id == board_id)
    for model in (PtComment, PtAttachment):
        db.execute(
            update(model)
            .where(model.board_id == board_id, model.node_id.is_not(None), model.node_id.not_in(node_ids))
            .values(node_id=None)
            .execution_options(synchronize_session="fetch")
        )


def node_row(board_id: str, node: dict[str, Any], position: int, created_at: datetime, now: datetime) -> PtNode:
    """A new row from a normalised node."""
    row = PtNode(board_id=board_id, id=node["id"], position=position, created_at=created_at, updated_at=now)
    apply_node(row, node, now)
    return row


def apply_node(row: PtNode, node: dict[str, Any], now: datetime) -> None:
    """Copy a normalised node's fields (all but its id) onto a row."""
    row.type = node["type"]
    row.x, row.y, row.w, row.h = node["x"], node["y"], node["w"], node["h"]
    row.title, row.text, row.html, row.desc_html = node["title"], node["text"], node["html"], node["descHtml"]
    row.url, row.image_url, row.color, row.tags = node["url"], node["imageUrl"], node["color"], list(node["tags"])
    row.updated_at = now


def edge_row(board_id: str, edge: dict[str, Any], position: int, created_at: datetime, now: datetime) -> PtEdge:
    row = PtEdge(board_id=board_id, id=edge["id"], position=position, created_at=created_at, updated_at=now)
    apply_edge(row, edge, now)
    return row


def apply_edge(row: PtEdge, edge: dict[str, Any], now: datetime) -> None:
    row.source, row.target, row.label, row.color = edge["source"], edge["target"], edge["label"], edge["color"]
    row.updated_at = now


def replace_nodes(db: Session, board: PtBoard, nodes: list[dict[str, Any]], now: datetime) -> None:
    """Make the board's nodes exactly `nodes`, in order; a node that already existed keeps its creation time.

    Comments and attachments of a node that is gone now are unlinked from it (their node id becomes null).
    """
    created = {
        row.id: row.created_at
        for row in db.execute(select(PtNode.id, PtNode.created_at).where(PtNode.board_id == board.id))
    }
    db.execute(delete(PtNode).where(PtNode.board_id == board.id))
    db.add_all(node_row(board.id, node, index, created.get(node["id"], now), now) for index, node in enumerate(nodes))
    db.flush()
    unlink_missing_nodes(db, board.id)


def replace_edges(db: Session, board: PtBoard, edges: list[dict[str, Any]], now: datetime) -> None:
    """Make the board's edges exactly `edges`, in order."""
    created = {
        row.id: row.created_at
        for row in db.execute(select(PtEdge.id, PtEdge.created_at).where(PtEdge.board_id == board.id))
    }
    db.execute(delete(PtEdge).where(PtEdge.board_id == board.id))
    db.add_all(edge_row(board.id, edge, index, created.get(edge["id"], now), now) for index, edge in enumerate(edges))
    db.flush()


def next_position(db: Session, model: type[PtNode] | type[PtEdge], board_id: str) -> int:
    highest = db.scalar(select(func.max(model.position)).where(model.board_id == board_id))
    return 0 if highest is None else int(highest) + 1


def clear_board(db: Session, board_id: str) -> None:
    """Delete every row that hangs off a board (not the board itself)."""
    for model in (PtComment, PtAttachment, PtEdge, PtNode):
        db.execute(delete(model).where(model.board_id == board_id))


def touch(board: PtBoard, now: datetime) -> None:
    board.updated_at = now


__all__ = [
    "COMMENT_MAX",
    "apply_edge",
    "apply_node",
    "attachment_json",
    "board_json",
    "clear_board",
    "comment_json",
    "edge_json",
    "edge_row",
    "ensure_board",
    "find_board",
    "load_attachments",
    "load_comments",
    "load_edges",
    "load_nodes",
    "lock_board",
    "next_position",
    "node_json",
    "node_row",
    "replace_edges",
    "replace_nodes",
    "require_board",
    "tag_counts",
    "touch",
    "unlink_missing_nodes",
    "upload_url",
]
