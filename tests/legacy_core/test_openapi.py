"""The OpenAPI document: valid 3.1, in step with the Flask routes, and obeyed by the app under a schemathesis run."""

from __future__ import annotations

import importlib.util
import re
import sys
import types
from dataclasses import dataclass
from typing import Any

import jsonschema_rs
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from legacy_core import Server
from legacy_core.openapi import (
    CORE_FRAGMENT,
    FEATURE_FRAGMENTS,
    SECURITY_SCHEME,
    Fragment,
    OpenApiMergeError,
    build_openapi,
    fragment_from_module,
    load_fragments,
    merge_fragments,
)
from tests.fixtures.app import PASSWORD, Api
from tests.fixtures.openapi import CHECKS, COOKIE, DOC_SETTINGS, DOCUMENT, openapi_schema

HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}

# Bounded so the whole run stays well inside a CI minute and a half on two cores, whatever the profile.
EXAMPLES_PER_OPERATION = 25
schema = openapi_schema()


def _flask_path(rule: str) -> str:
    """`/api/projects/<project_id>` -> `/api/projects/{}`: the shape of a path, whatever its parameter names."""
    return re.sub(r"<(?:[^<>:]+:)?[^<>]+>", "{}", rule)


def _openapi_path(path: str) -> str:
    return re.sub(r"\{[^{}]+\}", "{}", path)


def _app_operations(server: Server) -> set[tuple[str, str]]:
    operations = set()
    for rule in server.app.url_map.iter_rules():
        for method in rule.methods or ():
            if method not in ("HEAD", "OPTIONS"):
                operations.add((method.lower(), _flask_path(rule.rule)))
    return operations


