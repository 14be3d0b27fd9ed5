"""OpenAPI 3.1 fragment of PaperTrail: the board, its nodes, edges, comments, attachments, export and import."""

from __future__ import annotations

from typing import Any

from legacy_core.papertrail.board import COMMENT_MAX
from legacy_core.papertrail.normalize import (
    BOARD_TITLE_MAX,
    COLOR_MAX,
    COORD_MAX,
    COORD_MIN,
    EDGE_LABEL_MAX,
    ID_MAX,
    ID_PATTERN,
    NODE_TEXT_CAPS,
    NODE_TYPES,
)

ERROR_REF = "#/components/schemas/Error"
BASE = "/api/projects/{projectId}/papertrail/board"
ITEMS = BASE + "/{boardId}"
TAG = "PaperTrail"


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _object(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties) if required is None else required,
    }


def _path_param(name: str, description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": schema or {"type": "string"},
    }


_ID_RULE = (
    "1 to 80 characters; no '/', '\\' or control characters (U+0000-U+001F, U+007F-U+009F), and not '.' or '..', "
    "so that the id can be the last segment of its item's URL (percent-encode it there)."
)
_ITEM_ID = {"type": "string", "minLength": 1, "maxLength": ID_MAX, "pattern": ID_PATTERN}

PROJECT_ID = _path_param("projectId", "Id of a project of type `papertrail`.")
BOARD_ID = _path_param("boardId", "Id of the project's board (the `id` of GET /board); another board's id is a 404.")
NODE_ID = _path_param("nodeId", f"Client-chosen id of a node: {_ID_RULE}", _ITEM_ID)
EDGE_ID = _path_param("edgeId", f"Client-chosen id of an edge: {_ID_RULE}", _ITEM_ID)
COMMENT_ID = _path_param("commentId", "Id of a comment.")

_ERROR_MEANINGS = {
    400: "The request is invalid: a blank project id, bad JSON, a field of the wrong type, a duplicate id, "
    "an id that cannot be part of a URL, a missing node, a NUL character in the path.",
    401: "No valid session cookie.",
    403: "The caller's role on the project is too low (viewer < editor < owner), or not the comment's author.",
    404: "No such project of type papertrail in the caller's tenant, or no such board, node, edge or comment.",
    409: "An item with that id already exists on the board.",
    413: "The body is larger than the configured limit (counted while reading, whatever Content-Length says).",
}


def _errors(*statuses: int) -> dict[str, Any]:
    return {
        str(status): {"description": _ERROR_MEANINGS[status], "content": _json({"$ref": ERROR_REF})}
        for status in sorted({400, 401, 403, 404, *statuses})
    }


def _operation(
    operation_id: str,
    summary: str,
    ok_status: int,
    ok: dict[str, Any],
    *errors: int,
    body: dict[str, Any] | None = None,
    parameters: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "operationId": operation_id,
        "tags": [TAG],
        "summary": summary,
        "responses": {str(ok_status): ok, **_errors(*errors)},
    }
    if body is not None:
        operation["requestBody"] = body
    if parameters:
        operation["parameters"] = parameters
    return operation


def _ok(description: str, schema_name: str) -> dict[str, Any]:
    return {"description": description, "content": _json(_ref(schema_name))}


def _json_body(schema_name: str) -> dict[str, Any]:
    return {"required": True, "content": _json(_ref(schema_name))}


_NO_CONTENT = {"description": "Deleted."}
_TIMESTAMP = {"type": "string", "format": "date-time", "description": "UTC with milliseconds and a Z."}
_COORDINATE_IN = {
    "type": ["number", "null"],
    "minimum": COORD_MIN,
    "maximum": COORD_MAX,
    "description": "Truncated toward zero (10.9 -> 10, -3.7 -> -3); non-numbers and values outside 32 bits are 400.",
}
_ID_IN = {**_ITEM_ID, "description": f"Client-chosen id, generated when missing: {_ID_RULE} Others are 400."}
_TEXT_CAP_NOTE = "Longer text is truncated, not refused; null counts as empty."

