"""Feature flags: which implementation answers a feature route, decided by pure functions over plain data.

A flag belongs to a feature (`route` None) or to one route of it (`route` = the URL rule, e.g.
`/api/projects/<project_id>/papertrail/board`); a route flag wins over its feature's flag. Modes:

    legacy    the legacy code answers
    shadow    legacy answers; a sample of requests also runs on the plugin, off the request path, and is compared
    canary    a sticky share answers from the plugin (tenants listed, plus `percent` of callers), the rest legacy
    plugin    the plugin answers
    retired   the plugin answers and the legacy code is gone: nothing ever falls back to it

"Sticky" means a caller's side depends only on the feature and the caller's key (their user id, else their
tenant): each key has a fixed bucket in 0..9999, and the plugin takes buckets below `percent * 100`, so a caller on
the plugin at 10% stays on it at 20%.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

Mode = Literal["legacy", "shadow", "canary", "plugin", "retired"]
MODES: tuple[Mode, ...] = ("legacy", "shadow", "canary", "plugin", "retired")
Side = Literal["legacy", "plugin"]
BUCKETS = 10_000


@dataclass(frozen=True)
class Flag:
    """The mode of one feature, or of one route of it, with who set it, when and why."""

    feature: str
    mode: Mode = "legacy"
    route: str | None = None
    percent: float = 0.0
    tenants: frozenset[str] = frozenset()
    sample: float = 100.0  # percent of shadow-mode requests copied to the plugin
    updated_by: str = "default"
    updated_at: datetime | None = None
    reason: str = ""

    @property
    def key(self) -> tuple[str, str | None]:
        return self.feature, self.route

    def as_dict(self) -> dict[str, Any]:
        return {
            "feature": self.feature,
            "route": self.route,
            "mode": self.mode,
            "percent": self.percent,
            "tenants": sorted(self.tenants),
            "sample": self.sample,
            "updatedBy": self.updated_by,
            "updatedAt": self.updated_at.isoformat() if self.updated_at else None,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class FlagSet:
    """Every flag in force, by (feature, route); features without a flag are in legacy mode."""

    flags: Mapping[tuple[str, str | None], Flag] = field(default_factory=dict)
    version: int = 0

    def flag(self, feature: str, route: str | None = None) -> Flag:
        """The flag deciding `route` of `feature`: the route's own, else the feature's, else legacy."""
        if route is not None:
            found = self.flags.get((feature, route))
            if found is not None:
                return found
        return self.flags.get((feature, None)) or Flag(feature)

    def all(self) -> list[Flag]:
        return sorted(self.flags.values(), key=lambda f: (f.feature, f.route or ""))

    def with_overrides(self, overrides: Iterable[Flag]) -> FlagSet:
        """This set with development overrides (from settings) in place of the stored flags they name."""
        merged = dict(self.flags)
        for flag in overrides:
            merged[flag.key] = flag
        return FlagSet(merged, self.version)


@dataclass(frozen=True)
class Decision:
    """Who answers the caller, and which side (if any) runs the same request off the request path to compare."""

    mode: Mode
    primary: Side
    shadow: Side | None = None
    flag: Flag | None = None


def bucket(feature: str, key: str) -> int:
    """The caller's fixed place in 0..9999 for a feature: the same key always lands in the same bucket."""
    digest = hashlib.blake2b(f"{feature}\x00{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % BUCKETS


def sampled(feature: str, sequence: int, sample: float) -> bool:
    """Whether request number `sequence` of a feature is copied to the shadow side at a `sample` percent rate.

    Deterministic and evenly spread: at 25% exactly one request in four is copied, in any run of four.
    """
    if sample >= 100:
        return True
    if sample <= 0:
        return False
    step = sample / 100
    return int((sequence + 1) * step) != int(sequence * step)


def decide(flag: Flag, *, tenant: str, sticky_key: str, sequence: int = 0) -> Decision:
    """Which side answers a request under `flag`, for a caller in `tenant` known by `sticky_key`."""
    mode = flag.mode
    if mode == "shadow":
        shadow: Side | None = "plugin" if sampled(flag.feature, sequence, flag.sample) else None
        return Decision(mode, "legacy", shadow, flag)
    if mode == "canary":
        chosen = tenant in flag.tenants or bucket(flag.feature, sticky_key) < flag.percent * BUCKETS / 100
        return Decision(mode, "plugin" if chosen else "legacy", None, flag)
    if mode in ("plugin", "retired"):
        return Decision(mode, "plugin", None, flag)
    return Decision("legacy", "legacy", None, flag)


def parse_overrides(raw: Mapping[str, Any]) -> list[Flag]:
    """Flags from the FEATURE_FLAGS setting: `{"blog": "plugin"}` or `{"blog": {"mode": "canary", "percent": 5}}`.

    A key `feature:/route/rule` names a route flag. Values are checked here, once, with a message naming the key.
    """
    flags = []
    for key, value in raw.items():
        feature, _, route = key.partition(":")
        spec: Mapping[str, Any] = {"mode": value} if isinstance(value, str) else value
        if not isinstance(spec, Mapping):
            raise ValueError(f"FEATURE_FLAGS[{key!r}]: must be a mode or an object, got {value!r}")
        mode = spec.get("mode", "legacy")
        if mode not in MODES:
            raise ValueError(f"FEATURE_FLAGS[{key!r}].mode: unknown mode {mode!r}; one of {', '.join(MODES)}")
        unknown = sorted(set(spec) - {"mode", "percent", "tenants", "sample"})
        if unknown:
            raise ValueError(f"FEATURE_FLAGS[{key!r}]: unknown field(s) {unknown}; use mode, percent, tenants, sample")
        flags.append(
            Flag(
                feature=feature,
                route=route or None,
                mode=mode,
                percent=check_percent(spec.get("percent", 0), f"FEATURE_FLAGS[{key!r}].percent"),
                tenants=frozenset(spec.get("tenants", ())),
                sample=check_percent(spec.get("sample", 100), f"FEATURE_FLAGS[{key!r}].sample"),
                updated_by="settings",
                reason="FEATURE_FLAGS override",
            )
        )
    return flags


def check_percent(value: Any, where: str) -> float:
    """A share in percent, 0 to 100."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 100:
        raise ValueError(f"{where}: must be a number from 0 to 100, got {value!r}")
    return float(value)
