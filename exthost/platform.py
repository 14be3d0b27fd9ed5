"""The platform: legacy core, extension host and feature-flag router on one set of services, built by a factory.

`create_platform(settings)` builds everything one instance needs from explicit settings: services whose session
factory, clock and ids can be isolated and pinned (rollout.isolation), the legacy app, the extension host, the flag
store, the shadow results and runner, and the router (rollout.router), which is the WSGI callable. Two platforms in
one process share nothing.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable
from datetime import UTC
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flask import Flask, jsonify
from werkzeug.http import parse_cookie
from werkzeug.wrappers import Response

from exthost.admin.views import ADMIN_COOKIE, make_admin_blueprint
from exthost.counters import SharedWindows
from exthost.errors import ExtHostError
from exthost.evidence.capture import DIAGNOSTICS_PATH
from exthost.evidence.fingerprint import DEFAULT_RULES_FILE, code_fingerprint
from exthost.evidence.noise import RuleSet, load_rules
from exthost.evidence.recorder import Recorder, RecordingStore
from exthost.health import HealthChecker
from exthost.host import ExtensionHost
from exthost.metrics import build_metrics
from exthost.ops import OpsDispatcher, make_ops_app
from exthost.rollout.breaker import CircuitBreaker
from exthost.rollout.flags import Flag, parse_overrides
from exthost.rollout.flagstore import FlagStore
from exthost.rollout.isolation import IsolatingSessionFactory, SwitchableClock, SwitchableIds
from exthost.rollout.results import ShadowResults
from exthost.rollout.router import FlagRouter
from exthost.rollout.shadow import ShadowRunner, ShadowSink, mode_unchanged
from exthost.rollout.shadow_process import ProcessShadowRunner
from exthost.rollout.shadow_redis import RedisShadowSink
from exthost.rollout.ticker import Ticker
from legacy_core.app import PACKAGE_DIR as LEGACY_DIR
from legacy_core.app import (
    RESOLVED_USER_KEY,
    Server,
    build_services,
    create_server,
    install_error_handlers,
    install_request_hooks,
)
from legacy_core.auth import CurrentUser
from legacy_core.clock import Clock, IdGenerator, RandomIds, SystemClock
from legacy_core.db import transaction
from legacy_core.features import FeatureDeclarationError, feature_set, routes
from legacy_core.requestctx import EXTENSION_KEY, current_user
from legacy_core.services import Services
from legacy_core.settings import Settings

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment



class Platform:
    """One running instance: the router (the WSGI callable) and the parts it routes between."""

    def __init__(
        self, host: ExtensionHost, legacy: Server, results: ShadowResults, rules: RuleSet, *, overrides: Iterable[Flag]
    ):
        self.host = host
        self.legacy = legacy
        self._closed = False
        self.services: Services = host.services
        settings = self.services.settings
        self.metrics = build_metrics(settings)  # first: a refused PROMETHEUS_MULTIPROC_DIR starts nothing
        self._cookie = settings.AUTH_SESSION_COOKIE_NAME
        self.flags = FlagStore(
            self.services.session_factory,
            features=self.services.features.names,
            overrides=tuple(overrides),
            poll_seconds=settings.FLAGS_POLL_SECONDS,
        )
        self.results = results
        self.rules_file = rules_file(settings)
        self._rules = rules
        self.shadow: ShadowSink
        if settings.SHADOW_RUNNER == "redis":
            self.shadow = RedisShadowSink(
                results=results,
                url=settings.REDIS_URL,
                stream=settings.SHADOW_STREAM,
                queue_size=settings.SHADOW_QUEUE_SIZE,
            )
        elif settings.SHADOW_RUNNER == "process":
            self.shadow = ProcessShadowRunner(
                settings=settings,
                build_parts=build_platform_parts,
                max_restarts=settings.SHADOW_CHILD_RESTARTS,
                results=results,
                queue_size=settings.SHADOW_QUEUE_SIZE,
                nice=settings.SHADOW_NICE,
                keep=(RESOLVED_USER_KEY,),
            )
        else:
            self.shadow = ShadowRunner(
                engine=self.services.engine,
                results=results,
                rules=lambda: self._rules,
                queue_size=settings.SHADOW_QUEUE_SIZE,
                workers=settings.SHADOW_WORKERS,
                lock_timeout_ms=settings.SHADOW_LOCK_TIMEOUT_MS,
                max_age_seconds=settings.SHADOW_MAX_SAMPLE_AGE_SECONDS,
                wanted=mode_unchanged(lambda feature, route: self.flags.current().flag(feature, route).mode),
            )
        self.breaker = CircuitBreaker(
            settings.CANARY_BREAKER_FAILURES,
            settings.CANARY_BREAKER_WINDOW_SECONDS,
            windows=SharedWindows(self.services.session_factory),
        )
        self.diagnostics_app = make_diagnostics_app(self)
        self.router = FlagRouter(
            host=host,
            legacy=legacy.app,
            diagnostics=self.diagnostics_app,
            tenant_of=self.tenant_of,
            flags=self.flags,
            results=self.results,
            shadow=self.shadow,
            breaker=self.breaker,
            fallback=settings.CANARY_FALLBACK,
            max_body=settings.SHADOW_MAX_BODY_BYTES,
        )
        # Off (the default) the recorder passes every request straight to the router after one cached check.
        self.recorder = Recorder(
            self.router,
            store=RecordingStore(
                self.services.session_factory,
                default_directory=settings.recording_dir,
                features=self.services.features.names,
                poll_seconds=settings.FLAGS_POLL_SECONDS,
            ),
            cookie_name=self._cookie,
            feature_of=self.router.feature_of,
            max_body=settings.SHADOW_MAX_BODY_BYTES,
            session_of=self.session_of,
        )
        # /health and /metrics in front; every other request counted and timed on its way to the recorder and router.
        results.listeners.append(self.metrics.rollout_event)
        host.error_listeners.append(self.metrics.plugin_error)
        self.health = HealthChecker(host, timeout=settings.HEALTH_TIMEOUT_SECONDS)
        self.entry = OpsDispatcher(self.recorder, make_ops_app(self.services, self.health, self.metrics), self.metrics)
        self.shadow.start()
        # Counts made here (canary fallbacks, breaker trips, drops, a dead shadow child's losses) reach the shared
        # database on this timer and at close, never on the request path.
        self.ticker = Ticker(settings.SHADOW_FLUSH_SECONDS, self.tick, name="sv-rollout-flush")
        self.ticker.ensure()

    def tick(self) -> None:
        """Notice a dead shadow child (and count its losses), then write this process's pending counts."""
        self.shadow.poll()
        self.results.flush()

    @property
    def rules(self) -> RuleSet:
        return self._rules

    def set_mode(self, feature: str, mode: str, *, changed_by: str = "api", **share: Any) -> Flag:
        """Store a feature's mode (every worker follows within FLAGS_POLL_SECONDS); see FlagStore.set."""
        return self.flags.set(
            feature, mode, changed_by=changed_by, routes=self.router.routes.by_feature.get(feature, ()), **share
        )

    def tenant_of(self, environ: WSGIEnvironment) -> str:
        """The request's tenant: the session's user's, else the default tenant.

        The user is left in the environ for the app that serves the request, so the session is read once.
        """
        user: CurrentUser | None = None
        # werkzeug's parser, as the apps behind use: a cookie another parser rejects (a JSON value, a space) or a
        # duplicated session cookie must name the same session here as there.
        token = parse_cookie(environ).get(self._cookie)
        if token:
            with transaction(self.services.session_factory) as db:
                user = self.services.auth.resolve(db, token)
        environ[RESOLVED_USER_KEY] = user
        return self.services.tenancy.for_user(user)

    def session_of(self, token: str) -> dict[str, Any] | None:
        """Who holds session `token`, without secrets (user id, tenant, when the session started), for recordings;
        None when no session has that token."""
        from legacy_core.auth import token_digest
        from legacy_core.models import AuthSession, User

        with transaction(self.services.session_factory) as db:
            record = db.get(AuthSession, token_digest(token))
            if record is None:
                return None
            user = db.get(User, record.user_id)
            started = record.created_at if record.created_at.tzinfo else record.created_at.replace(tzinfo=UTC)
            return {
                "user": record.user_id,
                "tenant": user.tenant_id if user is not None else None,
                "sessionStarted": started.isoformat(),
            }

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if self.ticker.pid != os.getpid():
            self.ticker.ensure()  # a worker forked after the platform was built (gunicorn --preload)
        return self.entry(environ, start_response)

    def diagnostics(self) -> dict[str, Any]:
        """The host's diagnostics plus every feature's flag and comparison counts."""
        report = self.host.diagnostics()
        flags = self.flags.current()
        report["features"] = {
            feature: {
                "flag": flags.flag(feature).as_dict(),
                "routeFlags": [f.as_dict() for f in flags.all() if f.feature == feature and f.route is not None],
                "results": self.results.summary().get(feature, {}),
                "breakerRecentFailures": self.breaker.recent(feature),
            }
            for feature in self.services.features.names
        }
        report["shadow"] = {
            "queued": self.shadow.queue.qsize(),
            "queueSize": self.shadow.queue_size,
            "runner": self.services.settings.SHADOW_RUNNER,
            "workers": self.shadow.workers,
            "processed": self.shadow.processed,
            "runnerErrors": self.shadow.errors,
            "childDeaths": self.shadow.deaths,
            "childRestarts": self.shadow.restarts,
            "rulesFile": str(self.rules_file),
        }
        return report

    def test_client(self) -> Any:
        """A werkzeug test client over the whole platform (cookies kept between requests).

        Responses are read whole and closed, as a real server does, so a shadow sample is taken even when a test
        never looks at the body.
        """
        from werkzeug.test import Client

        class BufferedClient(Client):
            def open(self, *args: Any, **kwargs: Any) -> Any:
                kwargs.setdefault("buffered", True)
                return super().open(*args, **kwargs)

        return BufferedClient(self)

    def close(self) -> None:
        """Stop recording and shadowing (running what is queued) and write every pending count."""
        if self._closed:
            return
        self._closed = True
        self.recorder.close()
        self.shadow.stop()
        self.ticker.stop()
        self.host.shutdown()


