"""Per-request access to the app's services and the signed-in user (Flask's `g`, never module state)."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast
from urllib.parse import quote

from flask import current_app, g, redirect, request
from werkzeug.wrappers import Response

from legacy_core.auth import CurrentUser
from legacy_core.errors import ApiError
from legacy_core.services import Services

F = TypeVar("F", bound=Callable[..., Any])
EXTENSION_KEY = "sovereign.services"


def get_services() -> Services:
    return cast(Services, current_app.extensions[EXTENSION_KEY])


def current_user() -> CurrentUser | None:
    return cast(CurrentUser | None, g.get("sv_user"))


def require_user() -> CurrentUser:
    """The signed-in user, or a 401 for the API."""
    user = current_user()
    if user is None:
        raise ApiError(401, "Unauthorized")
    return user


def login_redirect() -> Response:
    target = request.full_path if request.query_string else request.path
    return redirect(f"/login?return_to={quote(target, safe='/')}")


def page_login_required(view: F) -> F:
    """For web pages: without a session, redirect to the login page and come back afterwards."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if current_user() is None:
            return login_redirect()
        return view(*args, **kwargs)

    return cast(F, wrapper)
