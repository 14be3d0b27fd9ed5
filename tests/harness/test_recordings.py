"""Recorded sessions from elsewhere: browser exports with other ids, unknown users, broken files, worker processes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from exthost.evidence.compare import CapturedRequest
from parity_tests.harness import HarnessConfig, run_parity
from parity_tests.outcome import CaseResult
from parity_tests.pair import HarnessError, Pair, build_pair
from parity_tests.recordings import RecordedSession, Translation, find_recordings, replay_session


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    made = build_pair(tmp_path_factory.mktemp("recordings") / "ws")
    yield made
    made.close()


def entry(method: str, url: str, status: int, *, body: Any = None, answer: Any = None, **extra: Any) -> dict[str, Any]:
    """A HAR entry the way Chrome's developer tools export one (fields the harness does not need included)."""
    request: dict[str, Any] = {
        "method": method,
        "url": url,
        "httpVersion": "http/2.0",
        "headers": [
            {"name": "Origin", "value": "https://sovereign.example.com"},
            {"name": "Cookie", "value": "svg_session=recorded-elsewhere"},
            {"name": "Content-Type", "value": "application/json"},
        ],
        "queryString": [],
        "cookies": [],
        "headersSize": -1,
        "bodySize": 0,
    }
    if body is not None:
        request["postData"] = {"mimeType": "application/json", "text": json.dumps(body)}
    text = json.dumps(answer) if answer is not None else ""
    return {
        "_initiator": {"type": "script"},
        "_priority": "High",
        "startedDateTime": "2026-05-01T10:00:00.000Z",
        "time": 12.5,
        "request": request,
        "response": {
            "status": status,
            "statusText": "",
            "httpVersion": "http/2.0",
            "headers": [{"name": "Content-Type", "value": "application/json"}],
            "cookies": [],
            "content": {"size": len(text), "mimeType": "application/json", "text": text},
            "redirectURL": "",
            "headersSize": -1,
            "bodySize": -1,
        },
        "cache": {},
        "timings": {"send": 0, "wait": 10, "receive": 2.5},
        **extra,
    }


def write_har(path: Path, entries: list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "log": {
            "version": "1.2",
            "creator": {"name": "WebInspector", "version": "537.36"},
            "pages": [],
            "entries": entries,
        }
    }
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def browser_session(pair: Pair, email: str = "bob@example.test") -> list[dict[str, Any]]:
    """Log in, create a project, post a board and a node on it, read it back: with the production server's ids."""
    base = "https://sovereign.example.com"
    return [
        entry("POST", f"{base}/login", 200, body={"email": email, "password": "[REDACTED]"}),
        entry(
            "POST",
            f"{base}/api/projects",
            201,
            body={"name": "Exported", "type": "papertrail"},
            answer={"ok": True, "id": "p_9f8e7d6c5b4a3921"},
        ),
        entry(
            "POST",
            f"{base}/api/projects/p_9f8e7d6c5b4a3921/papertrail/board",
            200,
            body={"nodes": [{"id": "n1"}], "edges": []},
            answer={"ok": True, "board": {"id": "b_aa11bb22cc33dd44"}},
        ),
        entry(
            "POST",
            f"{base}/api/projects/p_9f8e7d6c5b4a3921/papertrail/board/b_aa11bb22cc33dd44/nodes",
            201,
            body={"id": "n2", "label": "From the browser"},
        ),
        entry("GET", f"{base}/api/projects/p_9f8e7d6c5b4a3921/papertrail/board/b_aa11bb22cc33dd44/nodes/n2", 200),
    ]


def test_a_browser_export_with_other_ids_replays_faithfully(pair: Pair, tmp_path: Path) -> None:
    path = write_har(tmp_path / "papertrail" / "browser.har", browser_session(pair))
    [session] = find_recordings(tmp_path, pair)
    assert isinstance(session, RecordedSession) and session.feature == "papertrail"
    result = replay_session(pair, session)
    assert result.match, result.to_json()
    # The production ids were mapped to the replay's: every request reached what the session created.
    assert [exchange.legacy.status for exchange in result.exchanges] == [200, 201, 200, 201, 200]
    assert "p_9f8e7d6c5b4a3921" not in result.exchanges[-1].request.path
    assert path.exists()


def test_a_login_the_seed_does_not_know_registers_the_user_first(pair: Pair, tmp_path: Path) -> None:
    write_har(tmp_path / "papertrail" / "newcomer.har", browser_session(pair, email="erin@example.test"))
    [session] = find_recordings(tmp_path, pair)
    assert isinstance(session, RecordedSession)
    result = replay_session(pair, session)
    assert result.match
    assert result.exchanges[0].legacy.status == 200  # signed in as the registered newcomer
    assert result.exchanges[1].legacy.status == 201


def test_the_feature_of_a_recording_outside_a_feature_folder_is_taken_from_its_routes(
    pair: Pair, tmp_path: Path
) -> None:
    write_har(tmp_path / "loose.har", browser_session(pair))
    [session] = find_recordings(tmp_path, pair)
    assert isinstance(session, RecordedSession) and session.feature == "papertrail"


def test_a_broken_recording_is_a_failed_case_not_a_crash(pair: Pair, tmp_path: Path) -> None:
    (tmp_path / "blog").mkdir()
    (tmp_path / "blog" / "truncated.har").write_text('{"log": {"entries": [', encoding="utf-8")
    [found] = find_recordings(tmp_path, pair)
    assert isinstance(found, CaseResult) and not found.match
    assert "truncated.har" in (found.error or "") and "invalid JSON" in (found.error or "")