def make_diagnostics_app(platform: Platform) -> Flask:
    """The platform's own app: `GET /diagnostics` (every plugin's state, version, mounts, reason, tenants, health and
    hook timings, and every feature's flag and shadow/canary counts) and the `/admin` pages."""
    host = platform.host
    app = Flask(
        "sv_diagnostics",
        static_folder=str(LEGACY_DIR / "static"),
        static_url_path="/static",
        template_folder=str(LEGACY_DIR / "templates"),
    )
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions[EXTENSION_KEY] = host.services
    # The admin pages (exthost.admin) keep their one-shot notices in a signed cookie of their own.
    app.config.update(SECRET_KEY=host.services.settings.SECRET_KEY, **ADMIN_COOKIE)
    app.register_blueprint(make_admin_blueprint(platform))
    install_request_hooks(app, host.services)
    install_error_handlers(app, host.services)

    @app.get(DIAGNOSTICS_PATH)
    def diagnostics() -> Response:
        user = current_user()
        if user is None or not user.is_admin:
            response = jsonify({"error": "Unauthorized" if user is None else "Forbidden"})
            response.status_code = 401 if user is None else 403
            return response
        return jsonify(platform.diagnostics())

    return app


def create_platform(
    settings: Settings,
    *,
    clock: Clock | None = None,
    ids: IdGenerator | None = None,
    argon2_memory_kib: int = 65536,
    name: str = "platform",
) -> Platform:
    """Legacy app + extension host + feature-flag router on one set of services, started and ready to serve.

    Raises ExtHostError for a FEATURE_FLAGS setting or noise rules file that cannot be used.
    """
    try:
        overrides = parse_overrides(settings.FEATURE_FLAGS)
    except ValueError as exc:
        raise ExtHostError(f"setting {exc}") from exc
    try:
        known = feature_set(settings.EXTRA_FEATURES).names
    except FeatureDeclarationError as exc:
        raise ExtHostError(str(exc)) from exc
    unknown = sorted({flag.feature for flag in overrides} - set(known))
    if unknown:
        raise ExtHostError(f"setting FEATURE_FLAGS: unknown feature(s) {unknown}; one of {', '.join(known)}")
    host, legacy, results, rules = build_platform_parts(
        settings, clock=clock, ids=ids, argon2_memory_kib=argon2_memory_kib, name=name
    )
    try:
        return Platform(host, legacy, results, rules, overrides=overrides)
    except BaseException:
        host.shutdown()
        raise


