"""The plugin sandbox in process (PLUGIN_ISOLATION=process): a hostile plugin's requests run in its own gunicorn
workers; for each misbehaviour, the caller's answer, the host still serving legacy and a good plugin, and the
accounting."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exthost.platform import Platform
from exthost.sandbox.confine import landlock_abi
from legacy_core import Settings
from tests.exthost.sandbox_plugins import HOSTILE_CODE, hostile_manifest
from tests.fixtures.app import PASSWORD
from tests.fixtures.plugins import write_plugin


@pytest.fixture
def sandboxed(
    settings_factory: Callable[..., Settings], platform_factory: Callable[..., Platform]
) -> Callable[..., tuple[Platform, Any]]:
    def build(**overrides: Any) -> tuple[Platform, Any]:
        settings = settings_factory(PLUGIN_ENTRY_POINTS=False, PLUGIN_POLL_SECONDS=0, **overrides)
        write_plugin(settings.PLUGINS_DIR, "hello")
        write_plugin(settings.PLUGINS_DIR, "hostile", HOSTILE_CODE, manifest=hostile_manifest())
        # The database in a folder of its own: a SQLite database's folder is open to every plugin (its journals).
        database = Path(settings.DATABASE_URL.removeprefix("sqlite:///"))
        (database.parent / "db").mkdir()
        moved = database.rename(database.parent / "db" / database.name)
        values = {**settings.model_dump(), "PLUGIN_ISOLATION": "process", "DATABASE_URL": f"sqlite:///{moved}"}
        settings = Settings(_env_file=None, **values)  # type: ignore[call-arg]
        platform = platform_factory(settings)
        platform.host.enable("hello")
        platform.host.enable("hostile")
        return platform, platform.test_client()

    return build


needs_landlock = pytest.mark.skipif(landlock_abi() == 0, reason="this kernel has no Landlock: files are not confined")


def assert_still_serving(client: Any) -> None:
    assert client.get("/health").status_code == 200
    greet = client.get("/api/hello/greet")
    assert greet.status_code == 200, greet.data
    assert greet.get_json()["greeting"] == "hello"


def events(platform: Platform, name: str = "hostile") -> dict[str, int]:
    return platform.host.describe(platform.host.get(name))["sandbox"]["events"]


def test_sandbox_serves_a_plugin_from_other_processes(sandboxed):
    platform, client = sandboxed()
    import os

    answer = client.get("/api/hostile/ok")
    assert answer.status_code == 200
    assert answer.get_json()["pid"] != os.getpid()
    info = platform.host.describe(platform.host.get("hostile"))["sandbox"]
    assert info["state"] == "running"
    assert info["limits"]["deadlineSeconds"] == 2


def test_sandbox_signed_in_user_and_http_errors_cross_to_the_worker(sandboxed):
    _platform, client = sandboxed()
    assert client.get("/api/hello/me").status_code == 401
    assert (
        client.post("/register", json={"email": "a@example.test", "password": PASSWORD, "name": "A"}).status_code == 201
    )
    me = client.get("/api/hello/me")
    assert me.status_code == 200, me.data
    assert me.get_json()["id"]
    teapot = client.get("/api/hello/teapot")
    assert teapot.status_code == 418
    assert teapot.get_json() == {"error": "I am a teapot"}


def test_sandbox_a_raising_handler_is_a_500_and_counted(sandboxed):
    platform, client = sandboxed()
    answer = client.get("/api/hostile/raise")
    assert answer.status_code == 500
    assert answer.get_json()["requestId"]
    assert_still_serving(client)
    assert events(platform)["raised"] == 1


def test_sandbox_an_exiting_worker_is_a_502_with_the_request_id_and_counted(sandboxed):
    platform, client = sandboxed()
    answer = client.get("/api/hostile/exit", headers={"X-Request-Id": "req_exit"})
    assert answer.status_code == 502
    assert answer.get_json() == {"error": "Plugin worker failed", "requestId": "req_exit"}
    assert_still_serving(client)
    assert client.get("/api/hostile/ok").status_code == 200  # gunicorn started another worker
    assert events(platform)["exited"] == 1


@pytest.mark.parametrize("route", ["sleep", "loop"])
def test_sandbox_past_the_deadline_the_caller_gets_504_and_the_worker_is_replaced(sandboxed, route):
    platform, client = sandboxed()
    answer = client.get(f"/api/hostile/{route}", headers={"X-Request-Id": f"req_{route}"})
    assert answer.status_code == 504
    assert answer.get_json() == {"error": "Plugin deadline passed", "requestId": f"req_{route}"}
    assert_still_serving(client)
    assert client.get("/api/hostile/ok").status_code == 200
    assert events(platform)["deadline"] == 1


def test_sandbox_a_large_allocation_fails_inside_the_worker(sandboxed):
    platform, client = sandboxed()
    answer = client.get("/api/hostile/alloc")
    assert answer.status_code == 500
    assert_still_serving(client)
    assert events(platform)["memory"] == 1


@needs_landlock
def test_sandbox_files_outside_the_plugin_are_refused(sandboxed):
    platform, client = sandboxed()
    hello_data = platform.host.get("hello").context.data_dir
    hello_data.mkdir(parents=True, exist_ok=True)
    (hello_data / "note.txt").write_text("hello's own note", encoding="utf-8")
    assert client.get("/api/hostile/passwd").status_code == 500  # PermissionError, raised in the plugin
    other = client.get("/api/hostile/other").get_json()
    assert other == {"folder": "refused:PermissionError", "data": "refused:PermissionError"}
    assert client.get("/api/hostile/own").get_json() == {"own": "mine"}
    # What plugins legitimately run still runs: git, its input on /dev/null (the blog plugin does this).
    assert client.get("/api/hostile/git").get_json() == {"code": 0, "out": "git version", "err": ""}
    forked = client.get("/api/hostile/fork")
    assert forked.status_code == 200
    assert forked.get_json() == {"child": "refused:PermissionError"}
    assert_still_serving(client)


def test_sandbox_the_worker_holds_no_platform_secret(sandboxed):
    _platform, client = sandboxed(SECRET_KEY="the-platform-secret-key")
    answer = client.get("/api/hostile/secret").get_json()
    assert "the-platform-secret-key" not in str(answer)
    assert answer["environ"] == {}
    assert answer["platform"] is None


def test_sandbox_the_bulkhead_answers_503_at_once_past_the_plugin_share(sandboxed):
    import threading

    platform, client = sandboxed()
    proxy = platform.host.sandbox.proxies["hostile"]
    held = [proxy.slots.acquire(blocking=False) for _ in range(4)]
    try:
        assert all(held)
        busy = client.get("/api/hostile/ok")
        assert busy.status_code == 503
        assert busy.get_json()["error"] == "Plugin busy, try again"
        assert_still_serving(client)
    finally:
        for _ in held:
            proxy.slots.release()
    assert client.get("/api/hostile/ok").status_code == 200
    assert events(platform)["rejected"] == 1
    assert threading.active_count() >= 1


def test_sandbox_failures_spend_the_error_budget(sandboxed):
    platform, client = sandboxed(PLUGIN_ERROR_BUDGET=3)
    for _ in range(3):
        client.get("/api/hostile/exit")
    platform.host.sync(force=True)
    record = platform.host.get("hostile")
    assert record.display_state() == "disabled"
    assert "3 unhandled errors" in record.disabled_reasons["tenant-0"]
    assert client.get("/api/hostile/ok").status_code == 404
    assert_still_serving(client)


def test_sandbox_trusted_plugins_run_inline(sandboxed):
    import os

    platform, client = sandboxed(PLUGIN_TRUSTED=["hostile"])
    assert client.get("/api/hostile/ok").get_json()["pid"] == os.getpid()
    assert platform.host.describe(platform.host.get("hostile"))["sandbox"] == {"isolation": "inline", "trusted": True}


def test_sandbox_bad_limit_override_is_refused_naming_the_key(settings_factory, platform_factory):
    from exthost.errors import ExtHostError

    settings = settings_factory(PLUGIN_ENTRY_POINTS=False, PLUGIN_ISOLATION="process")
    write_plugin(settings.PLUGINS_DIR, "hello")
    bad = Settings(_env_file=None, **{**settings.model_dump(), "PLUGIN_LIMITS": {"hello": {"deadlineSeconds": "soon"}}})  # type: ignore[call-arg]
    with pytest.raises(ExtHostError, match=r"PLUGIN_LIMITS\.hello\.deadlineSeconds.*'soon'"):
        platform_factory(bad)


@pytest.fixture
def one_plugin(
    settings_factory: Callable[..., Settings], platform_factory: Callable[..., Platform]
) -> Callable[..., tuple[Platform, Any]]:
    """A platform serving one sandboxed plugin `name` (its code and limits) beside hello."""

    def build(name: str, code: str, **limits: Any) -> tuple[Platform, Any]:
        from tests.fixtures.plugins import manifest_for

        settings = settings_factory(PLUGIN_ENTRY_POINTS=False, PLUGIN_POLL_SECONDS=0)
        write_plugin(settings.PLUGINS_DIR, "hello")
        write_plugin(settings.PLUGINS_DIR, name, code, manifest=manifest_for(name, limits=limits))
        database = Path(settings.DATABASE_URL.removeprefix("sqlite:///"))
        (database.parent / "db").mkdir()
        moved = database.rename(database.parent / "db" / database.name)
        values = {**settings.model_dump(), "PLUGIN_ISOLATION": "process", "DATABASE_URL": f"sqlite:///{moved}"}
        platform = platform_factory(Settings(_env_file=None, **values))  # type: ignore[call-arg]
        platform.host.enable("hello")
        platform.host.enable(name)
        return platform, platform.test_client()

    return build


def test_sandbox_the_cpu_limit_ends_a_spinning_worker(one_plugin):
    from tests.exthost.sandbox_plugins import LIMITS_CODE

    platform, client = one_plugin("limited", LIMITS_CODE, cpuSeconds=4, deadlineSeconds=120)
    answer = client.get("/api/limited/spin")
    assert answer.status_code == 502  # SIGXCPU, long before the deadline
    assert_still_serving(client)
    assert client.get("/api/limited/ok").status_code == 200
    assert events(platform, "limited")["exited"] == 1


def test_sandbox_the_open_files_limit_holds(one_plugin):
    from tests.exthost.sandbox_plugins import LIMITS_CODE

    platform, client = one_plugin("limited", LIMITS_CODE, openFiles=64)
    answer = client.get("/api/limited/files")
    assert answer.status_code == 500  # OSError: too many open files, raised in the plugin
    assert events(platform, "limited")["raised"] == 1
    assert client.get("/api/limited/ok").status_code == 200
    assert_still_serving(client)


@needs_landlock
def test_sandbox_a_plugin_that_cannot_start_in_its_sandbox_is_failed_with_its_error(one_plugin):
    from exthost.errors import ExtHostError
    from tests.exthost.sandbox_plugins import UNBOOTABLE_CODE

    # Its module reads /etc/passwd, which Landlock refuses in the worker: no worker comes up. (The pool that dies
    # after it served is tests/exthost/test_sandbox_hooks.py's.)
    with pytest.raises(ExtHostError, match=r"unbootable.*failed") as raised:
        one_plugin("unbootable", UNBOOTABLE_CODE)
    reason = str(raised.value)
    assert "sandbox workers did not start" in reason
    assert "cannot start without /etc/passwd" in reason and "plugin.py" in reason


segment = st.text(st.characters(exclude_categories=["Cc", "Cs"], exclude_characters="/?#%"), min_size=1, max_size=8)
query_value = st.text(st.characters(exclude_categories=["Cc", "Cs"]), max_size=8)


@given(
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE"]),
    parts=st.lists(segment, min_size=1, max_size=3),
    query=st.lists(st.tuples(st.sampled_from(["a", "b", "ü"]), query_value), max_size=3),
    body=st.binary(max_size=300),
    # A field value as HTTP carries it: no whitespace at either end (RFC 9110, 5.5), which the server in front
    # strips for inline plugins too (the test client would hand " " to an inline plugin as it is).
    note=st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=20).map(str.strip),
    mounted=st.booleans(),
)
def test_sandbox_requests_reach_the_worker_as_they_reach_an_inline_plugin(
    echo_pair, method, parts, query, body, note, mounted
):
    inline, sandboxed = echo_pair
    path = "/api/echo/" + "/".join(parts)
    kwargs: dict[str, Any] = {"method": method, "query_string": query, "headers": {"X-Note": note}}
    if mounted:
        kwargs["environ_overrides"] = {"SCRIPT_NAME": "/sv", "wsgi.url_scheme": "https"}
    if method != "GET":
        kwargs["data"] = body
    expected = inline.open(path, **kwargs)
    got = sandboxed.open(path, **kwargs)
    assert got.status_code == expected.status_code
    assert got.get_json() == expected.get_json()
    assert got.headers.get("Content-Type") == expected.headers.get("Content-Type")


@pytest.fixture
def echo_pair(one_plugin: Callable[..., tuple[Platform, Any]], platform_factory: Callable[..., Platform]) -> Any:
    from tests.exthost.sandbox_plugins import ECHO_CODE

    platform, sandboxed = one_plugin("echo", ECHO_CODE)
    settings = platform.services.settings
    inline = platform_factory(Settings(_env_file=None, **{**settings.model_dump(), "PLUGIN_ISOLATION": "inline"}))  # type: ignore[call-arg]
    return inline.test_client(), sandboxed


def test_sandbox_sleeping_calls_hold_only_the_plugin_share_of_threads(sandboxed):
    import threading

    platform, client = sandboxed()
    proxy = platform.host.sandbox.proxies["hostile"]
    concurrency = proxy.pool.limits.concurrency
    answers: list[int] = []
    sleepers = [
        threading.Thread(target=lambda: answers.append(platform.test_client().get("/api/hostile/sleep").status_code))
        for _ in range(concurrency)
    ]
    for sleeper in sleepers:
        sleeper.start()
    while proxy.slots._value > 0 and any(s.is_alive() for s in sleepers):  # every slot taken by a sleeper
        threading.Event().wait(0.01)
    if all(s.is_alive() for s in sleepers):
        busy = client.get("/api/hostile/ok")
        assert busy.status_code == 503  # at once, not after the sleepers
        assert_still_serving_legacy_and_hello(client)
    for sleeper in sleepers:
        sleeper.join(120)
    assert answers == [504] * concurrency
    assert client.get("/api/hostile/ok").status_code == 200


def assert_still_serving_legacy_and_hello(client: Any) -> None:
    assert client.get("/health").status_code == 200
    assert client.get("/api/hello/greet").status_code == 200


def test_sandbox_a_reload_serves_the_new_code_from_a_new_pool(sandboxed):
    from tests.fixtures.plugins import HELLO_CODE

    platform, client = sandboxed()
    old = platform.host.sandbox.pools["hello"]
    assert client.get("/api/hello/greet").get_json()["greeting"] == "hello"
    folder = platform.host.get("hello").folder
    (folder / "plugin.py").write_text(
        HELLO_CODE.replace('ctx.config["GREETING"]', '"reloaded"'),
        encoding="utf-8",
    )
    platform.host.reload("hello")
    assert client.get("/api/hello/greet").get_json()["greeting"] == "reloaded"
    assert platform.host.sandbox.pools["hello"] is not old
    assert old.process is None and old.state == "stopped"


def test_sandbox_a_chunked_body_reaches_the_worker_whole(echo_pair):
    import io

    inline, sandboxed = echo_pair
    body = b"x" * 70000 + b"end"
    answers = [
        client.post(
            "/api/echo/chunked",
            input_stream=io.BytesIO(body),
            headers={"Transfer-Encoding": "chunked", "Connection": "keep-alive"},
            environ_overrides={"wsgi.input_terminated": True},  # what a server sets for a chunked request
        )
        for client in (inline, sandboxed)
    ]
    assert answers[1].status_code == answers[0].status_code == 200
    assert answers[1].get_json() == answers[0].get_json()
    assert answers[1].get_json()["body"] == body.decode()


KILLED_HOST = """
import json, sys, time
from exthost.platform import create_platform
from legacy_core.settings import Settings

