"""Traffic recording: the switch in the database (and `sv parity:record`), one redacted HAR file per client session,
answers unchanged, feature filters, expiry, write errors, and several workers writing one session."""

from __future__ import annotations

import json
import os
import re
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from exthost.cli import main
from exthost.cli.record import parse_duration
from exthost.evidence.har import read_har
from exthost.evidence.recorder import (
    RecordingError,
    append_har_entry,
    har_files,
    recording_state,
    session_key,
    set_recording,
)
from exthost.evidence.redact import REDACTED
from exthost.platform import Platform, create_platform
from legacy_core.clock import FixedClock, SequentialIds
from legacy_core.settings import Settings
from tests.fixtures.app import PASSWORD, TEST_ARGON2_KIB

NODES = [
    {"id": "n1", "type": "claim", "title": "The bridge was closed", "x": 10, "y": 20},
    {"id": "n2", "type": "evidence", "title": "Council minutes", "x": 200, "y": 40},
]


@pytest.fixture
def settings(settings_factory: Callable[..., Settings]) -> Settings:
    return settings_factory(PLUGIN_ENTRY_POINTS=False, FLAGS_POLL_SECONDS=0)


@pytest.fixture
def platform(settings: Settings, platform_factory: Callable[..., Platform]) -> Platform:
    return platform_factory(settings)


def cli(settings: Settings, monkeypatch: pytest.MonkeyPatch, *args: str) -> Any:
    monkeypatch.setenv("DATABASE_URL", settings.DATABASE_URL)
    monkeypatch.setenv("DATA_DIR", str(settings.DATA_DIR))
    return CliRunner().invoke(main, ["parity:record", *args])


def stable_headers(response: Any) -> list[tuple[str, str]]:
    """The headers, without the two that differ between two runs by nature: the random request id and the cookie's
    expiry (werkzeug's wall clock)."""
    headers = [(name, re.sub(r"Expires=[^;]*; ", "", value)) for name, value in response.headers.items()]
    return sorted((name, value) for name, value in headers if name != "X-Request-Id")


def papertrail_session(platform: Platform, email: str = "alice@example.test") -> tuple[Any, list[Any]]:
    """Register, create a project, and work on its board; the client and every answer it got, in order."""
    client = platform.test_client()
    answers = []

    def call(method: str, path: str, **kwargs: Any) -> Any:
        response = client.open(path, method=method, **kwargs)
        answers.append((method, path, response.status_code, stable_headers(response), response.get_data()))
        return response

    call("POST", "/register", json={"email": email, "password": PASSWORD, "name": "Alice"})
    project = call("POST", "/api/projects", json={"name": "Bridge", "type": "papertrail"}).get_json()["id"]
    base = f"/api/projects/{project}/papertrail/board"
    call("GET", base)
    board = call("POST", base, json={"title": "Bridge closure", "nodes": NODES, "edges": []}).get_json()
    call("POST", f"{base}/{board['board']['id']}/comments", json={"nodeId": "n1", "body": "Check the date"})
    call("GET", f"{base}/{board['board']['id']}/nodes", query_string={"access_token": "query-secret-1"})
    return client, answers


def session_cookie(client: Any, settings: Settings) -> str:
    cookie = client.get_cookie(settings.AUTH_SESSION_COOKIE_NAME)
    assert cookie is not None
    return str(cookie.value)


def recorded(platform: Platform) -> dict[str, list[Any]]:
    """Every HAR file of the platform's recording folder, read back with exthost.evidence.har.read_har, by file name."""
    assert platform.recorder.drain()
    folder = platform.services.settings.recording_dir
    return {path.name: read_har(path) for path in sorted(folder.glob("*.har"))}


def test_recorder_is_off_by_default_and_writes_nothing(platform: Platform, settings: Settings) -> None:
    papertrail_session(platform)
    assert platform.recorder.drain()
    assert not settings.recording_dir.exists()
    assert platform.recorder.counts == {}
    assert recording_state(platform.services.session_factory).enabled is False