def _documented_operations(document: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        (method, _openapi_path(path))
        for path, item in document["paths"].items()
        for method in item
        if method in HTTP_METHODS
    }


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [ref for value in node.values() for ref in _refs(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in _refs(value)]
    return []


def _resolve(document: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), f"{ref!r} is not a local reference"
    node: Any = document
    for token in ref[2:].split("/"):
        token = token.replace("~1", "/").replace("~0", "~")
        assert isinstance(node, dict) and token in node, f"{ref!r} does not resolve (no {token!r})"
        node = node[token]
    return node


def test_openapi_document_is_valid_openapi_31() -> None:
    assert DOCUMENT["openapi"] == "3.1.0"
    assert DOCUMENT["info"]["title"] == "Sovereign legacy core"
    # schemathesis checks the document against the OpenAPI 3.1 meta-schema (it raises on the first violation).
    schemathesis.openapi.from_dict(build_openapi(DOC_SETTINGS)).validate()
    # That meta-schema leaves Schema Objects alone, so each is checked against JSON Schema 2020-12 as well.
    for name, component in DOCUMENT["components"]["schemas"].items():
        assert jsonschema_rs.meta.is_valid(component), f"components.schemas.{name} is not a valid JSON Schema"


def test_openapi_every_ref_resolves() -> None:
    refs = _refs(DOCUMENT)
    assert refs, "the document is expected to share schemas through $ref"
    for ref in refs:
        _resolve(DOCUMENT, ref)


def test_openapi_operation_ids_are_unique() -> None:
    ids = [
        operation["operationId"]
        for item in DOCUMENT["paths"].values()
        for method, operation in item.items()
        if method in HTTP_METHODS
    ]
    assert len(ids) == len(set(ids))


def test_openapi_api_routes_and_document_match(server: Server) -> None:
    app_api = {(method, path) for method, path in _app_operations(server) if path.startswith("/api")}
    documented = _documented_operations(DOCUMENT)
    assert app_api - documented == set(), "Flask routes under /api missing from the OpenAPI document"
    assert documented - _app_operations(server) == set(), "documented operations the app does not serve"


def test_openapi_api_operations_require_the_session_cookie() -> None:
    scheme = DOCUMENT["components"]["securitySchemes"][SECURITY_SCHEME]
    assert scheme == {**scheme, "type": "apiKey", "in": "cookie", "name": COOKIE}
    for path, item in DOCUMENT["paths"].items():
        for method, operation in item.items():
            if method not in HTTP_METHODS:
                continue
            if path.startswith("/api/"):
                assert operation["security"] == [{SECURITY_SCHEME: []}], f"{method.upper()} {path}"
                assert "401" in operation["responses"], f"{method.upper()} {path} can answer 401"
            else:
                assert "security" not in operation, f"{method.upper()} {path} is public"


def test_openapi_cookie_name_follows_settings(settings_factory: Any) -> None:
    document = build_openapi(settings_factory(AUTH_SESSION_COOKIE_NAME="other_cookie"))
    assert document["components"]["securitySchemes"][SECURITY_SCHEME]["name"] == "other_cookie"


def test_openapi_served_document_equals_built_document(server: Server) -> None:
    response = server.app.test_client().get("/openapi.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.get_json() == build_openapi(server.services.settings)


def test_openapi_build_returns_an_independent_copy() -> None:
    first = build_openapi(DOC_SETTINGS)
    first["paths"]["/health"]["get"]["responses"].clear()
    first["components"]["schemas"]["Error"]["required"].append("bogus")
    assert build_openapi(DOC_SETTINGS) == DOCUMENT


def test_openapi_includes_every_feature_fragment_that_exists() -> None:
    present = [name for name in FEATURE_FRAGMENTS if importlib.util.find_spec(name) is not None]
    assert [fragment.module for fragment in load_fragments()] == [CORE_FRAGMENT, *present]
    for name in [CORE_FRAGMENT, *present]:
        fragment = fragment_from_module(name)
        assert set(fragment.paths) <= set(DOCUMENT["paths"]), name
        assert set(fragment.schemas) <= set(DOCUMENT["components"]["schemas"]), name


@pytest.mark.parametrize(
    "missing",
    ["legacy_core.papertrail.no_such_fragment", "legacy_core.retired_feature.openapi_spec"],
    ids=["module-missing", "package-missing"],
)
def test_openapi_load_fragments_skips_missing_feature_modules(missing: str) -> None:
    assert [fragment.module for fragment in load_fragments(features=[missing])] == [CORE_FRAGMENT]


@pytest.mark.parametrize(
    ("attributes", "message"),
    [
        ({"SCHEMAS": {}}, "must define PATHS as a dict, found NoneType"),
        ({"PATHS": [], "SCHEMAS": {}}, "must define PATHS as a dict, found list"),
        ({"PATHS": {}}, "must define SCHEMAS as a dict, found NoneType"),
    ],
    ids=["no-paths", "paths-not-a-dict", "no-schemas"],
)
def test_openapi_fragment_must_define_paths_and_schemas(
    monkeypatch: pytest.MonkeyPatch, attributes: dict[str, Any], message: str
) -> None:
    module = types.ModuleType("broken_fragment")
    for key, value in attributes.items():
        setattr(module, key, value)
    monkeypatch.setitem(sys.modules, "broken_fragment", module)
    with pytest.raises(OpenApiMergeError, match=re.escape(message)):
        fragment_from_module("broken_fragment")


@pytest.mark.parametrize(
    ("second", "message"),
    [
        (Fragment("b", {"/health": {}}, {}), "path '/health' is described by both 'a' and 'b'"),
        (Fragment("b", {}, {"Error": {}}), "schema 'Error' is defined by both 'a' and 'b'"),
        (
            Fragment("b", {"/other": {"get": {"operationId": "health", "responses": {}}}}, {}),
            "operationId 'health'",
        ),
    ],
    ids=["duplicate-path", "duplicate-schema", "duplicate-operation-id"],
)
def test_openapi_merge_refuses_duplicates(second: Fragment, message: str) -> None:
    first = Fragment("a", {"/health": {"get": {"operationId": "health", "responses": {}}}}, {"Error": {}})
    with pytest.raises(OpenApiMergeError, match=re.escape(message)):
        merge_fragments([first, second])


def test_openapi_merge_keeps_fragments_untouched() -> None:
    paths: dict[str, Any] = {"/api/x": {"get": {"responses": {}}}}
    fragment = Fragment("a", paths, {"X": {"type": "object"}})
    merged_paths, _ = merge_fragments([fragment])
    merged_paths["/api/x"]["get"]["security"] = []
    assert paths == {"/api/x": {"get": {"responses": {}}}}


def _harvest(node: Any, found: list[str]) -> None:
    """Collect the ids (and blog file names) a JSON answer mentions, in order of appearance."""
    if isinstance(node, dict):
        for key, value in node.items():
            is_id = key in ("id", "file", "slug") or key.endswith("Id")
            if is_id and isinstance(value, str) and value and value not in found:
                found.append(value)
            _harvest(value, found)
    elif isinstance(node, list):
        for value in node:
            _harvest(value, found)


@dataclass
class World:
    """A server with one owner holding a project of each type, an editor on both, and a stranger to them."""

    server: Server
    projects: list[str]  # one project id per type
    known_ids: dict[str, list[str]]  # project id -> ids its GET answers mention (contributors, boards, posts...)
    tokens: dict[str, str]  # who -> session token
    emails: list[str]

    def aim(self, case: schemathesis.Case[Any], data: st.DataObject) -> dict[str, str]:
        """Point the generated case at real data part of the time, and pick who sends it; returns the cookies.

        Any feature's routes get the same treatment: `projectId` is often a real project, and every other path
        parameter is often an id the project's own GET answers mention.
        """
        body = case.body
        if isinstance(body, dict) and "email" in body:
            email = data.draw(st.sampled_from([*self.emails, None]), label="email")
            if email is not None:
                body["email"] = email
                if "password" in body and data.draw(st.booleans(), label="right password"):
                    body["password"] = PASSWORD
        path = case.path_parameters
        if path and "projectId" in path:
            project = data.draw(st.sampled_from([*self.projects, None]), label="projectId")
            if project is not None:
                path["projectId"] = project
                for name in sorted(path):
                    if name != "projectId" and self.known_ids[project]:
                        value = data.draw(st.sampled_from([*self.known_ids[project], None]), label=name)
                        if value is not None:
                            path[name] = value
        who = data.draw(st.sampled_from(["owner", "owner", "editor", "stranger", "anonymous"]), label="caller")
        return {COOKIE: self.tokens[who]} if who in self.tokens else {}


def _project_reads() -> list[str]:
    """Documented GET paths whose only parameter is the project: safe to read for ids to aim at."""
    return [
        path
        for path, item in DOCUMENT["paths"].items()
        if "get" in item and re.findall(r"\{([^{}]+)\}", path) == ["projectId"]
    ]


@pytest.fixture
def world(api: Api) -> World:
    return build_world(api)


def build_world(api: Api) -> World:
    """One owner with a project of each type shared with an editor, plus a stranger; ids harvested to aim at."""
    owner, editor, stranger = api.user(), api.user(), api.user()
    projects = [api.project(owner, type=kind, name=f"Demo {kind}") for kind in ("papertrail", "blog")]
    known_ids: dict[str, list[str]] = {}
    for project_id in projects:
        api.share(owner, project_id, editor, "editor")
        known_ids[project_id] = []
        for path in _project_reads():
            response = owner.get(path.replace("{projectId}", project_id))
            if response.is_json:
                _harvest(response.get_json(), known_ids[project_id])
    tokens = {}
    for who, client in (("owner", owner), ("editor", editor), ("stranger", stranger)):
        cookie = client.get_cookie(COOKIE)
        assert cookie is not None
        tokens[who] = cookie.value
    emails = [client.user["email"] for client in (owner, editor, stranger)]  # type: ignore[attr-defined]
    return World(api.server, projects, known_ids, tokens, emails)


@schema.parametrize()
@schema.given(data=st.data())
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_openapi_app_conforms_to_document(case: schemathesis.Case[Any], data: st.DataObject, world: World) -> None:
    cookies = world.aim(case, data)
    case.call_and_validate(app=world.server.app, cookies=cookies, checks=CHECKS)
