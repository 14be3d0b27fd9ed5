"""The feature-flag router: the one WSGI app of the platform, sending each feature request to legacy or plugin.

    /diagnostics, /admin[/...]         the host's diagnostics and admin pages (platform admins)
    a route of a legacy feature, or a path under the mounts of the plugin reimplementing one
                                       -> that feature's flag decides (exthost.rollout.flags.decide):
        legacy    legacy answers
        shadow    legacy answers; a sample is copied and replayed on the plugin off the request path (shadow.py)
        canary    the plugin answers for the sticky share; a 5xx or exception falls back to legacy (counted), and a
                  burst of them trips the circuit breaker, which sets the feature back to legacy for every worker
        plugin    the plugin answers; when it does not serve the caller's tenant, legacy answers (counted)
        retired   the plugin answers; when it cannot, 503 (legacy is gone)
    anything else                      a plugin of no feature whose mount covers the path, else legacy

Route resolution uses a copy of the legacy feature rules (werkzeug, the same converters), built once.
"""

from __future__ import annotations

import io
import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from flask import Flask
from werkzeug.exceptions import HTTPException, MethodNotAllowed
from werkzeug.routing import Map, RequestRedirect

from exthost.evidence.capture import INCOMPLETE, call_wsgi, capture_request, is_host_path, read_body, tee
from exthost.evidence.compare import CapturedResponse
from exthost.host import ExtensionHost
from exthost.rollout.breaker import CircuitBreaker
from exthost.rollout.flags import Decision, decide
from exthost.rollout.flagstore import FlagStore
from exthost.rollout.isolation import GUARDED_RUN_KEY, isolated, recording
from exthost.rollout.results import ShadowResults
from exthost.rollout.shadow import SAFE_METHODS, Sample, ShadowSink
from legacy_core.app import RESOLVED_USER_KEY
from legacy_core.clock import SystemClock
from legacy_core.features import FeatureSet

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

BREAKER_USER = "sv:circuit-breaker"
# WSGI environ key where the router notes what it decided, (feature, mode), for the metrics around it
# (exthost.metrics); absent for a request legacy answers outside every feature.
DECISION_KEY = "sovereign.decision"


@dataclass(frozen=True)
class RouteMatch:
    """A feature request: its feature, the legacy URL rule it matched (None: only a plugin mount covers it)."""

    feature: str
    rule: str | None
    endpoint: str | None
    # The endpoint's writes reach beyond the database (its feature declares it: files, git).
    writes_outside_database: bool = False


class FeatureRoutes:
    """Which feature (and legacy rule) a path and method belong to; the feature rules of the legacy app, copied."""

    def __init__(self, legacy: Flask, features: FeatureSet):
        self.features = features
        feature_of = self.features.feature_of
        rules = [rule.empty() for rule in legacy.url_map.iter_rules() if feature_of(rule.endpoint) is not None]
        self.rules = {rule.rule: feature_of(rule.endpoint) for rule in rules}
        self.map = Map(rules, converters=dict(legacy.url_map.converters), strict_slashes=legacy.url_map.strict_slashes)
        self.adapter = self.map.bind("localhost", "/")
        # First path segments of every feature rule: a path starting otherwise (/health, /static, /login) is no
        # feature's, and skips the matcher (a miss costs an exception) entirely.
        self.first_segments = frozenset(rule.rule.split("/", 2)[1] for rule in rules)
        self.by_feature: dict[str, list[str]] = {feature: [] for feature in self.features.names}
        for rule, feature in sorted(self.rules.items()):
            if feature is not None:
                self.by_feature.setdefault(feature, []).append(rule)

    def resolve(self, path: str, method: str) -> RouteMatch | None:
        if path.split("/", 2)[1 if path.startswith("/") else 0] not in self.first_segments:
            return None
        try:
            rule, _ = self.adapter.match(path, method, return_rule=True)
        except MethodNotAllowed as exc:
            allowed = sorted(exc.valid_methods or ())
            if not allowed:
                return None
            rule, _ = self.adapter.match(path, allowed[0], return_rule=True)
        except RequestRedirect:
            return None
        except HTTPException:
            return None
        endpoint = str(rule.endpoint)
        feature = self.features.feature_of(endpoint)
        if feature is None:
            return None
        return RouteMatch(feature, rule.rule, endpoint, endpoint in self.features.outside_database_endpoints)


