"""Which legacy feature each route belongs to, and what each feature owns: one declaration per feature.

A `Feature` says everything the platform and the parity harness need to know of a feature a plugin may take
over: its routes (whole blueprints, single page endpoints, a path pattern), the state it owns (tables, a data
folder, a git remote), the legacy code that implements it, and how the harness seeds it. The two built-in
features are declared here; a deployment adds its own with the EXTRA_FEATURES setting (`module:NAME` of a
`Feature`), and nothing else in the platform or the harness names a feature.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flask import Flask

    from legacy_core.settings import Settings

# An added feature's name: what flags, manifests, folders and reports call it.
FEATURE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
# The project types the legacy app has (legacy_core.access.PROJECT_TYPES): a feature's seed project is one of them.
PROJECT_TYPES = ("blog", "papertrail")


class FeatureDeclarationError(ValueError):
    """A feature declaration that cannot be used: a bad name, a clash with another feature, or a bad reference."""


@dataclass(frozen=True)
class SeedCall:
    """One API call the parity harness makes to seed a feature, as one of its seed users (alice, bob, carol, dave).

    `path` and the strings in `body` may name `{project}` (the feature's seeded project id), `{remote_url}` (the
    harness's shared remote URL) and any value kept by an earlier call. `keep` names values of the answer to keep,
    by dotted path; `*` walks a list (`"posts.*.file"` keeps every post's file name, in the answer's order;
    `"posts.*.file|sorted"` sorts them), and a path in brackets (`"[comment.id]"`) keeps its one value as a list.
    """

    user: str
    method: str
    path: str
    body: Any = None
    keep: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Feature:
    """One feature of the legacy app that a plugin may take over."""

    name: str
    # The legacy package implementing it (its folder is what branch coverage measures and fingerprints cover).
    package: str
    # Regular expression over request paths: which recorded and generated requests belong to the feature.
    paths: str
    # Whole blueprints of the legacy app that belong to it, and single endpoints of shared blueprints (its pages).
    blueprints: tuple[str, ...] = ()
    endpoints: tuple[str, ...] = ()
    # `module:function` returning the Flask blueprint of an added feature (the built-in ones are registered by
    # the app itself); `module` of its OpenAPI fragment (PATHS and SCHEMAS).
    blueprint_factory: str | None = None
    openapi: str | None = None
    # Endpoints whose writes reach beyond the database (files, git): a shadow run skips their unsafe requests.
    outside_database: frozenset[str] = frozenset()
    # URL rules whose views read their body themselves and count it against their own, larger limits.
    own_body_limit_rules: frozenset[str] = frozenset()
    # The state it owns: tables (the harness compares every non-bookkeeping table; these name the feature's), a
    # folder under DATA_DIR (`<NAME>_DATA_ROOT` in the settings overrides it), and, for `remote`, the
    # `module:function(path, when)` that fills the bare git repository its seed configures.
    tables: tuple[str, ...] = ()
    data_folder: str | None = None
    remote: str | None = None
    # The harness's seed: a project of `project_type` named `project_title` (owned by alice, shared with bob as
    # editor and carol as viewer), then `seed` calls; `parameters` maps the OpenAPI path parameters of its routes
    # to the seeded values generated cases draw from ("id" is the project's id).
    project_type: str | None = None
    project_title: str = ""
    seed: tuple[SeedCall, ...] = ()
    parameters: Mapping[str, str] = field(default_factory=dict)

    def owns_endpoint(self, endpoint: str) -> bool:
        return endpoint in self.endpoints or endpoint.rpartition(".")[0] in self.blueprints

    def folder(self) -> Path:
        """The folder of the legacy package (found without importing it, where its parent allows)."""
        spec = importlib.util.find_spec(self.package)
        if spec is None or not spec.submodule_search_locations:
            raise FeatureDeclarationError(f"feature {self.name!r}: package {self.package!r} is not a package")
        return Path(next(iter(spec.submodule_search_locations))).resolve()

    def data_root(self, settings: Settings) -> Path | None:
        """The feature's data folder under `settings`, or None when it keeps no files."""
        if self.data_folder is None:
            return None
        override = getattr(settings, f"{self.name.upper()}_DATA_ROOT", None)
        return Path(override) if override is not None else settings.DATA_DIR / self.data_folder


# The harness's seeded board: three nodes, two edges (the comment is bob's, on the claim).
_BOARD = {
    "nodes": [
        {"id": "claim", "label": "Claim", "tags": ["thesis"]},
        {"id": "source", "label": "Source A", "tags": ["evidence", "primary"]},
        {"id": "rebuttal", "label": "Rebuttal"},
    ],
    "edges": [
        {"id": "supports", "source": "source", "target": "claim", "label": "supports"},
        {"id": "counters", "source": "rebuttal", "target": "claim", "label": "counters"},
    ],
}
_BOARD_PATH = "/api/projects/{project}/papertrail/board"

PAPERTRAIL = Feature(
    name="papertrail",
    package="legacy_core.papertrail",
    paths="/papertrail/|^/uploads/",
    blueprints=("papertrail",),
    endpoints=("web.board_page",),
    openapi="legacy_core.papertrail.openapi_spec",
    outside_database=frozenset(
        {"papertrail.delete_board", "papertrail.upload_attachment", "papertrail.import_board"}
    ),
    own_body_limit_rules=frozenset(
        {
            "/api/projects/<project_id>/papertrail/board/<board_id>/attachments/upload",
            "/api/projects/<project_id>/papertrail/board/import",
            "/api/projects/<project_id>/papertrail/board/import/validate",
        }
    ),
    tables=("pt_boards", "pt_nodes", "pt_edges", "pt_comments", "pt_attachments"),
    data_folder="papertrail",
    project_type="papertrail",
    project_title="Evidence board",
    seed=(
        SeedCall(
            "alice",
            "POST",
            _BOARD_PATH,
            _BOARD,
            {"board_id": "board.id", "node_ids": "board.nodes.*.id", "edge_ids": "board.edges.*.id"},
        ),
        SeedCall(
            "bob",
            "POST",
            _BOARD_PATH + "/{board_id}/comments",
            {"body": "Needs a second source", "nodeId": "claim"},
            {"comment_ids": "[comment.id]"},
        ),
    ),
    parameters={
        "projectId": "id",
        "boardId": "board_id",
        "nodeId": "node_ids",
        "edgeId": "edge_ids",
        "commentId": "comment_ids",
    },
)

BLOG = Feature(
    name="blog",
    package="legacy_core.blog",
    paths="/configure$|/blog/",
    blueprints=("blog",),
    endpoints=("web.blog_page", "web.new_post_page", "web.edit_post_page"),
    openapi="legacy_core.blog.openapi_spec",
    outside_database=frozenset(
        {
            "blog.configure",
            "blog.create_post",
            "blog.update_post",
            "blog.publish_post",
            "blog.pull",
            "blog.delete_post",
        }
    ),
    tables=("blog_configs",),
    data_folder="blog",
    remote="legacy_core.blog.demo:seed_remote",
    project_type="blog",
    project_title="Team blog",
    seed=(
        SeedCall(
            "alice",
            "PATCH",
            "/api/projects/{project}/configure",
            {
                "repoUrl": "{remote_url}",
                "branch": "main",
                "contentDir": "src/content/blog",
                "gitUserName": "Blog Bot",
                "gitUserEmail": "blog-bot@example.test",
            },
        ),
        SeedCall("alice", "GET", "/api/projects/{project}/blog/post/all", keep={"files": "posts.*.file|sorted"}),
    ),
    parameters={"projectId": "id", "file": "files"},
)

BUILT_IN = (PAPERTRAIL, BLOG)
# The built-in features' names (a deployment's full set is `feature_set(settings)`).
FEATURES = tuple(feature.name for feature in BUILT_IN)


@dataclass(frozen=True)
class FeatureSet:
    """The features of one deployment, in declaration order: the built-in ones, then EXTRA_FEATURES."""

    features: tuple[Feature, ...]

    def __post_init__(self) -> None:
        seen: dict[str, Feature] = {}
        for feature in self.features:
            if not FEATURE_NAME.match(feature.name):
                raise FeatureDeclarationError(
                    f"feature name {feature.name!r} must be 1-32 lower-case letters, digits or '_', starting with a "
                    "letter"
                )
            if feature.name in seen:
                raise FeatureDeclarationError(f"feature {feature.name!r} is declared twice")
            seen[feature.name] = feature
            if feature.project_type is not None and feature.project_type not in PROJECT_TYPES:
                raise FeatureDeclarationError(
                    f"feature {feature.name!r}: project_type {feature.project_type!r} is not a project type of the "
                    f"legacy app ({', '.join(PROJECT_TYPES)}); use one of them, or None for a feature without a project"
                )
            try:
                re.compile(feature.paths)
            except re.error as exc:
                raise FeatureDeclarationError(f"feature {feature.name!r}: paths {feature.paths!r}: {exc}") from exc
        blueprints = [name for feature in self.features for name in feature.blueprints]
        endpoints = [name for feature in self.features for name in feature.endpoints]
        for kind, names in (("blueprint", blueprints), ("endpoint", endpoints)):
            doubled = sorted({name for name in names if names.count(name) > 1})
            if doubled:
                raise FeatureDeclarationError(f"{kind}(s) {doubled} claimed by two features")

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(feature.name for feature in self.features)

    def __iter__(self) -> Iterator[Feature]:
        return iter(self.features)

    def __contains__(self, name: object) -> bool:
        return name in self.names

    def __getitem__(self, name: str) -> Feature:
        for feature in self.features:
            if feature.name == name:
                return feature
        raise KeyError(name)

    def feature_of(self, endpoint: str) -> str | None:
        """The feature an endpoint belongs to, or None for a core endpoint (accounts, projects, static, health...)."""
        return self._endpoints.get(endpoint) or self._blueprints.get(endpoint.rpartition(".")[0])

    def feature_of_path(self, path: str) -> str | None:
        """The first feature whose `paths` pattern a request path matches, or None."""
        for feature, pattern in self._patterns:
            if pattern.search(path):
                return feature
        return None

    @cached_property
    def _endpoints(self) -> dict[str, str]:
        return {endpoint: feature.name for feature in self.features for endpoint in feature.endpoints}

    @cached_property
    def _blueprints(self) -> dict[str, str]:
        return {blueprint: feature.name for feature in self.features for blueprint in feature.blueprints}

    @cached_property
    def _patterns(self) -> tuple[tuple[str, re.Pattern[str]], ...]:
        return tuple((feature.name, re.compile(feature.paths)) for feature in self.features)

    @cached_property
    def outside_database_endpoints(self) -> frozenset[str]:
        return frozenset(endpoint for feature in self.features for endpoint in feature.outside_database)

    @cached_property
    def own_body_limit_rules(self) -> frozenset[str]:
        return frozenset(rule for feature in self.features for rule in feature.own_body_limit_rules)


def load_object(reference: str, setting: str) -> Any:
    """The object a `module:name` reference names; a clear error naming `setting` when it cannot be found."""
    module_name, _, attribute = reference.partition(":")
    if not module_name or not attribute:
        raise FeatureDeclarationError(f"{setting}: {reference!r} is not 'module:name', e.g. 'myfeature.feature:NOTES'")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # a module that fails to import fails in any way: say which reference and why
        raise FeatureDeclarationError(
            f"{setting}: cannot import {module_name!r} of {reference!r}: {type(exc).__name__}: {exc}"
        ) from exc
    try:
        return getattr(module, attribute)
    except AttributeError:
        raise FeatureDeclarationError(
            f"{setting}: module {module_name!r} has no {attribute!r} (from {reference!r})"
        ) from None


def feature_set(extra: Iterable[str] = ()) -> FeatureSet:
    """The built-in features plus each `module:NAME` of `extra` (the EXTRA_FEATURES setting)."""
    added = []
    for reference in extra:
        feature = load_object(reference, "setting EXTRA_FEATURES")
        if not isinstance(feature, Feature):
            raise FeatureDeclarationError(
                f"setting EXTRA_FEATURES: {reference!r} is a {type(feature).__name__}, "
                "not a legacy_core.features.Feature"
            )
        added.append(feature)
    return FeatureSet((*BUILT_IN, *added))


BUILT_IN_SET = FeatureSet(BUILT_IN)


@dataclass(frozen=True)
class RouteInfo:
    """One URL rule of the legacy app: its path pattern, endpoint, methods and owning feature (None = core)."""

    rule: str
    endpoint: str
    methods: frozenset[str]
    feature: str | None


def routes(app: Flask, features: FeatureSet) -> Iterator[RouteInfo]:
    """Every URL rule of a legacy app, with its feature among `features` (the app's services' set)."""
    for rule in app.url_map.iter_rules():
        methods = frozenset(rule.methods or ()) - {"HEAD", "OPTIONS"}
        yield RouteInfo(rule.rule, rule.endpoint, methods, features.feature_of(rule.endpoint))
