"""Routes of the web part (being written)."""

from __future__ import annotations

from flask import Blueprint


def make_web_blueprint() -> Blueprint:
    return Blueprint("web", __name__)
