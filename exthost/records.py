"""What the host knows of each plugin: its state and reason, its hook timings, and the routing table."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pluggy
from flask import Flask

from exthost.manifest import MANIFEST_FILENAME, Manifest
from exthost.mounts import Mount, path_matches
from exthost.sdk import PluginContext

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

    from exthost.trust.policy import Verification

DISCOVERED = "discovered"
INVALID = "invalid"
REGISTERED = "registered"
ENABLED = "enabled"
DISABLED = "disabled"
FAILED = "failed"
STATES = (DISCOVERED, INVALID, REGISTERED, ENABLED, DISABLED, FAILED)


@dataclass
class HookTiming:
    """How often a hook ran for a plugin, how long it took, and how often it raised."""

    calls: int = 0
    errors: int = 0
    total_ms: float = 0.0
    last_ms: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "calls": self.calls,
            "errors": self.errors,
            "totalMs": round(self.total_ms, 3),
            "lastMs": round(self.last_ms, 3),
        }


@dataclass
class PluginRecord:
    """Everything the host knows of one plugin."""

    name: str
    folder: Path
    source: str
    manifest: Manifest | None = None
    state: str = DISCOVERED
    reason: str | None = None
    context: PluginContext | None = None
    manager: pluggy.PluginManager | None = None
    app: Flask | None = None
    module_prefix: str = ""
    tenants: set[str] = field(default_factory=set)
    registry_disabled: set[str] = field(default_factory=set)
    timings: dict[str, HookTiming] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    disabled_reasons: dict[str, str] = field(default_factory=dict)
    tenant_failures: dict[str, str] = field(default_factory=dict)
    # Its signature check (exthost.trust), made before its code is imported; None when it never got that far.
    trust: Verification | None = None

    @property
    def manifest_path(self) -> Path:
        return self.folder / MANIFEST_FILENAME

    @property
    def loaded(self) -> bool:
        return self.app is not None and self.state not in (INVALID, FAILED)

    def display_state(self) -> str:
        """The state users see: invalid/failed win; else enabled for some tenant, failed for every tenant it should
        serve (a raising on_enable), disabled, or just registered."""
        if self.state in (INVALID, FAILED, DISCOVERED):
            return self.state
        if self.tenants:
            return ENABLED
        if self.tenant_failures:
            return FAILED
        if self.registry_disabled:
            return DISABLED
        return REGISTERED

    def fail(self, state: str, reason: str) -> None:
        self.state = state
        self.reason = reason


@dataclass(frozen=True)
class MountTable:
    """Immutable routing table, swapped whole: requests in flight keep the table they started with."""

    mounts: tuple[Mount, ...] = ()
    # Each plugin's WSGI app: its Flask app, or the proxy to its sandboxed workers (exthost.sandbox).
    apps: dict[str, WSGIApplication] = field(default_factory=dict)
    tenants: dict[str, frozenset[str]] = field(default_factory=dict)
    # Plugins reimplementing a legacy feature are not matched by path here: the feature-flag router decides when
    # they answer. Their mounts, by feature, and the plugin of each feature:
    feature_mounts: tuple[tuple[str, Mount], ...] = ()
    features: dict[str, str] = field(default_factory=dict)

    def match(self, path: str) -> str | None:
        """The plugin (of no feature) whose mount covers `path`, regardless of tenant."""
        for mount in self.mounts:
            if path_matches(path, mount.parts):
                return mount.plugin
        return None

    def app_for(self, path: str, tenant: str | Callable[[], str]) -> WSGIApplication | None:
        """The app of the plugin (of no feature) whose mount covers `path`, when it serves `tenant`; `tenant` may be
        a function, called only when some mount covers the path (so other paths never read the session)."""
        plugin = self.match(path)
        if plugin is None:
            return None
        tenant_id = tenant() if callable(tenant) else tenant
        return self.apps[plugin] if tenant_id in self.tenants.get(plugin, ()) else None

    def feature_at(self, path: str) -> str | None:
        """The feature whose plugin's mounts cover `path`."""
        for feature, mount in self.feature_mounts:
            if path_matches(path, mount.parts):
                return feature
        return None

    def feature_app(self, feature: str, tenant: str) -> WSGIApplication | None:
        """The app of the plugin reimplementing `feature`, when it serves `tenant`."""
        plugin = self.features.get(feature)
        if plugin is None or tenant not in self.tenants.get(plugin, ()):
            return None
        return self.apps[plugin]
