"""Comment routes: list (optionally about one node), write, edit and delete comments on a board.

Editors and owners write comments; a comment may be changed or deleted by its author, whatever their role now, or
by a project owner.
"""

from __future__ import annotations

from flask import Response, request
from sqlalchemy.orm import Session

from exthost.sdk import CurrentUser, HttpError

from . import rules, store
from .bodies import CommentEdit, NewComment, invalid, json_body, validated
from .feature import EDITOR, OWNER, VIEWER, Feature
from .item_routes import ITEMS
from .models import Board, Comment, Node
from .replies import answer, no_content
from .shapes import comment_shape

COMMENTS = f"{ITEMS}/comments"


def comment_text(value: str) -> str:
    """The stored text: scrubbed and stripped, and not empty once it is."""
    text = rules.scrub(value).strip()
    if not text:
        raise invalid("body", "must not be blank")
    return text


def find_comment(db: Session, board: Board, comment_id: str) -> Comment:
    comment = db.get(Comment, comment_id) if rules.storable(comment_id) else None
    if comment is None or comment.board_id != board.id:
        raise HttpError(404, "Comment not found")
    return comment


def register_comment_routes(feature: Feature) -> None:
    """Add the comment routes to the plugin's router."""
    router = feature.ctx.router

    def own_comment(
        db: Session, user: CurrentUser, project_id: str, board_id: str, comment_id: str
    ) -> tuple[Board, Comment]:
        """The locked board and a comment the caller may change (its author, or an owner); 403 otherwise."""
        found, board = feature.open_items(db, project_id, board_id, VIEWER)
        # A viewer may change their own comment: that is a write, so the board is locked all the same.
        board = store.lock(db, board.id)
        comment = find_comment(db, board, comment_id)
        if comment.author_id != user.id and found.role != OWNER:
            raise HttpError(403, "Forbidden")
        return board, comment

    @router.get(COMMENTS)
    def list_comments(project_id: str, board_id: str) -> Response:
        feature.user()
        with feature.ctx.transaction() as db:
            _, board = feature.open_items(db, project_id, board_id, VIEWER)
            node_id = request.args.get("nodeId") or None
            if node_id is not None and not rules.storable(node_id):
                return answer({"comments": []})  # no stored node id can hold such characters
            rows = store.comments_of(db, board.id, node_id)
            return answer({"comments": [comment_shape(row) for row in rows]})

    @router.post(COMMENTS)
    def create_comment(project_id: str, board_id: str) -> Response:
        user = feature.user()
        with feature.ctx.transaction() as db:
            _, board = feature.open_items(db, project_id, board_id, EDITOR)
            body = validated(NewComment, json_body())
            text = comment_text(body.body)
            node_id = body.nodeId
            if node_id is not None and (not rules.storable(node_id) or db.get(Node, (board.id, node_id)) is None):
                raise invalid("nodeId", f"no node {node_id!r} on this board")
            now = feature.ctx.clock.now()
            comment = Comment(
                id=feature.ctx.ids.new("c"),
                board_id=board.id,
                node_id=node_id,
                author_id=user.id,
                body=text,
                created_at=now,
                updated_at=now,
            )
            db.add(comment)
            store.bump(board, now)
            db.flush()
            return answer({"ok": True, "comment": comment_shape(comment)}, 201)

    @router.patch(f"{COMMENTS}/<comment_id>")
    def update_comment(project_id: str, board_id: str, comment_id: str) -> Response:
        user = feature.user()
        with feature.ctx.transaction() as db:
            board, comment = own_comment(db, user, project_id, board_id, comment_id)
            body = validated(CommentEdit, json_body())
            now = feature.ctx.clock.now()
            comment.body = comment_text(body.body)
            comment.updated_at = now
            store.bump(board, now)
            return answer({"ok": True, "comment": comment_shape(comment)})

    @router.delete(f"{COMMENTS}/<comment_id>")
    def delete_comment(project_id: str, board_id: str, comment_id: str) -> Response:
        user = feature.user()
        with feature.ctx.transaction() as db:
            board, comment = own_comment(db, user, project_id, board_id, comment_id)
            db.delete(comment)
            store.bump(board, feature.ctx.clock.now())
        return no_content()