platform = create_platform(Settings(_env_file=None, **json.loads(sys.stdin.readline())))
assert platform.test_client().get("/api/hello/greet").status_code == 200
print(platform.host.sandbox.folder, flush=True)
time.sleep(600)
"""


def test_sandbox_folders_of_a_killed_serving_process_are_removed_by_the_next(sandboxed, monkeypatch, request):
    """A serving process killed outright leaves its sockets' folder; the next sandbox to start removes it, and never
    the folder of a serving process that still runs."""
    import json
    import os
    import shutil
    import signal
    import subprocess
    import sys
    import tempfile

    root = Path(tempfile.mkdtemp(prefix="sv-t-"))  # short: Unix socket paths have 108 bytes
    request.addfinalizer(lambda: shutil.rmtree(root, ignore_errors=True))
    monkeypatch.setattr(tempfile, "tempdir", str(root))
    first, _ = sandboxed()
    environment = {**os.environ, "TMPDIR": str(root)}
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED_HOST],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=environment,
        text=True,
    )
    try:
        assert child.stdin is not None and child.stdout is not None
        child.stdin.write(json.dumps(first.services.settings.model_dump(mode="json")) + "\n")
        child.stdin.flush()
        left = Path(child.stdout.readline().strip())
        assert left.parent == root and (left / "owner").is_file()
        assert list(left.glob("*.sock")), "the killed process's pool had a socket there"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    assert left.is_dir()
    second, client = sandboxed()
    assert not left.exists()
    # The live serving processes' folders stay, and both still serve their plugins.
    assert first.host.sandbox.folder.is_dir() and second.host.sandbox.folder.is_dir()
    assert client.get("/api/hello/greet").status_code == 200
    assert first.test_client().get("/api/hello/greet").status_code == 200


def bundled(settings_factory: Any, platform_factory: Any, *features: str, **overrides: Any) -> tuple[Any, Any]:
    """A platform serving the bundled `features` from their plugins in process isolation, and a client signed in
    as a new user."""
    from tests.fixtures.twins import REPO_PLUGINS, serve_from_plugin

    settings = settings_factory(
        PLUGINS_DIR=REPO_PLUGINS,
        PLUGIN_ENTRY_POINTS=False,
        PLUGIN_POLL_SECONDS=0,
        PLUGIN_ISOLATION="process",
        **overrides,
    )
    platform = platform_factory(settings)
    for feature in features:
        serve_from_plugin(platform, feature)
    client = platform.test_client()
    registered = client.post("/register", json={"email": "s@example.test", "password": PASSWORD, "name": "S"})
    assert registered.status_code == 201
    return platform, client


def test_sandbox_the_blog_clones_commits_and_pushes_from_its_confined_workers(
    settings_factory, platform_factory, gitremote
):
    """The blog plugin runs git in its workers: with their files, TCP and socket confinement on (Landlock and the
    seccomp filter, where the kernel has them), a post is still written, committed and pushed to a local remote."""
    import os

    from tests.fixtures.gitremote import configure_body

    platform, client = bundled(
        settings_factory, platform_factory, "blog", BLOG_LOCAL_REMOTES_ROOT=gitremote.path.parent
    )
    project = client.post("/api/projects", json={"name": "Blog", "type": "blog"}).get_json()["id"]
    base = f"/api/projects/{project}"
    configured = client.patch(f"{base}/configure", json=configure_body(gitremote))
    assert configured.status_code == 200, configured.get_json()
    written = client.post(f"{base}/blog/post", json={"title": "From the sandbox", "body": "Confined, still pushed."})
    assert written.status_code == 201, written.get_json()
    published = client.post(f"{base}/blog/post/{written.get_json()['post']['file']}")
    assert published.status_code == 200, published.get_json()
    assert len(gitremote.log()) == 2  # the initial commit and the post's
    sandbox = platform.host.describe(platform.host.get("blog"))["sandbox"]
    assert sandbox["answered"] >= 3 and sandbox["pid"] != os.getpid()


def test_sandbox_papertrail_stores_an_upload_from_its_confined_workers(settings_factory, platform_factory):
    """An upload is staged, then moved into its attachment's folder: a move between folders, which Landlock allows
    only where every layer grants it (the network rules' layer too)."""
    import io

    platform, client = bundled(settings_factory, platform_factory, "papertrail")
    project = client.post("/api/projects", json={"name": "Case", "type": "papertrail"}).get_json()["id"]
    board = f"/api/projects/{project}/papertrail/board"
    saved = client.post(board, json={"nodes": [{"id": "doc"}]})
    assert saved.status_code == 200, saved.get_json()
    upload = f"{board}/{saved.get_json()['board']['id']}/attachments/upload"
    sent = client.post(upload, data={"file": (io.BytesIO(b"witness statement"), "statement.txt"), "nodeId": "doc"})
    assert sent.status_code == 201, sent.get_json()
    stored = list(platform.services.settings.papertrail_root.rglob("statement.txt"))
    assert [path.read_bytes() for path in stored] == [b"witness statement"]
    assert platform.host.describe(platform.host.get("papertrail"))["sandbox"]["answered"] >= 2


@pytest.mark.slow
def test_sandbox_every_route_of_both_plugins_answers_from_confined_workers_on_a_new_data_folder(
    settings_factory, platform_factory, gitremote, tmp_path
):
    """A new deployment (its DATA_DIR not made yet) in process isolation: each route of PaperTrail and Blog, writes
    included, answers without an error from the confined workers. Landlock grants a folder only if it exists when the
    worker confines itself, so the serving process makes the plugins' folders first."""
    import io

    from tests.fixtures.gitremote import configure_body

    data = tmp_path / "new-data"
    assert not data.exists()
    remotes = gitremote.path.parent
    _platform, client = bundled(
        settings_factory, platform_factory, "papertrail", "blog", DATA_DIR=data, BLOG_LOCAL_REMOTES_ROOT=remotes
    )
    failed: list[str] = []

    def call(method: str, path: str, **kwargs: Any) -> Any:
        answer = client.open(path, method=method, **kwargs)
        if answer.status_code >= 400:
            failed.append(f"{method} {path}: {answer.status_code} {answer.get_data(as_text=True)[:200]}")
        return answer

    project = call("POST", "/api/projects", json={"name": "Case", "type": "papertrail"}).get_json()["id"]
    board = f"/api/projects/{project}/papertrail/board"
    saved = call(
        "POST", board, json={"nodes": [{"id": "n1"}, {"id": "n2"}], "edges": [{"source": "n1", "target": "n2"}]}
    )
    items = f"{board}/{saved.get_json()['board']['id']}"
    call("GET", board)
    call("PATCH", board, json={"title": "Harbour"})
    call("POST", f"{items}/nodes", json={"id": "n3"})
    call("GET", f"{items}/nodes")
    call("GET", f"{items}/nodes/n3")
    call("PATCH", f"{items}/nodes/n3", json={"title": "Third"})
    call("POST", f"{items}/edges", json={"id": "e2", "source": "n2", "target": "n3"})
    call("GET", f"{items}/edges")
    call("GET", f"{items}/edges/e2")
    call("PATCH", f"{items}/edges/e2", json={"label": "pays"})
    call("DELETE", f"{items}/edges/e2")
    call("DELETE", f"{items}/nodes/n3")
    comment = call("POST", f"{items}/comments", json={"nodeId": "n1", "body": "Who paid?"}).get_json()["comment"]
    call("GET", f"{items}/comments")
    call("PATCH", f"{items}/comments/{comment['id']}", json={"body": "Who paid whom?"})
    call("DELETE", f"{items}/comments/{comment['id']}")
    uploaded = call("POST", f"{items}/attachments/upload", data={"file": (io.BytesIO(b"%PDF-1.4"), "a.pdf")})
    call("GET", uploaded.get_json()["attachment"]["url"])
    exported = call("GET", f"{board}/export")
    call("POST", f"{board}/import/validate", data={"file": (io.BytesIO(exported.data), "board.zip")})
    call("POST", f"{board}/import", data={"file": (io.BytesIO(exported.data), "board.zip")})
    call("GET", f"/projects/{project}/board")
    blog = call("POST", "/api/projects", json={"name": "Blog", "type": "blog"}).get_json()["id"]
    base = f"/api/projects/{blog}"
    call("PATCH", f"{base}/configure", json=configure_body(gitremote))
    call("GET", f"{base}/blog/post/all")
    file = call("POST", f"{base}/blog/post", json={"title": "New one", "body": "text"}).get_json()["post"]["file"]
    call("GET", f"{base}/blog/post/{file}")
    call("PATCH", f"{base}/blog/post/{file}", json={"title": "Renamed", "file": "renamed.md"})
    call("POST", f"{base}/blog/post/renamed.md")
    call("POST", f"{base}/blog/pull")
    call("GET", f"/projects/{blog}/blog")
    call("GET", f"/projects/{blog}/blog/new")
    call("GET", f"/projects/{blog}/blog/edit/renamed.md")
    call("DELETE", f"{base}/blog/post/renamed.md")
    call("DELETE", board)
    assert failed == []
    assert len(gitremote.log()) == 3  # the initial commit, the post's and its deletion's
