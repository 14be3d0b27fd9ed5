"""Routes of the papertrail part (being written)."""

from __future__ import annotations

from flask import Blueprint


def make_papertrail_blueprint() -> Blueprint:
    return Blueprint("papertrail", __name__)
