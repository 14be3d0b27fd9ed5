"""Mount prefixes: which paths a plugin owns, whether two patterns can ever match the same path, dispatch lookup.

A pattern is split into segments; a segment is a literal, a variable (`<id>`, `<int:id>`: any one segment) or a
path variable (`<path:rest>`: one or more segments, only as the last segment). A mount owns its prefix and
everything below it. These are pure functions: the host decides what to refuse, the dispatcher what to serve.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from legacy_core.features import RouteInfo

_VARIABLE = re.compile(r"^<(?:(?P<converter>[a-zA-Z_][a-zA-Z0-9_]*)(?:\([^)]*\))?:)?(?P<name>[a-zA-Z_]\w*)>$")
ANY = "\x00any"  # one segment, any value
REST = "\x00rest"  # one or more segments


def segments(pattern: str) -> tuple[str, ...]:
    """A path pattern as segments; variables become ANY, a `<path:...>` variable becomes REST."""
    parts = [part for part in pattern.strip("/").split("/") if part]
    out: list[str] = []
    for part in parts:
        match = _VARIABLE.match(part)
        if match is None:
            out.append(part)
        elif match.group("converter") == "path":
            out.append(REST)
        else:
            out.append(ANY)
    return tuple(out)


def _segment_compatible(a: str, b: str) -> bool:
    return a in (ANY, REST) or b in (ANY, REST) or a == b


def rule_under_mount(rule: str, mount: str) -> bool:
    """Whether some path matched by `rule` lies at or below `mount` (so a mount would take it over)."""
    rule_parts, mount_parts = segments(rule), segments(mount)
    for index, mount_part in enumerate(mount_parts):
        if index >= len(rule_parts):
            return False
        rule_part = rule_parts[index]
        if rule_part == REST or mount_part == REST:
            return True
        if not _segment_compatible(rule_part, mount_part):
            return False
    return True


def mounts_overlap(first: str, second: str) -> bool:
    """Whether two mounts share any path: one lies (for some values of the variables) at or below the other."""
    return rule_under_mount(first, second) or rule_under_mount(second, first)


def core_conflicts(mount: str, legacy_routes: Iterable[RouteInfo], feature: str | None) -> list[RouteInfo]:
    """Legacy routes a mount would swallow and may not: core routes always, another feature's routes too.

    A plugin that declares `sovereign.feature: F` may sit over F's routes (that is the point of the strangler:
    the router chooses per tenant); it may never hide a core route such as `/api/projects/<id>/shares`.
    """
    return [
        route
        for route in legacy_routes
        if rule_under_mount(route.rule, mount) and (route.feature is None or route.feature != feature)
    ]


@dataclass(frozen=True)
class Mount:
    """One prefix served by one plugin, for the tenants it is enabled for."""

    prefix: str
    plugin: str
    parts: tuple[str, ...]


def path_matches(path: str, parts: Sequence[str]) -> bool:
    """Whether a request path lies at or below a mount's segments."""
    request_parts = [part for part in path.split("/") if part]
    if len(request_parts) < len(parts):
        return False
    for index, part in enumerate(parts):
        if part == REST:
            return True
        if part != ANY and part != request_parts[index]:
            return False
    return True


def rule_within_mount(rule: str, mount: str) -> bool:
    """Whether every path a plugin's route matches lies at or below its mount (so the dispatcher sends it there)."""
    rule_parts, mount_parts = segments(rule), segments(mount)
    if len(rule_parts) < len(mount_parts):
        return False
    for index, (rule_part, mount_part) in enumerate(zip(rule_parts, mount_parts, strict=False)):
        if mount_part == REST:
            return True
        if rule_part == REST:  # one-or-more segments may stop short of the rest of the mount
            return index == len(mount_parts) - 1 and mount_part == ANY
        if mount_part != ANY and rule_part != mount_part:
            return False
    return True
