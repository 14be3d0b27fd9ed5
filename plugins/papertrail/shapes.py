"""JSON shapes of stored rows: what the API answers for nodes, edges, comments, attachments and tag counts.

Key order is part of the answer (responses are compared byte for byte), so each shape is written out literally.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from exthost.sdk import isoformat

from .models import Attachment, Comment, Edge, Node


def node_shape(row: Node) -> dict[str, Any]:
    return {
        "id": row.id,
        "type": row.type,
        "x": row.x,
        "y": row.y,
        "w": row.w,
        "h": row.h,
        "title": row.title,
        "text": row.text,
        "html": row.html,
        "descHtml": row.desc_html,
        "url": row.url,
        "imageUrl": row.image_url,
        "color": row.color,
        "tags": list(row.tags or []),
    }


def edge_shape(row: Edge) -> dict[str, Any]:
    return {"id": row.id, "source": row.source, "target": row.target, "label": row.label, "color": row.color}


def comment_shape(row: Comment) -> dict[str, Any]:
    return {
        "id": row.id,
        "nodeId": row.node_id,
        "authorId": row.author_id,
        "body": row.body,
        "createdAt": isoformat(row.created_at),
        "updatedAt": isoformat(row.updated_at),
    }


def file_url(project_id: str, attachment_id: str, filename: str) -> str:
    """Where an attachment is served (the access-checked `/uploads/...` route)."""
    return f"/uploads/{project_id}/{attachment_id}/{filename}"


def attachment_shape(row: Attachment, project_id: str) -> dict[str, Any]:
    return {
        "id": row.id,
        "filename": row.filename,
        "contentType": row.content_type,
        "size": row.size,
        "url": file_url(project_id, row.id, row.filename),
        "nodeId": row.node_id,
        "createdAt": isoformat(row.created_at),
    }


def tag_counts(nodes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """How many nodes carry each tag, alphabetically."""
    counts = Counter(name for item in nodes for name in item["tags"])
    return [{"tag": name, "count": counts[name]} for name in sorted(counts)]
