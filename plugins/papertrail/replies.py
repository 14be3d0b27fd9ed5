"""JSON and empty answers of the API, with the status codes and key order the legacy API gives."""

from __future__ import annotations

from flask import Response, jsonify


def answer(body: object, status: int = 200) -> Response:
    """A JSON answer; keys keep their order (the plugin's app does not sort them)."""
    response = jsonify(body)
    response.status_code = status
    return response


def no_content() -> Response:
    """204 with an empty body (a Flask response, so its content type matches the platform's)."""
    return Response(status=204)