_NODE_TEXT_FIELDS = {key: {"type": "string", "maxLength": limit} for key, limit in NODE_TEXT_CAPS.items()}
_NODE_FIELDS_IN: dict[str, Any] = {
    "id": _ID_IN,
    "type": {"type": "string", "description": f"One of {', '.join(NODE_TYPES)}; anything else becomes `text`."},
    "x": _COORDINATE_IN,
    "y": _COORDINATE_IN,
    "w": _COORDINATE_IN,
    "h": _COORDINATE_IN,
    **{
        key: {"type": ["string", "null"], "description": f"At most {limit} characters. {_TEXT_CAP_NOTE}"}
        for key, limit in NODE_TEXT_CAPS.items()
    },
    "tags": {
        "type": ["array", "null"],
        "items": {"type": "string"},
        "description": "Lower-cased, blanks trimmed, one leading '#' removed, empty and repeated tags dropped.",
    },
}
_EDGE_FIELDS_IN: dict[str, Any] = {
    "id": _ID_IN,
    "source": {"type": "string", "description": "Id of a node of the board."},
    "target": {"type": "string", "description": "Id of a node of the board."},
    "label": {"type": ["string", "null"], "description": f"At most {EDGE_LABEL_MAX} characters. {_TEXT_CAP_NOTE}"},
    "color": {"type": ["string", "null"], "description": f"At most {COLOR_MAX} characters. {_TEXT_CAP_NOTE}"},
}
_TITLE_IN = {"type": "string", "description": f"At most {BOARD_TITLE_MAX} characters; longer titles are truncated."}


def _at_least_one(fields: list[str]) -> list[dict[str, Any]]:
    return [{"required": [name]} for name in fields]


