"""The admin page at /admin: who may see and act, the CSRF token, the evidence gate and plugin switches through the
same rules as `sv`, what it shows (plugins, phase, results, mismatches side by side), and a real browser."""

from __future__ import annotations

import html
import json
import os
import re
import subprocess
import sys
import urllib.request
import weakref
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exthost.admin.csrf import FIELD, csrf_token, csrf_valid
from exthost.deploy import upgrade_schema
from exthost.evidence.compare import CapturedRequest, CapturedResponse, Difference
from exthost.evidence.har import read_har
from exthost.evidence.recorder import set_recording
from exthost.platform import Platform
from exthost.registry import plugin_states
from exthost.rollout.results import ShadowResults
from legacy_core.app import build_services
from legacy_core.auth import PLATFORM_ADMIN
from legacy_core.db import make_engine
from legacy_core.models import User, UserRole
from legacy_core.settings import Settings
from tests.exthost.test_cli_plugins import FAILING_ENABLE_CODE
from tests.exthost.test_evidence import copy_plugins
from tests.exthost.test_gate import RECORDINGS, record_enough, sv
from tests.exthost.test_platform import add_tenant, sign_up
from tests.exthost.test_serve import eventually, free_port, status_of
from tests.fixtures.app import BUNDLED_PLUGINS, PASSWORD, TEST_ARGON2_KIB
from tests.fixtures.browser import Browser, Page
from tests.fixtures.plugins import manifest_for, write_plugin
from tests.legacy_core.test_web_pages import png_size, sign_in

ADMIN = "admin@example.test"
TOKEN = re.compile(rf'name="{FIELD}" value="([0-9a-f]+)"')