def rules_file(settings: Settings) -> Path:
    return settings.SHADOW_RULES_FILE or DEFAULT_RULES_FILE


def build_platform_parts(
    settings: Settings,
    *,
    clock: Clock | None = None,
    ids: IdGenerator | None = None,
    argon2_memory_kib: int = 65536,
    name: str = "platform",
    passive: bool = False,
) -> tuple[ExtensionHost, Server, ShadowResults, RuleSet]:
    """The started host, legacy app, results store and noise rules of one instance (the shadow child builds the
    same parts, with a passive host, to replay samples)."""
    rules = load_rules(rules_file(settings))
    services = build_services(
        settings,
        clock=SwitchableClock(clock or SystemClock()),
        ids=SwitchableIds(ids or RandomIds()),
        argon2_memory_kib=argon2_memory_kib,
        name=name,
    )
    # Sessions that join an isolated run's transaction when there is one (the shadow runner's candidates).
    services = dataclasses.replace(
        services, session_factory=IsolatingSessionFactory(bind=services.engine, expire_on_commit=False)
    )
    legacy = create_server(services=services)
    host = ExtensionHost(
        settings, services=services, legacy_routes=routes(legacy.app, services.features), name=name, passive=passive
    )
    if settings.PLUGIN_ISOLATION == "process":
        from exthost.sandbox.supervisor import attach_sandbox

        attach_sandbox(host)
    host.start()
    # The code in place, fingerprinted once: shadow outcomes count as evidence for this code only (evidence.gate).
    codes = {feature: code_fingerprint(feature, settings) for feature in services.features.names}
    results = ShadowResults(services.session_factory, codes=codes)
    if passive and settings.PROMETHEUS_MULTIPROC_DIR is not None:
        # A shadow child counts its comparisons into the folder its serving process's /metrics sums (a serving
        # platform attaches its own metrics instead).
        results.listeners.append(build_metrics(settings).rollout_event)
    return host, legacy, results, rules