def test_recorder_cli_switches_a_running_platform_within_the_poll_interval(
    settings_factory: Callable[..., Settings], platform_factory: Callable[..., Platform], monkeypatch: Any
) -> None:
    settings = settings_factory(PLUGIN_ENTRY_POINTS=False, FLAGS_POLL_SECONDS=0.2)
    platform = platform_factory(settings)
    client = platform.test_client()
    assert client.get("/openapi.json").status_code == 200  # the switch is read (off) and cached
    result = cli(settings, monkeypatch, "--on", "--by", "carol")
    assert result.exit_code == 0, result.output
    assert "recording: on" in result.output and str(settings.recording_dir) in result.output
    time.sleep(0.25)
    client.get("/openapi.json")
    assert [len(exchanges) for exchanges in recorded(platform).values()] == [1]

    result = cli(settings, monkeypatch, "--off")
    assert result.exit_code == 0 and "recording: off" in result.output
    time.sleep(0.25)
    client.get("/openapi.json")
    assert [len(exchanges) for exchanges in recorded(platform).values()] == [1]


def test_recorder_writes_one_redacted_har_per_session_in_order(
    platform: Platform, settings: Settings, monkeypatch: Any
) -> None:
    result = cli(settings, monkeypatch, "--on")
    assert result.exit_code == 0, result.output
    alice, alice_answers = papertrail_session(platform, "alice@example.test")
    bob, bob_answers = papertrail_session(platform, "bob@example.test")
    platform.test_client().get("/openapi.json")  # no session: the process's anonymous file
    files = recorded(platform)
    day = datetime.now(UTC).strftime("%Y%m%d")
    alice_file = f"{day}-{session_key(session_cookie(alice, settings))}.har"
    bob_file = f"{day}-{session_key(session_cookie(bob, settings))}.har"
    assert sorted(files) == sorted([alice_file, bob_file, f"{day}-anonymous-{os.getpid()}.har"])
    for name, answers in ((alice_file, alice_answers), (bob_file, bob_answers)):
        exchanges = files[name]
        # In request order, the register that made the session first; each answer as its client got it.
        assert [(r.method, r.path) for r, _ in exchanges] == [(method, path) for method, path, *_ in answers]
        assert [(s.status, s.body) for _, s in exchanges if s is not None] == [(a[2], a[4]) for a in answers]
    text = (settings.recording_dir / alice_file).read_text(encoding="utf-8")
    document = json.loads(text)
    assert document["log"]["version"] == "1.2"
    for entry in document["log"]["entries"]:
        assert datetime.fromisoformat(entry["startedDateTime"]).tzinfo is not None
        assert entry["time"] >= 0
    starts = [datetime.fromisoformat(e["startedDateTime"]) for e in document["log"]["entries"]]
    assert starts == sorted(starts)
    # Secrets are gone: the password, the session token (Cookie and Set-Cookie) and the query's token.
    for secret in (PASSWORD, session_cookie(alice, settings), "query-secret-1"):
        assert secret not in text
    register, *_ = files[alice_file]
    assert json.loads(register[0].body)["password"] == REDACTED
    assert json.loads(register[0].body)["email"] == "alice@example.test"
    assert REDACTED in dict(register[1].headers)["Set-Cookie"]
    project = files[alice_file][1]
    assert dict(project[0].headers)["Cookie"] == f"{settings.AUTH_SESSION_COOKIE_NAME}={REDACTED}"
    # Bodies without secrets are kept byte for byte.
    post_board = files[alice_file][3][0]
    assert json.loads(post_board.body) == {"title": "Bridge closure", "nodes": NODES, "edges": []}
    assert "access_token=%5BREDACTED%5D" in files[alice_file][5][0].query


def test_recorder_answers_are_byte_identical_with_recording_on_and_off(
    settings_factory: Callable[..., Settings], tmp_path: Path
) -> None:
    def run(on: bool) -> list[Any]:
        platform = create_platform(
            settings_factory(PLUGIN_ENTRY_POINTS=False, FLAGS_POLL_SECONDS=0),
            clock=FixedClock(start=datetime(2026, 3, 1, 9, 30, tzinfo=UTC), step=timedelta(milliseconds=7)),
            ids=SequentialIds(),
            argon2_memory_kib=TEST_ARGON2_KIB,
        )
        try:
            if on:
                set_recording(platform.services.session_factory, directory=tmp_path / "rec")
            _, answers = papertrail_session(platform)
            assert platform.recorder.drain()
            return answers
        finally:
            platform.close()

    with_recording, without = run(True), run(False)
    assert with_recording == without
    [(_, exchanges)] = [(p, read_har(p)) for p in (tmp_path / "rec").glob("*.har")]
    assert len(exchanges) == len(with_recording)


