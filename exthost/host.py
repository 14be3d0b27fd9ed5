"""The extension host: discovers plugins, validates and loads them in dependency order, runs their lifecycle hooks,
keeps the per-tenant registry in step with the database, and answers "which app serves this path for this tenant".

One host per process and configuration, built by `ExtensionHost(settings, ...)`; nothing here is module state, so
two hosts (two databases, two plugin folders) live side by side in one process. A broken plugin never stops the
host: it is marked `invalid` (its manifest, dependencies or mounts are wrong) or `failed` (its code raised), with a
reason naming the file, field or hook, and every other plugin keeps serving.
"""

from __future__ import annotations

import contextlib
import graphlib
import hashlib
import importlib
import importlib.metadata
import logging
import sys
import threading
import time
import traceback
import types
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nodesemver
import pluggy
from flask import Flask, g, jsonify
from jinja2 import ChoiceLoader, FileSystemLoader
from werkzeug.wrappers import Response

from exthost.errors import (
    CapabilityDenied,
    DependencyError,
    ExtHostError,
    HookFailed,
    ManifestError,
    MountConflict,
    PluginLoadError,
    PluginNotFound,
    PluginStateError,
    did_you_mean,
)
from exthost.hookspecs import HOOK_NAMES, PROJECT, PluginHooks
from exthost.manifest import MANIFEST_FILENAME, Manifest, load_manifest, resolve_inside, validate_plugin_config
from exthost.migrate import exthost_revisions, plugin_revisions
from exthost.mounts import Mount, core_conflicts, mounts_overlap, path_matches, rule_within_mount, segments
from exthost.registry import Registry
from exthost.sdk import TENANT_KEY, PluginContext
from legacy_core.app import PACKAGE_DIR as LEGACY_DIR
from legacy_core.app import build_services, create_server, install_error_handlers, install_request_hooks
from legacy_core.features import RouteInfo, routes
from legacy_core.requestctx import EXTENSION_KEY
from legacy_core.services import Services
from legacy_core.settings import Settings

ENTRY_POINT_GROUP = "sovereign.plugins"
NAMESPACE = "sv_plugins"

DISCOVERED = "discovered"
INVALID = "invalid"
REGISTERED = "registered"
ENABLED = "enabled"
DISABLED = "disabled"
FAILED = "failed"
STATES = (DISCOVERED, INVALID, REGISTERED, ENABLED, DISABLED, FAILED)


def host_version() -> str:
    """The Sovereign version plugins' `sovereign.engine` ranges are checked against."""
    try:
        return importlib.metadata.version("sovereign")
    except importlib.metadata.PackageNotFoundError:  # running from a source tree that was never installed
        return "0.1.0"


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

    @property
    def manifest_path(self) -> Path:
        return self.folder / MANIFEST_FILENAME

    @property
    def loaded(self) -> bool:
        return self.app is not None and self.state not in (INVALID, FAILED)

    def display_state(self) -> str:
        """The state users see: invalid/failed win; else enabled for some tenant, disabled, or just registered."""
        if self.state in (INVALID, FAILED, DISCOVERED):
            return self.state
        if self.tenants:
            return ENABLED
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
    apps: dict[str, Flask] = field(default_factory=dict)
    tenants: dict[str, frozenset[str]] = field(default_factory=dict)

    def match(self, path: str) -> str | None:
        """The plugin whose mount covers `path`, regardless of tenant."""
        for mount in self.mounts:
            if path_matches(path, mount.parts):
                return mount.plugin
        return None


