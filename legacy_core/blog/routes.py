"""Routes of the blog part (being written)."""

from __future__ import annotations

from flask import Blueprint


def make_blog_blueprint() -> Blueprint:
    return Blueprint("blog", __name__)
