"""Request bodies: JSON objects, validated comment bodies, counted raw bodies and multipart files (the trust boundary).

Answers for bad bodies are the platform's: 400 with what was wrong, 413 past a limit, counted as the bytes arrive.
"""

from __future__ import annotations

from typing import Any, TypeVar

from flask import request
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from werkzeug.datastructures import FileStorage

from exthost.sdk import HttpError

from .bundle import COMMENT_MAX
from .disk import over_limit, read_capped

ModelT = TypeVar("ModelT", bound=BaseModel)
# Multipart boundaries and part headers come on top of the file, which itself is counted exactly.
MULTIPART_ALLOWANCE = 64 * 1024
JSON_MIMETYPES = ("application/json", "text/json")


class NewComment(BaseModel):
    """POST .../comments: the text and, optionally, the node it is about."""

    model_config = ConfigDict(str_strip_whitespace=True, extra="ignore")

    body: str = Field(min_length=1, max_length=COMMENT_MAX)
    nodeId: str | None = Field(default=None, min_length=1, max_length=80)


class CommentEdit(BaseModel):
    """PATCH .../comments/<id>: only the text can change."""

    model_config = ConfigDict(str_strip_whitespace=True, extra="ignore")

    body: str = Field(min_length=1, max_length=COMMENT_MAX)


def invalid(field: str, message: str) -> HttpError:
    """The 400 answer naming one bad field."""
    return HttpError(400, "Invalid request", details=[{"field": field, "message": message}])


def json_body() -> dict[str, Any]:
    """The body as a JSON object: an empty body is `{}`, anything else that is not an object is a 400."""
    try:
        data = request.get_json(silent=True)
    except RecursionError:
        # json raises this (not a ValueError) on very deep nesting, and `silent` does not catch it.
        raise HttpError(400, "Request body is nested too deeply") from None
    if data is None:
        if request.get_data(cache=True):
            raise HttpError(400, "Request body is not valid JSON")
        return {}
    if not isinstance(data, dict):
        raise HttpError(400, f"Request body must be a JSON object, not {type(data).__name__}")
    return data


def validated(model: type[ModelT], data: Any) -> ModelT:
    """`data` checked against `model`; a 400 listing every bad field otherwise."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        details = [
            {"field": ".".join(str(part) for part in error["loc"]) or "body", "message": error["msg"]}
            for error in exc.errors(include_url=False)
        ]
        raise HttpError(400, "Invalid request", details=details) from exc


def raw_body(limit: int, what: str) -> bytes:
    """The raw body, refused early when its declared length is over `limit` and counted while read anyway."""
    declared = request.content_length
    if declared is not None and declared > limit:
        raise over_limit(limit, what)
    return read_capped(request.stream, limit, what)


def multipart_file(field: str, limit: int) -> FileStorage:
    """The file part `field` of a multipart form; the whole form may be only a little larger than `limit`."""
    # Werkzeug answers 413 on its own while parsing when the form is bigger than this.
    request.max_content_length = limit + MULTIPART_ALLOWANCE
    storage = request.files.get(field)
    if storage is None:
        raise HttpError(400, f"Missing file: send multipart/form-data with the file in the field {field!r}")
    return storage


def is_json_upload(storage: FileStorage) -> bool:
    """Whether an uploaded bundle file is a JSON document rather than a zip."""
    return storage.mimetype in JSON_MIMETYPES or (storage.filename or "").lower().endswith(".json")