class ExtensionHost:
    """Discovers, loads and serves plugins for one platform configuration."""

    def __init__(
        self,
        settings: Settings,
        *,
        services: Services | None = None,
        legacy_routes: Iterable[RouteInfo] | None = None,
        name: str = "host",
    ):
        self.settings = settings
        self.services = services or build_services(settings, name=name)
        self.name = name
        self.logger = logging.getLogger(f"sovereign.exthost.{name}")
        if legacy_routes is None:
            legacy_routes = routes(create_server(services=self.services).app)
        self.legacy_routes = tuple(legacy_routes)
        self.registry = Registry(self.services.session_factory, self.services.clock)
        self.plugins: dict[str, PluginRecord] = {}
        self._table = MountTable()
        self._lock = threading.RLock()
        self._seen_version = -1
        self._checked_at = 0.0
        self._token = hashlib.sha256(str(id(self)).encode()).hexdigest()[:8]

    # -- discovery and loading ---------------------------------------------------------------------------------

    def start(self) -> ExtensionHost:
        """Discover, validate and load every plugin, then mount what the registry says is enabled."""
        current, head = exthost_revisions(self.services.engine)
        if current != head:
            raise ExtHostError(
                f"the plugin registry tables of {self.services.engine.url.render_as_string(hide_password=True)!r} "
                f"are at {current or 'nothing'}, head is {head}; run `sv migrate:deploy` first"
            )
        with self._lock:
            self.discover()
            for name in self.validated_order():
                self._load(self.plugins[name])
            self.sync(force=True)
        return self

    def discover(self) -> None:
        """Read every manifest: `PLUGINS_DIR/*/plugin.json`, then installed distributions' entry points."""
        self.plugins = {}
        found: list[tuple[Path, str]] = []
        plugins_dir = self.settings.PLUGINS_DIR
        if plugins_dir.is_dir():
            for manifest_path in sorted(plugins_dir.glob(f"*/{MANIFEST_FILENAME}")):
                found.append((manifest_path.parent, "folder"))
        if self.settings.PLUGIN_ENTRY_POINTS:
            found.extend(self._entry_point_folders())
        for folder, source in found:
            self._discover_one(folder, source)

    def _entry_point_folders(self) -> Iterator[tuple[Path, str]]:
        for entry_point in sorted(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            distribution = entry_point.dist.name if entry_point.dist is not None else "?"
            source = f"distribution {distribution} (entry point {entry_point.name!r})"
            try:
                package = importlib.import_module(entry_point.module)
                package_file = getattr(package, "__file__", None)
                if package_file is None:
                    raise PluginLoadError(f"{entry_point.module!r} is not a regular package (no __init__.py)")
                folder = Path(package_file).resolve().parent
            except Exception as exc:
                placeholder = Path(f"<{entry_point.value}>")
                record = PluginRecord(name=entry_point.name, folder=placeholder, source=source)
                record.fail(INVALID, f"{source}: cannot import {entry_point.value!r}: {type(exc).__name__}: {exc}")
                self._add_record(record)
                continue
            if not (folder / MANIFEST_FILENAME).is_file():
                record = PluginRecord(name=entry_point.name, folder=folder, source=source)
                record.fail(INVALID, f"{source}: package {entry_point.module!r} has no {MANIFEST_FILENAME} in {folder}")
                self._add_record(record)
                continue
            yield folder, source

    def _discover_one(self, folder: Path, source: str) -> None:
        record = PluginRecord(name=folder.name, folder=folder, source=source)
        try:
            record.manifest = load_manifest(record.manifest_path)
        except ManifestError as exc:
            record.fail(INVALID, str(exc))
            self._add_record(record)
            return
        record.name = record.manifest.name
        if source == "folder" and folder.name != record.manifest.name:
            record.fail(
                INVALID,
                f"{record.manifest_path}: name: {record.manifest.name!r} differs from its folder {folder.name!r}; "
                "rename the folder or the plugin so they match",
            )
        self._add_record(record)

    def _add_record(self, record: PluginRecord) -> None:
        existing = self.plugins.get(record.name)
        if existing is None:
            self.plugins[record.name] = record
            return
        # Two plugins claim one name: the first (folders before distributions, then sorted) keeps it.
        duplicate = PluginRecord(name=f"{record.name}@{record.source}", folder=record.folder, source=record.source)
        duplicate.manifest = record.manifest
        duplicate.fail(
            INVALID,
            f"{record.manifest_path}: name: {record.name!r} is already used by {existing.manifest_path} "
            f"({existing.source}); plugin names must be unique",
        )
        self.plugins[duplicate.name] = duplicate

    def validated_order(self) -> list[str]:
        """Valid plugins in dependency order; dependency and mount problems mark only the plugins concerned."""
        version = host_version()
        candidates = {name: r for name, r in self.plugins.items() if r.state == DISCOVERED and r.manifest}
        for record in candidates.values():
            manifest = record.manifest
            assert manifest is not None
            if not nodesemver.satisfies(version, manifest.sovereign.engine):
                record.fail(
                    INVALID,
                    f"{record.manifest_path}: sovereign.engine: this host is Sovereign {version}, outside "
                    f"{manifest.sovereign.engine!r}; widen the range or upgrade the host",
                )
        for record in candidates.values():
            if record.state != DISCOVERED:
                continue
            try:
                self._check_requires(record)
            except DependencyError as exc:
                record.fail(INVALID, str(exc))
        order = self._toposort([name for name, r in candidates.items() if r.state == DISCOVERED])
        accepted: list[PluginRecord] = []
        for name in order:
            record = self.plugins[name]
            if record.state != DISCOVERED:
                continue
            try:
                self._check_mounts(record, accepted)
            except MountConflict as exc:
                record.fail(INVALID, str(exc))
                continue
            accepted.append(record)
        return [record.name for record in accepted]

    def _check_requires(self, record: PluginRecord) -> None:
        manifest = record.manifest
        assert manifest is not None
        for dependency, wanted in manifest.requires.hard.items():
            other = self.plugins.get(dependency)
            if other is None or other.manifest is None:
                raise DependencyError(
                    f"{record.manifest_path}: requires.hard.{dependency}: no plugin {dependency!r} is installed"
                    f"{did_you_mean(dependency, self.plugins)}; install it or move it to requires.soft"
                )
            if not nodesemver.satisfies(other.manifest.version, wanted):
                raise DependencyError(
                    f"{record.manifest_path}: requires.hard.{dependency}: needs {wanted!r}, installed is "
                    f"{other.manifest.version!r}; install a matching version or widen the range"
                )

    def _toposort(self, names: list[str]) -> list[str]:
        """Names ordered so dependencies (hard, and soft when present) come first; cycles become invalid."""
        remaining = set(names)
        while True:
            sorter: graphlib.TopologicalSorter[str] = graphlib.TopologicalSorter()
            for name in sorted(remaining):
                manifest = self.plugins[name].manifest
                assert manifest is not None
                deps = [d for d in (*manifest.requires.hard, *manifest.requires.soft) if d in remaining]
                sorter.add(name, *sorted(deps))
            try:
                order = list(sorter.static_order())
            except graphlib.CycleError as exc:
                cycle: list[str] = list(exc.args[1])
                path = " -> ".join(cycle)
                for name in set(cycle):
                    record = self.plugins[name]
                    record.fail(
                        INVALID,
                        f"{record.manifest_path}: requires: dependency cycle {path}; "
                        "break it by moving one requirement to requires.soft or removing it",
                    )
                    remaining.discard(name)
                continue
            # A plugin whose hard dependency just became invalid cannot load either.
            changed = False
            for name in order:
                manifest = self.plugins[name].manifest
                assert manifest is not None
                for dependency in manifest.requires.hard:
                    if dependency not in remaining and name in remaining:
                        record = self.plugins[name]
                        record.fail(
                            INVALID,
                            f"{record.manifest_path}: requires.hard.{dependency}: that plugin is "
                            f"{self.plugins[dependency].state} ({self.plugins[dependency].reason})",
                        )
                        remaining.discard(name)
                        changed = True
            if not changed:
                return [name for name in order if name in remaining]

    def _check_mounts(self, record: PluginRecord, accepted: list[PluginRecord]) -> None:
        manifest = record.manifest
        assert manifest is not None
        for prefix in manifest.mounts.prefixes():
            if mounts_overlap(prefix, "/diagnostics"):
                raise MountConflict(
                    f"{record.manifest_path}: mounts: {prefix!r} overlaps the host's /diagnostics; "
                    "choose another prefix"
                )
            clashes = core_conflicts(prefix, self.legacy_routes, manifest.sovereign.feature)
            if clashes:
                # One line per rule, core routes first: they are what can never be taken over.
                unique = {c.rule: c for c in sorted(clashes, key=lambda c: (c.feature is not None, c.rule))}
                shown = ", ".join(f"{c.rule} ({c.endpoint})" for c in list(unique.values())[:3])
                more = f" and {len(unique) - 3} more" if len(unique) > 3 else ""
                hint = (
                    "; a plugin reimplementing that feature must declare sovereign.feature"
                    if all(c.feature for c in clashes)
                    else "; core routes cannot be taken over, choose a prefix no core route lies under"
                )
                raise MountConflict(
                    f"{record.manifest_path}: mounts: {prefix!r} collides with core route(s) {shown}{more}{hint}"
                )
            for other in accepted:
                assert other.manifest is not None
                for theirs in other.manifest.mounts.prefixes():
                    if mounts_overlap(prefix, theirs):
                        raise MountConflict(
                            f"{record.manifest_path}: mounts: {prefix!r} overlaps {theirs!r} of plugin "
                            f"{other.name!r} ({other.manifest_path}); choose a prefix of its own"
                        )

    def _load(self, record: PluginRecord) -> None:
        """Import, instantiate, register; on any failure the plugin is failed and nothing of it is mounted."""
        manifest = record.manifest
        assert manifest is not None
        try:
            overrides = {key.upper(): value for key, value in self.settings.PLUGIN_CONFIG.get(record.name, {}).items()}
            config = validate_plugin_config(manifest, overrides, f"PLUGIN_CONFIG.{record.name}")
        except ManifestError as exc:
            record.fail(INVALID, str(exc))
            return
        try:
            implementation = self._import_entry(record, manifest)
            manager = pluggy.PluginManager(PROJECT)
            manager.add_hookspecs(PluginHooks)
            manager.register(implementation, name=record.name)
            try:
                manager.check_pending()
            except pluggy.PluginValidationError as exc:
                raise PluginLoadError(f"{record.manifest_path}: {self._explain_hook_error(exc)}") from exc
        except PluginLoadError as exc:
            record.fail(FAILED, str(exc))
            self._forget_modules(record)
            return
        context = PluginContext(
            manifest=manifest,
            folder=record.folder,
            config=config,
            services=self.services,
            session_factory=self.services.session_factory,
            logger=logging.getLogger(f"sovereign.plugin.{record.name}"),
        )
        record.manager, record.context = manager, context
        try:
            self._call(record, "register", ctx=context)
            record.app = self._build_app(record, context)
        except (HookFailed, PluginLoadError) as exc:
            record.fail(FAILED, str(exc))
            record.app = record.manager = None
            self._forget_modules(record)
            return
        record.state = REGISTERED
        record.reason = None

    @staticmethod
    def _explain_hook_error(exc: pluggy.PluginValidationError) -> str:
        message = str(exc)
        for word in message.replace("'", " ").split():
            if word not in HOOK_NAMES and did_you_mean(word, HOOK_NAMES):
                return f"unknown hook {word!r}{did_you_mean(word, HOOK_NAMES)}; hooks are {', '.join(HOOK_NAMES)}"
        return f"hook validation failed: {message}"

    def _import_entry(self, record: PluginRecord, manifest: Manifest) -> Any:
        """The entry object, imported from inside the plugin folder under a private package name."""
        module_name, attribute = manifest.sovereign.entry_module, manifest.sovereign.entry_attr
        where = f"{record.manifest_path}: sovereign.entry {manifest.sovereign.entry!r}"
        relative = module_name.replace(".", "/")
        candidates = [f"{relative}.py", f"{relative}/__init__.py"]
        try:
            paths = [resolve_inside(record.folder, candidate, "sovereign.entry") for candidate in candidates]
        except ManifestError as exc:
            raise PluginLoadError(str(exc)) from exc
        if not any(path.is_file() for path in paths):
            raise PluginLoadError(f"{where}: no file {candidates[0]!r} or {candidates[1]!r} in {record.folder}")
        package = self._plugin_package(record)
        full_name = f"{package}.{module_name}"
        try:
            module = importlib.import_module(full_name)
        except Exception as exc:
            self._forget_modules(record)
            raise PluginLoadError(f"{where}: import failed: {type(exc).__name__}: {exc}{_origin(exc, record)}") from exc
        if not hasattr(module, attribute):
            public = [name for name in vars(module) if not name.startswith("_")]
            raise PluginLoadError(
                f"{where}: module {module_name!r} has no {attribute!r}{did_you_mean(attribute, public)}"
            )
        target = getattr(module, attribute)
        if isinstance(target, type):
            try:
                return target()
            except Exception as exc:
                raise PluginLoadError(
                    f"{where}: {attribute}() raised {type(exc).__name__}: {exc}{_origin(exc, record)}"
                ) from exc
        return target

    def _plugin_package(self, record: PluginRecord) -> str:
        """A package `sv_plugins.<name>_<hash>` whose path is the plugin folder (relative imports work inside)."""
        if NAMESPACE not in sys.modules:
            namespace = types.ModuleType(NAMESPACE, "Private namespace of imported Sovereign plugins.")
            namespace.__path__ = []
            sys.modules[NAMESPACE] = namespace
        digest = hashlib.sha256(str(record.folder.resolve()).encode()).hexdigest()[:10]
        package_name = f"{NAMESPACE}.{record.name}_{digest}"
        record.module_prefix = package_name
        if package_name not in sys.modules:
            package = types.ModuleType(package_name, f"Plugin {record.name!r} from {record.folder}")
            package.__path__ = [str(record.folder.resolve())]
            package.__package__ = package_name
            sys.modules[package_name] = package
        return package_name

    @staticmethod
    def _forget_modules(record: PluginRecord) -> None:
        """Drop the plugin's modules, so the next load (or a hot reload) imports its code afresh."""
        if not record.module_prefix:
            return
        for name in [m for m in sys.modules if m == record.module_prefix or m.startswith(record.module_prefix + ".")]:
            del sys.modules[name]

    def _build_app(self, record: PluginRecord, context: PluginContext) -> Flask:
        """The plugin's own Flask app: its blueprint plus the platform's request hooks and error answers."""
        manifest = record.manifest
        assert manifest is not None
        app = Flask(f"sv_plugin_{record.name}", static_folder=None)
        app.config.update(SECRET_KEY=self.settings.SECRET_KEY, MAX_CONTENT_LENGTH=None)
        app.json.sort_keys = False  # type: ignore[attr-defined]
        app.extensions[EXTENSION_KEY] = self.services
        app.jinja_loader = ChoiceLoader(
            [FileSystemLoader(str(record.folder / "templates")), FileSystemLoader(str(LEGACY_DIR / "templates"))]
        )
        install_request_hooks(app, self.services)
        install_error_handlers(app, self.services)
        default_tenant = self.settings.TENANT_DEFAULT
        plugin_logger = context.log

        @app.before_request
        def _tenant() -> None:
            user = g.get("sv_user")
            g.setdefault(TENANT_KEY, user.tenant_id if user is not None else default_tenant)

        @app.errorhandler(CapabilityDenied)
        def _denied(error: CapabilityDenied) -> Response:
            response = jsonify({"error": "Forbidden" if error.status == 403 else "Unauthorized"})
            response.status_code = error.status
            return response

        @app.errorhandler(Exception)
        def _unexpected(error: Exception) -> Response:
            plugin_logger.error(
                "unhandled error in plugin %s on %s (request %s): %s",
                record.name,
                _request_line(),
                g.get("request_id"),
                "".join(traceback.format_exception(error)),
            )
            response = jsonify({"error": "Internal server error", "requestId": g.get("request_id")})
            response.status_code = 500
            return response

        try:
            app.register_blueprint(context.router)
        except Exception as exc:
            raise PluginLoadError(f"{record.manifest_path}: its router cannot be mounted: {exc}") from exc
        prefixes = manifest.mounts.prefixes()
        for rule in app.url_map.iter_rules():
            if not any(rule_within_mount(rule.rule, prefix) for prefix in prefixes):
                raise PluginLoadError(
                    f"{record.manifest_path}: route {rule.rule!r} ({rule.endpoint}) lies outside the declared "
                    f"mounts {prefixes}; move the route under a mount or declare the mount in plugin.json"
                )
        return app

    # -- hooks -----------------------------------------------------------------------------------------------------

    def _call(self, record: PluginRecord, hook: str, **kwargs: Any) -> Any:
        """Run one hook of one plugin, timed; an exception becomes HookFailed naming plugin, hook and error."""
        assert record.manager is not None
        timing = record.timings.setdefault(hook, HookTiming())
        caller: Callable[..., Any] = getattr(record.manager.hook, hook)
        started = time.perf_counter()
        try:
            return caller(**kwargs)
        except Exception as exc:
            timing.errors += 1
            self.logger.error("plugin %s: hook %s raised\n%s", record.name, hook, traceback.format_exc())
            raise HookFailed(record.name, hook, exc) from exc
        finally:
            elapsed = (time.perf_counter() - started) * 1000
            timing.calls += 1
            timing.total_ms += elapsed
            timing.last_ms = elapsed

    def _mark_failed(self, record: PluginRecord, reason: str) -> None:
        record.fail(FAILED, reason)
        record.tenants.clear()
        self._rebuild()

    # -- registry and mount table ----------------------------------------------------------------------------------

    def sync(self, *, force: bool = False) -> None:
        """Bring mounted tenants in step with the registry; cheap unless the registry changed (one small read)."""
        now = time.monotonic()
        if not force and now - self._checked_at < self.settings.PLUGIN_POLL_SECONDS:
            return
        with self._lock:
            self._checked_at = now
            version = self.registry.version()
            if version == self._seen_version and not force:
                return
            version, rows = self.registry.snapshot()
            wanted: dict[str, set[str]] = {}
            disabled: dict[str, set[str]] = {}
            for row in rows:
                (wanted if row.enabled else disabled).setdefault(row.plugin, set()).add(row.tenant_id)
            for record in self.plugins.values():
                record.registry_disabled = disabled.get(record.name, set())
                if not record.loaded:
                    continue
                for tenant in sorted(record.tenants - wanted.get(record.name, set())):
                    self._deactivate(record, tenant)
                for tenant in sorted(wanted.get(record.name, set()) - record.tenants):
                    if not record.loaded:
                        break
                    try:
                        self._activate(record, tenant)
                    except (HookFailed, PluginStateError) as exc:
                        self._mark_failed(record, str(exc))
            self._seen_version = version
            self._rebuild()

    def _activate(self, record: PluginRecord, tenant: str) -> None:
        self._require_migrated(record)
        self._call(record, "on_enable", ctx=record.context, tenant=tenant)
        record.tenants.add(tenant)

    def _deactivate(self, record: PluginRecord, tenant: str) -> None:
        record.tenants.discard(tenant)
        try:
            self._call(record, "on_disable", ctx=record.context, tenant=tenant)
        except HookFailed as exc:
            self._mark_failed(record, str(exc))

    def _require_migrated(self, record: PluginRecord) -> None:
        manifest = record.manifest
        assert manifest is not None
        if manifest.migrations is None:
            return
        try:
            folder = resolve_inside(record.folder, manifest.migrations, "migrations")
            if not folder.is_dir():
                raise PluginStateError(f"{record.manifest_path}: migrations: folder {str(folder)!r} does not exist")
            current, head = plugin_revisions(self.services.engine, record.name, folder)
        except (ManifestError, PluginStateError) as exc:
            raise PluginStateError(f"plugin {record.name!r}: {exc}") from exc
        except Exception as exc:
            raise PluginStateError(
                f"plugin {record.name!r}: its revisions in {manifest.migrations!r} cannot be read: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        if current != head:
            raise PluginStateError(
                f"plugin {record.name!r}: its schema is at {current or 'nothing'}, head is {head}; "
                f"run `sv migrate:deploy --plugin {record.name}` first"
            )

    def _rebuild(self) -> None:
        mounts: list[Mount] = []
        apps: dict[str, Flask] = {}
        tenants: dict[str, frozenset[str]] = {}
        for record in sorted(self.plugins.values(), key=lambda r: r.name):
            if not record.loaded or not record.tenants or record.manifest is None or record.app is None:
                continue
            for prefix in record.manifest.mounts.prefixes():
                mounts.append(Mount(prefix=prefix, plugin=record.name, parts=segments(prefix)))
            apps[record.name] = record.app
            tenants[record.name] = frozenset(record.tenants)
        self._table = MountTable(tuple(mounts), apps, tenants)

    def app_for(self, path: str, tenant: str) -> Flask | None:
        """The plugin app serving `path` for `tenant`, or None (the legacy app serves it)."""
        self.sync()
        table = self._table
        plugin = table.match(path)
        if plugin is not None and tenant in table.tenants.get(plugin, ()):
            return table.apps[plugin]
        return None

    def claims(self, path: str) -> bool:
        """Whether some enabled plugin's mount covers `path` (for any tenant)."""
        self.sync()
        return self._table.match(path) is not None

    # -- operations --------------------------------------------------------------------------------------------------

    def get(self, name: str) -> PluginRecord:
        record = self.plugins.get(name)
        if record is None:
            raise PluginNotFound(name, self.plugins)
        return record

    def enable(self, name: str, tenant: str | None = None, *, changed_by: str = "api") -> None:
        """Enable a plugin for a tenant: registry row, on_enable hook and mount, all or nothing."""
        from legacy_core.db import transaction

        tenant = tenant or self.settings.TENANT_DEFAULT
        with self._lock:
            record = self.get(name)
            if not record.loaded:
                raise PluginStateError(
                    f"plugin {name!r} is {record.state} and cannot be enabled: {record.reason or 'not loaded'}"
                )
            assert record.manifest is not None
            self.sync(force=True)
            for dependency in record.manifest.requires.hard:
                if tenant not in self.get(dependency).tenants:
                    raise PluginStateError(
                        f"plugin {name!r} requires {dependency!r}, which is not enabled for {tenant!r}; "
                        f"enable {dependency!r} first"
                    )
            self._require_migrated(record)
            newly = tenant not in record.tenants
            try:
                with transaction(self.services.session_factory) as db:
                    self.registry.set_state(db, name, tenant, True, changed_by)
                    if newly:
                        self._activate(record, tenant)
            except HookFailed as exc:
                self._mark_failed(record, str(exc))
                raise
            except Exception:
                if newly and tenant in record.tenants:  # the hook ran but the commit failed: undo it
                    self._deactivate(record, tenant)
                raise
            self._rebuild()
            self._checked_at = 0.0
        self.sync(force=True)

    def disable(self, name: str, tenant: str | None = None, *, changed_by: str = "api") -> None:
        """Disable a plugin for a tenant: it stops serving that tenant at once (other hosts within the poll)."""
        from legacy_core.db import transaction

        tenant = tenant or self.settings.TENANT_DEFAULT
        with self._lock:
            self.get(name)
            self.sync(force=True)
            dependents = sorted(
                other.name
                for other in self.plugins.values()
                if other.manifest is not None and name in other.manifest.requires.hard and tenant in other.tenants
            )
            if dependents:
                raise PluginStateError(
                    f"plugin {name!r} is required by {', '.join(dependents)} for {tenant!r}; disable those first"
                )
            with transaction(self.services.session_factory) as db:
                self.registry.set_state(db, name, tenant, False, changed_by)
        self.sync(force=True)

    def health(self, record: PluginRecord) -> dict[str, Any] | None:
        if not record.loaded:
            return None
        try:
            report = self._call(record, "health", ctx=record.context)
        except HookFailed as exc:
            return {"ok": False, "error": f"{type(exc.error).__name__}: {exc.error}"}
        return dict(report) if report is not None else None

    def describe(self, record: PluginRecord, *, with_health: bool = False) -> dict[str, Any]:
        """One plugin as `sv plugins:info` and `/diagnostics` show it."""
        manifest = record.manifest
        info: dict[str, Any] = {
            "name": record.name,
            "state": record.display_state(),
            "version": manifest.version if manifest else None,
            "description": manifest.description if manifest else None,
            "source": record.source,
            "path": str(record.folder),
            "mounts": manifest.mounts.prefixes() if manifest else [],
            "feature": manifest.sovereign.feature if manifest else None,
            "tenants": sorted(record.tenants),
            "disabledTenants": sorted(record.registry_disabled),
            "capabilities": sorted(manifest.capability_names()) if manifest else [],
            "requires": dict(manifest.requires.hard) if manifest else {},
            "reason": record.reason,
            "hooks": {hook: timing.as_dict() for hook, timing in sorted(record.timings.items())},
        }
        if with_health:
            info["health"] = self.health(record)
        return info

    def diagnostics(self) -> dict[str, Any]:
        self.sync()
        return {
            "host": self.name,
            "sovereign": host_version(),
            "registryVersion": self._seen_version,
            "plugins": [
                self.describe(r, with_health=True) for r in sorted(self.plugins.values(), key=lambda r: r.name)
            ],
        }

    def reload(self, name: str) -> None:
        """Replace a plugin's code at run time: load it afresh and swap it in; on failure the old one keeps serving."""
        with self._lock:
            old = self.get(name)
            fresh = PluginRecord(name=old.name, folder=old.folder, source=old.source)
            try:
                fresh.manifest = load_manifest(fresh.manifest_path)
            except ManifestError as exc:
                raise PluginLoadError(f"reload of {name!r} refused, the running version keeps serving: {exc}") from exc
            if fresh.manifest.mounts != (old.manifest.mounts if old.manifest else None):
                raise PluginLoadError(
                    f"reload of {name!r} refused: its mounts changed, which needs a host restart to re-validate"
                )
            previous_prefix = old.module_prefix
            saved = {m: sys.modules[m] for m in list(sys.modules) if previous_prefix and m.startswith(previous_prefix)}
            self._forget_modules(old)
            self._load(fresh)
            if fresh.state != REGISTERED:
                sys.modules.update(saved)
                raise PluginLoadError(f"reload of {name!r} failed, the running version keeps serving: {fresh.reason}")
            tenants = sorted(old.tenants)
            for tenant in tenants:
                try:
                    self._activate(fresh, tenant)
                except (HookFailed, PluginStateError) as exc:
                    raise PluginLoadError(
                        f"reload of {name!r} failed, the running version keeps serving: {exc}"
                    ) from exc
            if old.loaded:
                with contextlib.suppress(HookFailed):
                    self._call(old, "on_shutdown", ctx=old.context)
            fresh.registry_disabled = old.registry_disabled
            fresh.timings = old.timings | fresh.timings
            self.plugins[name] = fresh
            self._rebuild()

    def shutdown(self) -> None:
        """Run every loaded plugin's on_shutdown hook, unmount everything and release the database."""
        with self._lock:
            for record in self.plugins.values():
                if record.loaded:
                    with contextlib.suppress(HookFailed):
                        self._call(record, "on_shutdown", ctx=record.context)
                    record.tenants.clear()
                self._forget_modules(record)
            self._table = MountTable()
        self.services.engine.dispose()


def _origin(exc: BaseException, record: PluginRecord) -> str:
    """' (at plugin/file.py:12)' for the innermost traceback frame inside the plugin's folder."""
    folder = str(record.folder.resolve())
    found = ""
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename.startswith(folder):
            found = f" (at {frame.filename}:{frame.lineno})"
    if not found and isinstance(exc, SyntaxError) and exc.filename:
        found = f" (at {exc.filename}:{exc.lineno})"
    return found


def _request_line() -> str:
    from flask import request

    return f"{request.method} {request.path}"


__all__ = [
    "DISABLED",
    "DISCOVERED",
    "ENABLED",
    "FAILED",
    "INVALID",
    "REGISTERED",
    "STATES",
    "ExtHostError",
    "ExtensionHost",
    "HookTiming",
    "MountTable",
    "PluginRecord",
    "host_version",
]