def test_recorder_feature_filter_records_only_that_feature(
    platform: Platform, settings: Settings, monkeypatch: Any
) -> None:
    result = cli(settings, monkeypatch, "--on", "--feature", "papertrail")
    assert result.exit_code == 0, result.output
    assert "features: papertrail" in result.output
    papertrail_session(platform)
    [exchanges] = recorded(platform).values()
    # The sign-in stays (a replay starts with it); other core routes, like the project creation, do not.
    assert exchanges[0][0].path == "/register"
    assert {request.path.split("/")[4] for request, _ in exchanges[1:]} == {"papertrail"}
    assert len(exchanges) == 5

    set_recording(platform.services.session_factory, features=["blog"])
    before = platform.recorder.counts["recorded"]
    papertrail_session(platform, "bob@example.test")
    assert platform.recorder.drain()
    assert platform.recorder.counts["recorded"] == before + 1  # bob's sign-in only: his session has no blog request


def test_recorder_stops_at_its_expiry(platform: Platform, settings: Settings) -> None:
    state = set_recording(platform.services.session_factory, directory=settings.recording_dir, until=timedelta(hours=1))
    assert state.until is not None and state.active(datetime.now(UTC))
    client = platform.test_client()
    client.get("/openapi.json")
    assert platform.recorder.drain() and platform.recorder.counts["recorded"] == 1

    class Later:
        def now(self) -> datetime:
            return datetime.now(UTC) + timedelta(hours=2)

    platform.recorder.clock = Later()
    client.get("/openapi.json")
    client.get("/openapi.json")
    assert platform.recorder.drain() and platform.recorder.counts["recorded"] == 1


def test_recorder_cli_status_lists_files_and_expiry(platform: Platform, settings: Settings, monkeypatch: Any) -> None:
    result = cli(settings, monkeypatch, "--on", "--for", "10m", "--feature", "papertrail", "--by", "dave")
    assert result.exit_code == 0, result.output
    assert "recording: on until" in result.output and "within 1 s" in result.output
    papertrail_session(platform)
    assert platform.recorder.drain()
    status = json.loads(cli(settings, monkeypatch, "--json").output)
    assert status["enabled"] is True and status["active"] is True
    assert status["features"] == ["papertrail"] and status["changedBy"] == "dave"
    assert status["directory"] == str(settings.recording_dir)
    until = datetime.fromisoformat(status["until"])
    assert timedelta(minutes=9) < until - datetime.now(UTC) <= timedelta(minutes=10)
    [found] = status["files"]
    assert found["entries"] == 5 and found["name"].endswith(".har")  # the sign-in and 4 PaperTrail requests
    table = cli(settings, monkeypatch).output
    assert "recorded HAR files" in table and found["name"][:12] in table


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--on", "--feature", "papertrial"], "unknown feature 'papertrial' (did you mean 'papertrail'?)"),
        (["--on", "--for", "10 parsecs"], "duration '10 parsecs' is not a number with a unit"),
        (["--dir", "/tmp/x"], "--dir, --feature, --for and --snapshot go with --on"),
        (["--off", "--for", "1h"], "--dir, --feature, --for and --snapshot go with --on"),
    ],
    ids=["unknown-feature", "bad-duration", "dir-without-on", "for-with-off"],
)
def test_recorder_cli_usage_errors_name_the_fix(
    settings: Settings, monkeypatch: Any, args: list[str], expected: str
) -> None:
    result = cli(settings, monkeypatch, *args)
    assert result.exit_code == 2, result.output
    assert expected in result.output and "Traceback" not in result.output