SCHEMAS: dict[str, Any] = {
    "PaperTrailNode": _object(
        {
            "id": _ITEM_ID,
            "type": {"enum": list(NODE_TYPES)},
            "x": {"type": "integer"},
            "y": {"type": "integer"},
            "w": {"type": ["integer", "null"]},
            "h": {"type": ["integer", "null"]},
            **_NODE_TEXT_FIELDS,
            "tags": {"type": "array", "items": {"type": "string", "minLength": 1}},
        }
    ),
    "PaperTrailEdge": _object(
        {
            "id": _ITEM_ID,
            "source": {"type": "string"},
            "target": {"type": "string"},
            "label": {"type": "string", "maxLength": EDGE_LABEL_MAX},
            "color": {"type": "string", "maxLength": COLOR_MAX},
        }
    ),
    "PaperTrailNodeInput": {
        "type": "object",
        "description": "A node as a client sends it; unknown properties are ignored.",
        "properties": _NODE_FIELDS_IN,
    },
    "PaperTrailNodePatch": {
        "type": "object",
        "description": "Fields to change on a node (at least one); `id`, when given, must be the node's own.",
        "properties": _NODE_FIELDS_IN,
        "anyOf": _at_least_one(list(_NODE_FIELDS_IN)),
    },
    "PaperTrailEdgeInput": {
        "type": "object",
        "description": "An edge as a client sends it; both endpoints must be nodes of the board.",
        "properties": _EDGE_FIELDS_IN,
        "required": ["source", "target"],
    },
    "PaperTrailEdgePatch": {
        "type": "object",
        "description": "Fields to change on an edge (at least one); the endpoints must stay nodes of the board.",
        "properties": _EDGE_FIELDS_IN,
        "anyOf": _at_least_one(list(_EDGE_FIELDS_IN)),
    },
    "PaperTrailBoard": _object(
        {
            "id": {"type": "string"},
            "projectId": {"type": "string"},
            "title": {"type": "string", "maxLength": BOARD_TITLE_MAX},
            "nodes": {"type": "array", "items": _ref("PaperTrailNode"), "description": "In their saved order."},
            "edges": {"type": "array", "items": _ref("PaperTrailEdge"), "description": "In their saved order."},
            "tags": {
                "type": "array",
                "description": "Each tag with the number of nodes carrying it, sorted by tag.",
                "items": _object({"tag": {"type": "string"}, "count": {"type": "integer", "minimum": 1}}),
            },
            "stats": _object(
                {
                    key: {"type": "integer", "minimum": 0}
                    for key in ("nodes", "edges", "comments", "attachments", "tags")
                }
            ),
            "project": _object(
                {
                    "id": {"type": "string"},
                    "name": {"type": "string"},
                    "slug": {"type": "string"},
                    "type": {"const": "papertrail"},
                }
            ),
            "createdAt": _TIMESTAMP,
            "updatedAt": _TIMESTAMP,
        }
    ),
    "PaperTrailBoardResponse": _object({"board": _ref("PaperTrailBoard")}),
    "PaperTrailBoardSaved": _object({"ok": {"const": True}, "board": _ref("PaperTrailBoard")}),
    "PaperTrailSnapshot": {
        "type": "object",
        "description": "The whole board: nodes replace all nodes, edges all edges (edges to missing nodes dropped).",
        "properties": {
            "title": _TITLE_IN,
            "nodes": {"type": "array", "items": _ref("PaperTrailNodeInput"), "description": "Ids must be unique."},
            "edges": {"type": "array", "items": _ref("PaperTrailEdgeInput")},
        },
        "required": ["nodes"],
    },
    "PaperTrailBoardPatch": {
        "type": "object",
        "description": "Any of title, nodes, edges; new nodes drop the edges whose endpoints vanished.",
        "properties": {
            "title": _TITLE_IN,
            "nodes": {"type": "array", "items": _ref("PaperTrailNodeInput")},
            "edges": {"type": "array", "items": _ref("PaperTrailEdgeInput")},
        },
        "anyOf": _at_least_one(["title", "nodes", "edges"]),
    },
    "PaperTrailNodeList": _object({"nodes": {"type": "array", "items": _ref("PaperTrailNode")}}),
    "PaperTrailNodeResponse": _object({"node": _ref("PaperTrailNode")}),
    "PaperTrailNodeSaved": _object({"ok": {"const": True}, "node": _ref("PaperTrailNode")}),
    "PaperTrailEdgeList": _object({"edges": {"type": "array", "items": _ref("PaperTrailEdge")}}),
    "PaperTrailEdgeResponse": _object({"edge": _ref("PaperTrailEdge")}),
    "PaperTrailEdgeSaved": _object({"ok": {"const": True}, "edge": _ref("PaperTrailEdge")}),
    "PaperTrailComment": _object(
        {
            "id": {"type": "string"},
            "nodeId": {"type": ["string", "null"]},
            "authorId": {"type": "string"},
            "body": {"type": "string", "minLength": 1, "maxLength": COMMENT_MAX},
            "createdAt": _TIMESTAMP,
            "updatedAt": _TIMESTAMP,
        }
    ),
    "PaperTrailCommentInput": _object(
        {
            "body": {
                "type": "string",
                "minLength": 1,
                "maxLength": COMMENT_MAX,
                "description": "Surrounding blanks are dropped; a blank body is 400.",
            },
            "nodeId": {"type": ["string", "null"], "description": "A node of the board the comment is about."},
        },
        required=["body"],
    ),
    "PaperTrailCommentPatch": _object(
        {"body": {"type": "string", "minLength": 1, "maxLength": COMMENT_MAX}}, required=["body"]
    ),
    "PaperTrailCommentList": _object({"comments": {"type": "array", "items": _ref("PaperTrailComment")}}),
    "PaperTrailCommentSaved": _object({"ok": {"const": True}, "comment": _ref("PaperTrailComment")}),
    "PaperTrailAttachment": _object(
        {
            "id": {"type": "string"},
            "filename": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._-]*$", "maxLength": 120},
            "contentType": {"type": "string"},
            "size": {"type": "integer", "minimum": 0},
            "url": {"type": "string", "description": "/uploads/<projectId>/<attachmentId>/<filename>"},
            "nodeId": {"type": ["string", "null"]},
            "createdAt": _TIMESTAMP,
        }
    ),
    "PaperTrailAttachmentSaved": _object({"ok": {"const": True}, "attachment": _ref("PaperTrailAttachment")}),
    "PaperTrailUpload": {
        "type": "object",
        "properties": {
            "file": {"type": "string", "format": "binary", "description": "The file; its name is sanitised."},
            "nodeId": {"type": "string", "description": "A node of the board the file belongs to."},
        },
        "required": ["file"],
    },
    "PaperTrailImportDocument": {
        "type": "object",
        "description": "A board.json of an export (version 1, with `board`, `comments`, `attachments`) or a bare "
        "snapshot {title?, nodes, edges}. Attachments need the zip; in JSON they are skipped with a warning.",
        "properties": {
            "version": {"const": 1},
            "board": _ref("PaperTrailSnapshot"),
            "title": _TITLE_IN,
            "nodes": {"type": "array", "items": _ref("PaperTrailNodeInput")},
            "edges": {"type": "array", "items": _ref("PaperTrailEdgeInput")},
            "comments": {"type": "array", "items": {"type": "object"}},
            "attachments": {"type": "array", "items": {"type": "object"}},
        },
    },
    "PaperTrailImportSummary": _object(
        {
            "title": {"type": ["string", "null"], "description": "The bundle's title; null keeps the current one."},
            **{
                key: {"type": "integer", "minimum": 0}
                for key in ("nodes", "edges", "comments", "attachments", "tags", "uploadBytes", "droppedEdges")
            },
        }
    ),
    "PaperTrailImportChecked": _object(
        {
            "ok": {"const": True},
            "summary": _ref("PaperTrailImportSummary"),
            "warnings": {"type": "array", "items": {"type": "string"}},
        }
    ),
    "PaperTrailImported": _object(
        {
            "ok": {"const": True},
            "board": _ref("PaperTrailBoard"),
            "summary": _ref("PaperTrailImportSummary"),
            "warnings": {"type": "array", "items": {"type": "string"}},
        }
    ),
}

