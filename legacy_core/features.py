"""Which legacy feature each route belongs to: what a plugin may take over, and what stays core."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask

FEATURES = ("papertrail", "blog")

# Whole blueprints that belong to one feature.
FEATURE_BLUEPRINTS = {"papertrail": "papertrail", "blog": "blog"}
# Single endpoints of shared blueprints (the web pages) that belong to one feature.
FEATURE_ENDPOINTS = {
    "web.board_page": "papertrail",
    "web.blog_page": "blog",
    "web.new_post_page": "blog",
    "web.edit_post_page": "blog",
}

# URL rules whose views read their body themselves and count it against their own, larger limits
# (PAPERTRAIL_UPLOAD_MAX_BYTES, PAPERTRAIL_IMPORT_MAX_BYTES): every other body is refused past MAX_CONTENT_LENGTH.
OWN_BODY_LIMIT_RULES = frozenset(
    {
        "/api/projects/<project_id>/papertrail/board/<board_id>/attachments/upload",
        "/api/projects/<project_id>/papertrail/board/import",
        "/api/projects/<project_id>/papertrail/board/import/validate",
    }
)

# Endpoints whose writes reach beyond the database: uploaded files, the blog's working clone and its git remote.
# A shadow run can isolate database writes (a rolled-back transaction) but not these, so it skips their unsafe
# requests rather than let a candidate touch real files or push to a real remote.
OUTSIDE_DATABASE_ENDPOINTS = frozenset(
    {
        "papertrail.delete_board",
        "papertrail.upload_attachment",
        "papertrail.import_board",
        "blog.configure",
        "blog.create_post",
        "blog.update_post",
        "blog.publish_post",
        "blog.pull",
        "blog.delete_post",
    }
)


@dataclass(frozen=True)
class RouteInfo:
    """One URL rule of the legacy app: its path pattern, endpoint, methods and owning feature (None = core)."""

    rule: str
    endpoint: str
    methods: frozenset[str]
    feature: str | None

    @property
    def writes_outside_database(self) -> bool:
        return self.endpoint in OUTSIDE_DATABASE_ENDPOINTS


def feature_of(endpoint: str) -> str | None:
    """The feature an endpoint belongs to, or None for a core endpoint (accounts, projects, static, health...)."""
    if endpoint in FEATURE_ENDPOINTS:
        return FEATURE_ENDPOINTS[endpoint]
    blueprint = endpoint.rpartition(".")[0]
    for feature, name in FEATURE_BLUEPRINTS.items():
        if blueprint == name:
            return feature
    return None


def routes(app: Flask) -> Iterator[RouteInfo]:
    """Every URL rule of a legacy app, with its feature."""
    for rule in app.url_map.iter_rules():
        methods = frozenset(rule.methods or ()) - {"HEAD", "OPTIONS"}
        yield RouteInfo(rule.rule, rule.endpoint, methods, feature_of(rule.endpoint))
