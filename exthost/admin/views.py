"""The admin page's routes: `/admin` (plugins, features, results, change log), a kept mismatch, and the two actions.

Served by the platform's own app beside `/diagnostics` (exthost.platform), for platform admins only: a visitor who
is not signed in is sent to the login page, a signed-in user without the `platform:admin` role gets a 403 page. Every
post carries the session's CSRF token (exthost.admin.csrf). The actions go through the same code as the CLI: a
plugin is switched with `ExtensionHost.enable`/`disable`, a flag with `exthost.rollout.switch.change_flag` (the
evidence gate; a forced switch needs a reason). A change that succeeds redirects back to the page with a notice; a
refused one renders the page again with the refusal, the form as it was sent and nothing changed.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flask import Blueprint, abort, flash, get_flashed_messages, redirect, render_template, request
from werkzeug.wrappers import Response

from exthost.admin.csrf import FIELD, csrf_token, csrf_valid
from exthost.admin.model import DIFFERENCES_LISTED, difference_rows, plugin_row, request_line, sides
from exthost.errors import ExtHostError, PluginNotFound
from exthost.phase import feature_phases
from exthost.rollout.flags import MODES
from exthost.rollout.flagstore import FlagError
from exthost.rollout.switch import GateRefused, change_flag
from legacy_core.errors import ApiError
from legacy_core.requestctx import current_user, login_redirect
from legacy_core.web.pages import CONTENT_SECURITY_POLICY

if TYPE_CHECKING:
    from exthost.platform import Platform

HERE = Path(__file__).resolve().parent
MISMATCHES_LISTED = 20
CHANGES_LISTED = 15
# Flask's session cookie holds only the admin page's one-shot notices; scoped to /admin, never readable by scripts.
ADMIN_COOKIE: dict[str, Any] = {
    "SESSION_COOKIE_NAME": "sv_admin_notice",
    "SESSION_COOKIE_PATH": "/admin",
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Lax",
}


class _Refused(Exception):
    """An action refused: shown on the page again with its HTTP status, nothing changed."""

    def __init__(self, status: int, message: str, *, form: str | None = None, lines: tuple[str, ...] = ()):
        super().__init__(message)
        self.status = status
        self.message = message
        self.form = form
        self.lines = lines


def _number(name: str, value: str | None) -> float | None:
    if value is None or not value.strip():
        return None
    try:
        return float(value)
    except ValueError:
        raise _Refused(400, f"{name}: {value!r} is not a number; give a percentage from 0 to 100") from None


def make_admin_blueprint(platform: Platform) -> Blueprint:
    """The `/admin` pages of one platform."""
    bp = Blueprint(
        "admin",
        __name__,
        url_prefix="/admin",
        template_folder=str(HERE / "templates"),
        static_folder=str(HERE / "static"),
        static_url_path="/static",
    )
    settings = platform.services.settings
    cookie = settings.AUTH_SESSION_COOKIE_NAME

    def session_token() -> str | None:
        return request.cookies.get(cookie)

    @bp.before_request
    def _admins_only() -> Response | None:
        if request.endpoint == "admin.static":
            return None
        user = current_user()
        if user is None:
            if request.method == "GET":
                return login_redirect()
            raise ApiError(401, "Sign in as a platform admin first")
        if not user.is_admin:
            raise ApiError(403, "The admin page is for platform admins only")
        if request.method == "POST" and not csrf_valid(session_token(), request.form.get(FIELD)):
            raise ApiError(
                403,
                "The form's security token is missing or out of date; nothing was changed. Reload /admin and "
                "try again.",
            )
        return None

    @bp.app_context_processor
    def _signed_in_user() -> dict[str, Any]:
        # The platform's error pages (a 403 here) show who is signed in, as every legacy page does.
        return {"user": current_user()}

    @bp.after_request
    def _page_headers(response: Response) -> Response:
        if response.mimetype == "text/html":
            response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
            response.headers.setdefault("X-Content-Type-Options", "nosniff")
            response.headers.setdefault("Referrer-Policy", "same-origin")
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    def render_page(status: int = 200, refused: _Refused | None = None) -> tuple[str, int]:
        host = platform.host
        host.sync()
        plugins = [
            plugin_row(host.describe(record, with_health=True))
            for record in sorted(host.plugins.values(), key=lambda r: r.name)
        ]
        flags = platform.flags.current()
        phases = feature_phases(platform.flags.session_factory, flags, settings, platform.services.features.names)
        kept = platform.results.mismatches(limit=MISMATCHES_LISTED)
        for row in kept:
            row["rows"] = difference_rows(row["differences"])
        return (
            render_template(
                "admin/index.html",
                csrf=csrf_token(session_token() or ""),
                csrf_field=FIELD,
                plugins=plugins,
                any_signature=any(p.signature is not None for p in plugins),
                default_tenant=settings.TENANT_DEFAULT,
                phases=phases,
                flags={phase.feature: flags.flag(phase.feature) for phase in phases},
                routes=platform.router.routes.by_feature,
                modes=MODES,
                counts=platform.results.counts(),
                mismatches=kept,
                differences_listed=DIFFERENCES_LISTED,
                changes=platform.flags.history(limit=CHANGES_LISTED),
                notices=get_flashed_messages(),
                refused=refused,
                sent=request.form if refused is not None else {},
            ),
            status,
        )

    def acting(action: Callable[[], str]) -> Response | tuple[str, int]:
        try:
            notice = action()
        except _Refused as refused:
            return render_page(refused.status, refused)
        flash(notice)
        return redirect("/admin", code=303)

    @bp.get("")
    def index() -> tuple[str, int]:
        return render_page()

    @bp.post("/plugins/<name>")
    def switch_plugin(name: str) -> Response | tuple[str, int]:
        def run() -> str:
            action = request.form.get("action")
            tenant = (request.form.get("tenant") or "").strip() or settings.TENANT_DEFAULT
            if action not in ("enable", "disable"):
                raise _Refused(400, f"action: {action!r} is neither 'enable' nor 'disable'", form=f"plugin-{name}")
            user = current_user()
            assert user is not None  # _admins_only
            switch = platform.host.enable if action == "enable" else platform.host.disable
            try:
                switch(name, tenant, changed_by=f"{user.email} (admin page)")
            except PluginNotFound as exc:
                raise _Refused(404, str(exc)) from exc
            except ExtHostError as exc:
                raise _Refused(409, f"{action} {name} for {tenant} refused: {exc}", form=f"plugin-{name}") from exc
            return f"{action}d {name} for {tenant}"

        return acting(run)

    @bp.post("/features/<feature>/flag")
    def set_flag(feature: str) -> Response | tuple[str, int]:
        def run() -> str:
            form = request.form
            user = current_user()
            assert user is not None  # _admins_only
            route = form.get("route") or None
            tenants = form.get("tenants")
            try:
                change = change_flag(
                    platform.flags,
                    settings,
                    feature,
                    form.get("mode", ""),
                    route=route,
                    percent=_number("percent", form.get("percent")),
                    tenants=None if tenants is None else [t.strip() for t in tenants.split(",") if t.strip()],
                    sample=_number("sample", form.get("sample")),
                    changed_by=f"{user.email} (admin page)",
                    reason=form.get("reason", ""),
                    force=form.get("force") == "on",
                    routes=platform.router.routes.by_feature.get(feature, ()),
                )
            except GateRefused as exc:
                raise _Refused(
                    409,
                    f"Refused: switching {feature} to {exc.mode} needs evidence on its code in place "
                    f"({exc.code[:12]}), and it is short of the gate:",
                    form=f"feature-{feature}",
                    lines=exc.shortfalls,
                ) from exc
            except FlagError as exc:
                raise _Refused(400, str(exc), form=f"feature-{feature}") from exc
            flag = change.flag
            where = f"{feature} {route}" if route else feature
            forced = " (forced past the evidence gate; the change log keeps the reason)" if change.forced else ""
            return f"{where} is now {flag.mode}{forced}"

        return acting(run)

    @bp.get("/mismatches/<mismatch_id>")
    def mismatch(mismatch_id: str) -> str:
        row = platform.results.mismatch(mismatch_id)
        if row is None:
            abort(404)
        exchange: dict[str, Any] = row["exchange"]
        return render_template(
            "admin/mismatch.html",
            mismatch=row,
            request_line=request_line(exchange),
            sides=sides(exchange),
            rows=difference_rows(row["differences"]),
            rules=exchange.get("rulesApplied", []),
        )

    return bp
