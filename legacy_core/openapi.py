"""Routes of the openapi part (being written)."""

from __future__ import annotations

from flask import Blueprint


def make_openapi_blueprint() -> Blueprint:
    return Blueprint("openapi", __name__)
