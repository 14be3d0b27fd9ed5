"""OpenAPI 3.1 fragment of the Blog: repository configuration and the Markdown posts kept in it."""

from __future__ import annotations

from typing import Any

from legacy_core.blog.posts import EXCERPT_LENGTH, FILE_NAME_MAX

ERROR_REF = "#/components/schemas/Error"
PROJECT = "/api/projects/{projectId}"
POSTS = PROJECT + "/blog/post"
TAG = "Blog"
_PUB_DATE_PATTERN = r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})?)?$"


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _object(properties: dict[str, Any], required: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties) if required is None else required,
        **extra,
    }


PROJECT_ID = {
    "name": "projectId",
    "in": "path",
    "required": True,
    "description": "Id of a project of type `blog`.",
    "schema": {"type": "string"},
}
FILE = {
    "name": "file",
    "in": "path",
    "required": True,
    "description": (
        "Name of a post in the content folder; `.md` is appended when missing. A name with `/`, `\\`, `..`, a NUL "
        "or other control character, a leading `.`, or more than 200 characters is a 400. `all` is the listing."
    ),
    "schema": {"type": "string", "minLength": 1, "not": {"const": "all"}},
}

_ERROR_MEANINGS = {
    400: "Invalid request: bad JSON, a field of the wrong type or value, an unsafe file name, a blank project id.",
    401: "No valid session cookie.",
    403: "The caller's role on the project is too low (viewer < editor < owner).",
    404: "No such blog project in the caller's tenant (or the blog feature is off: then the body is empty), "
    "or no such post.",
    409: 'The blog is not configured yet ({"error": "Blog not configured"}), or a post of that name exists.',
    422: "The post's front matter is not a YAML mapping, so it cannot be read or edited through the API.",
    502: "Git failed talking to the remote or in the working copy (git's reason is in the message).",
    504: "A git command did not finish within its timeout.",
}


def _error(status: int, description: str | None = None, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        str(status): {
            "description": description or _ERROR_MEANINGS[status],
            "content": _json(schema or {"$ref": ERROR_REF}),
        }
    }


def _errors(*statuses: int) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    for status in (400, 401, 403, 404, *statuses):
        responses.update(_error(status))
    return responses


def _ok(description: str, schema_name: str) -> dict[str, Any]:
    return {"description": description, "content": _json(_ref(schema_name))}


def _operation(
    operation_id: str,
    summary: str,
    responses: dict[str, Any],
    *,
    body: str | None = None,
    file: bool = False,
) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "operationId": operation_id,
        "tags": [TAG],
        "summary": summary,
        "parameters": [PROJECT_ID, FILE] if file else [PROJECT_ID],
        "responses": responses,
    }
    if body is not None:
        operation["requestBody"] = {"required": True, "content": _json(_ref(body))}
    return operation


_GIT_ERRORS = (409, 502, 504)