class FlagRouter:
    """The platform's WSGI callable; see the module docstring."""

    def __init__(
        self,
        *,
        host: ExtensionHost,
        legacy: Flask,
        diagnostics: Flask,
        tenant_of: Callable[[WSGIEnvironment], str],
        flags: FlagStore,
        results: ShadowResults,
        shadow: ShadowSink,
        breaker: CircuitBreaker,
        fallback: bool = True,
        max_body: int = 1024 * 1024,
    ):
        self.host = host
        self.legacy = legacy
        self.diagnostics = diagnostics
        self.tenant_of = tenant_of
        self.flags = flags
        self.results = results
        self.shadow = shadow
        self.breaker = breaker
        self.fallback = fallback
        self.max_body = max_body
        self.routes = FeatureRoutes(legacy, host.services.features)
        # Wall time for when a sample was taken; never the platform clock, which the apps' own reads must have to
        # themselves (a pinned test clock advances on every read).
        self.clock = SystemClock()
        self._sequences: dict[tuple[str, str | None], itertools.count[int]] = {}

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "") or "/"
        if is_host_path(path):
            return self.diagnostics(environ, start_response)
        method = str(environ.get("REQUEST_METHOD", "GET")).upper()
        match = self.routes.resolve(path, method)
        if match is None:
            # A plugin of no feature whose mount covers the path, if it serves the caller's tenant.
            table = self.host.table()
            app = table.app_for(path, lambda: self.tenant_of(environ))
            if app is not None:
                environ[DECISION_KEY] = ("none", "plugin")
                return app(environ, start_response)
            feature = table.feature_at(path) if table.feature_mounts else None
            if feature is None:
                return self.legacy(environ, start_response)
            match = RouteMatch(feature, None, None)
        return self._feature(match, method, environ, start_response)

    def feature_of(self, path: str, method: str) -> str | None:
        """The feature a request belongs to, as `__call__` routes it: a legacy feature rule, else a path only a
        feature plugin's mount covers (a plugin of no feature owns the paths its mounts cover)."""
        match = self.routes.resolve(path, method)
        if match is not None:
            return match.feature
        table = self.host.table()
        if not table.feature_mounts or table.match(path) is not None:
            return None
        return table.feature_at(path)

    # -- feature requests ------------------------------------------------------------------------------------------

    def _next(self, match: RouteMatch) -> int:
        """Request number of this route: sampling is even per route, whatever other routes are doing."""
        counter = self._sequences.get((match.feature, match.rule))
        if counter is None:
            counter = self._sequences.setdefault((match.feature, match.rule), itertools.count())
        return next(counter)

    def _feature(
        self, match: RouteMatch, method: str, environ: WSGIEnvironment, start_response: StartResponse
    ) -> Iterable[bytes]:
        flag = self.flags.current().flag(match.feature, match.rule)
        environ[DECISION_KEY] = (match.feature, flag.mode)
        if flag.mode == "legacy":
            return self.legacy(environ, start_response)
        tenant = self.tenant_of(environ)
        user = environ.get(RESOLVED_USER_KEY)
        sticky = getattr(user, "id", None) or tenant
        decision = decide(flag, tenant=tenant, sticky_key=sticky, sequence=self._next(match))
        environ[DECISION_KEY] = (match.feature, decision.mode)
        plugin = self.host.table().feature_app(match.feature, tenant)
        if decision.primary == "plugin":
            if plugin is None:
                if decision.mode == "retired":
                    return _json(start_response, 503, b'{"error":"Feature unavailable"}')
                self.results.count(match.feature, match.rule, method, decision.mode, "fallback:plugin-unavailable")
                return self.legacy(environ, start_response)
            if decision.mode == "canary" and self.fallback:
                return self._canary(match, method, decision, plugin, environ, start_response)
            return plugin(environ, start_response)
        if decision.shadow is None:
            return self.legacy(environ, start_response)
        return self._shadowed(match, method, decision, plugin, environ, start_response, tenant)

    def _canary(
        self,
        match: RouteMatch,
        method: str,
        decision: Decision,
        plugin: WSGIApplication,
        environ: WSGIEnvironment,
        start_response: StartResponse,
    ) -> Iterable[bytes]:
        # The plugin's answer is held until it is known to be good: a 5xx must be replaceable by legacy's.
        body = read_body(environ, self.max_body)
        if body is None or (method not in SAFE_METHODS and match.writes_outside_database):
            # Not replaceable: a body too large to hold twice, or files written / a push made that no rollback
            # undoes. The plugin answers whatever happens; failures still count towards the breaker.
            return self._canary_unguarded(match, method, decision, plugin, environ, start_response)
        answer: CapturedResponse | None = None
        try:
            if method in SAFE_METHODS:
                answer = call_wsgi(plugin, environ, body)
            elif getattr(plugin, "guards_own_writes", False):
                # A sandboxed plugin writes in its own process: its worker keeps the write only below 500.
                answer = call_wsgi(plugin, {**environ, GUARDED_RUN_KEY: True}, body)
            else:
                # A write is kept only if the plugin succeeds: legacy must start from the state the caller had.
                with isolated(self.host.services.engine, immediate=True, keep=lambda: ok(answer)):
                    answer = call_wsgi(plugin, environ, body)
        except Exception:  # a plugin app renders its own errors; this is a failure of the app itself
            answer = None
        if answer is not None and ok(answer):
            start_response(_status_line(answer.status), list(answer.headers))
            return [answer.body]
        why = "exception" if answer is None else f"status-{answer.status}"
        self.results.count(match.feature, match.rule, method, decision.mode, f"fallback:{why}")
        self._failed(match, method, decision, why)
        environ["wsgi.input"] = io.BytesIO(body)
        return self.legacy(environ, start_response)

    def _canary_unguarded(
        self,
        match: RouteMatch,
        method: str,
        decision: Decision,
        plugin: WSGIApplication,
        environ: WSGIEnvironment,
        start_response: StartResponse,
    ) -> Iterable[bytes]:
        def watch(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            if int(status.split(" ", 1)[0]) >= 500:
                self.results.count(match.feature, match.rule, method, decision.mode, "canary_error")
                self._failed(match, method, decision, f"status-{status.split(' ', 1)[0]}")
            return start_response(status, headers, exc_info) if exc_info else start_response(status, headers)

        return plugin(environ, watch)

    def _failed(self, match: RouteMatch, method: str, decision: Decision, why: str) -> None:
        if not self.breaker.failure(match.feature):
            return
        flag = decision.flag
        route = flag.route if flag is not None else None
        breaker = self.breaker
        reason = (
            f"circuit breaker: {breaker.threshold} plugin failures within {breaker.window:g}s in canary mode; "
            f"last: {why} on {method} {match.rule or '(plugin-only path)'}"
        )
        self.results.count(match.feature, match.rule, method, "canary", "breaker")
        try:
            # The flag that made the decision goes back to legacy (a route's own flag wins over its feature's),
            # unless another worker's breaker already moved it.
            if self.flags.refresh().flag(match.feature, route).mode == "canary":
                self.flags.set(match.feature, "legacy", route=route, changed_by=BREAKER_USER, reason=reason)
        except Exception:
            self.host.services.logger.exception("circuit breaker could not store legacy mode for %s", match.feature)
        self.host.services.logger.warning("%s: %s", match.feature, reason)

    def _shadowed(
        self,
        match: RouteMatch,
        method: str,
        decision: Decision,
        plugin: WSGIApplication | None,
        environ: WSGIEnvironment,
        start_response: StartResponse,
        tenant: str,
    ) -> Iterable[bytes]:
        skip = None
        if plugin is None:
            skip = "skipped:plugin-unavailable"
        elif method not in SAFE_METHODS and (match.writes_outside_database or match.rule is None):
            skip = "skipped:writes-outside-database"
        body = read_body(environ, self.max_body) if skip is None else b""
        if body is None:
            skip = "skipped:body-too-large"
        if skip is not None or plugin is None or body is None:
            self.results.count(match.feature, match.rule, method, decision.mode, skip or "skipped")
            return self.legacy(environ, start_response)
        copy = {k: v for k, v in environ.items() if not k.startswith(("werkzeug.", "flask."))}
        request = capture_request(copy, body)
        started = self.clock.now()
        captured: list[Any] = []

        def capture_start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            captured[:] = [status, list(headers)]
            return start_response(status, headers, exc_info) if exc_info else start_response(status, headers)

        def submit(response_body: bytes | None) -> None:
            try:
                take(response_body)
            except Exception:  # shadow work must never break the caller's response
                self.host.services.logger.exception("shadow sample of %s %s not taken", method, match.rule)
                self.results.count(match.feature, match.rule, method, decision.mode, "dropped")

        def take(response_body: bytes | None) -> None:
            if response_body is INCOMPLETE or not captured:
                self.results.count(match.feature, match.rule, method, decision.mode, "skipped:incomplete-response")
                return
            if response_body is None:
                self.results.count(match.feature, match.rule, method, decision.mode, "skipped:body-too-large")
                return
            primary = CapturedResponse(int(captured[0].split(" ", 1)[0]), tuple(captured[1]), response_body)
            sample = Sample(
                feature=match.feature,
                route=match.rule,
                mode=decision.mode,
                environ=copy,
                request=request,
                primary_side="legacy",
                primary_app=self.legacy,
                candidate_app=plugin,
                primary=primary,
                started=started,
                instants=tuple(instants) or (started,),
                tenant=tenant,
            )
            self.shadow.submit(sample)

        environ["wsgi.input"] = io.BytesIO(body)
        # The instants the primary reads are recorded (what it reads is unchanged) and replayed to the candidate:
        # a response that shows the time (an export's date) must not differ only because the two ran apart.
        with recording() as instants:
            iterable = self.legacy(environ, capture_start)
        return tee(iterable, self.max_body, submit)


def ok(answer: CapturedResponse | None) -> bool:
    return answer is not None and answer.status < 500


def _status_line(status: int) -> str:
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return f"{status} UNKNOWN"


def _json(start_response: StartResponse, status: int, body: bytes) -> Iterable[bytes]:
    start_response(_status_line(status), [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]