def test_translation_maps_ids_passwords_and_remotes_in_paths_queries_and_bodies() -> None:
    translation = Translation("seed-password", "file:///harness/link/blog.git")
    translation.ids["p_9f8e7d6c5b4a3921"] = "p_1000000000000002"
    request = CapturedRequest(
        "PATCH",
        "/api/projects/p_9f8e7d6c5b4a3921/configure",
        query="project=p_9f8e7d6c5b4a3921&page=2",
        headers=(("Content-Type", "application/json"),),
        body=json.dumps(
            {"repoUrl": "/srv/git/blog.git", "password": "[REDACTED]", "note": "p_9f8e7d6c5b4a3921"}
        ).encode(),
    )
    sent = translation.request(request)
    assert sent.path == "/api/projects/p_1000000000000002/configure"
    assert sent.query == "project=p_1000000000000002&page=2"
    assert json.loads(sent.body) == {
        "repoUrl": "file:///harness/link/blog.git",
        "password": "seed-password",
        "note": "p_1000000000000002",
    }
    untouched = CapturedRequest("POST", "/x", headers=(("Content-Type", "application/json"),), body=b'{"a":  1}')
    assert translation.request(untouched).body == b'{"a":  1}'  # nothing to translate: the recorded bytes


def test_worker_processes_find_what_one_process_finds(tmp_path: Path) -> None:
    corpus = Path(__file__).resolve().parents[2] / "parity_tests" / "recordings"
    one = run_parity(HarnessConfig(features=("papertrail",), recordings=corpus, workspace=tmp_path / "one"))
    two = run_parity(HarnessConfig(features=("papertrail",), recordings=corpus, workspace=tmp_path / "two", jobs=2))
    assert [case.case_id for case in two.cases] == [case.case_id for case in one.cases]
    assert [len(case.exchanges) for case in two.cases] == [len(case.exchanges) for case in one.cases]
    assert one.ok and two.ok


def test_a_replay_that_drifts_from_its_recording_fails_even_when_both_sides_agree(pair: Pair, tmp_path: Path) -> None:
    # Without its login every request answers 401 on both sides: parity, but of nothing the recording did.
    write_har(tmp_path / "papertrail" / "no-login.har", browser_session(pair)[1:])
    [session] = find_recordings(tmp_path, pair)
    assert isinstance(session, RecordedSession)
    result = replay_session(pair, session)
    assert all(exchange.match for exchange in result.exchanges)
    assert not result.match
    assert "drifted from the recording" in (result.error or "") and "recorded 201, legacy now 401" in (
        result.error or ""
    )


def test_an_empty_recording_is_a_failed_case(pair: Pair, tmp_path: Path) -> None:
    write_har(tmp_path / "papertrail" / "empty.har", [])
    [found] = find_recordings(tmp_path, pair)
    assert isinstance(found, CaseResult) and "has no requests" in (found.error or "")


def test_a_recording_is_named_by_path_and_content(pair: Pair, tmp_path: Path) -> None:
    write_har(tmp_path / "papertrail" / "a.har", browser_session(pair))
    [first] = find_recordings(tmp_path, pair)
    write_har(tmp_path / "papertrail" / "a.har", browser_session(pair)[:3])
    [second] = find_recordings(tmp_path, pair)
    assert isinstance(first, RecordedSession) and isinstance(second, RecordedSession)
    assert first.source.startswith("papertrail/a.har#sha256:") and first.source != second.source


def test_a_broken_recording_of_another_feature_still_fails_the_run(tmp_path: Path) -> None:
    (tmp_path / "recordings").mkdir()
    (tmp_path / "recordings" / "broken.har").write_text("not json", encoding="utf-8")
    run = run_parity(HarnessConfig(features=("blog",), recordings=tmp_path / "recordings", workspace=tmp_path / "w"))
    assert [case.case_id for case in run.cases] == ["recorded:broken.har"]
    assert not run.ok


def test_a_run_of_no_case_is_not_a_pass(tmp_path: Path) -> None:
    run = run_parity(HarnessConfig(features=("blog",), recordings=None, workspace=tmp_path))
    assert run.cases == () and not run.ok and run.exit_code == 1


def test_a_plugins_folder_without_the_feature_stops_the_harness(tmp_path: Path) -> None:
    (tmp_path / "no-plugins").mkdir()
    with pytest.raises(HarnessError, match=r"no enabled plugin .* serves 'papertrail'"):
        build_pair(tmp_path / "ws", plugins_dir=tmp_path / "no-plugins", features=("papertrail",))


def test_a_case_the_harness_fails_on_is_a_failed_case_and_the_run_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import parity_tests.tasks as harness

    corpus = Path(__file__).resolve().parents[2] / "parity_tests" / "recordings"
    real = harness.replay_session

    def flaky(pair: Pair, session: RecordedSession) -> CaseResult:
        if session.name.endswith("stranger-is-kept-out.har"):
            raise OSError("disk full")
        return real(pair, session)

    monkeypatch.setattr(harness, "replay_session", flaky)
    run = run_parity(HarnessConfig(features=("papertrail",), recordings=corpus, workspace=tmp_path))
    failed = [case for case in run.cases if not case.match]
    assert [case.case_id for case in failed] == ["recorded:papertrail/stranger-is-kept-out.har"]
    assert "OSError: disk full" in (failed[0].error or "")
    assert len(run.cases) == 4 and not run.ok
