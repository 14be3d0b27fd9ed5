"""OpenAPI 3.1 fragment of the core routes: accounts, projects, shares and the health probe."""

from __future__ import annotations

from typing import Any

ERROR_REF = "#/components/schemas/Error"
USER_REF = "#/components/schemas/User"
PROJECT_REF = "#/components/schemas/Project"
MEMBER_REF = "#/components/schemas/ProjectMember"

ROLES = ["viewer", "editor", "owner"]
PROJECT_TYPES = ["blog", "papertrail"]
SCOPES = ["private", "org", "public"]

_ERROR_MEANINGS = {
    400: "The request is invalid (bad JSON, a field that fails validation, or a blank project id).",
    401: "No valid session cookie.",
    403: "The caller's role on the project is too low.",
    404: "No such project (or contributor, or user) in the caller's tenant, or no such route.",
    409: "The request conflicts with what is stored.",
}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _ref(target: str) -> dict[str, Any]:
    return {"$ref": target}


def _error(status: int, description: str | None = None) -> dict[str, Any]:
    return {"description": description or _ERROR_MEANINGS[status], "content": _json(_ref(ERROR_REF))}


def _errors(*statuses: int) -> dict[str, Any]:
    return {str(status): _error(status) for status in statuses}


def _ok_json(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": _json(schema)}


def _object(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    schema["required"] = list(properties) if required is None else required
    return schema


def _json_body(ref: str) -> dict[str, Any]:
    return {"required": True, "content": _json(_ref(ref))}


_OK_TRUE = {"const": True}
_TIMESTAMP = {
    "type": "string",
    "format": "date-time",
    "description": "UTC with milliseconds, e.g. 2026-01-01T00:00:00.000Z",
}
_HTML_PAGE = {"text/html": {"schema": {"type": "string"}}}
_SESSION_COOKIE_HEADER = {
    "Set-Cookie": {"description": "The new session cookie (HttpOnly, SameSite=Lax).", "schema": {"type": "string"}}
}
_LOCATION_HEADER = {
    "Location": {"description": "Where the browser goes next.", "required": True, "schema": {"type": "string"}}
}

_PROJECT_ID = {
    "name": "projectId",
    "in": "path",
    "required": True,
    "description": "Id of the project, e.g. `p_3f9a0c1d2e4b5a69`.",
    "schema": {"type": "string", "minLength": 1},
}
_MEMBER_ID = {
    "name": "memberId",
    "in": "path",
    "required": True,
    "description": "Id of the contributor record (the `id` of a ProjectMember, not the user id).",
    "schema": {"type": "string", "minLength": 1},
}
_RETURN_TO = {
    "name": "return_to",
    "in": "query",
    "required": False,
    "description": "Same-site path a form submission is redirected to on success; anything else means /projects.",
    "schema": {"type": "string"},
}

SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "description": "Every error answer of the JSON API.",
        "properties": {
            "error": {"type": "string", "description": "What went wrong, safe to show to the caller."},
            "details": {
                "type": "array",
                "description": "One entry per invalid field of the request.",
                "items": _object(
                    {
                        "field": {"type": "string", "description": "Dotted path of the field, or `body`."},
                        "message": {"type": "string"},
                    }
                ),
            },
            "requestId": {"type": "string", "description": "Id of the request in the server log (500 answers)."},
        },
        "required": ["error"],
    },
    "User": _object(
        {
            "id": {"type": "string"},
            "email": {"type": "string"},
            "name": {"type": "string"},
            "roles": {
                "type": "array",
                "items": {"type": "string"},
                "description": "Platform roles, sorted, e.g. `platform:user`.",
            },
        }
    ),
    "RegisterRequest": _object(
        {
            "email": {"type": "string", "format": "email", "minLength": 3, "maxLength": 254},
            "password": {"type": "string", "minLength": 8, "maxLength": 1024},
            "name": {
                "type": "string",
                "maxLength": 120,
                "description": "Display name; the email's local part when blank.",
            },
        },
        required=["email", "password"],
    ),
    "LoginRequest": _object(
        {
            "email": {"type": "string", "minLength": 1, "maxLength": 254},
            "password": {"type": "string", "minLength": 1, "maxLength": 1024},
        }
    ),
    "SessionResponse": _object({"ok": _OK_TRUE, "user": _ref(USER_REF)}),
    "MeResponse": _object({"user": _ref(USER_REF)}),
    "Project": _object(
        {
            "id": {"type": "string"},
            "name": {"type": "string", "maxLength": 120},
            "slug": {"type": "string", "pattern": "^[a-z0-9]+(-[a-z0-9]+)*$"},
            "desc": {"type": "string", "maxLength": 500},
            "type": {"enum": PROJECT_TYPES},
            "scope": {"enum": SCOPES},
            "ownerId": {"type": "string"},
            "role": {
                "enum": ROLES,
                "description": "The caller's role; org and public projects make everyone a viewer.",
            },
            "url": {"type": "string", "description": "The web page of the project (its board or its blog)."},
            "createdAt": _TIMESTAMP,
            "updatedAt": _TIMESTAMP,
        }
    ),
    "ProjectList": _object({"projects": {"type": "array", "items": _ref(PROJECT_REF)}}),
    "ProjectResponse": _object({"project": _ref(PROJECT_REF)}),
    "ProjectUpdated": _object({"ok": _OK_TRUE, "project": _ref(PROJECT_REF)}),
    "CreateProjectRequest": _object(
        {
            "name": {
                "type": "string",
                "minLength": 1,
                "maxLength": 120,
                "description": "Surrounding blanks are dropped.",
            },
            "desc": {"type": "string", "maxLength": 500, "default": ""},
            "type": {"enum": PROJECT_TYPES, "description": "A type whose feature toggle is off is refused with 400."},
            "scope": {"enum": SCOPES, "default": "private"},
        },
        required=["name", "type"],
    ),
    "ProjectCreated": _object(
        {
            "ok": _OK_TRUE,
            "id": {"type": "string"},
            "slug": {"type": "string", "pattern": "^[a-z0-9]+(-[a-z0-9]+)*$"},
            "url": {"type": "string"},
        }
    ),
    "UpdateProjectRequest": {
        **_object(
            {
                "name": {"type": "string", "minLength": 1, "maxLength": 120},
                "desc": {"type": "string", "maxLength": 500},
                "scope": {"enum": SCOPES},
            },
            required=[],
        ),
        "minProperties": 1,
        "description": "At least one of name, desc, scope; the slug never changes, so links handed out keep working.",
    },
    "ProjectMember": _object(
        {
            "id": {"type": "string", "description": "Id of the contributor record."},
            "userId": {"type": "string"},
            "email": {"type": "string"},
            "name": {"type": "string"},
            "role": {"enum": ROLES},
            "createdAt": _TIMESTAMP,
        }
    ),
    "MemberList": _object({"members": {"type": "array", "items": _ref(MEMBER_REF)}}),
    "MemberResponse": _object({"ok": _OK_TRUE, "member": _ref(MEMBER_REF)}),
    "ShareRequest": _object(
        {
            "email": {"type": "string", "minLength": 3, "maxLength": 254, "description": "A user of the same tenant."},
            "role": {"enum": ROLES, "default": "viewer"},
        },
        required=["email"],
    ),
    "ShareUpdateRequest": _object({"role": {"enum": ROLES}}),
    "Health": _object({"ok": _OK_TRUE}),
}


