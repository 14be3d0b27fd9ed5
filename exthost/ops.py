"""The operator's endpoints in front of the router: `GET /health` (status for all, each check for platform admins)
and `GET /metrics` (Prometheus text format, behind METRICS_TOKEN when set); every other request goes on to the
router, counted and timed (exthost.metrics)."""

from __future__ import annotations

import hmac
from collections.abc import Iterable
from typing import TYPE_CHECKING

from flask import Flask, jsonify, request
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.wrappers import Response

from exthost.health import HealthChecker
from exthost.metrics import MeasuredApp, Metrics
from legacy_core.app import install_error_handlers
from legacy_core.db import transaction
from legacy_core.requestctx import EXTENSION_KEY
from legacy_core.services import Services

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

HEALTH_PATH = "/health"
METRICS_PATH = "/metrics"


def make_ops_app(services: Services, health: HealthChecker, metrics: Metrics) -> Flask:
    """The Flask app answering /health and /metrics; a platform admin's session cookie shows the health detail (and
    passes the metrics token)."""
    app = Flask("sv_ops")
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions[EXTENSION_KEY] = services
    install_error_handlers(app, services)
    token = services.settings.METRICS_TOKEN
    cookie_name = services.settings.AUTH_SESSION_COOKIE_NAME

    def caller_is_admin() -> bool:
        # Read here rather than by the legacy request hooks, which answer 500 when the database is down: the probe
        # must still answer 503 then (to everyone: no session can be checked without the database).
        session = request.cookies.get(cookie_name)
        if not session:
            return False
        try:
            with transaction(services.session_factory) as db:
                user = services.auth.resolve(db, session)
        except SQLAlchemyError:
            return False
        return user is not None and user.is_admin

    @app.get(HEALTH_PATH)
    def health_view() -> Response:
        report = health.check()
        response = jsonify(report.as_dict(detail=caller_is_admin()))
        response.status_code = 200 if report.ok else 503
        response.headers["Cache-Control"] = "no-store"
        return response

    @app.get(METRICS_PATH)
    def metrics_view() -> Response:
        if token is not None and not _bearer_matches(token.get_secret_value()) and not caller_is_admin():
            response = jsonify({"error": "Unauthorized: send Authorization: Bearer <METRICS_TOKEN>"})
            response.status_code = 401
            response.headers["WWW-Authenticate"] = 'Bearer realm="metrics"'
            return response
        body, content_type = metrics.exposition()
        return Response(body, content_type=content_type, headers={"Cache-Control": "no-store"})

    return app


def _bearer_matches(token: str) -> bool:
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


class OpsDispatcher:
    """/health and /metrics to the ops app; everything else to `app`, measured."""

    def __init__(self, app: WSGIApplication, ops: Flask, metrics: Metrics):
        self.ops = ops
        self.measured = MeasuredApp(app, metrics)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") in (HEALTH_PATH, METRICS_PATH):
            return self.ops(environ, start_response)
        return self.measured(environ, start_response)
