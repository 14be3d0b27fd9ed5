"""The app factory: `create_server(settings)` builds one self-contained legacy platform instance."""

from __future__ import annotations

import io
import logging
import traceback
import uuid
from pathlib import Path
from typing import NamedTuple
from urllib.parse import urlsplit

from flask import Flask, g, jsonify, render_template, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge
from werkzeug.wrappers import Response

from legacy_core.auth import Auth
from legacy_core.clock import Clock, IdGenerator, RandomIds, SystemClock
from legacy_core.db import make_engine, make_session_factory, transaction
from legacy_core.errors import ApiError, FeatureDisabled
from legacy_core.features import feature_set, load_object
from legacy_core.requestctx import EXTENSION_KEY
from legacy_core.services import Services, Tenancy
from legacy_core.settings import Settings

PACKAGE_DIR = Path(__file__).resolve().parent
REQUEST_ID_HEADER = "X-Request-Id"
# WSGI environ key under which a dispatcher hands over the session's user (a CurrentUser or None) it resolved.
RESOLVED_USER_KEY = "sovereign.resolved_user"


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def same_origin(origin: str, host_url: str) -> bool:
    """Whether a browser's `Origin` header names this server (scheme, host and port)."""
    theirs, ours = urlsplit(origin), urlsplit(host_url)
    return (theirs.scheme, theirs.netloc.lower()) == (ours.scheme, ours.netloc.lower())


class Server(NamedTuple):
    """What `create_server` returns: the WSGI app and the services it was built on."""

    app: Flask
    services: Services


def build_services(
    settings: Settings,
    *,
    clock: Clock | None = None,
    ids: IdGenerator | None = None,
    argon2_memory_kib: int = 65536,
    name: str = "legacy",
) -> Services:
    """Services for one instance; each call makes its own engine, so instances never share a database handle."""
    clock = clock or SystemClock()
    ids = ids or RandomIds()
    engine = make_engine(settings.DATABASE_URL)
    logger = logging.getLogger(f"sovereign.{name}")
    logger.setLevel(settings.LOG_LEVEL.upper())
    return Services(
        settings=settings,
        engine=engine,
        session_factory=make_session_factory(engine),
        logger=logging.LoggerAdapter(logger, {"instance": name}),
        auth=Auth(clock, ids, settings.AUTH_SESSION_TTL_HOURS, argon2_memory_kib),
        tenancy=Tenancy(settings.TENANT_DEFAULT, clock),
        clock=clock,
        ids=ids,
        features=feature_set(settings.EXTRA_FEATURES),
    )


def create_server(
    settings: Settings | None = None,
    *,
    services: Services | None = None,
    clock: Clock | None = None,
    ids: IdGenerator | None = None,
    argon2_memory_kib: int = 65536,
) -> Server:
    """Build the legacy platform: a Flask WSGI app plus its services, from explicit settings."""
    if services is None:
        services = build_services(settings or Settings(), clock=clock, ids=ids, argon2_memory_kib=argon2_memory_kib)
    settings = services.settings
    app = Flask(
        "legacy_core", template_folder=str(PACKAGE_DIR / "templates"), static_folder=str(PACKAGE_DIR / "static")
    )
    app.config.update(SECRET_KEY=settings.SECRET_KEY, JSON_SORT_KEYS=False, MAX_CONTENT_LENGTH=None)
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions[EXTENSION_KEY] = services
    install_request_hooks(app, services)
    install_error_handlers(app, services)

    from legacy_core.blog.routes import make_blog_blueprint
    from legacy_core.openapi import make_openapi_blueprint
    from legacy_core.papertrail.routes import make_papertrail_blueprint
    from legacy_core.routes.accounts import make_accounts_blueprint
    from legacy_core.routes.projects import make_projects_blueprint
    from legacy_core.web.pages import make_web_blueprint

    app.register_blueprint(make_accounts_blueprint())
    app.register_blueprint(make_projects_blueprint())
    app.register_blueprint(make_papertrail_blueprint())
    app.register_blueprint(make_blog_blueprint())
    for feature in services.features:
        if feature.blueprint_factory is not None:
            factory = load_object(feature.blueprint_factory, f"feature {feature.name!r}: blueprint_factory")
            app.register_blueprint(factory())
    app.register_blueprint(make_openapi_blueprint())
    app.register_blueprint(make_web_blueprint())

    @app.get("/health")
    def health() -> Response:
        return jsonify({"ok": True})

    @app.get("/favicon.ico")
    def favicon() -> Response:
        # Browsers ask for /favicon.ico on every page load; the SVG icon the pages link to answers it.
        return app.send_static_file("favicon.svg")

    return Server(app, services)