def test_recorder_cli_on_an_unmigrated_database_says_what_to_do(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    result = CliRunner().invoke(main, ["parity:record"])
    assert result.exit_code == 1 and "sv migrate:deploy" in result.output and "Traceback" not in result.output


def test_recorder_parse_duration() -> None:
    assert parse_duration("10m") == timedelta(minutes=10)
    assert parse_duration("1h30m") == timedelta(hours=1, minutes=30)
    assert parse_duration("2d") == timedelta(days=2)
    for bad in ("", "10", "m", "0s", "1h-2m"):
        with pytest.raises(ValueError):
            parse_duration(bad)


def test_recorder_set_recording_needs_a_folder_the_first_time(platform: Platform) -> None:
    with pytest.raises(RecordingError, match="no folder to record to"):
        set_recording(platform.services.engine)
    assert set_recording(platform.services.engine, False).enabled is False  # nothing to switch off: no folder needed


def unwritable_folder(tmp_path: Path) -> Path:
    """A folder the recorder cannot write to: read-only, or (as root, who ignores permissions) a file."""
    if os.geteuid() == 0:
        path = tmp_path / "not-a-folder"
        path.write_text("a file where the folder should be")
        return path
    path = tmp_path / "read-only"
    path.mkdir()
    path.chmod(0o500)
    return path


def test_recorder_write_error_is_logged_and_the_client_still_gets_its_answer(
    platform: Platform, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = unwritable_folder(tmp_path)
    set_recording(platform.services.session_factory, directory=folder)
    client = platform.test_client()
    with caplog.at_level("ERROR", logger="sovereign.recorder"):
        response = client.post("/register", json={"email": "e@example.test", "password": PASSWORD, "name": "E"})
        assert response.status_code == 201 and response.get_json()["user"]["email"] == "e@example.test"
        assert client.get("/api/me").status_code == 200
        assert platform.recorder.drain()
    assert platform.recorder.counts["write_errors"] == 2 and platform.recorder.counts["recorded"] == 0
    [line] = [r.getMessage() for r in caplog.records if r.name == "sovereign.recorder"]  # the second is held back
    assert f"recording POST /register to {folder} failed" in line


def test_recorder_two_workers_writing_one_session_keep_every_entry(
    settings: Settings, platform_factory: Callable[..., Platform]
) -> None:
    first, second = platform_factory(settings), platform_factory(settings)  # two workers on one database
    set_recording(first.services.session_factory, directory=settings.recording_dir)
    signed_in = first.test_client()
    signed_in.post("/register", json={"email": "w@example.test", "password": PASSWORD, "name": "W"})
    token = session_cookie(signed_in, settings)
    per_thread = 15

    def work(platform: Platform) -> None:
        client = platform.test_client()
        client.set_cookie(settings.AUTH_SESSION_COOKIE_NAME, token)
        for _ in range(per_thread):
            assert client.get("/api/me").status_code == 200

    threads = [threading.Thread(target=work, args=(p,)) for p in (first, second, first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert first.recorder.drain() and second.recorder.drain()
    [path] = settings.recording_dir.glob("*.har")
    assert path.name.endswith(f"-{session_key(token)}.har")
    exchanges = read_har(path)
    assert len(exchanges) == 1 + 4 * per_thread
    assert exchanges[0][0].path == "/register"
    starts = [e["startedDateTime"] for e in json.loads(path.read_text())["log"]["entries"]]
    assert [datetime.fromisoformat(s) for s in starts] == sorted(datetime.fromisoformat(s) for s in starts)
    assert [f.entries for f in har_files(settings.recording_dir)] == [len(exchanges)]
    assert not [p for p in settings.recording_dir.iterdir() if p.suffix != ".har"]  # no temporary file left


def test_recorder_append_puts_a_late_entry_in_start_order(tmp_path: Path) -> None:
    path = tmp_path / "session.har"

    def entry(second: int) -> dict[str, Any]:
        started = datetime(2026, 3, 1, 9, 30, second, tzinfo=UTC).isoformat(timespec="milliseconds")
        return {"startedDateTime": started, "time": 1.0, "request": {"method": "GET", "url": f"http://h/{second}"}}

    for second in (1, 3, 2, 4, 0):
        append_har_entry(path, entry(second), creator_version="0.1.0")
    assert [request.path for request, _ in read_har(path)] == ["/0", "/1", "/2", "/3", "/4"]
