"""The platform WSGI app: legacy core and plugins side by side, chosen per request by path and tenant.

For every request: `/diagnostics` goes to the host's own small app (platform admins only); a path under the mount
of a plugin enabled for the request's tenant goes to that plugin's app; everything else goes to the legacy app.
The tenant is the signed-in user's (from the session cookie), else the default tenant. The mount table is swapped
whole by the host, so adding, removing or replacing a plugin never needs a restart and never touches Flask's
"no blueprints after the first request" rule: each plugin has an app of its own.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from flask import Flask, jsonify
from werkzeug.http import parse_cookie
from werkzeug.wrappers import Response

from exthost.host import ExtensionHost
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
from legacy_core.clock import Clock, IdGenerator
from legacy_core.db import transaction
from legacy_core.features import routes
from legacy_core.requestctx import EXTENSION_KEY, current_user
from legacy_core.services import Services
from legacy_core.settings import Settings

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

DIAGNOSTICS_PATH = "/diagnostics"


class Platform:
    """WSGI callable dispatching between the legacy app and the host's plugin apps."""

    def __init__(self, host: ExtensionHost, legacy: Server):
        self.host = host
        self.legacy = legacy
        self.services: Services = host.services
        self.diagnostics_app = make_diagnostics_app(host)
        self._cookie = self.services.settings.AUTH_SESSION_COOKIE_NAME

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

    def select(self, environ: WSGIEnvironment) -> Flask:
        """The app that serves this request."""
        path = environ.get("PATH_INFO", "") or "/"
        if path == DIAGNOSTICS_PATH:
            return self.diagnostics_app
        app = self.host.app_for(path, lambda: self.tenant_of(environ))
        return app if app is not None else self.legacy.app

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        return self.select(environ)(environ, start_response)

    def test_client(self) -> Any:
        """A werkzeug test client over the whole platform (cookies kept between requests)."""
        from werkzeug.test import Client

        return Client(self)

    def close(self) -> None:
        self.host.shutdown()


def make_diagnostics_app(host: ExtensionHost) -> Flask:
    """`GET /diagnostics`: every plugin's state, version, mounts, reason, tenants, health and hook timings."""
    app = Flask(
        "sv_diagnostics",
        static_folder=str(LEGACY_DIR / "static"),
        static_url_path="/static",
        template_folder=str(LEGACY_DIR / "templates"),
    )
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions[EXTENSION_KEY] = host.services
    install_request_hooks(app, host.services)
    install_error_handlers(app, host.services)

    @app.get(DIAGNOSTICS_PATH)
    def diagnostics() -> Response:
        user = current_user()
        if user is None or not user.is_admin:
            response = jsonify({"error": "Unauthorized" if user is None else "Forbidden"})
            response.status_code = 401 if user is None else 403
            return response
        return jsonify(host.diagnostics())

    return app


def create_platform(
    settings: Settings,
    *,
    clock: Clock | None = None,
    ids: IdGenerator | None = None,
    argon2_memory_kib: int = 65536,
    name: str = "platform",
) -> Platform:
    """Legacy app + extension host on one set of services, started and ready to serve."""
    services = build_services(settings, clock=clock, ids=ids, argon2_memory_kib=argon2_memory_kib, name=name)
    legacy = create_server(services=services)
    host = ExtensionHost(settings, services=services, legacy_routes=routes(legacy.app), name=name)
    host.start()
    return Platform(host, legacy)