def install_request_hooks(app: Flask, services: Services) -> None:
    """Request id, signed-in user, cross-site write refusal and NUL refusal; plugin apps install the same."""
    cookie_name = services.settings.AUTH_SESSION_COOKIE_NAME
    max_body = services.settings.MAX_CONTENT_LENGTH

    @app.before_request
    def _limit_body() -> None:
        # Every body but the uploads' and imports' (whose views count against their own, larger limits while they
        # read) is refused past MAX_CONTENT_LENGTH with a 413 before anything reads it: by Content-Length at once,
        # a chunked one as soon as the limit is passed. The rule decides, so a plugin's copy of a route gets the
        # same limit as legacy's.
        rule = request.url_rule.rule if request.url_rule is not None else None
        if rule in services.features.own_body_limit_rules:
            request.max_content_length = None
            return
        request.max_content_length = max_body
        environ = request.environ
        if request.content_length is None and environ.get("wsgi.input_terminated"):
            # Chunked: werkzeug would stop reading at the limit and hand the view a truncated body (a 400 for bad
            # JSON, not a 413). Read one byte past the limit here instead, and refuse when it comes.
            stream, chunks, size = environ["wsgi.input"], [], 0
            while size <= max_body:
                # A stream may hand over less than asked (a raw stream, one put back by a dispatcher in front).
                chunk = stream.read(max_body + 1 - size)
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
            if size > max_body:
                raise RequestEntityTooLarge()
            environ["wsgi.input"] = io.BytesIO(b"".join(chunks))

    @app.before_request
    def _load_user() -> None:
        # Request ids come from uuid4, not the id service: the harness pins that one, and request ids must not
        # consume its sequence.
        g.request_id = request.headers.get(REQUEST_ID_HEADER) or f"req_{uuid.uuid4().hex}"
        if RESOLVED_USER_KEY in request.environ:
            # A dispatcher in front (exthost's platform) already resolved the session to choose the app; reading
            # it again would cost a second round of queries per request. WSGI environ keys cannot come from a client.
            g.sv_user = request.environ[RESOLVED_USER_KEY]
            return
        token = request.cookies.get(cookie_name)
        g.sv_user = None
        if token:
            with transaction(services.session_factory) as db:
                g.sv_user = services.auth.resolve(db, token)

    @app.before_request
    def _refuse_cross_site_writes() -> None:
        # The session cookie is SameSite=Lax, which still lets another site submit a top-level form (login CSRF,
        # multipart uploads). Browsers name the origin of every such request; one that is not ours is refused.
        if request.method in SAFE_METHODS:
            return
        origin = request.headers.get("Origin")
        if request.headers.get("Sec-Fetch-Site") == "cross-site" or (
            origin is not None and not same_origin(origin, request.host_url)
        ):
            raise ApiError(403, "Cross-site request refused")

    @app.before_request
    def _refuse_nul_in_path() -> None:
        # No id or file name may hold a NUL byte, and PostgreSQL raises on one instead of matching nothing.
        if any(isinstance(value, str) and "\x00" in value for value in (request.view_args or {}).values()):
            raise ApiError(400, "The path contains a NUL character")

    @app.after_request
    def _tag_response(response: Response) -> Response:
        response.headers.setdefault(REQUEST_ID_HEADER, g.get("request_id", ""))
        return response


def _wants_json() -> bool:
    return request.path.startswith("/api") or request.path == "/openapi.json"


def install_error_handlers(app: Flask, services: Services) -> None:
    """The platform's error answers: JSON under /api, the error page elsewhere, nothing internal on a 500."""

    @app.errorhandler(ApiError)
    def _api_error(error: ApiError) -> Response | tuple[str, int]:
        if isinstance(error, FeatureDisabled):
            return Response(status=404)
        if _wants_json() or request.is_json:
            response = jsonify(error.body())
            response.status_code = error.status
            return response
        return render_template("error.html", status=error.status, message=error.message), error.status

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException) -> Response | tuple[str, int]:
        status = error.code or 500
        message = {404: "Not found", 405: "Method not allowed", 413: "Payload too large"}.get(status, error.name)
        if _wants_json():
            response = jsonify({"error": message})
            response.status_code = status
            if status == 405 and error.get_response().headers.get("Allow"):
                response.headers["Allow"] = error.get_response().headers["Allow"]
            return response
        return render_template("error.html", status=status, message=message), status

    @app.errorhandler(Exception)
    def _unexpected(error: Exception) -> Response | tuple[str, int]:
        services.logger.error(
            "unhandled error on %s %s (request %s): %s",
            request.method,
            request.path,
            g.get("request_id"),
            "".join(traceback.format_exception(error)),
        )
        if _wants_json():
            response = jsonify({"error": "Internal server error", "requestId": g.get("request_id")})
            response.status_code = 500
            return response
        return render_template("error.html", status=500, message="Internal server error"), 500
