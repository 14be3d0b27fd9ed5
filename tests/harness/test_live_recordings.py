"""Recordings of real traffic replay: a session recorded from a running `sv serve` on a database that is not the
harness's seed, by a client that signed in before recording began, replays from the snapshot taken when recording
started; a plugin that answers otherwise on a recorded route is caught; state that moved makes it inconclusive."""

from __future__ import annotations

import http.cookiejar
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from exthost.cli import main
from exthost.evidence.snapshot import read_snapshot, snapshots_in
from tests.exthost.test_serve import eventually, free_port
from tests.harness.mutants import REPO_PLUGINS, Edit, apply_edit, copy_plugins

pytestmark = pytest.mark.slow


class Browser:
    """A client with a cookie jar, as a browser keeps one, over real HTTP."""

    def __init__(self, base: str):
        self.base = base
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base + path, data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with self.opener.open(request, timeout=30) as response:
                raw = response.read()
                return response.status, json.loads(raw) if raw else None
        except urllib.error.HTTPError as error:
            return error.code, error.read()


def _env(workdir: Path, plugins: Path = REPO_PLUGINS) -> dict[str, str]:
    return {
        "DATABASE_URL": f"sqlite:///{workdir / 'live.db'}",
        "DATA_DIR": str(workdir / "data"),
        "PLUGINS_DIR": str(plugins),
        "PLUGIN_ENTRY_POINTS": "false",
        "FLAGS_POLL_SECONDS": "0.2",
        "FT_PROJECT_TYPE_PAPERTRAIL": "true",
    }


