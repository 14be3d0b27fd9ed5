"""Small helpers shared by the route modules: JSON bodies, validation errors, JSON answers."""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from flask import Response, jsonify, request
from pydantic import AfterValidator, BaseModel, ValidationError

from legacy_core.errors import ApiError

ModelT = TypeVar("ModelT", bound=BaseModel)


def _reject_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain a NUL character")
    return value


# A request string with no NUL byte: PostgreSQL refuses to store one, SQLite would silently keep it.
Text = Annotated[str, AfterValidator(_reject_nul)]


def json_object() -> dict[str, Any]:
    """The request body as a JSON object, or a 400 that says what was wrong with it."""
    try:
        data = request.get_json(silent=True)
    except RecursionError:
        # json.loads raises this (not ValueError) on deeply nested arrays, so Flask's `silent` lets it through.
        raise ApiError(400, "Request body is nested too deeply") from None
    if data is None:
        if request.get_data(cache=True):
            raise ApiError(400, "Request body is not valid JSON")
        return {}
    if not isinstance(data, dict):
        raise ApiError(400, f"Request body must be a JSON object, not {type(data).__name__}")
    return data


def validation_details(error: ValidationError) -> list[dict[str, str]]:
    details = []
    for item in error.errors(include_url=False):
        field = ".".join(str(part) for part in item["loc"]) or "body"
        details.append({"field": field, "message": item["msg"]})
    return details


def parse(model: type[ModelT], data: Any) -> ModelT:
    """Validate `data` against `model`, turning pydantic's error into a 400 naming each bad field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ApiError(400, "Invalid request", details=validation_details(exc)) from exc


def json_response(body: Any, status: int = 200) -> Response:
    response = jsonify(body)
    response.status_code = status
    return response


def no_content() -> Response:
    return Response(status=204)
