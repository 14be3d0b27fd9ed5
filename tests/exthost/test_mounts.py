"""Mount prefixes: overlap with core routes and other plugins, and dispatch matching."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exthost.mounts import core_conflicts, mounts_overlap, path_matches, rule_under_mount, rule_within_mount, segments
from legacy_core.features import RouteInfo


def route(rule: str, feature: str | None = None) -> RouteInfo:
    return RouteInfo(rule, f"ep{abs(hash(rule))}", frozenset({"GET"}), feature)


@pytest.mark.parametrize(
    ("rule", "mount", "expected"),
    [
        ("/api/projects/<project_id>/shares", "/api/projects", True),
        ("/api/projects", "/api/projects/<id>/papertrail", False),
        ("/api/projects/<project_id>/papertrail/board", "/api/projects/<id>/papertrail", True),
        ("/api/projects/<project_id>/configure", "/api/projects/<id>/papertrail", False),
        ("/static/<path:filename>", "/static/plugin", True),
        ("/projects/<project_id>/blog/edit/<path:file>", "/projects/<id>/blog", True),
        ("/api/me", "/api/hello", False),
        ("/health", "/healthz", False),
    ],
)
def test_a_rule_lies_under_a_mount_when_some_path_of_it_does(rule, mount, expected):
    assert rule_under_mount(rule, mount) is expected


def test_a_feature_plugin_may_sit_over_its_features_routes_but_never_over_core_routes():
    legacy = [
        route("/api/projects/<project_id>/papertrail/board", "papertrail"),
        route("/api/projects/<project_id>/blog/post/all", "blog"),
        route("/api/projects/<project_id>/shares"),
    ]
    assert core_conflicts("/api/projects/<id>/papertrail", legacy, "papertrail") == []
    assert [r.rule for r in core_conflicts("/api/projects/<id>/papertrail", legacy, None)] == [
        "/api/projects/<project_id>/papertrail/board"
    ]
    assert [r.rule for r in core_conflicts("/api/projects/<id>/papertrail", legacy, "blog")] == [
        "/api/projects/<project_id>/papertrail/board"
    ]
    assert [r.rule for r in core_conflicts("/api/projects", legacy, "papertrail")] == [
        "/api/projects/<project_id>/blog/post/all",
        "/api/projects/<project_id>/shares",
    ]


def test_plugin_routes_must_lie_inside_their_mount():
    assert rule_within_mount("/api/hello/greet", "/api/hello")
    assert rule_within_mount("/api/projects/<pid>/papertrail/board", "/api/projects/<id>/papertrail")
    assert not rule_within_mount("/api/other", "/api/hello")
    assert not rule_within_mount("/api/<name>/greet", "/api/hello")  # would also match /api/other/greet
    assert not rule_within_mount("/api", "/api/hello")
    assert not rule_within_mount("/api/<path:rest>", "/api/hello")


def test_dispatch_matching_is_per_segment_not_per_character():
    parts = segments("/api/hello")
    assert path_matches("/api/hello", parts)
    assert path_matches("/api/hello/", parts)
    assert path_matches("/api/hello/x/y", parts)
    assert not path_matches("/api/helloworld", parts)
    assert not path_matches("/api", parts)
    variable = segments("/api/projects/<id>/papertrail")
    assert path_matches("/api/projects/p_1/papertrail/board", variable)
    assert not path_matches("/api/projects/p_1/blog/post/all", variable)


segment = st.text(alphabet="abcxyz", min_size=1, max_size=3)
pattern = st.lists(st.one_of(segment, st.just("<v>")), min_size=1, max_size=4).map(lambda p: "/" + "/".join(p))
concrete = st.lists(segment, min_size=1, max_size=6).map(lambda p: "/" + "/".join(p))


@given(pattern, pattern, concrete)
def test_two_mounts_that_both_match_a_path_always_overlap(first, second, path):
    # The property the host relies on to refuse overlapping mounts: if any request could reach both, they overlap.
    if path_matches(path, segments(first)) and path_matches(path, segments(second)):
        assert mounts_overlap(first, second)


@given(pattern, pattern)
def test_overlap_is_symmetric(first, second):
    assert mounts_overlap(first, second) == mounts_overlap(second, first)
