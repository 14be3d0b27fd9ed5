"""Accounts and sessions: register, login, logout, cookie attributes, expiry, 401s and redirects."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import delete, func, select, text

from legacy_core.auth import token_digest
from legacy_core.clock import FixedClock
from legacy_core.models import AuthSession, User, UserRole
from legacy_core.routes.accounts import safe_return_to
from tests.fixtures.app import PASSWORD


def _cookie_header(response, name: str = "svg_session") -> str:
    headers = [value for value in response.headers.getlist("Set-Cookie") if value.startswith(f"{name}=")]
    assert headers, f"no {name} cookie in {response.headers.getlist('Set-Cookie')}"
    return headers[0]


def test_register_creates_user_with_argon2id_hash_and_session_cookie(server, client):
    response = client.post("/register", json={"email": "Ada@Example.test", "password": PASSWORD, "name": "Ada"})
    assert response.status_code == 201
    body = response.get_json()
    assert body["ok"] is True
    assert body["user"]["email"] == "ada@example.test"
    assert "platform:user" in body["user"]["roles"]
    cookie = _cookie_header(response)
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert f"Max-Age={720 * 3600}" in cookie
    with server.services.session_factory() as db:
        user = db.scalar(select(User))
        assert user.password_hash.startswith("$argon2id$")
        assert PASSWORD not in user.password_hash
        token = cookie.split(";")[0].split("=", 1)[1]
        # only a digest of the token is stored
        assert db.get(AuthSession, token_digest(token)) is not None
        assert db.get(AuthSession, token) is None
    assert client.get("/api/me").get_json()["user"]["email"] == "ada@example.test"


@pytest.mark.parametrize(
    "body, field",
    [
        ({"email": "not-an-email", "password": PASSWORD}, "email"),
        ({"email": "a@b.test", "password": "short"}, "password"),
        ({"password": PASSWORD}, "email"),
        ({"email": "a@b.test"}, "password"),
    ],
    ids=["bad-email", "short-password", "no-email", "no-password"],
)
def test_register_rejects_invalid_body_and_stores_nothing(server, client, body, field):
    response = client.post("/register", json=body)
    assert response.status_code == 400
    assert response.get_json()["error"] == "Invalid request"
    assert field in [item["field"] for item in response.get_json()["details"]]
    with server.services.session_factory() as db:
        assert db.scalar(select(func.count()).select_from(User)) == 0


def test_register_rejects_duplicate_email_case_insensitively(api, client):
    api.user("dup@example.test")
    response = client.post("/register", json={"email": "DUP@example.test", "password": PASSWORD})
    assert response.status_code == 409
    assert response.get_json() == {"error": "Email already registered"}


def test_register_rejects_non_object_json(client):
    assert client.post("/register", data="[1,2]", content_type="application/json").status_code == 400
    response = client.post("/register", data="{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.get_json()["error"] == "Request body is not valid JSON"


def test_login_succeeds_with_right_password_and_fails_with_wrong_one(api, server):
    api.user("eve@example.test")
    fresh = server.app.test_client()
    bad = fresh.post("/login", json={"email": "eve@example.test", "password": "wrong password"})
    assert bad.status_code == 401
    assert bad.get_json() == {"error": "Invalid email or password"}
    assert not bad.headers.getlist("Set-Cookie")
    unknown = fresh.post("/login", json={"email": "nobody@example.test", "password": PASSWORD})
    assert unknown.status_code == 401
    good = fresh.post("/login", json={"email": "EVE@example.test", "password": PASSWORD})
    assert good.status_code == 200
    assert good.get_json()["user"]["email"] == "eve@example.test"
    assert fresh.get("/api/me").status_code == 200


def test_login_form_redirects_to_safe_return_to(api, server):
    api.user("form@example.test")
    fresh = server.app.test_client()
    response = fresh.post(
        "/login", data={"email": "form@example.test", "password": PASSWORD, "return_to": "/projects/p_1/board"}
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/projects/p_1/board"
    evil = fresh.post("/login", data={"email": "form@example.test", "password": PASSWORD, "return_to": "//evil.test"})
    assert evil.headers["Location"] == "/projects"


RETURN_TO_PIECES = st.sampled_from(
    ["/", "//", "\\", "\t", "\n", "\r", " ", "evil.test", "http:", "%2F", "@", "?", "#", "a"]
)


def _leaves_site(location: str) -> bool:
    # What a browser does with the Location header: tabs and newlines vanish, backslashes act as slashes.
    cleaned = location.replace("\t", "").replace("\n", "").replace("\r", "").replace("\\", "/").strip()
    parts = urlsplit(cleaned)
    return bool(parts.scheme or parts.netloc) or not cleaned.startswith("/")


@pytest.mark.parametrize(
    "value",
    [
        "//evil.test",
        "/\t/evil.test",
        "/\n/evil.test",
        "\\\\evil.test",
        "/\\evil.test",
        "https://evil.test/",
        " //evil.test",
    ],
    ids=["double-slash", "tab", "newline", "backslashes", "slash-backslash", "absolute", "leading-space"],
)
def test_login_form_never_redirects_off_site(api, server, value):
    api.user("form2@example.test")
    response = server.app.test_client().post(
        "/login", data={"email": "form2@example.test", "password": PASSWORD, "return_to": value}
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/projects"


@given(st.lists(RETURN_TO_PIECES, max_size=8).map("".join))
def test_safe_return_to_never_leaves_the_site(value):
    target = safe_return_to(value)
    assert not _leaves_site(target)
    assert target in (value, "/projects")


def test_logout_ends_session_and_clears_cookie(api, server):
    client = api.user()
    assert client.get("/api/me").status_code == 200
    response = client.get("/logout")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login"
    assert client.get("/api/me").status_code == 401
    with server.services.session_factory() as db:
        assert db.scalar(select(func.count()).select_from(AuthSession)) == 0


def test_api_without_session_answers_401_json(client):
    for path in ("/api/me", "/api/projects", "/api/projects/p_x", "/api/projects/p_x/shares"):
        response = client.get(path)
        assert response.status_code == 401, path
        assert response.get_json() == {"error": "Unauthorized"}


def test_forged_cookie_is_not_a_session(client):
    client.set_cookie("svg_session", "forged-token")
    assert client.get("/api/me").status_code == 401


def test_expired_session_is_rejected_and_deleted(server_factory, settings_factory):
    clock = FixedClock(start=datetime(2026, 1, 1, tzinfo=UTC), step=timedelta(0))
    server = server_factory(settings_factory(AUTH_SESSION_TTL_HOURS=1), clock=clock)
    client = server.app.test_client()
    client.post("/register", json={"email": "t@example.test", "password": PASSWORD})
    assert client.get("/api/me").status_code == 200
    clock.start += timedelta(hours=1, seconds=1)
    assert client.get("/api/me").status_code == 401
    with server.services.session_factory() as db:
        assert db.scalar(select(func.count()).select_from(AuthSession)) == 0


def test_session_resolve_reads_roles_and_user_afresh_on_every_request(server):
    # The session, its user and the roles are read in one query per request, never cached: a role granted or
    # revoked, or a user removed, shows on the very next request (in every worker process).
    client = server.app.test_client()
    client.post("/register", json={"email": "r@example.test", "password": PASSWORD})
    assert client.get("/api/me").get_json()["user"]["roles"] == ["platform:user"]
    with server.services.session_factory() as db, db.begin():
        user = db.scalar(select(User).where(User.email == "r@example.test"))
        assert user is not None
        db.add(UserRole(user_id=user.id, role="platform:admin"))
    assert client.get("/api/me").get_json()["user"]["roles"] == ["platform:admin", "platform:user"]
    with server.services.session_factory() as db, db.begin():
        db.execute(delete(UserRole).where(UserRole.role == "platform:admin"))
    assert client.get("/api/me").get_json()["user"]["roles"] == ["platform:user"]
    with server.services.session_factory() as db, db.begin():
        db.execute(delete(UserRole))
    assert client.get("/api/me").get_json()["user"]["roles"] == []
    with server.services.session_factory() as db, db.begin():
        db.execute(text("PRAGMA foreign_keys = OFF"))
        db.execute(delete(User))
    assert client.get("/api/me").status_code == 401


def test_login_sweeps_expired_sessions_of_other_users(server_factory, settings_factory):
    clock = FixedClock(start=datetime(2026, 1, 1, tzinfo=UTC), step=timedelta(0))
    server = server_factory(settings_factory(AUTH_SESSION_TTL_HOURS=1), clock=clock)
    first = server.app.test_client()
    first.post("/register", json={"email": "one@example.test", "password": PASSWORD})
    clock.start += timedelta(hours=2)
    second = server.app.test_client()
    second.post("/register", json={"email": "two@example.test", "password": PASSWORD})
    with server.services.session_factory() as db:
        assert db.scalar(select(func.count()).select_from(AuthSession)) == 1


def test_custom_cookie_name_is_used(server_factory, settings_factory):
    server = server_factory(settings_factory(AUTH_SESSION_COOKIE_NAME="custom_sid"))
    client = server.app.test_client()
    response = client.post("/register", json={"email": "c@example.test", "password": PASSWORD})
    assert "HttpOnly" in _cookie_header(response, "custom_sid")
    assert client.get("/api/me").status_code == 200


def test_unknown_api_path_gives_json_404_and_page_path_gives_html(client):
    response = client.get("/api/definitely/not/here")
    assert response.status_code == 404
    assert response.get_json() == {"error": "Not found"}
    page = client.get("/definitely-not-here")
    assert page.status_code == 404
    assert page.mimetype == "text/html"


def test_unhandled_error_gives_json_500_without_internals(server):
    @server.app.get("/api/boom")
    def boom():
        raise RuntimeError("secret internal detail")

    response = server.app.test_client().get("/api/boom")
    assert response.status_code == 500
    body = response.get_json()
    assert body["error"] == "Internal server error"
    assert "secret" not in response.get_data(as_text=True)
    assert body["requestId"] == response.headers["X-Request-Id"]


def test_health_answers_without_session(client):
    assert client.get("/health").get_json() == {"ok": True}


def test_deeply_nested_json_is_a_400_not_a_crash(client):
    body = "[" * 50000 + "]" * 50000
    for path in ("/register", "/login"):
        response = client.post(path, data=body, content_type="application/json")
        assert response.status_code == 400, path
        assert response.get_json() == {"error": "Request body is nested too deeply"}


def test_nul_in_account_fields_is_refused(server, client):
    response = client.post("/register", json={"email": "nul@example.test", "password": "pass\x00word1", "name": "N"})
    assert response.status_code == 400
    assert response.get_json()["details"] == [
        {"field": "password", "message": "Value error, must not contain a NUL character"}
    ]
    with server.services.session_factory() as db:
        assert db.scalar(select(func.count()).select_from(User)) == 0
