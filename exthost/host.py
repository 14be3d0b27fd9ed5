"""The extension host: discovers plugins, validates and loads them in dependency order, runs their lifecycle hooks,
keeps the per-tenant registry in step with the database, and answers "which app serves this path for this tenant".

One host per process and configuration, built by `ExtensionHost(settings, ...)`; nothing here is module state, so
two hosts (two databases, two plugin folders) live side by side in one process. A broken plugin never stops the
host: it is marked `invalid` (its manifest, dependencies or mounts are wrong) or `failed` (its code cannot be
imported or registered), with a reason naming the file, field or hook, and every other plugin keeps serving. A hook
that raises for one tenant leaves only that tenant unserved (`failedTenants`) until the registry changes again.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import pluggy
from flask import g
from sqlalchemy.exc import SQLAlchemyError

from exthost.access import AccessPolicy
from exthost.catalogue import Catalogue
from exthost.counters import SharedWindows
from exthost.errors import (
    ExtHostError,
    HookFailed,
    ManifestError,
    PluginLoadError,
    PluginNotFound,
    PluginStateError,
    SignatureError,
    did_you_mean,
)
from exthost.hookspecs import PROJECT, PluginHooks
from exthost.loader import (
    NAMESPACE,
    build_plugin_app,
    explain_hook_error,
    forget_modules,
    import_entry,
    raised_in_plugin,
)
from exthost.manifest import load_manifest, resolve_inside
from exthost.migrate import exthost_revisions, plugin_revisions
from exthost.mounts import Mount, segments
from exthost.plugin_db import build_plugin_db, dispose_plugin_db
from exthost.records import (
    DISABLED,
    DISCOVERED,
    ENABLED,
    FAILED,
    INVALID,
    REGISTERED,
    STATES,
    HookTiming,
    MountTable,
    PluginRecord,
)
from exthost.registry import Registry, StateRow
from exthost.rollout.isolation import after_isolated_run, in_isolated_run
from exthost.sdk import TENANT_KEY, PluginContext, request_tenant
from exthost.tenant_config import ConfigSnapshot, TenantConfigStore, deployment_config
from exthost.trust import TrustConfig, check_folder, decide, install_source_finders
from exthost.trust.sources import source_imports
from exthost.version import host_version
from legacy_core.app import build_services, create_server
from legacy_core.db import transaction
from legacy_core.features import RouteInfo, routes
from legacy_core.services import Services
from legacy_core.settings import Settings

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication


class ExtensionHost:
    """Discovers, loads and serves plugins for one platform configuration."""

    def __init__(
        self,
        settings: Settings,
        *,
        services: Services | None = None,
        legacy_routes: Iterable[RouteInfo] | None = None,
        name: str = "host",
        passive: bool = False,
    ):
        """`passive=True` (the CLI): load plugins and read the registry, but run no on_enable/on_disable hooks
        except for the tenant an `enable` names; a serving host runs them as tenants come and go."""
        self.settings = settings
        self.services = services or build_services(settings, name=name)
        self.name = name
        self.logger = logging.getLogger(f"sovereign.exthost.{name}")
        if legacy_routes is None:
            legacy_routes = routes(create_server(services=self.services).app, self.services.features)
        self.catalogue = Catalogue(settings, legacy_routes, self.services.features.names)
        self.registry = Registry(self.services.session_factory, self.services.clock)
        # Tenant values of plugin config (`sv plugins:config --tenant`), shared by every plugin's ctx.config.
        self.tenant_config = TenantConfigStore(
            self.services.session_factory, initial=ConfigSnapshot(0), poll_seconds=settings.PLUGIN_POLL_SECONDS
        )
        self.warnings: list[str] = []
        self._table = MountTable()
        self._lock = threading.RLock()
        self._seen_version = -1
        self._checked_at = 0.0
        # The error budget's count, shared by every process on the database (exthost.counters).
        self.windows = SharedWindows(self.services.session_factory)
        self._order: list[str] = []
        self._token = uuid.uuid4().hex[:12]
        self.passive = passive
        self.trust = TrustConfig.from_settings(settings)
        # Called with (plugin, kind) for every hook that raises and every unhandled handler error charged to a
        # plugin, e.g. the platform's Prometheus counter (exthost.metrics).
        self.error_listeners: list[Callable[[str, str], None]] = []
        # PLUGIN_ISOLATION=process: the platform hands the host its plugin pools (exthost.sandbox) before start;
        # the mount table then holds each sandboxed plugin's proxy instead of its in-process app.
        self.sandbox: Any = None

    @property
    def plugins(self) -> dict[str, PluginRecord]:
        return self.catalogue.plugins

    def discover(self) -> None:
        """Read every manifest (see `Catalogue.discover`), then check each valid one's signature (`_admit`); nothing
        is imported. `sv migrate:deploy` discovers through here too: a refused plugin's revisions never run."""
        self.catalogue.discover()
        for record in list(self.plugins.values()):
            if record.state == DISCOVERED:
                try:
                    self._admit(record)
                except SignatureError as exc:
                    record.fail(INVALID, str(exc))
                    self.logger.error("plugin %s: %s", record.name, exc)

    def validated_order(self) -> list[str]:
        """Plugins that passed every check before import, in dependency order."""
        return self.catalogue.validated_order()

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
            if self.sandbox is not None:
                self.sandbox.check_settings(self.plugins)
            self._order = self.validated_order()
            for name in self._order:
                self._load(self.plugins[name])
            self.warnings = [
                f"PLUGIN_CONFIG.{name}: no plugin {name!r} is installed; the settings are unused"
                for name in sorted(self.settings.PLUGIN_CONFIG)
                if name not in self.plugins
            ]
            for warning in self.warnings:
                self.logger.warning(warning)
            self.sync(force=True)
        return self

    def _admit(self, record: PluginRecord) -> None:
        """Check the plugin's signature before any of its code runs (exthost.trust): SignatureError when the policy
        refuses it; under `warn` a refusal becomes a note on the plugin."""
        record.trust = check_folder(record.name, record.folder, self.trust)
        decision = decide(record.name, record.trust, self.trust)
        if decision.warning is not None:
            record.notes.append(decision.warning)
            self.logger.warning("plugin %s: %s", record.name, decision.warning)
        if not decision.load:
            raise SignatureError(f"{record.folder}: {decision.refusal}")

    def _sandboxed(self, record: PluginRecord) -> bool:
        """Whether the plugin's code runs only in its sandbox workers (PLUGIN_ISOLATION=process, not trusted)."""
        return self.sandbox is not None and self.sandbox.isolates(record.name)

    def _load(self, record: PluginRecord) -> None:
        """Import, instantiate, register; on any failure the plugin is failed and nothing of it is mounted.

        A sandboxed plugin is not imported here at all: its pool is started, and its workers import it and run its
        `register` hook; the host waits for one to answer (`Sandbox.load`) and fails the plugin when none does."""
        manifest = record.manifest
        assert manifest is not None
        try:
            default = self.settings.TENANT_DEFAULT
            config = deployment_config(manifest, self.settings, self.tenant_config, lambda: request_tenant(default))
        except ManifestError as exc:
            record.fail(INVALID, str(exc))
            return
        if self._sandboxed(record):
            # The context stays here and reaches no plugin code: the pool takes its folders from it.
            record.context = self._context(record, config)
            try:
                record.context.data_dir.mkdir(parents=True, exist_ok=True)
                failed = self.sandbox.load(record)
            except OSError as exc:
                failed = str(exc)
            if failed is not None:
                record.fail(FAILED, f"{record.manifest_path}: {failed}")
                dispose_plugin_db(record.context.db)
                return
            record.app = self.sandbox.app_for(record)
            record.state = REGISTERED
            record.reason = None
            return
        try:
            # What was hashed is what runs: no bytecode cache is read, and under enforce the signed digests are
            # checked again on the bytes each module is compiled from (warn never refuses).
            from_source, signed = source_imports(record.trust, self.trust.policy)
            if from_source:
                install_source_finders(record.folder, signed)
            implementation = import_entry(record, manifest, self._token)
            manager = pluggy.PluginManager(PROJECT)
            manager.add_hookspecs(PluginHooks)
            try:
                # register() checks each hook's arguments against its spec, check_pending() its name.
                manager.register(implementation, name=record.name)
                manager.check_pending()
            except pluggy.PluginValidationError as exc:
                raise PluginLoadError(f"{record.manifest_path}: {explain_hook_error(exc)}") from exc
        except PluginLoadError as exc:
            record.fail(FAILED, str(exc))
            forget_modules(record)
            return
        context = self._context(record, config)
        record.manager, record.context = manager, context
        try:
            context.data_dir.mkdir(parents=True, exist_ok=True)
            self._call(record, "register", ctx=context)
            record.app = build_plugin_app(record, context, self.services, self._handler_failed)
        except (HookFailed, PluginLoadError, OSError) as exc:
            record.fail(FAILED, str(exc))
            record.app = record.manager = None
            dispose_plugin_db(context.db)
            forget_modules(record)
            return
        record.state = REGISTERED
        record.reason = None

    def _context(self, record: PluginRecord, config: Mapping[str, Any]) -> PluginContext:
        manifest = record.manifest
        assert manifest is not None
        # ctx.db reaches only what the manifest's access block grants (exthost.plugin_db).
        plugin_db = build_plugin_db(
            AccessPolicy.of(manifest, str(record.manifest_path)), self.services.engine, self.services.session_factory
        )
        return PluginContext(
            manifest=manifest,
            folder=record.folder,
            config=config,
            services=self.services,
            session_factory=plugin_db,
            logger=logging.getLogger(f"sovereign.plugin.{record.name}"),
        )

    # -- hooks -----------------------------------------------------------------------------------------------------

    def _call(self, record: PluginRecord, hook: str, **kwargs: Any) -> Any:
        """Run one hook of one plugin, timed; an exception becomes HookFailed naming plugin, hook and error. A
        sandboxed plugin's hook runs in one of its workers (`Sandbox.call_hook`)."""
        timing = record.timings.setdefault(hook, HookTiming())
        caller: Callable[..., Any]
        if record.manager is None and self._sandboxed(record):
            sandbox = self.sandbox

            def caller(ctx: Any = None, tenant: str | None = None) -> Any:
                return sandbox.call_hook(record, hook, tenant)

        else:
            assert record.manager is not None
            caller = getattr(record.manager.hook, hook)
        started = time.perf_counter()
        try:
            return caller(**kwargs)
        except (Exception, SystemExit) as exc:  # a plugin calling sys.exit() must not stop the host
            timing.errors += 1
            self.logger.error("plugin %s: hook %s raised\n%s", record.name, hook, traceback.format_exc())
            self._notify_error(record.name, f"hook:{hook}")
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

    def _tenant_failed(self, record: PluginRecord, tenant: str, reason: str) -> None:
        """A hook failed for one tenant: that tenant is not served (here), the plugin's other tenants still are."""
        record.tenants.discard(tenant)
        record.tenant_failures[tenant] = reason
        self._rebuild()

    def _handler_failed(self, record: PluginRecord, error: BaseException) -> None:
        """Called by a plugin app after an unhandled error: past the error budget, disable it for the tenant.

        The switch goes to the registry, so it holds in every worker and across restarts until someone enables the
        plugin again; the tenant is served by the legacy routes meanwhile.
        """
        budget, window = self.settings.PLUGIN_ERROR_BUDGET, self.settings.PLUGIN_ERROR_WINDOW_SECONDS
        if not raised_in_plugin(error, record):
            return  # the host's own failures (a database outage while loading the user...) are not the plugin's
        if in_isolated_run():
            return  # a shadow replay: no caller saw it; the shadow results count it as a candidate error
        self._notify_error(record.name, "handler")
        if budget <= 0:
            return
        tenant = str(g.get(TENANT_KEY) or self.settings.TENANT_DEFAULT)
        # After a guarded canary write's transaction ends: inside it, the count and the disable would be rolled back
        # with the plugin's failed write.
        after_isolated_run(lambda: self._charge_error(record, tenant, budget, window))

    def _notify_error(self, plugin: str, kind: str) -> None:
        for listener in self.error_listeners:
            try:
                listener(plugin, kind)
            except Exception:  # a listener (metrics) must never turn a plugin's error into the host's
                self.logger.exception("error listener failed for plugin %s", plugin)

    def charge_error(self, name: str, tenant: str) -> None:
        """Count one failure of a sandboxed plugin's worker (an error, an exit, a kill) against its error budget."""
        self._notify_error(name, "worker")
        budget, window = self.settings.PLUGIN_ERROR_BUDGET, self.settings.PLUGIN_ERROR_WINDOW_SECONDS
        record = self.plugins.get(name)
        if budget > 0 and record is not None:
            after_isolated_run(lambda: self._charge_error(record, tenant, budget, window))

    def _charge_error(self, record: PluginRecord, tenant: str, budget: int, window: float) -> None:
        # Counted in the shared database: every worker's errors spend one budget.
        if not self.windows.hit(f"errors:{record.name}:{tenant}", budget, window):
            return
        reason = f"{budget} unhandled errors within {window:g} s; disabled by host {self.name!r}"
        self.logger.error("plugin %s: %s for tenant %s", record.name, reason, tenant)
        # Plugins that hard-require it cannot serve without it: they go too, in the same transaction.
        dependents = self._hard_dependents(record.name)
        with transaction(self.services.session_factory) as db:
            self.registry.set_state(db, record.name, tenant, False, f"host {self.name}", reason=reason)
            for dependent in dependents:
                if tenant in self.plugins[dependent].tenants:
                    self.registry.set_state(
                        db,
                        dependent,
                        tenant,
                        False,
                        f"host {self.name}",
                        reason=f"requires {record.name!r}, which was disabled: {reason}",
                    )
        self._checked_at = 0.0

    def _hard_dependents(self, name: str) -> list[str]:
        """Every plugin that requires `name` (directly or through others) as a hard dependency."""
        found: list[str] = []
        frontier = [name]
        while frontier:
            current = frontier.pop()
            for other in sorted(self.plugins.values(), key=lambda r: r.name):
                manifest = other.manifest
                if manifest is not None and current in manifest.requires.hard and other.name not in found:
                    found.append(other.name)
                    frontier.append(other.name)
        return found

    # -- registry and mount table ----------------------------------------------------------------------------------

    def sync(self, *, force: bool = False) -> None:
        """Bring mounted tenants in step with the registry; cheap unless the registry changed (one small read).

        Called on the request path: a request never waits for another thread's sync or for a lifecycle operation
        (it serves from the current table instead), and a failed registry read is logged and retried at the next
        poll instead of failing the request.
        """
        now = time.monotonic()
        if not force and now - self._checked_at < self.settings.PLUGIN_POLL_SECONDS:
            return
        if not self._lock.acquire(blocking=force):
            return
        try:
            if not force and now - self._checked_at < self.settings.PLUGIN_POLL_SECONDS:
                return
            self._checked_at = now
            try:
                if not force and self.registry.version() == self._seen_version:
                    return
                version, rows = self.registry.snapshot()
            except SQLAlchemyError as exc:
                if force:
                    raise
                self.logger.error("plugin registry unreadable, serving the current mounts: %s", exc)
                return
            self._apply(version, rows)
        finally:
            self._lock.release()

    def _apply(self, version: int, rows: list[StateRow]) -> None:
        wanted: dict[str, set[str]] = {}
        disabled: dict[str, set[str]] = {}
        reasons: dict[str, dict[str, str]] = {}
        for row in rows:
            (wanted if row.enabled else disabled).setdefault(row.plugin, set()).add(row.tenant_id)
            if not row.enabled and row.reason:
                reasons.setdefault(row.plugin, {})[row.tenant_id] = row.reason
        order = [name for name in self._order if name in self.plugins]
        changed = version != self._seen_version
        for record in self.plugins.values():
            record.registry_disabled = disabled.get(record.name, set())
            record.disabled_reasons = reasons.get(record.name, {})
            for tenant in list(record.tenant_failures):
                # A registry change (an operator enabling it again, anywhere) retries a tenant whose hook failed;
                # a tenant disabled meanwhile needs no retry at all.
                if changed or tenant not in wanted.get(record.name, set()):
                    del record.tenant_failures[tenant]
        # Dependents stop before what they require, and start after it.
        for name in reversed(order):
            record = self.plugins[name]
            if record.loaded:
                for tenant in sorted(record.tenants - wanted.get(name, set())):
                    self._deactivate(record, tenant)
        for name in order:
            record = self.plugins[name]
            if not record.loaded:
                continue
            for tenant in sorted(wanted.get(name, set()) - record.tenants - set(record.tenant_failures)):
                try:
                    self._check_dependencies_active(record, tenant)
                    if self.passive:  # a CLI host shows what would serve, without running anyone's hooks
                        self._require_migrated(record)
                        record.tenants.add(tenant)
                        continue
                    self._activate(record, tenant)
                except (HookFailed, PluginStateError) as exc:
                    self._tenant_failed(record, tenant, str(exc))
        self._seen_version = version
        self._rebuild()

    def _check_dependencies_active(self, record: PluginRecord, tenant: str) -> None:
        assert record.manifest is not None
        for dependency in record.manifest.requires.hard:
            if tenant not in self.get(dependency).tenants:
                raise PluginStateError(
                    f"plugin {record.name!r} requires {dependency!r}, which is not enabled for {tenant!r}"
                    + (
                        f" ({self.get(dependency).tenant_failures[tenant]})"
                        if tenant in self.get(dependency).tenant_failures
                        else ""
                    )
                    + f"; enable {dependency!r} first"
                )

    def _activate(self, record: PluginRecord, tenant: str) -> None:
        self._require_migrated(record)
        self._call(record, "on_enable", ctx=record.context, tenant=tenant)
        record.tenants.add(tenant)
        record.tenant_failures.pop(tenant, None)

    def _deactivate(self, record: PluginRecord, tenant: str) -> None:
        record.tenants.discard(tenant)
        if self.passive:
            return
        try:
            self._call(record, "on_disable", ctx=record.context, tenant=tenant)
        except HookFailed as exc:
            self.logger.error("plugin %s: %s (the tenant %s is unmounted anyway)", record.name, exc, tenant)
            record.notes.append(f"{tenant}: {exc}")

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
        feature_mounts: list[tuple[str, Mount]] = []
        features: dict[str, str] = {}
        apps: dict[str, WSGIApplication] = {}
        tenants: dict[str, frozenset[str]] = {}
        for record in sorted(self.plugins.values(), key=lambda r: r.name):
            if not record.loaded or not record.tenants or record.manifest is None or record.app is None:
                continue
            feature = record.manifest.sovereign.feature
            for prefix in record.manifest.mounts.prefixes():
                mount = Mount(prefix=prefix, plugin=record.name, parts=segments(prefix))
                if feature is None:
                    mounts.append(mount)
                else:
                    feature_mounts.append((feature, mount))
            if feature is not None:
                features[feature] = record.name
            apps[record.name] = record.app if self.sandbox is None else self.sandbox.app_for(record)
            tenants[record.name] = frozenset(record.tenants)
        self._table = MountTable(tuple(mounts), apps, tenants, tuple(feature_mounts), features)

    def app_for(self, path: str, tenant: str | Callable[[], str]) -> WSGIApplication | None:
        """The plugin app serving `path` for `tenant`, or None (the legacy app serves it).

        `tenant` may be a function, called only when some plugin's mount covers the path: the dispatcher passes
        its session lookup, so paths no plugin claims never read the session. One registry check and one table
        snapshot serve the whole decision.
        """
        self.sync()
        return self._table.app_for(path, tenant)

    def table(self) -> MountTable:
        """The mount table in force, after a registry check (the feature-flag router reads feature plugins here)."""
        self.sync()
        return self._table

    # -- operations --------------------------------------------------------------------------------------------------

    def get(self, name: str) -> PluginRecord:
        record = self.plugins.get(name)
        if record is None:
            raise PluginNotFound(name, self.plugins)
        return record

    def enable(self, name: str, tenant: str | None = None, *, changed_by: str = "api") -> None:
        """Enable a plugin for a tenant: on_enable hook, registry row and mount, all or nothing."""
        tenant = tenant or self.settings.TENANT_DEFAULT
        with self._lock:
            record = self.get(name)
            if not record.loaded:
                raise PluginStateError(
                    f"plugin {name!r} is {record.state} and cannot be enabled: {record.reason or 'not loaded'}"
                )
            self.require_tenant(tenant)
            self.sync(force=True)
            self._check_dependencies_active(record, tenant)
            self._require_migrated(record)
            # on_enable runs before the registry write, outside its transaction: the hook may write to the database
            # itself, which on SQLite would wait for the registry write's lock. Nothing is mounted until both
            # succeeded; a failed write undoes the hook with on_disable.
            newly = tenant not in record.tenants
            if newly:
                try:
                    self._activate(record, tenant)
                except HookFailed as exc:
                    self._tenant_failed(record, tenant, str(exc))
                    raise
            try:
                with transaction(self.services.session_factory) as db:
                    self.registry.set_state(db, name, tenant, True, changed_by)
            except Exception:
                if newly:
                    record.tenants.discard(tenant)
                    with contextlib.suppress(HookFailed):
                        self._call(record, "on_disable", ctx=record.context, tenant=tenant)
                raise
            self._rebuild()
            self._checked_at = 0.0
        self.sync(force=True)

    def load_order(self) -> list[str]:
        """The plugins this host accepted, in dependency order (what it requires first)."""
        return [name for name in self._order if name in self.plugins]

    def tenant_created(self, tenant: str) -> list[str]:
        """Run every loaded plugin's on_tenant_created hook for a tenant just created; the failures, one line each
        (a raising hook does not stop the others)."""
        failures: list[str] = []
        with self._lock:
            for name in self.load_order():
                record = self.plugins[name]
                if not record.loaded:
                    continue
                try:
                    self._call(record, "on_tenant_created", ctx=record.context, tenant=tenant)
                except HookFailed as exc:
                    failures.append(str(exc))
        return failures

    def require_tenant(self, tenant: str) -> None:
        """A tenant to switch a plugin for must exist (the default tenant always may): a typo is an error."""
        if tenant == self.settings.TENANT_DEFAULT:
            return
        with self.services.session_factory() as db:
            known = self.services.tenancy.known(db)
        if tenant not in known:
            raise PluginStateError(
                f"no tenant {tenant!r}{did_you_mean(tenant, known)}; known tenants: {', '.join(known) or 'none'}"
            )

    def disable(self, name: str, tenant: str | None = None, *, changed_by: str = "api") -> None:
        """Disable a plugin for a tenant: it stops serving that tenant at once (other hosts within the poll)."""
        tenant = tenant or self.settings.TENANT_DEFAULT
        with self._lock:
            self.get(name)
            self.sync(force=True)
            # Dependents are checked against the registry, which every worker shares, not this host's mounts.
            enabled_here = {row.plugin for row in self.registry.rows() if row.enabled and row.tenant_id == tenant}
            dependents = sorted(set(self._hard_dependents(name)) & enabled_here)
            if dependents:
                raise PluginStateError(
                    f"plugin {name!r} is required by {', '.join(dependents)} for {tenant!r}; disable those first"
                )
            with transaction(self.services.session_factory) as db:
                self.registry.set_state(db, name, tenant, False, changed_by)
        self.sync(force=True)

    def health(self, record: PluginRecord) -> dict[str, Any] | None:
        """The plugin's health report; a raising hook or a report that is not a JSON object says so."""
        if not record.loaded:
            return None
        if self._sandboxed(record):
            from exthost.sandbox.supervisor import PoolBusy

            try:
                # Not through _call: a plugin at its limit is busy, which is neither a hook error nor unhealthy.
                report = self.sandbox.call_hook(record, "health")
            except PoolBusy as exc:
                return {"ok": True, "busy": f"its health hook was not run: {exc}"}
            except Exception as exc:
                self._notify_error(record.name, "hook:health")
                return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
            return self._health_report(report)
        try:
            report = self._call(record, "health", ctx=record.context)
        except HookFailed as exc:
            return {"ok": False, "error": f"{type(exc.error).__name__}: {exc.error}"}
        return self._health_report(report)

    @staticmethod
    def _health_report(report: Any) -> dict[str, Any] | None:
        if report is None:
            return None
        try:
            if not isinstance(report, Mapping):
                raise TypeError(f"health returned {type(report).__name__}, not a JSON object")
            result = dict(report)
            json.dumps(result)
        except (TypeError, ValueError) as exc:
            return {"ok": False, "error": f"health returned an unusable report: {exc}"}
        return result

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
            "softRequires": dict(manifest.requires.soft) if manifest else {},
            "reason": record.reason or _tenant_reason(record),
            "failedTenants": dict(sorted(record.tenant_failures.items())),
            "disabledReasons": dict(sorted(record.disabled_reasons.items())),
            "notes": list(record.notes),
            "hooks": {hook: timing.as_dict() for hook, timing in sorted(record.timings.items())},
            "signature": record.trust.as_dict() if record.trust is not None else None,
        }
        if self.sandbox is not None and record.loaded:
            info["sandbox"] = self.sandbox.describe(record.name)
        if with_health:
            info["health"] = self.health(record)
        return info

    def diagnostics(self) -> dict[str, Any]:
        self.sync()
        return {
            "host": self.name,
            "sovereign": host_version(),
            "registryVersion": self._seen_version,
            "warnings": list(self.warnings),
            "signaturePolicy": self.trust.policy,
            "plugins": [
                self.describe(r, with_health=True) for r in sorted(self.plugins.values(), key=lambda r: r.name)
            ],
        }

    def reload(self, name: str) -> None:
        """Replace a plugin's code at run time: check and load the new version beside the running one, then swap.

        On any failure (bad manifest, mount now colliding, import error, raising hook) the running version keeps
        serving and PluginLoadError says why. A plugin that had failed or was invalid is loaded afresh and then
        serves the tenants the registry enables it for.
        """
        with self._lock:
            old = self.get(name)
            fresh = PluginRecord(name=old.name, folder=old.folder, source=old.source)
            keeps = "the running version keeps serving" if old.loaded else f"it stays {old.state}"
            try:
                fresh.manifest = load_manifest(fresh.manifest_path, self.services.features.names)
                if fresh.manifest.name != name:
                    raise PluginLoadError(
                        f"{fresh.manifest_path}: name: changed from {name!r} to {fresh.manifest.name!r}"
                    )
                self.catalogue.check_replacement(fresh)
                self._admit(fresh)
            except ExtHostError as exc:
                raise PluginLoadError(f"reload of {name!r} refused, {keeps}: {exc}") from exc
            saved = {
                m: sys.modules[m] for m in list(sys.modules) if old.module_prefix and m.startswith(old.module_prefix)
            }
            forget_modules(old)
            self._load(fresh)
            if fresh.state != REGISTERED:
                sys.modules.update(saved)
                self._restart_sandbox(old)
                raise PluginLoadError(f"reload of {name!r} failed, {keeps}: {fresh.reason}")
            try:
                for tenant in sorted(old.tenants):
                    self._activate(fresh, tenant)
            except (HookFailed, PluginStateError) as exc:
                with contextlib.suppress(HookFailed):
                    self._call(fresh, "on_shutdown", ctx=fresh.context)
                forget_modules(fresh)
                sys.modules.update(saved)
                self._restart_sandbox(old)
                raise PluginLoadError(f"reload of {name!r} failed, {keeps}: {exc}") from exc
            if old.loaded:
                with contextlib.suppress(HookFailed):
                    self._call(old, "on_shutdown", ctx=old.context)
            if old.context is not None:
                dispose_plugin_db(old.context.db)  # requests still running on it close their connections on return
            fresh.registry_disabled = old.registry_disabled
            fresh.disabled_reasons = old.disabled_reasons
            fresh.timings = old.timings | fresh.timings
            self.plugins[name] = fresh
            self._rebuild()
        self.logger.info("plugin %s reloaded from %s", name, fresh.folder)
        self.sync(force=True)

    def _restart_sandbox(self, record: PluginRecord) -> None:
        """After a failed reload of a sandboxed plugin (its new pool replaced the running one's), the running
        version's pool again."""
        if record.loaded and self._sandboxed(record):
            record.app = self.sandbox.app_for(record)

    def shutdown(self) -> None:
        """Run every loaded plugin's on_shutdown hook, unmount everything and release the database."""
        with self._lock:
            # Dependents shut down before what they require.
            order = [name for name in reversed(self._order) if name in self.plugins]
            for name in order + sorted(set(self.plugins) - set(order)):
                record = self.plugins[name]
                if record.loaded:
                    with contextlib.suppress(HookFailed):
                        self._call(record, "on_shutdown", ctx=record.context)
                    record.tenants.clear()
                if record.context is not None:
                    dispose_plugin_db(record.context.db)
                forget_modules(record)
            sys.modules.pop(f"{NAMESPACE}.h{self._token}", None)
            self._table = MountTable()
            if self.sandbox is not None:
                self.sandbox.stop()
        self.services.engine.dispose()


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


def _tenant_reason(record: PluginRecord) -> str | None:
    """Why a loaded plugin does not serve some tenant: a hook failed for it, or the host disabled it (error budget)."""
    state = record.display_state()
    reasons = (
        record.tenant_failures if state in (FAILED, ENABLED) else record.disabled_reasons if state == DISABLED else {}
    )
    if not reasons:
        return None
    return "; ".join(f"{tenant}: {reason}" for tenant, reason in sorted(reasons.items()))
