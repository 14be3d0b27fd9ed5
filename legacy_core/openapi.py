"""The OpenAPI 3.1 document of the legacy API, merged from per-feature fragments, and the route that serves it."""

from __future__ import annotations

import copy
import importlib
import importlib.util
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import Any, cast

from flask import Blueprint, current_app
from flask.blueprints import BlueprintSetupState
from werkzeug.wrappers import Response

from legacy_core.errors import SovereignError
from legacy_core.http import json_response
from legacy_core.requestctx import EXTENSION_KEY
from legacy_core.services import Services
from legacy_core.settings import Settings

OPENAPI_VERSION = "3.1.0"
TITLE = "Sovereign legacy core"
FALLBACK_VERSION = "0.1.0"
SECURITY_SCHEME = "sessionCookie"
DOCUMENT_KEY = "sovereign.openapi"
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")

CORE_FRAGMENT = "legacy_core.routes.openapi_spec"
# Feature fragments are picked up once their module exists; one that exists but fails to import is an error.
FEATURE_FRAGMENTS = ("legacy_core.papertrail.openapi_spec", "legacy_core.blog.openapi_spec")


class OpenApiMergeError(SovereignError):
    """Two fragments describe the same path, schema or operationId, or a fragment is malformed."""


@dataclass(frozen=True)
class Fragment:
    """The part of the document one module contributes: path items and component schemas."""

    module: str
    paths: Mapping[str, Any]
    schemas: Mapping[str, Any]


def fragment_from_module(module_name: str) -> Fragment:
    """Import `module_name` and read its `PATHS` and `SCHEMAS` dicts."""
    module = importlib.import_module(module_name)
    parts: dict[str, Mapping[str, Any]] = {}
    for attribute in ("PATHS", "SCHEMAS"):
        value = getattr(module, attribute, None)
        if not isinstance(value, Mapping):
            raise OpenApiMergeError(
                f"OpenAPI fragment {module_name!r} must define {attribute} as a dict, found {type(value).__name__}; "
                f"add `{attribute}: dict[str, Any] = {{...}}` to {getattr(module, '__file__', module_name)}"
            )
        parts[attribute] = value
    return Fragment(module_name, parts["PATHS"], parts["SCHEMAS"])


def _module_exists(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError as exc:
        # A retired feature's package is gone altogether; any other missing import is a real error.
        if exc.name is not None and name.startswith(f"{exc.name}."):
            return False
        raise


def load_fragments(features: Iterable[str] = FEATURE_FRAGMENTS) -> list[Fragment]:
    """The core fragment plus every feature fragment whose module exists."""
    fragments = [fragment_from_module(CORE_FRAGMENT)]
    for name in features:
        if _module_exists(name):
            fragments.append(fragment_from_module(name))
    return fragments


def _operations(path_item: Mapping[str, Any]) -> Iterable[tuple[str, dict[str, Any]]]:
    for method in HTTP_METHODS:
        operation = path_item.get(method)
        if isinstance(operation, dict):
            yield method, operation


def merge_fragments(fragments: Iterable[Fragment]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Paths and schemas of all fragments (deep copies); any name claimed twice is an error naming both modules."""
    paths: dict[str, Any] = {}
    schemas: dict[str, Any] = {}
    path_owner: dict[str, str] = {}
    schema_owner: dict[str, str] = {}
    operation_owner: dict[str, str] = {}
    for fragment in fragments:
        for path, item in fragment.paths.items():
            if path in path_owner:
                raise OpenApiMergeError(
                    f"path {path!r} is described by both {path_owner[path]!r} and {fragment.module!r}; "
                    "keep it in the fragment of the feature that serves it"
                )
            path_owner[path] = fragment.module
            paths[path] = copy.deepcopy(item)
            for method, operation in _operations(item):
                operation_id = operation.get("operationId")
                if operation_id is None:
                    continue
                if operation_id in operation_owner:
                    raise OpenApiMergeError(
                        f"operationId {operation_id!r} ({method.upper()} {path} in {fragment.module!r}) is already "
                        f"used by {operation_owner[operation_id]}; prefix it with the feature name"
                    )
                operation_owner[operation_id] = f"{method.upper()} {path} in {fragment.module!r}"
        for name, schema in fragment.schemas.items():
            if name in schema_owner:
                raise OpenApiMergeError(
                    f"schema {name!r} is defined by both {schema_owner[name]!r} and {fragment.module!r}; "
                    "prefix feature schemas with the feature name (e.g. 'PaperTrailNode')"
                )
            schema_owner[name] = fragment.module
            schemas[name] = copy.deepcopy(schema)
    return paths, schemas


def package_version() -> str:
    try:
        return version("sovereign")
    except PackageNotFoundError:
        return FALLBACK_VERSION


def build_openapi(settings: Settings, fragments: Iterable[Fragment] | None = None) -> dict[str, Any]:
    """The whole OpenAPI 3.1 document; a new dict on every call, so callers may change it freely."""
    paths, schemas = merge_fragments(load_fragments() if fragments is None else fragments)
    for path, item in paths.items():
        if path == "/api" or path.startswith("/api/"):
            for _method, operation in _operations(item):
                operation.setdefault("security", [{SECURITY_SCHEME: []}])
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": TITLE,
            "version": package_version(),
            "description": "The JSON API of the legacy monolith, plus the account forms and the health probe. "
            "Routes under /api need the session cookie set by POST /register or POST /login.",
        },
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": dict(sorted(schemas.items())),
            "securitySchemes": {
                SECURITY_SCHEME: {
                    "type": "apiKey",
                    "in": "cookie",
                    "name": settings.AUTH_SESSION_COOKIE_NAME,
                    "description": "The session cookie set by POST /register or POST /login.",
                }
            },
        },
    }


def make_openapi_blueprint() -> Blueprint:
    """`GET /openapi.json`: the document, built once when the blueprint is registered on an app."""
    bp = Blueprint("openapi", __name__)

    @bp.record_once
    def _build_document(state: BlueprintSetupState) -> None:
        services = cast(Services, state.app.extensions[EXTENSION_KEY])
        # Built at app creation, so a broken or clashing fragment stops the app instead of a later request.
        fragments = load_fragments(tuple(feature.openapi for feature in services.features if feature.openapi))
        state.app.extensions[DOCUMENT_KEY] = build_openapi(services.settings, fragments)

    @bp.get("/openapi.json")
    def openapi_document() -> Response:
        return json_response(current_app.extensions[DOCUMENT_KEY])

    return bp