_BUNDLE_BODY = {
    "required": True,
    "description": "A zip bundle (board.json plus uploads/<attachmentId>/<file>), as the body or as the multipart "
    "field `file`, or a JSON document.",
    "content": {
        "application/zip": {"schema": {"type": "string", "format": "binary"}},
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "properties": {"file": {"type": "string", "format": "binary"}},
                "required": ["file"],
            }
        },
        "application/json": {"schema": _ref("PaperTrailImportDocument")},
    },
}

PATHS: dict[str, Any] = {
    BASE: {
        "parameters": [PROJECT_ID],
        "get": _operation(
            "papertrailGetBoard",
            "The project's board (created, titled after the project, on first read). Viewer.",
            200,
            _ok("The board.", "PaperTrailBoardResponse"),
        ),
        "post": _operation(
            "papertrailSaveBoard",
            "Replace the whole board with a snapshot, in one transaction. Editor.",
            200,
            _ok("The saved board.", "PaperTrailBoardSaved"),
            400,
            body=_json_body("PaperTrailSnapshot"),
        ),
        "patch": _operation(
            "papertrailPatchBoard",
            "Change the title, the nodes or the edges of the board. Editor.",
            200,
            _ok("The saved board.", "PaperTrailBoardSaved"),
            400,
            body=_json_body("PaperTrailBoardPatch"),
        ),
        "delete": _operation(
            "papertrailDeleteBoard",
            "Delete the board with its comments, attachments and uploaded files. Owner.",
            204,
            _NO_CONTENT,
        ),
    },
    BASE + "/export": {
        "parameters": [PROJECT_ID],
        "get": _operation(
            "papertrailExportBoard",
            "The board as a zip: board.json (snapshot, comments, attachment metadata) and uploads/. Viewer.",
            200,
            {"description": "The bundle.", "content": {"application/zip": {"schema": {"type": "string"}}}},
        ),
    },
    BASE + "/import/validate": {
        "parameters": [PROJECT_ID],
        "post": _operation(
            "papertrailValidateImport",
            "Check a bundle and say what an import would do; changes nothing. Editor.",
            200,
            _ok("The bundle can be imported.", "PaperTrailImportChecked"),
            400,
            413,
            body=_BUNDLE_BODY,
        ),
    },
    BASE + "/import": {
        "parameters": [PROJECT_ID],
        "post": _operation(
            "papertrailImportBoard",
            "Replace the board (and its comments and attachments) with a bundle; all or nothing. Editor.",
            200,
            _ok("The imported board.", "PaperTrailImported"),
            400,
            413,
            body=_BUNDLE_BODY,
        ),
    },
    ITEMS + "/attachments/upload": {
        "parameters": [PROJECT_ID, BOARD_ID],
        "post": _operation(
            "papertrailUploadAttachment",
            "Attach a file to the board (optionally to one node). Editor.",
            201,
            _ok("The stored attachment.", "PaperTrailAttachmentSaved"),
            400,
            413,
            body={"required": True, "content": {"multipart/form-data": {"schema": _ref("PaperTrailUpload")}}},
        ),
    },
    ITEMS + "/nodes": {
        "parameters": [PROJECT_ID, BOARD_ID],
        "get": _operation(
            "papertrailListNodes", "The board's nodes in order. Viewer.", 200, _ok("", "PaperTrailNodeList")
        ),
        "post": _operation(
            "papertrailCreateNode",
            "Add a node at the end. Editor.",
            201,
            _ok("The created node.", "PaperTrailNodeSaved"),
            400,
            409,
            body=_json_body("PaperTrailNodeInput"),
        ),
    },
    ITEMS + "/nodes/{nodeId}": {
        "parameters": [PROJECT_ID, BOARD_ID, NODE_ID],
        "get": _operation("papertrailGetNode", "One node. Viewer.", 200, _ok("The node.", "PaperTrailNodeResponse")),
        "patch": _operation(
            "papertrailUpdateNode",
            "Change some fields of a node. Editor.",
            200,
            _ok("The node.", "PaperTrailNodeSaved"),
            400,
            body=_json_body("PaperTrailNodePatch"),
        ),
        "delete": _operation("papertrailDeleteNode", "Delete a node and its edges. Editor.", 204, _NO_CONTENT),
    },
    ITEMS + "/edges": {
        "parameters": [PROJECT_ID, BOARD_ID],
        "get": _operation(
            "papertrailListEdges", "The board's edges in order. Viewer.", 200, _ok("", "PaperTrailEdgeList")
        ),
        "post": _operation(
            "papertrailCreateEdge",
            "Join two nodes. Editor.",
            201,
            _ok("The created edge.", "PaperTrailEdgeSaved"),
            400,
            409,
            body=_json_body("PaperTrailEdgeInput"),
        ),
    },
    ITEMS + "/edges/{edgeId}": {
        "parameters": [PROJECT_ID, BOARD_ID, EDGE_ID],
        "get": _operation("papertrailGetEdge", "One edge. Viewer.", 200, _ok("The edge.", "PaperTrailEdgeResponse")),
        "patch": _operation(
            "papertrailUpdateEdge",
            "Change some fields of an edge. Editor.",
            200,
            _ok("The edge.", "PaperTrailEdgeSaved"),
            400,
            body=_json_body("PaperTrailEdgePatch"),
        ),
        "delete": _operation("papertrailDeleteEdge", "Delete an edge. Editor.", 204, _NO_CONTENT),
    },
    ITEMS + "/comments": {
        "parameters": [PROJECT_ID, BOARD_ID],
        "get": _operation(
            "papertrailListComments",
            "The board's comments, oldest first. Viewer.",
            200,
            _ok("The comments.", "PaperTrailCommentList"),
            parameters=[
                {
                    "name": "nodeId",
                    "in": "query",
                    "required": False,
                    "description": "Only the comments about this node.",
                    "schema": {"type": "string"},
                }
            ],
        ),
        "post": _operation(
            "papertrailCreateComment",
            "Comment on the board or on one node. Editor.",
            201,
            _ok("The comment.", "PaperTrailCommentSaved"),
            400,
            body=_json_body("PaperTrailCommentInput"),
        ),
    },
    ITEMS + "/comments/{commentId}": {
        "parameters": [PROJECT_ID, BOARD_ID, COMMENT_ID],
        "patch": _operation(
            "papertrailUpdateComment",
            "Edit a comment. Its author or a project owner.",
            200,
            _ok("The comment.", "PaperTrailCommentSaved"),
            400,
            body=_json_body("PaperTrailCommentPatch"),
        ),
        "delete": _operation(
            "papertrailDeleteComment", "Delete a comment. Its author or a project owner.", 204, _NO_CONTENT
        ),
    },
    "/uploads/{projectId}/{attachmentId}/{filename}": {
        "parameters": [
            PROJECT_ID,
            _path_param("attachmentId", "Id of the attachment."),
            _path_param("filename", "The attachment's (sanitised) file name."),
        ],
        "get": {
            "operationId": "papertrailServeUpload",
            "tags": [TAG],
            "summary": "An uploaded file, for viewers of its project. Active content (html, svg, scripts) is sent as "
            "a download; every answer carries X-Content-Type-Options: nosniff.",
            "responses": {
                "200": {
                    "description": "The file, with its stored content type.",
                    "content": {"*/*": {"schema": {"type": "string"}}},
                },
                "302": {
                    "description": "No session: to the login page, coming back afterwards.",
                    "headers": {"Location": {"required": True, "schema": {"type": "string"}}},
                },
                "404": {
                    "description": "No such file, or the caller may not see its project.",
                    "content": {"text/html": {"schema": {"type": "string"}}},
                },
            },
        },
    },
}