def _form_body(ref: str) -> dict[str, Any]:
    """JSON for API clients, an urlencoded form for the login and register pages."""
    return {
        "required": True,
        "content": {
            "application/json": {"schema": _ref(ref)},
            "application/x-www-form-urlencoded": {"schema": _ref(ref)},
        },
    }


def _form_or_json_error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {**_json(_ref(ERROR_REF)), **_HTML_PAGE}}


PATHS: dict[str, Any] = {
    "/register": {
        "post": {
            "operationId": "register",
            "tags": ["accounts"],
            "summary": "Create an account and sign in",
            "description": "A JSON body answers JSON; a form body (the register page) answers a redirect or the page.",
            "parameters": [_RETURN_TO],
            "requestBody": _form_body("#/components/schemas/RegisterRequest"),
            "responses": {
                "201": {
                    "description": "Account created and signed in (JSON body).",
                    "headers": _SESSION_COOKIE_HEADER,
                    "content": _json(_ref("#/components/schemas/SessionResponse")),
                },
                "302": {"description": "Account created and signed in (form body).", "headers": _LOCATION_HEADER},
                "400": _form_or_json_error(_ERROR_MEANINGS[400]),
                "409": _form_or_json_error("The email is already registered."),
            },
        }
    },
    "/login": {
        "post": {
            "operationId": "login",
            "tags": ["accounts"],
            "summary": "Sign in with email and password",
            "description": "A JSON body answers JSON; a form body (the login page) answers a redirect or the page.",
            "parameters": [_RETURN_TO],
            "requestBody": _form_body("#/components/schemas/LoginRequest"),
            "responses": {
                "200": {
                    "description": "Signed in (JSON body).",
                    "headers": _SESSION_COOKIE_HEADER,
                    "content": _json(_ref("#/components/schemas/SessionResponse")),
                },
                "302": {"description": "Signed in (form body).", "headers": _LOCATION_HEADER},
                "400": _form_or_json_error(_ERROR_MEANINGS[400]),
                "401": _form_or_json_error("Wrong email or password."),
            },
        }
    },
    "/logout": {
        "get": {
            "operationId": "logout",
            "tags": ["accounts"],
            "summary": "End the session and go to the login page",
            "responses": {
                "302": {
                    "description": "The session (if any) is ended and its cookie cleared.",
                    "headers": _LOCATION_HEADER,
                }
            },
        }
    },
    "/api/me": {
        "get": {
            "operationId": "getMe",
            "tags": ["accounts"],
            "summary": "The signed-in user",
            "responses": {
                "200": _ok_json("The signed-in user.", _ref("#/components/schemas/MeResponse")),
                **_errors(401),
            },
        }
    },
    "/api/projects": {
        "get": {
            "operationId": "listProjects",
            "tags": ["projects"],
            "summary": "Projects the caller can see",
            "description": "The caller's own projects and the org or public projects of the tenant, newest first; "
            "projects of a disabled type are left out.",
            "responses": {
                "200": _ok_json("The visible projects.", _ref("#/components/schemas/ProjectList")),
                **_errors(401),
            },
        },
        "post": {
            "operationId": "createProject",
            "tags": ["projects"],
            "summary": "Create a project owned by the caller",
            "requestBody": _json_body("#/components/schemas/CreateProjectRequest"),
            "responses": {
                "201": _ok_json("The project was created.", _ref("#/components/schemas/ProjectCreated")),
                **_errors(400, 401),
                "409": _error(409, "No free slug could be derived from the name."),
            },
        },
    },
    "/api/projects/{projectId}": {
        "parameters": [_PROJECT_ID],
        "get": {
            "operationId": "getProject",
            "tags": ["projects"],
            "summary": "One project (viewer or more)",
            "responses": {
                "200": _ok_json("The project.", _ref("#/components/schemas/ProjectResponse")),
                **_errors(400, 401, 403, 404),
            },
        },
        "patch": {
            "operationId": "updateProject",
            "tags": ["projects"],
            "summary": "Rename a project or change its description or scope (owner)",
            "requestBody": _json_body("#/components/schemas/UpdateProjectRequest"),
            "responses": {
                "200": _ok_json("The updated project.", _ref("#/components/schemas/ProjectUpdated")),
                **_errors(400, 401, 403, 404),
            },
        },
        "delete": {
            "operationId": "deleteProject",
            "tags": ["projects"],
            "summary": "Delete a project with everything in it (owner)",
            "responses": {
                "204": {"description": "The project, its data and its files are gone."},
                **_errors(400, 401, 403, 404),
            },
        },
    },
    "/api/projects/{projectId}/shares": {
        "parameters": [_PROJECT_ID],
        "get": {
            "operationId": "listShares",
            "tags": ["projects"],
            "summary": "Contributors of a project (viewer or more)",
            "responses": {
                "200": _ok_json("The contributors, oldest first.", _ref("#/components/schemas/MemberList")),
                **_errors(400, 401, 403, 404),
            },
        },
        "post": {
            "operationId": "addShare",
            "tags": ["projects"],
            "summary": "Add a user of the tenant as a contributor (owner)",
            "requestBody": _json_body("#/components/schemas/ShareRequest"),
            "responses": {
                "201": _ok_json("The new contributor.", _ref("#/components/schemas/MemberResponse")),
                **_errors(400, 401, 403, 404),
                "409": _error(409, "The user is already a contributor."),
            },
        },
    },
    "/api/projects/{projectId}/shares/{memberId}": {
        "parameters": [_PROJECT_ID, _MEMBER_ID],
        "patch": {
            "operationId": "updateShare",
            "tags": ["projects"],
            "summary": "Change a contributor's role (owner)",
            "requestBody": _json_body("#/components/schemas/ShareUpdateRequest"),
            "responses": {
                "200": _ok_json("The contributor with the new role.", _ref("#/components/schemas/MemberResponse")),
                **_errors(400, 401, 403, 404),
                "409": _error(409, "The change would leave the project without an owner."),
            },
        },
        "delete": {
            "operationId": "removeShare",
            "tags": ["projects"],
            "summary": "Remove a contributor (owner)",
            "responses": {
                "204": {"description": "The contributor was removed."},
                **_errors(400, 401, 403, 404),
                "409": _error(409, "The change would leave the project without an owner."),
            },
        },
    },
    "/health": {
        "get": {
            "operationId": "health",
            "tags": ["health"],
            "summary": "Liveness probe",
            "responses": {"200": _ok_json("The process answers.", _ref("#/components/schemas/Health"))},
        }
    },
}