def _sv(env: dict[str, str], *args: str) -> Any:
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def _entries(folder: Path) -> int:
    total = 0
    for path in folder.glob("*.har"):
        try:
            total += len(json.loads(path.read_text(encoding="utf-8"))["log"]["entries"])
        except (ValueError, KeyError, OSError):
            continue
    return total


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A live deployment's session recorded with a snapshot; the folder of the recordings."""
    workdir = tmp_path_factory.mktemp("live")
    env = _env(workdir)
    assert _sv(env, "migrate:deploy").exit_code == 0
    port = free_port()
    command = [sys.executable, "-c", "from exthost.cli import main; main()", "serve", "--port", str(port)]
    server = subprocess.Popen(
        command, env=os.environ | env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    recordings = workdir / "recordings"
    try:
        browser = Browser(f"http://127.0.0.1:{port}")
        eventually(lambda: browser.call("GET", "/health")[0] == 200)
        # Production state the harness's seed knows nothing of: another user, a project, a board with a node.
        assert browser.call("POST", "/register", {"email": "erin@corp.test", "password": "s3cret-pass", "name": "E"})[
            0
        ] in (200, 201)
        status, project = browser.call("POST", "/api/projects", {"name": "Case files", "type": "papertrail"})
        assert status in (200, 201), project
        board = f"/api/projects/{project['id']}/papertrail/board"
        status, made = browser.call("POST", board, {"nodes": [{"id": "n1", "label": "First lead"}], "edges": []})
        assert status in (200, 201), made
        board_id = made["board"]["id"]
        # Signed in long before: recording (with a snapshot) starts now, and the session carries on.
        switched = _sv(env, "parity:record", "--on", "--snapshot", "--dir", str(recordings))
        assert switched.exit_code == 0, switched.output
        assert "snapshot:" in switched.output
        eventually(lambda: browser.call("GET", board)[0] == 200 and _entries(recordings) > 0, timeout=30)
        wanted = _entries(recordings) + 3
        status, _ = browser.call("POST", f"{board}/{board_id}/comments", {"body": "Check the alibi", "nodeId": "n1"})
        assert status in (200, 201)
        status, _ = browser.call("POST", f"{board}/{board_id}/nodes", {"id": "n2", "label": "Second lead"})
        assert status in (200, 201)
        assert browser.call("GET", f"{board}/{board_id}/comments")[0] == 200
        assert _sv(env, "parity:record", "--off").exit_code == 0
        eventually(lambda: _entries(recordings) >= wanted, timeout=30)
    finally:
        server.terminate()
        server.communicate(timeout=30)
    return recordings


def _run(
    recordings: Path, workdir: Path, plugins: Path = REPO_PLUGINS, *extra: str, server: str | None = None
) -> tuple[int, dict[str, Any]]:
    """`sv parity:run` over the recordings (on the PostgreSQL `server` when given); its exit code and report."""
    reports = workdir / "reports"
    args = ["parity:run", "--recordings", str(recordings), "--feature", "papertrail", "--generated", "0"]
    args += ["--no-evidence", "--no-coverage", "--jobs", "1", "--report-dir", str(reports), *extra]
    env = _env(workdir, plugins) | ({"PARITY_DATABASE_URL": server} if server else {})
    result = _sv(env, *args)
    return result.exit_code, json.loads((reports / "report.json").read_text(encoding="utf-8"))


def test_recording_keeps_who_the_caller_was_and_the_state_it_began_on(recorded: Path) -> None:
    (snapshot,) = snapshots_in(recorded)
    assert (snapshot.path / "sovereign.db").is_file() and snapshot.data.keys() == {"papertrail", "blog"}
    entries = [
        entry
        for path in recorded.glob("*.har")
        for entry in json.loads(path.read_text(encoding="utf-8"))["log"]["entries"]
    ]
    # Every entry says whether it had a caller (so the harness replays the file as live traffic).
    assert entries and all("caller" in entry["_sovereign"] for entry in entries)
    callers = [entry["_sovereign"]["caller"] for entry in entries]
    assert callers and all(caller["user"].startswith("u_") and caller["sessionStarted"] for caller in callers)
    text = "".join(path.read_text(encoding="utf-8") for path in recorded.glob("*.har"))
    assert "s3cret-pass" not in text  # the password never reaches a recording


def test_a_live_session_signed_in_before_recording_replays_green(recorded: Path, tmp_path: Path) -> None:
    code, report = _run(recorded, tmp_path)
    (case,) = [case for case in report["cases"] if case["kind"] == "recorded"]
    assert case["verdict"] == "match", case
    assert case["requests"] >= 4
    assert code == 0


def test_a_plugin_divergence_on_a_recorded_route_is_caught(recorded: Path, tmp_path: Path) -> None:
    plugins = copy_plugins(tmp_path / "plugins")
    apply_edit(
        plugins,
        Edit(
            "papertrail/shapes.py",
            '"authorId": row.author_id,\n        "body": row.body,',
            '"authorId": row.author_id,\n        "body": row.body + " ",',
        ),
    )
    code, report = _run(recorded, tmp_path, plugins)
    (case,) = [case for case in report["cases"] if case["kind"] == "recorded"]
    assert case["verdict"] == "mismatch"
    assert any(mismatch["route"].endswith("/comments") for mismatch in case["mismatches"])
    assert code == 1


def test_a_live_session_replays_on_postgresql_from_its_snapshot(
    recorded: Path, tmp_path: Path, postgres_url: str
) -> None:
    code, report = _run(recorded, tmp_path / "same", server=postgres_url)
    assert report["database"] == "postgresql"
    (case,) = [case for case in report["cases"] if case["kind"] == "recorded"]
    assert case["verdict"] == "match", case
    assert code == 0
    # The same divergence as on SQLite is caught there too.
    plugins = copy_plugins(tmp_path / "plugins")
    apply_edit(
        plugins,
        Edit(
            "papertrail/shapes.py",
            '"authorId": row.author_id,\n        "body": row.body,',
            '"authorId": row.author_id,\n        "body": row.body + " ",',
        ),
    )
    code, report = _run(recorded, tmp_path / "edited", plugins, server=postgres_url)
    (case,) = [case for case in report["cases"] if case["kind"] == "recorded"]
    assert case["verdict"] == "mismatch" and report["database"] == "postgresql"
    assert any(mismatch["route"].endswith("/comments") for mismatch in case["mismatches"])
    assert code == 1


def test_a_session_whose_state_moved_is_inconclusive_and_fails_nothing(recorded: Path, tmp_path: Path) -> None:
    # The snapshot as it would be had another user deleted the board between the snapshot and the session.
    moved = tmp_path / "moved"
    shutil.copytree(read_snapshot(next(iter(snapshots_in(recorded))).path).path, moved)
    with sqlite3.connect(moved / "sovereign.db") as database:
        database.execute("DELETE FROM pt_boards")
    code, report = _run(recorded, tmp_path, REPO_PLUGINS, "--snapshot", str(moved))
    (case,) = [case for case in report["cases"] if case["kind"] == "recorded"]
    assert case["verdict"] == "inconclusive" and "otherwise than recorded" in case["inconclusive"]
    assert report["ok"] is False  # nothing matched: a run of inconclusive replays proves nothing
    assert code == 1


def test_a_replay_never_reaches_a_remote_the_snapshot_could_not_copy(recorded: Path, tmp_path: Path) -> None:
    from parity_tests.pair import build_pair

    # The snapshot as if a blog pushed to a remote it could not copy (over the network, or gone), with a clone.
    moved = tmp_path / "snapshot"
    shutil.copytree(next(iter(snapshots_in(recorded))).path, moved)
    production = "https://git.example.test/team/blog.git"
    with sqlite3.connect(moved / "sovereign.db") as database:
        project = database.execute("SELECT id FROM projects").fetchone()[0]
        database.execute(
            "INSERT INTO blog_configs (project_id, repo_url, branch, content_dir, git_user_name, git_user_email, "
            "git_auth_token, created_at) VALUES (?, ?, 'main', 'posts', 'b', 'b@x.test', '', '2026-01-01 00:00:00')",
            (project, production),
        )
    clone = moved / "data" / "blog" / project / "repo"
    subprocess.run(["git", "init", "--quiet", str(clone)], check=True)
    subprocess.run(["git", "remote", "add", "origin", production], cwd=clone, check=True)
    pair = build_pair(tmp_path / "ws", snapshot=read_snapshot(moved))
    try:
        for side in pair.sides:
            with sqlite3.connect(side.reader.database) as database:
                (url,) = database.execute("SELECT repo_url FROM blog_configs").fetchone()
            origin = subprocess.run(
                ["git", "config", "--get", "remote.origin.url"],
                cwd=side.reader.blog_root / project / "repo",
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
            for found in (url, origin):
                assert found.startswith(pair.layout.remote_url) and found.endswith("uncaptured.git"), found
    finally:
        pair.close()