PATHS: dict[str, Any] = {
    PROJECT + "/configure": {
        "get": _operation(
            "blogGetConfiguration",
            "Whether the blog is configured, and its repository settings (never the token).",
            {"200": _ok("The configuration state.", "BlogConfigurationState"), **_errors()},
        ),
        "patch": _operation(
            "blogConfigure",
            "Owner only: clone the repository to prove it works, then store the configuration (once).",
            {
                "200": _ok("Cloned and stored.", "BlogConfigured"),
                **_errors(),
                **_error(
                    400,
                    "Invalid fields; the repository cannot be cloned (git's reason) or has no such branch; a local "
                    "remote (absolute path or file:// URL) while BLOG_LOCAL_REMOTES_ROOT is unset, outside that "
                    "folder (symlinks resolved) or inside the platform's data folder; a network remote while "
                    'BLOG_NETWORK_REMOTES is off; or {"error": "Blog already configured"}. '
                    "Nothing is stored and no clone is left behind.",
                ),
            },
            body="BlogConfigureRequest",
        ),
    },
    POSTS + "/all": {
        "get": _operation(
            "blogListPosts",
            "Posts of the working copy, newest pubDate first, then by file name; undated posts last.",
            {"200": _ok("The posts.", "BlogPostList"), **_errors(*_GIT_ERRORS)},
        ),
    },
    POSTS: {
        "post": _operation(
            "blogCreatePost",
            "Editor: write a new post file (not committed); its name is the slugged title unless `file` is given.",
            {
                "201": _ok("Written; the post is a Draft until published.", "BlogPostSaved"),
                **_errors(*_GIT_ERRORS),
            },
            body="BlogPostCreate",
        ),
    },
    PROJECT + "/blog/pull": {
        "post": _operation(
            "blogPull",
            "Editor: fetch the configured branch and fast-forward the working copy to it; uncommitted changes stay.",
            {
                "200": _ok(
                    "`head` is the working copy's commit; `updated` is false when it already had every remote commit.",
                    "BlogPulled",
                ),
                **_errors(*_GIT_ERRORS),
                **_error(
                    409,
                    "Blog not configured; or no fast-forward is possible - the working copy has commits the remote "
                    "lacks while the remote moved on too, or uncommitted changes touch files the remote changed. "
                    "Nothing was changed.",
                ),
                **_error(502, "Git failed, e.g. the remote is unreachable or its branch is gone."),
            },
        ),
    },
    POSTS + "/{file}": {
        "get": _operation(
            "blogGetPost",
            "One post with its whole front matter and body.",
            {
                "200": {
                    "description": "The post; for the name `all` this route is the listing (GET /blog/post/all).",
                    "content": _json({"anyOf": [_ref("BlogPostResponse"), _ref("BlogPostList")]}),
                },
                **_errors(422, *_GIT_ERRORS),
            },
            file=True,
        ),
        "patch": _operation(
            "blogUpdatePost",
            "Editor: change front matter fields, the body, or the name (`file`); written, not committed.",
            {"200": _ok("Written.", "BlogPostSaved"), **_errors(422, *_GIT_ERRORS)},
            body="BlogPostPatch",
            file=True,
        ),
        "post": _operation(
            "blogPublishPost",
            "Editor: commit the post (and the removal of its old name after a rename) as `Publish <file>` and push.",
            {
                "200": _ok("Pushed (`commit` is its sha), or nothing to publish (`commit` is null).", "BlogCommit"),
                **_errors(*_GIT_ERRORS),
                **_error(
                    409,
                    "Blog not configured; or the remote branch has commits the working copy lacks: the push was "
                    "rejected as non-fast-forward, the local commit undone, and `hint` names POST .../blog/pull.",
                    {"anyOf": [{"$ref": ERROR_REF}, _ref("BlogPushRejected")]},
                ),
                **_error(502, "The push failed (e.g. unreachable remote); the local commit was undone."),
            },
            file=True,
        ),
        "delete": _operation(
            "blogDeletePost",
            "Editor: remove the post, commit `Delete <file>` and push.",
            {
                "200": _ok("Deleted and pushed; `commit` is null for a post that was never committed.", "BlogCommit"),
                "202": _ok(
                    "Deleted and committed locally, but the push failed; the commit stays (legacy behaviour).",
                    "BlogDeleteNotPushed",
                ),
                **_errors(*_GIT_ERRORS),
            },
            file=True,
        ),
    },
}

_TEXT_FIELD = {"type": "string"}
_TAGS = {"type": "array", "items": {"type": "string"}}
_PUB_DATE_OUT = {
    "type": ["string", "null"],
    "description": "As written in the front matter (a YAML date shows as YYYY-MM-DD); null when missing.",
}
_STATUS = {
    "enum": ["Draft", "Published"],
    "description": "Draft when the file has changes not committed (new, modified, renamed) or `draft: true`.",
}

_POST_FIELDS_IN: dict[str, Any] = {
    "description": {"type": "string", "maxLength": 2000, "description": "Leading and trailing blanks removed."},
    "tags": {
        "type": "array",
        "maxItems": 50,
        "items": {"type": "string", "minLength": 1, "maxLength": 100, "pattern": r"\S"},
        "description": "Each tag trimmed; a blank tag is a 400.",
    },
    "pubDate": {
        "type": "string",
        "pattern": _PUB_DATE_PATTERN,
        "description": "YYYY-MM-DD (written as a YAML date) or an ISO 8601 date-time; an impossible date is a 400.",
    },
    "draft": {"type": "boolean"},
    "body": {"type": "string", "maxLength": 1_000_000, "description": "Markdown, kept exactly as sent."},
    "file": {
        "type": "string",
        "minLength": 1,
        "maxLength": FILE_NAME_MAX,
        "description": "File name (see the `file` path parameter for the rules); `.md` appended when missing.",
    },
}
_TITLE_IN = {"type": "string", "minLength": 1, "maxLength": 300, "pattern": r"\S", "description": "Trimmed."}