@pytest.fixture
def settings(settings_factory: Callable[..., Settings], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The repository's plugins (copied), a test plugin `hello`, a two-session corpus, and `sv` pointing at them."""
    recordings = tmp_path / "recordings"
    for name in RECORDINGS:
        (recordings / name).parent.mkdir(parents=True, exist_ok=True)
        (recordings / name).write_text('{"log": {"entries": []}}', encoding="utf-8")
    plugins = copy_plugins(tmp_path / "plugins-copy")
    write_plugin(plugins, "hello")
    settings = settings_factory(
        PLUGINS_DIR=plugins,
        PLUGIN_ENTRY_POINTS=False,
        PLUGIN_POLL_SECONDS=0,
        FLAGS_POLL_SECONDS=0,
        PARITY_RECORDINGS_DIR=recordings,
    )
    for name in ("DATABASE_URL", "DATA_DIR", "PLUGINS_DIR", "PLUGIN_ENTRY_POINTS", "PARITY_RECORDINGS_DIR"):
        monkeypatch.setenv(name, str(getattr(settings, name)))
    return settings


@pytest.fixture
def platform(settings: Settings, platform_factory: Callable[..., Platform]) -> Platform:
    return platform_factory(settings)


def text_of(response: Any) -> str:
    """The page's text as a reader sees it: tags dropped, entities decoded, whitespace folded."""
    body = response.get_data(as_text=True)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", body)).split())


def token_of(client: Any) -> str:
    page = client.get("/admin")
    assert page.status_code == 200, page.get_data(as_text=True)[:500]
    found = TOKEN.search(page.get_data(as_text=True))
    assert found is not None, "the page carries no CSRF token"
    return found.group(1)


def flag_mode(feature: str = "papertrail") -> str:
    return next(str(f["mode"]) for f in json.loads(sv("flags:list", "--json").output) if f["feature"] == feature)


def changes(feature: str = "papertrail") -> list[dict[str, Any]]:
    listed = json.loads(sv("flags:list", "--json", "--history").output)
    return [c for c in listed["history"] if c["feature"] == feature]


def register(base: str, email: str) -> None:
    """An account made over HTTP, as a person would."""
    body = json.dumps({"email": email, "password": PASSWORD, "name": email}).encode()
    request = urllib.request.Request(f"{base}/register", data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 201


def make_admin(settings: Settings, email: str) -> None:
    engine = make_engine(settings.DATABASE_URL)
    try:
        with engine.begin() as connection:
            user_id = connection.execute(User.__table__.select().where(User.email == email)).one().id
            connection.execute(UserRole.__table__.insert().values(user_id=user_id, role=PLATFORM_ADMIN))
    finally:
        engine.dispose()


def post_flag(client: Any, token: str | None, feature: str = "papertrail", **fields: str) -> Any:
    form = {"mode": "legacy", "route": "", "percent": "", "tenants": "", "sample": "", "reason": "", **fields}
    if token is not None:
        form[FIELD] = token
    return client.post(f"/admin/features/{feature}/flag", data=form)


# --- who may see and act -------------------------------------------------------------------------------------------


def test_admin_page_sends_an_anonymous_visitor_to_the_login_page(platform: Platform) -> None:
    anonymous = platform.test_client()
    response = anonymous.get("/admin")
    assert response.status_code == 302 and response.headers["Location"] == "/login?return_to=/admin"
    refused = post_flag(anonymous, "0" * 64, mode="shadow")
    assert refused.status_code == 401
    assert anonymous.post("/admin/plugins/hello", data={"action": "enable"}).status_code == 401
    assert flag_mode() == "legacy" and changes() == []
    assert platform.host.plugins["hello"].display_state() == "registered"


def test_admin_page_is_forbidden_to_a_signed_in_user_who_is_not_a_platform_admin(platform: Platform) -> None:
    user = sign_up(platform, "user@example.test")
    response = user.get("/admin")
    assert response.status_code == 403
    assert "The admin page is for platform admins only" in text_of(response)
    assert "user@example.test Log out" in text_of(response)  # the error page still says who is signed in
    assert "papertrail" not in text_of(response) and FIELD not in response.get_data(as_text=True)
    # Even with the token of the user's own session, a post is refused before anything runs.
    own = csrf_token(user.get_cookie(platform.services.settings.AUTH_SESSION_COOKIE_NAME).value)
    assert post_flag(user, own, mode="shadow").status_code == 403
    assert user.post("/admin/plugins/hello", data={"action": "enable", FIELD: own}).status_code == 403
    assert user.get("/admin/mismatches/mm_1").status_code == 403
    assert flag_mode() == "legacy" and changes() == []


def test_admin_page_shows_plugins_phase_and_counts_to_a_platform_admin(settings: Settings, platform: Platform) -> None:
    platform.host.enable("hello")
    platform.results.count("papertrail", "/api/projects/<project_id>/papertrail/board", "GET", "shadow", "match", 7)
    platform.results.flush()
    admin = sign_up(platform, ADMIN, admin=True)
    response = admin.get("/admin")
    assert response.status_code == 200
    assert response.headers["Content-Security-Policy"].startswith("default-src 'self'")
    assert response.headers["Cache-Control"] == "no-store"
    page = text_of(response)
    assert "Platform admin" in page and ADMIN in page
    assert "hello enabled 1.0.0 unchecked tenant-0" in page
    assert '{"enabledFor": 1, "ok": true}' in page  # the plugin's own health report
    assert "papertrail registered" in page and "blog registered" in page
    assert "signature" in page  # the host reports each plugin's (checks off here: "unchecked")
    # Each feature's phase in exactly the words of `sv phase:status` (its plain output, line by line).
    status = sv("phase:status")
    assert status.exit_code == 0, status.output
    for line in status.output.splitlines():
        name, _, value = line.strip().partition(": ")
        if name in ("mode", "code"):
            continue
        if value.startswith("not ready: "):  # the page lists the shortfalls one per line
            for shortfall in value.removeprefix("not ready: ").split("; "):
                assert shortfall in page, shortfall
        elif value:
            assert f"{name} {value}" in page, line
    assert "GET /api/projects/<project_id>/papertrail/board shadow match 7" in page


def test_admin_page_shows_the_signature_status_when_the_host_reports_one(
    platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    describe = platform.host.describe

    def signed(record: Any, **kwargs: Any) -> dict[str, Any]:
        info = describe(record, **kwargs)
        statuses: dict[str, Any] = {"hello": "valid", "blog": {"status": "untrusted key", "key": "k1"}}
        info["signature"] = statuses.get(record.name, "unsigned")
        return info

    monkeypatch.setattr(platform.host, "describe", signed)
    response = sign_up(platform, ADMIN, admin=True).get("/admin")
    page = text_of(response)
    assert "signature" in page
    assert "blog registered 1.0.0 untrusted key -" in page
    assert "hello registered 1.0.0 valid -" in page and "papertrail registered 1.0.0 unsigned -" in page
    body = response.get_data(as_text=True)
    assert '<td class="signature bad">untrusted key</td>' in body and '<td class="signature good">valid</td>' in body


# --- CSRF -------------------------------------------------------------------------------------------------------------


def test_admin_posts_without_the_sessions_csrf_token_are_refused_and_change_nothing(platform: Platform) -> None:
    admin = sign_up(platform, ADMIN, admin=True)
    other = sign_up(platform, "other-admin@example.test", admin=True)
    others_token = token_of(other)
    mine = token_of(admin)
    assert mine != others_token  # one token per session
    for token in (None, "", "0" * 64, others_token, mine[:-1], mine.upper()):
        response = post_flag(admin, token, mode="shadow")
        assert response.status_code == 403, token
        assert "security token is missing or out of date" in text_of(response)
        refused = admin.post("/admin/plugins/hello", data={"action": "enable", **({FIELD: token} if token else {})})
        assert refused.status_code == 403
    assert flag_mode() == "legacy" and changes() == []
    assert platform.host.plugins["hello"].display_state() == "registered"
    # A cross-site form post is refused by the platform's origin check even with the right token.
    cross = admin.post(
        "/admin/features/papertrail/flag",
        data={"mode": "shadow", FIELD: mine},
        headers={"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"},
    )
    assert cross.status_code == 403 and flag_mode() == "legacy"
    assert post_flag(admin, mine, mode="shadow").status_code == 303
    assert flag_mode() == "shadow"


@given(st.text(max_size=80))
def test_csrf_valid_accepts_only_the_token_of_the_session(submitted: str) -> None:
    session = "s3cr3t-session-token"
    assert csrf_valid(session, submitted) == (submitted == csrf_token(session))
    assert csrf_valid(session, csrf_token(session))
    assert not csrf_valid(None, csrf_token(session)) and not csrf_valid("", submitted)


# --- flag changes through the gate -----------------------------------------------------------------------------------


def test_admin_flag_change_to_plugin_is_refused_by_the_gate_and_the_page_says_why(platform: Platform) -> None:
    admin = sign_up(platform, ADMIN, admin=True)
    response = post_flag(admin, token_of(admin), mode="plugin", reason="looks fine")
    assert response.status_code == 409
    page = text_of(response)
    assert "Refused: switching papertrail to plugin needs evidence on its code in place" in page
    assert "2 of 2 recorded sessions have not matched on this code" in page
    assert "0 generated cases, 500 needed" in page and "Nothing was changed." in page
    # The refused form keeps what was sent, so the admin can add a reason and force, or leave it.
    assert re.search(r'<option value="plugin" selected>', response.get_data(as_text=True))
    assert 'value="looks fine"' in response.get_data(as_text=True)
    assert flag_mode() == "legacy" and changes() == []


def test_admin_flag_change_passes_the_gate_on_enough_evidence(settings: Settings, platform: Platform) -> None:
    record_enough(settings)
    admin = sign_up(platform, ADMIN, admin=True)
    response = post_flag(admin, token_of(admin), mode="plugin", reason="evidence complete")
    assert response.status_code == 303 and response.headers["Location"] == "/admin"
    [change] = changes()
    assert change["mode"] == "plugin" and change["forced"] is False and change["reason"] == "evidence complete"


def test_admin_forced_flip_needs_a_reason_and_is_recorded_as_forced(platform: Platform) -> None:
    admin = sign_up(platform, ADMIN, admin=True)
    token = token_of(admin)
    bare = post_flag(admin, token, mode="plugin", force="on", reason="  ")
    assert bare.status_code == 400
    assert "past the evidence gate needs a reason" in text_of(bare)
    assert flag_mode() == "legacy" and changes() == []

    forced = post_flag(admin, token, mode="plugin", force="on", reason="incident 42: legacy export down")
    assert forced.status_code == 303
    assert flag_mode() == "plugin"
    [change] = changes()
    assert change["forced"] is True and change["changed_by"] == f"{ADMIN} (admin page)"
    assert str(change["reason"]).startswith("incident 42: legacy export down; forced past the evidence gate: 2 of 2")
    page = text_of(admin.get("/admin"))
    assert "papertrail is now plugin (forced past the evidence gate; the change log keeps the reason)" in page
    assert "legacy plugin admin@example.test (admin page)" in page and "FORCED incident 42" in page
    # The notice is shown once.
    assert "papertrail is now plugin" not in text_of(admin.get("/admin"))


def test_admin_canary_share_and_tenants_are_stored_like_the_cli_stores_them(platform: Platform) -> None:
    admin = sign_up(platform, ADMIN, admin=True)
    token = token_of(admin)
    response = post_flag(admin, token, mode="canary", percent="25", tenants=" tenant-a, ,tenant-b ")
    assert response.status_code == 303
    flag = platform.flags.current().flag("papertrail")
    assert flag.mode == "canary" and flag.percent == 25 and flag.tenants == {"tenant-a", "tenant-b"}
    board = "/api/projects/<project_id>/papertrail/board"
    assert post_flag(admin, token, mode="shadow", route=board, sample="50").status_code == 303
    assert platform.flags.current().flag("papertrail", board).sample == 50
    for fields, message in [
        ({"mode": "canary", "percent": "lots"}, "percent: 'lots' is not a number"),
        ({"mode": "canary", "percent": "150"}, "percent"),
        ({"mode": "sideways"}, "unknown mode 'sideways'"),
        ({"mode": "shadow", "route": "/nope"}, "feature 'papertrail' has no route '/nope'"),
    ]:
        refused = post_flag(admin, token, **fields)
        assert refused.status_code == 400, fields
        assert message in text_of(refused)
    assert post_flag(admin, token, "nofeature", mode="shadow").status_code == 400
    assert len(changes()) == 2 and flag_mode() == "canary"


_ADMINS: weakref.WeakKeyDictionary[Platform, Any] = weakref.WeakKeyDictionary()


@given(percent=st.one_of(st.text(max_size=12), st.floats().map(str), st.integers(-5, 105).map(str)))
def test_admin_any_percent_is_stored_or_refused_whole(platform: Platform, percent: str) -> None:
    if platform not in _ADMINS:  # one admin per platform; hypothesis runs many examples on it
        _ADMINS[platform] = sign_up(platform, ADMIN, admin=True)
    admin = _ADMINS[platform]
    before = platform.flags.current().flag("papertrail")
    response = post_flag(admin, token_of(admin), mode="canary", percent=percent)
    after = platform.flags.current().flag("papertrail")
    if response.status_code == 303:
        assert after.mode == "canary"
        assert after.percent == (float(percent) if percent.strip() else before.percent)
    else:
        assert response.status_code == 400, response.status_code
        assert "percent" in text_of(response) and "Nothing was changed." in text_of(response)
        assert after == before


def test_cli_force_without_a_reason_is_a_usage_error(settings: Settings) -> None:
    result = sv("flags:set", "papertrail", "plugin", "--force")
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "needs a reason" in result.output and "--reason" in result.output
    assert flag_mode() == "legacy" and changes() == []


# --- plugin switches -------------------------------------------------------------------------------------------------


def test_admin_enables_and_disables_a_plugin_for_a_tenant(settings: Settings, platform: Platform) -> None:
    admin = sign_up(platform, ADMIN, admin=True)
    token = token_of(admin)
    anonymous = platform.test_client()
    assert anonymous.get("/api/hello/greet").status_code == 404
    enabled = admin.post("/admin/plugins/hello", data={"action": "enable", "tenant": "", FIELD: token})
    assert enabled.status_code == 303
    assert anonymous.get("/api/hello/greet").get_json() == {"greeting": "hello", "tenant": "tenant-0"}
    page = text_of(admin.get("/admin"))
    assert "enabled hello for tenant-0" in page and "hello enabled 1.0.0 unchecked tenant-0" in page
    with platform.services.session_factory() as db:
        row = db.execute(plugin_states.select().where(plugin_states.c.plugin == "hello")).one()
    assert row.enabled and row.changed_by == f"{ADMIN} (admin page)"

    add_tenant(platform, "tenant-x")
    other = admin.post("/admin/plugins/hello", data={"action": "enable", "tenant": "tenant-x", FIELD: token})
    assert other.status_code == 303
    assert platform.host.plugins["hello"].tenants == {"tenant-0", "tenant-x"}
    disabled = admin.post("/admin/plugins/hello", data={"action": "disable", "tenant": "tenant-0", FIELD: token})
    assert disabled.status_code == 303
    assert anonymous.get("/api/hello/greet").status_code == 404
    assert platform.host.plugins["hello"].tenants == {"tenant-x"}

    unknown = admin.post("/admin/plugins/hello", data={"action": "enable", "tenant": "tenant-q", FIELD: token})
    assert unknown.status_code == 409 and "no tenant 'tenant-q'" in text_of(unknown)
    missing = admin.post("/admin/plugins/nope", data={"action": "enable", FIELD: token})
    assert missing.status_code == 404
    bad = admin.post("/admin/plugins/hello", data={"action": "reboot", FIELD: token})
    assert bad.status_code == 400 and "'reboot' is neither 'enable' nor 'disable'" in text_of(bad)


def test_admin_enable_whose_hook_raises_is_refused_and_changes_nothing(
    settings: Settings, platform_factory: Any
) -> None:
    write_plugin(settings.PLUGINS_DIR, "grumpy", FAILING_ENABLE_CODE.replace("/api/hello", "/api/grumpy"))
    platform = platform_factory(settings)
    admin = sign_up(platform, ADMIN, admin=True)
    refused = admin.post("/admin/plugins/grumpy", data={"action": "enable", FIELD: token_of(admin)})
    assert refused.status_code == 409
    page = text_of(refused)
    assert "enable grumpy for tenant-0 refused" in page and "the licence server is unreachable" in page
    assert platform.test_client().get("/api/grumpy/greet").status_code == 404
    with platform.services.session_factory() as db:
        assert db.execute(plugin_states.select().where(plugin_states.c.plugin == "grumpy")).first() is None


# --- kept mismatches -------------------------------------------------------------------------------------------------


def keep_mismatch(platform: Platform) -> str:
    return keep_mismatch_in(platform.results)


def keep_mismatch_in(results: ShadowResults) -> str:
    """A kept shadow mismatch of the board route: one difference, markup in the plugin's value, a cookie sent."""
    request = CapturedRequest("GET", "/api/projects/p1/papertrail/board", headers=(("Cookie", "svg_session=secret"),))
    legacy = CapturedResponse(200, (("Content-Type", "application/json"),), b'{"title": "Harbour", "n": 1}')
    plugin = CapturedResponse(200, (("Content-Type", "application/json"),), b'{"title": "<b>Harbor</b>", "n": 1}')
    return results.keep(
        feature="papertrail",
        route="/api/projects/<project_id>/papertrail/board",
        mode="shadow",
        outcome="mismatch",
        request=request,
        primary_side="legacy",
        primary=legacy,
        candidate=plugin,
        differences=[Difference("/body/title", "Harbour", "<b>Harbor</b>")],
        started=datetime(2026, 12, 6, 12, 0, tzinfo=UTC),
    )


def test_admin_page_shows_kept_mismatches_side_by_side(platform: Platform) -> None:
    mismatch_id = keep_mismatch(platform)
    admin = sign_up(platform, ADMIN, admin=True)
    response = admin.get("/admin")
    body = response.get_data(as_text=True)
    # One row per difference: where, the legacy value, the plugin value, in that order; markup shown as text.
    assert re.search(
        r"<tr><td><code>/body/title</code></td><td><pre>Harbour</pre></td><td><pre>&lt;b&gt;Harbor&lt;/b&gt;</pre></td></tr>",
        body,
    )
    assert "<b>Harbor</b>" not in body
    detail = admin.get(f"/admin/mismatches/{mismatch_id}")
    assert detail.status_code == 200
    page = text_of(detail)
    assert "GET /api/projects/p1/papertrail/board" in page and f"sv shadow:export {mismatch_id}" in page
    sides = re.findall(r'data-side="(\w+)"', detail.get_data(as_text=True))
    assert sides == ["legacy", "plugin"]
    assert '"title": "Harbour"' in page and '"title": "<b>Harbor</b>"' in page
    assert "secret" not in detail.get_data(as_text=True)  # redacted before it was kept
    assert admin.get("/admin/mismatches/mm_nope").status_code == 404


def test_a_plugin_may_not_mount_under_the_admin_page(settings: Settings, platform_factory: Any) -> None:
    write_plugin(settings.PLUGINS_DIR, "sneaky", manifest=manifest_for("sneaky", mounts={"web": "/admin/sneaky"}))
    platform = platform_factory(settings)
    record = platform.host.plugins["sneaky"]
    assert record.state == "invalid" and "overlaps the host's /admin" in str(record.reason)


def test_admin_pages_are_never_recorded(platform: Platform, settings: Settings) -> None:
    admin = sign_up(platform, ADMIN, admin=True)
    token = token_of(admin)
    set_recording(platform.services.session_factory, directory=settings.recording_dir)
    admin.get("/admin")
    post_flag(admin, token, mode="shadow")
    admin.get("/openapi.json")  # a core route: recorded (/health and /metrics, the operator's own, are not)
    assert platform.recorder.drain()
    exchanges = [request.path for path in settings.recording_dir.glob("*.har") for request, _ in read_har(path)]
    assert exchanges == ["/openapi.json"] and flag_mode() == "shadow"


@pytest.mark.postgres
def test_admin_changes_on_one_worker_reach_another_on_postgresql(
    settings_factory: Callable[..., Settings], platform_factory: Callable[..., Platform], postgres_url: str
) -> None:
    engine = make_engine(postgres_url)
    upgrade_schema(engine, BUNDLED_PLUGINS)
    engine.dispose()
    plugins = settings_factory().PLUGINS_DIR
    write_plugin(plugins, "hello")
    settings = settings_factory(
        DATABASE_URL=postgres_url,
        PLUGINS_DIR=plugins,
        PLUGIN_ENTRY_POINTS=False,
        PLUGIN_POLL_SECONDS=0,
        FLAGS_POLL_SECONDS=0,
    )
    one, two = platform_factory(settings, name="one"), platform_factory(settings, name="two")
    admin = sign_up(one, ADMIN, admin=True)
    token = token_of(admin)
    assert post_flag(admin, token, mode="plugin", force="on", reason="incident 7").status_code == 303
    assert admin.post("/admin/plugins/hello", data={"action": "enable", FIELD: token}).status_code == 303
    # The other worker's page (the same session, its cookie sent there) shows both changes, read from PostgreSQL.
    elsewhere = two.test_client()
    cookie = settings.AUTH_SESSION_COOKIE_NAME
    elsewhere.set_cookie(cookie, admin.get_cookie(cookie).value)
    page = text_of(elsewhere.get("/admin"))
    assert "papertrail plugin" in page and "FORCED incident 7; forced past the evidence gate" in page
    assert "hello enabled 1.0.0 unchecked tenant-0" in page
    assert two.test_client().get("/api/hello/greet").status_code == 200
    # The token is the session's, not the worker's: a post there is accepted.
    assert post_flag(elsewhere, token, mode="legacy", reason="back").status_code == 303
    assert one.flags.current().flag("papertrail").mode == "legacy"


# --- a real browser against `sv serve` --------------------------------------------------------------------------------


def click_and_wait(page: Page, selector: str) -> None:
    page.submit_and_wait(f"document.querySelector({selector!r}).click()")


def fill_flag_form(page: Page, feature: str, **values: str | bool) -> None:
    script = [f"const f = document.getElementById('flag-{feature}');"]
    for name, value in values.items():
        if isinstance(value, bool):
            script.append(f"f.elements[{name!r}].checked = {'true' if value else 'false'};")
        else:
            script.append(f"f.elements[{name!r}].value = {value!r};")
    page.evaluate("".join(script))


@pytest.mark.browser
@pytest.mark.slow
def test_browser_admin_signs_in_and_changes_a_flag_through_the_page(
    settings: Settings, browser: Browser, tmp_path: Path
) -> None:
    services = build_services(settings, argon2_memory_kib=TEST_ARGON2_KIB)
    mismatch_id = keep_mismatch_in(ShadowResults(services.session_factory))
    services.engine.dispose()
    port = free_port()
    env = os.environ | {"SHADOW_RUNNER": "thread", "FLAGS_POLL_SECONDS": "0", "PLUGIN_POLL_SECONDS": "0"}
    command = [sys.executable, "-c", "from exthost.cli import main; main()", "serve", "--port", str(port)]
    server = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    shots = tmp_path / "screenshots"
    shots.mkdir()
    try:
        eventually(lambda: status_of(f"{base}/health") == 200)
        register(base, ADMIN)
        make_admin(settings, ADMIN)
        page = browser.page()
        page.goto(f"{base}/admin")
        assert page.path() == "/login?return_to=/admin"
        sign_in(page, ADMIN)
        assert page.path() == "/admin"
        assert page.evaluate("document.querySelector('h1').textContent") == "Platform admin"
        assert page.evaluate("document.querySelector('[data-feature=papertrail] .mode').dataset.mode") == "legacy"
        page.screenshot(shots / "admin-overview.png")

        # A canary share, set with the form: stored, shown, logged under the admin's name.
        fill_flag_form(page, "papertrail", mode="canary", percent="10", tenants="", reason="try 10% first")
        click_and_wait(page, "#flag-papertrail button[type=submit]")
        assert page.path() == "/admin"
        assert page.evaluate("document.querySelector('.notice').textContent") == "papertrail is now canary"
        assert page.evaluate("document.querySelector('[data-feature=papertrail] .mode').dataset.mode") == "canary"
        flag = next(f for f in json.loads(sv("flags:list", "--json").output) if f["feature"] == "papertrail")
        assert flag["mode"] == "canary" and flag["percent"] == 10 and flag["updatedBy"] == f"{ADMIN} (admin page)"

        # The gate refuses plugin mode on no evidence; the page says why and keeps the form.
        fill_flag_form(page, "papertrail", mode="plugin", reason="")
        click_and_wait(page, "#flag-papertrail button[type=submit]")
        refusal = page.evaluate("document.getElementById('refusal').textContent")
        assert "Refused: switching papertrail to plugin" in refusal and "0 generated cases, 500 needed" in refusal
        assert page.evaluate("document.getElementById('flag-papertrail').elements.mode.value") == "plugin"
        assert flag_mode() == "canary"
        page.screenshot(shots / "admin-refusal.png")

        # Forced, with a reason: switched, and the change log shows it as forced.
        fill_flag_form(page, "papertrail", reason="incident 42: legacy export down", force=True)
        click_and_wait(page, "#flag-papertrail button[type=submit]")
        assert "forced past the evidence gate" in page.evaluate("document.querySelector('.notice').textContent")
        assert page.evaluate("document.querySelector('#changes tr.forced .reason').textContent").startswith(
            "incident 42: legacy export down; forced past the evidence gate"
        )
        assert flag_mode() == "plugin"

        # A plugin switched on from its row.
        page.evaluate("document.querySelector('#plugin-hello input[name=tenant]').value = 'tenant-0'")
        click_and_wait(page, "#plugin-hello button[value=enable]")
        assert page.evaluate("document.querySelector('[data-plugin=hello] .state').textContent") == "enabled"
        assert status_of(f"{base}/api/hello/greet") == 200
        page.screenshot(shots / "admin-after.png")

        click_and_wait(page, f"a[href='/admin/mismatches/{mismatch_id}']")
        assert page.evaluate("[...document.querySelectorAll('[data-side]')].map(e => e.dataset.side)") == [
            "legacy",
            "plugin",
        ]
        page.screenshot(shots / "admin-mismatch.png")
        assert page.exceptions() == []
    finally:
        server.terminate()
        server.communicate(timeout=30)
    for shot in shots.iterdir():
        width, height = png_size(shot.read_bytes())
        assert width >= 1000 and height >= 600, shot