# --- links: which answer names the item a later request works on (schemathesis follows them in stateful runs) ---

_IN_PROJECT = {"projectId": "$request.path.projectId"}
_ON_BOARD = {**_IN_PROJECT, "boardId": "$request.path.boardId"}


def _links(parameters: dict[str, str], *operation_ids: str, body: dict[str, str] | None = None) -> dict[str, Any]:
    """One link per target operation, named after it (`papertrailGetNode` -> `GetNode`), with the same parameters."""
    links: dict[str, Any] = {}
    for operation_id in operation_ids:
        link: dict[str, Any] = {"operationId": operation_id, "parameters": dict(parameters)}
        if body is not None:
            link["requestBody"] = dict(body)  # merged into the generated body, field by field
        links[operation_id.removeprefix("papertrail")] = link
    return links


_BOARD_WORK = (
    "papertrailListNodes",
    "papertrailCreateNode",
    "papertrailListEdges",
    "papertrailCreateEdge",
    "papertrailListComments",
    "papertrailCreateComment",
    "papertrailUploadAttachment",
)
_FROM_BOARD = {**_IN_PROJECT, "boardId": "$response.body#/board/id"}
_FROM_NODE = {**_ON_BOARD, "nodeId": "$response.body#/node/id"}
LINKS: dict[tuple[str, str, str], dict[str, Any]] = {
    (BASE, "get", "200"): _links(_FROM_BOARD, *_BOARD_WORK),
    (BASE, "post", "200"): _links(_FROM_BOARD, *_BOARD_WORK),
    (ITEMS + "/nodes", "post", "201"): {
        **_links(_FROM_NODE, "papertrailGetNode", "papertrailUpdateNode", "papertrailDeleteNode"),
        **_links(_ON_BOARD, "papertrailCreateEdge", body={"source": "$response.body#/node/id"}),
        **_links(_ON_BOARD, "papertrailCreateComment", body={"nodeId": "$response.body#/node/id"}),
    },
    (ITEMS + "/nodes/{nodeId}", "patch", "200"): _links(_FROM_NODE, "papertrailGetNode", "papertrailDeleteNode"),
    (ITEMS + "/edges", "post", "201"): _links(
        {**_ON_BOARD, "edgeId": "$response.body#/edge/id"},
        "papertrailGetEdge",
        "papertrailUpdateEdge",
        "papertrailDeleteEdge",
    ),
    (ITEMS + "/comments", "post", "201"): _links(
        {**_ON_BOARD, "commentId": "$response.body#/comment/id"}, "papertrailUpdateComment", "papertrailDeleteComment"
    ),
    (ITEMS + "/attachments/upload", "post", "201"): _links(
        {
            **_IN_PROJECT,
            "attachmentId": "$response.body#/attachment/id",
            "filename": "$response.body#/attachment/filename",
        },
        "papertrailServeUpload",
    ),
}
for (_path, _method, _status), _found in LINKS.items():
    PATHS[_path][_method]["responses"][_status]["links"] = _found

__all__ = ["LINKS", "PATHS", "SCHEMAS"]