SCHEMAS: dict[str, Any] = {
    "BlogConfig": _object(
        {
            "repoUrl": _TEXT_FIELD,
            "branch": _TEXT_FIELD,
            "contentDir": _TEXT_FIELD,
            "gitUserName": _TEXT_FIELD,
            "gitUserEmail": _TEXT_FIELD,
            "hasToken": {"type": "boolean", "description": "Whether an access token is stored (never shown)."},
        }
    ),
    "BlogConfigurationState": _object(
        {"configured": {"type": "boolean"}, "config": _ref("BlogConfig")},
        required=["configured"],
        description="`config` is present exactly when `configured` is true.",
    ),
    "BlogConfigured": _object({"ok": {"const": True}, "config": _ref("BlogConfig")}),
    "BlogConfigureRequest": _object(
        {
            "repoUrl": {
                "type": "string",
                "minLength": 1,
                "maxLength": 2000,
                "description": "https://, http://, ssh://, git://, file:// URL, user@host:path, or an absolute path; "
                "no credentials in the URL (use gitAuthToken).",
            },
            "branch": {"type": "string", "minLength": 1, "maxLength": 200, "default": "main"},
            "contentDir": {
                "type": "string",
                "minLength": 1,
                "maxLength": 500,
                "default": "src/content/blog",
                "description": "Folder of the posts, relative to the repository root.",
            },
            "gitUserName": {"type": "string", "minLength": 1, "maxLength": 200},
            "gitUserEmail": {"type": "string", "minLength": 3, "maxLength": 254},
            "gitAuthToken": {
                "type": ["string", "null"],
                "maxLength": 500,
                "description": "Sent to https remotes in an Authorization header; never stored in the clone.",
            },
        },
        required=["repoUrl", "gitUserName", "gitUserEmail"],
    ),
    "BlogPostSummary": _object(
        {
            "file": _TEXT_FIELD,
            "title": {"type": "string", "description": "The front matter title, else the file name without .md."},
            "description": _TEXT_FIELD,
            "tags": _TAGS,
            "status": _STATUS,
            "pubDate": _PUB_DATE_OUT,
            "excerpt": {
                "type": "string",
                "maxLength": EXCERPT_LENGTH + 1,
                "description": "The Markdown body with runs of whitespace collapsed to one space and trimmed; when "
                f"longer than {EXCERPT_LENGTH} characters, its first {EXCERPT_LENGTH} followed by '…'.",
            },
        }
    ),
    "BlogPostList": _object({"posts": {"type": "array", "items": _ref("BlogPostSummary")}}),
    "BlogPost": _object(
        {
            "file": _TEXT_FIELD,
            "title": _TEXT_FIELD,
            "description": _TEXT_FIELD,
            "tags": _TAGS,
            "pubDate": _PUB_DATE_OUT,
            "draft": {"type": "boolean", "description": "Whether the front matter says `draft: true`."},
            "status": _STATUS,
            "body": _TEXT_FIELD,
            "frontMatter": {"type": "object", "description": "The whole front matter; dates as ISO text."},
        }
    ),
    "BlogPostResponse": _object({"post": _ref("BlogPost")}),
    "BlogPostSaved": _object({"ok": {"const": True}, "post": _ref("BlogPost")}),
    "BlogPostCreate": _object(
        {"title": _TITLE_IN, **_POST_FIELDS_IN},
        required=["title", "body"],
        description="pubDate defaults to today (UTC), description to '', tags to []; draft is written only when given.",
    ),
    "BlogPostPatch": {
        "type": "object",
        "description": "Fields to change (at least one non-null); other front matter keys keep their values.",
        "properties": {"title": _TITLE_IN, **_POST_FIELDS_IN},
        "anyOf": [{"required": [name]} for name in ["title", *_POST_FIELDS_IN]],
    },
    "BlogPulled": _object(
        {
            "ok": {"const": True},
            "head": {
                "type": "string",
                "pattern": "^[0-9a-f]{40,64}$",
                "description": "Commit sha of the working copy.",
            },
            "updated": {"type": "boolean", "description": "Whether the pull moved the working copy."},
        }
    ),
    "BlogCommit": _object({"ok": {"const": True}, "commit": {"type": ["string", "null"]}}),
    "BlogDeleteNotPushed": _object(
        {
            "ok": {"const": True},
            "pushed": {"const": False},
            "commit": {"type": "string"},
            "warning": {"type": "string"},
        }
    ),
    "BlogPushRejected": _object({"error": {"type": "string"}, "hint": {"type": "string"}}),
}

# --- links: which answer names the post a later request works on (schemathesis follows them in stateful runs) ---


def _links(file: str, *operation_ids: str) -> dict[str, Any]:
    """One link per target operation, named after it (`blogGetPost` -> `GetPost`), on the same project."""
    parameters = {"projectId": "$request.path.projectId", "file": file}
    return {
        operation_id.removeprefix("blog"): {"operationId": operation_id, "parameters": dict(parameters)}
        for operation_id in operation_ids
    }


_POST_WORK = ("blogGetPost", "blogUpdatePost", "blogPublishPost", "blogDeletePost")
LINKS: dict[tuple[str, str, str], dict[str, Any]] = {
    (POSTS, "post", "201"): _links("$response.body#/post/file", *_POST_WORK),
    # A rename answers with the new name.
    (POSTS + "/{file}", "patch", "200"): _links("$response.body#/post/file", *_POST_WORK),
    (POSTS + "/{file}", "post", "200"): _links("$request.path.file", "blogGetPost", "blogUpdatePost", "blogDeletePost"),
}
for (_path, _method, _status), _found in LINKS.items():
    PATHS[_path][_method]["responses"][_status]["links"] = _found
