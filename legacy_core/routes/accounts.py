"""Accounts: register, login, logout and `/api/me`; JSON for API clients, forms and redirects for the pages."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, redirect, render_template, request
from pydantic import BaseModel, ConfigDict, Field, field_validator
from werkzeug.wrappers import Response

from legacy_core.db import transaction
from legacy_core.errors import ApiError, EmailTaken
from legacy_core.http import Text, json_object, json_response, parse
from legacy_core.requestctx import get_services, require_user
from legacy_core.services import Services


class RegisterBody(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True)

    email: Text = Field(min_length=3, max_length=254)
    password: Text = Field(min_length=8, max_length=1024)
    name: Text = Field(default="", max_length=120)

    @field_validator("email")
    @classmethod
    def _looks_like_email(cls, value: str) -> str:
        local, _, domain = value.partition("@")
        if not local or "." not in domain or " " in value:
            raise ValueError(f"{value!r} is not an email address")
        return value.lower()


class LoginBody(BaseModel):
    email: Text = Field(min_length=1, max_length=254)
    password: Text = Field(min_length=1, max_length=1024)


def safe_return_to(value: str | None) -> str:
    """Only same-site paths are followed after login, so the parameter cannot send users elsewhere.

    Browsers drop tabs and newlines inside URLs and treat `\\` like `/`, so `/\t/evil.test` would leave the
    site as `//evil.test`: any whitespace, control character or backslash refuses the value outright.
    """
    default = "/projects"
    if not value or any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 or ch == "\\" for ch in value):
        return default
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or not value.startswith("/") or value.startswith("//"):
        return default
    return value


def _is_form() -> bool:
    return request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data")


def _body() -> dict[str, Any]:
    return dict(request.form) if _is_form() else json_object()


def _set_session_cookie(response: Response, services: Services, token: str) -> None:
    settings = services.settings
    max_age = settings.AUTH_SESSION_TTL_HOURS * 3600
    response.set_cookie(
        settings.AUTH_SESSION_COOKIE_NAME,
        token,
        max_age=max_age,
        # From the clock service, as every other time the platform shows: werkzeug would take the wall clock.
        expires=services.clock.now() + timedelta(seconds=max_age),
        httponly=True,
        samesite="Lax",
        secure=settings.AUTH_COOKIE_SECURE,
        path="/",
    )


def make_accounts_blueprint() -> Blueprint:
    bp = Blueprint("accounts", __name__)

    @bp.post("/register")
    def register() -> Response | tuple[str, int]:
        services = get_services()
        form = _is_form()
        try:
            body = parse(RegisterBody, _body())
        except ApiError as exc:
            if form:
                return render_template("login.html", mode="register", error=_first_detail(exc)), 400
            raise
        try:
            with transaction(services.session_factory) as db:
                tenant = services.tenancy.ensure(db, services.tenancy.default)
                user = services.auth.create_user(
                    db,
                    email=body.email,
                    password=body.password,
                    name=body.name or body.email.split("@")[0],
                    tenant_id=tenant.id,
                    roles=set(),
                )
                token = services.auth.start_session(db, user)
                current = services.auth.current_user(db, user)
        except EmailTaken:
            if form:
                return render_template("login.html", mode="register", error="Email already registered"), 409
            raise ApiError(409, "Email already registered") from None
        if form:
            response = redirect(safe_return_to(request.args.get("return_to")))
        else:
            response = json_response({"ok": True, "user": current.public()}, 201)
        _set_session_cookie(response, services, token)
        return response

    @bp.post("/login")
    def login() -> Response | tuple[str, int]:
        services = get_services()
        form = _is_form()
        try:
            body = parse(LoginBody, _body())
        except ApiError as exc:
            if form:
                return render_template("login.html", mode="login", error=_first_detail(exc)), 400
            raise
        with transaction(services.session_factory) as db:
            user = services.auth.authenticate(db, body.email, body.password)
            if user is None:
                if form:
                    return render_template("login.html", mode="login", error="Invalid email or password"), 401
                raise ApiError(401, "Invalid email or password")
            token = services.auth.start_session(db, user)
            current = services.auth.current_user(db, user)
        if form:
            response = redirect(safe_return_to(request.values.get("return_to")))
        else:
            response = json_response({"ok": True, "user": current.public()})
        _set_session_cookie(response, services, token)
        return response

    @bp.get("/logout")
    def logout() -> Response:
        services = get_services()
        cookie = services.settings.AUTH_SESSION_COOKIE_NAME
        with transaction(services.session_factory) as db:
            services.auth.end_session(db, request.cookies.get(cookie))
        response = redirect("/login")
        response.delete_cookie(cookie, path="/", httponly=True, samesite="Lax")
        return response

    @bp.get("/api/me")
    def me() -> Response:
        return json_response({"user": require_user().public()})

    return bp


def _first_detail(error: ApiError) -> str:
    if isinstance(error.details, list) and error.details:
        first = error.details[0]
        return f"{first['field']}: {first['message']}"
    return error.message
