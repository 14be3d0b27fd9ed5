"""The state check: a read that writes (a file, a row, a git commit) is reported on that read, whichever way the
harness learns that a side's folders changed (inotify, or the stat walk that stands in for it), and what git
rewrites while only reading is no change."""

from __future__ import annotations

import errno
import os
import shutil
import sqlite3
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exthost.evidence.compare import CapturedRequest
from parity_tests.changes import FolderWatch, WatchUnavailable
from parity_tests.pair import Pair, Side, build_pair
from parity_tests.state import Layout, StateReader, commit_dates, sqlite_rows, sqlite_tables, stored_rows

WATCHES = pytest.mark.parametrize("inotify", [True, False], ids=["inotify", "stat-walk"])


@pytest.fixture(scope="module")
def shared_pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    pair = build_pair(tmp_path_factory.mktemp("state") / "ws")
    yield pair
    pair.close()


@pytest.fixture(params=[True, False], ids=["inotify", "stat-walk"])
def pair(shared_pair: Pair, request: pytest.FixtureRequest) -> Iterator[Pair]:
    """The shared pair, its readers starting afresh with inotify on or off."""
    for side in shared_pair.sides:
        side.reader.close()
        side.reader = StateReader(
            side.reader.engine,
            side.reader.database,
            side.reader.data_dir,
            side.reader.blog_root,
            side.reader.remote,
            inotify=request.param,
        )
    yield shared_pair


class _Writing:
    """A side's platform that does `action` before answering each request (a read that writes)."""

    def __init__(self, platform: Any, action: Callable[[], None]):
        self._platform = platform
        self._action = action

    def __call__(self, environ: Any, start_response: Any) -> Any:
        self._action()
        return self._platform(environ, start_response)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._platform, name)


def _read_while(pair: Pair, side: Side, action: Callable[[], None]) -> Any:
    """A board GET (which writes nothing by itself) on a fresh case, then the same GET while `side` does `action`:
    the second exchange."""
    pair.start_case(user="alice")
    project = pair.seed.projects["papertrail"]
    request = CapturedRequest("GET", f"/api/projects/{project['id']}/papertrail/board")
    first = pair.exchange(0, request)
    assert first.match and not first.state, first
    original = side.platform
    side.platform = _Writing(original, action)  # type: ignore[assignment]
    try:
        return pair.exchange(1, request)
    finally:
        side.platform = original


def _git(*args: str, cwd: Path) -> None:
    with commit_dates():
        subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def _clone(pair: Pair, side: Side) -> Path:
    return side.reader.blog_root / pair.seed.projects["blog"]["id"] / "repo"


def test_a_read_that_writes_a_file_is_reported_on_that_read(pair: Pair) -> None:
    side = pair.plugin
    target = side.reader.data_dir / "papertrail" / "read-receipt.txt"

    def write() -> None:  # in a folder of its own, new since the harness last looked
        target.parent.mkdir(exist_ok=True)
        target.write_text("seen")

    exchange = _read_while(pair, side, write)
    assert [difference.pointer for difference in exchange.state] == ["/state/files/papertrail~1read-receipt.txt"]


def test_a_read_that_rewrites_a_file_in_place_is_reported(pair: Pair) -> None:
    side = pair.plugin
    post = next(path for path in (_clone(pair, side) / "src").rglob("*.md"))

    def rewrite() -> None:
        data = post.read_bytes()
        with open(post, "r+b") as stream:  # same size, same folder entries: only the content differs
            stream.write(bytes([data[0] ^ 1]))

    exchange = _read_while(pair, side, rewrite)
    assert "files" in {difference.pointer.split("/")[2] for difference in exchange.state}, exchange.state


def test_a_read_that_writes_a_row_is_reported_on_that_read(pair: Pair) -> None:
    side = pair.legacy

    def write_row() -> None:
        with sqlite3.connect(side.reader.database) as connection:
            connection.execute("UPDATE users SET name = 'renamed' WHERE email LIKE 'alice%'")

    exchange = _read_while(pair, side, write_row)
    assert [difference.pointer.rsplit("/", 1)[-1] for difference in exchange.state] == ["name"], exchange.state


def test_a_read_that_commits_through_git_is_reported_on_that_read(pair: Pair) -> None:
    side = pair.plugin
    clone = _clone(pair, side)

    def commit() -> None:
        _git("-c", "user.name=x", "-c", "user.email=x@example.test", "commit", "--allow-empty", "-m", "read", cwd=clone)

    exchange = _read_while(pair, side, commit)
    pointers = {difference.pointer.split("/")[2] for difference in exchange.state}
    assert "clones" in pointers, exchange.state


def test_a_read_that_pushes_to_the_remote_is_reported_on_that_read(pair: Pair) -> None:
    side = pair.plugin
    clone = _clone(pair, side)

    def push() -> None:
        _git("-c", "user.name=x", "-c", "user.email=x@example.test", "commit", "--allow-empty", "-m", "read", cwd=clone)
        _git("push", "--quiet", str(side.reader.remote), "HEAD", cwd=clone)

    exchange = _read_while(pair, side, push)
    pointers = {difference.pointer.split("/")[2] for difference in exchange.state}
    assert "remote" in pointers, exchange.state


def test_git_status_rewriting_its_index_is_no_change(pair: Pair) -> None:
    side = pair.plugin
    clone = _clone(pair, side)
    os.utime(next(clone.rglob("*.md")))  # a stale stat in the index: `git status` rewrites it
    exchange = _read_while(pair, side, lambda: _git("status", "--porcelain", cwd=clone))
    assert exchange.match and not exchange.state, exchange
    assert not side.reader.changed()


def test_a_reset_folder_is_watched_again(pair: Pair) -> None:
    # A case that wrote files makes the next reset copy the folders back from the template (new folders, the
    # watched ones gone): a read that writes in the next case must still be seen.
    side = pair.plugin
    root = side.reader.data_dir
    _read_while(pair, side, lambda: (root / "first.txt").write_text("one"))
    exchange = _read_while(pair, side, lambda: (root / "second.txt").write_text("two"))
    assert [difference.pointer for difference in exchange.state] == ["/state/files/second.txt"]


# --- the folder watch itself ---


def _watch(*roots: Path) -> FolderWatch:
    watch = FolderWatch.open(roots, lambda folder, name: name == "index" and folder.endswith(".git"))
    if watch is None:
        pytest.skip("inotify is not available here")
    return watch


def test_folder_watch_sees_writes_in_folders_created_since_it_looked(tmp_path: Path) -> None:
    watch = _watch(tmp_path)
    assert not watch.changed()
    (tmp_path / "new" / "deeper").mkdir(parents=True)
    assert watch.changed()
    watch.mark()
    assert not watch.changed()
    (tmp_path / "new" / "deeper" / "file").write_text("x")
    assert watch.changed()
    assert watch.changed(under=[tmp_path / "new"])
    assert not watch.changed(under=[tmp_path / "other"])
    watch.close()


def test_folder_watch_keeps_volatile_entries_apart(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    watch = _watch(tmp_path)
    (tmp_path / ".git" / "index").write_text("refreshed")
    assert not watch.changed()
    assert watch.changed(volatile=True)
    watch.close()


def test_folder_watch_sees_a_replaced_root_and_a_missing_one_appearing(tmp_path: Path) -> None:
    root, later = tmp_path / "root", tmp_path / "later"
    (root / "sub").mkdir(parents=True)
    watch = _watch(root, later)
    assert not watch.changed()
    shutil.rmtree(root)
    (root / "sub").mkdir(parents=True)
    assert watch.changed()
    watch.mark()
    (root / "sub" / "file").write_text("x")
    assert watch.changed()
    watch.mark()
    assert not watch.changed()
    later.mkdir()
    assert watch.changed()
    watch.close()


def test_rows_read_with_sqlite3_are_the_rows_read_through_sqlalchemy(shared_pair: Pair) -> None:
    shared_pair.start_case(user="alice")
    side = shared_pair.legacy
    with sqlite3.connect(side.reader.database) as connection:
        fast = sqlite_rows(connection, sqlite_tables(connection))
    assert fast == stored_rows(side.reader.engine)
    assert fast["users"] and fast["auth_sessions"]


def test_inotify_running_out_of_watches_mid_run_falls_back_to_the_walk(
    shared_pair: Pair, monkeypatch: pytest.MonkeyPatch
) -> None:
    for side in shared_pair.sides:
        side.reader.close()
        side.reader = StateReader(
            side.reader.engine, side.reader.database, side.reader.data_dir, side.reader.blog_root, side.reader.remote
        )

    def no_watch_left(*args: Any, **kwargs: Any) -> bool:
        raise WatchUnavailable(errno.ENOSPC, "inotify_add_watch: No space left on device")

    folder = shared_pair.plugin.platform.services.settings.DATA_DIR / "late"
    shared_pair.start_case(user="alice")
    monkeypatch.setattr(FolderWatch, "changed", no_watch_left)
    monkeypatch.setattr(FolderWatch, "mark", no_watch_left)

    def write() -> None:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "note.txt").write_text("written while only reading", encoding="utf-8")

    exchange = _read_while(shared_pair, shared_pair.plugin, write)
    assert any(difference.pointer.startswith("/state/files/late") for difference in exchange.state), exchange.state
    assert shared_pair.plugin.reader._folders is None  # walking from now on


# -- resetting a side's folders ---------------------------------------------------------------------------------------

NAMES = st.sampled_from(["a", "b", "c.txt", "d.json"])
RELATIVE = st.lists(NAMES, min_size=1, max_size=3).map(lambda parts: "/".join(parts))
ACTIONS = st.sampled_from(["write", "append", "remove", "folder", "touch", "link", "dirlink", "emptyfile"])
CHANGES = st.lists(st.tuples(ACTIONS, RELATIVE, st.binary(max_size=8)), max_size=8)


def tree_of(root: Path) -> dict[str, Any]:
    """Every entry under `root`: a file's bytes and time, a link's target, a folder as such."""
    found: dict[str, Any] = {}
    for folder, folders, names in os.walk(root):
        for name in folders + names:
            path = Path(folder) / name
            key = path.relative_to(root).as_posix()
            if path.is_symlink():
                found[key] = ("link", os.readlink(path))
            elif path.is_dir():
                found[key] = "folder"
            else:
                found[key] = (path.read_bytes(), path.stat().st_mtime_ns)
    return found


def change(root: Path, what: str, relative: str, data: bytes, elsewhere: Path | None = None) -> None:
    """One change a request could make under `root` (each failing quietly where the tree does not allow it);
    `elsewhere`: a folder a hostile case links to in place of one of its own (the template's, say)."""
    path = root / relative
    try:
        if what == "dirlink" and elsewhere is not None:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            elif path.is_symlink() or path.exists():
                path.unlink()
            path.parent.mkdir(parents=True, exist_ok=True)
            path.symlink_to(elsewhere, target_is_directory=True)
        elif what == "emptyfile":  # empty, and from the epoch: a signature must still tell it from a folder
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"")
            os.utime(path, ns=(0, 0))
        elif what == "remove":
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
        elif what == "folder":
            path.mkdir(parents=True)
        elif what == "link":
            path.parent.mkdir(parents=True, exist_ok=True)
            path.symlink_to("elsewhere")
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            if what == "touch":
                os.utime(path, ns=(1, 1))
            else:
                with path.open("ab" if what == "append" else "wb") as stream:
                    stream.write(data)
    except OSError:
        pass


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(template_changes=CHANGES, case_changes=st.lists(CHANGES, min_size=1, max_size=3))
def test_a_reset_puts_back_exactly_the_template_whatever_the_case_changed(
    tmp_path: Path, template_changes: list[Any], case_changes: list[list[Any]]
) -> None:
    """Only the entries a case changed are copied back, yet after every reset the side's folders are the template's:
    the same entries, bytes, times and links (files added are gone, folders turned into files and back restored)."""
    root = Path(tempfile.mkdtemp(dir=tmp_path))
    layout = Layout(root)
    layout.template.mkdir()
    sqlite3.connect(layout.database("template")).close()
    template = layout.template / "data"
    (template / "a").mkdir(parents=True)
    (template / "a" / "c.txt").write_bytes(b"seeded")
    for what, relative, data in template_changes:
        change(template, what, relative, data)
    expected = tree_of(template)
    # A folder outside the side for hostile links to lead into (as one could lead into the template): a reset must
    # never write through them.
    bait = root / "bait"
    shutil.copytree(template, bait, symlinks=True)
    (bait / "a").mkdir(exist_ok=True)
    layout.reset("legacy")
    side = layout.data("legacy")
    assert tree_of(side) == expected
    copies = []
    whole = shutil.copytree
    with mock.patch.object(shutil, "copytree", lambda *a, **k: copies.append(a) or whole(*a, **k)):
        for changes in case_changes:
            for what, relative, data in changes:
                change(side, what, relative, data, elsewhere=bait / "a")
            baited = tree_of(bait)
            layout.reset("legacy")
            assert tree_of(side) == expected
            assert tree_of(bait) == baited and tree_of(template) == expected
    assert copies == [], "the folder was copied whole, not put back entry by entry"


@pytest.mark.parametrize("form", ["uri", "path"])
def test_git_reaches_the_side_s_own_remote_through_the_shared_url(tmp_path: Path, form: str) -> None:
    """`Layout.remote_of`: the shared URL (as a file:// URI or a plain path) leads git to the side's remote, whatever
    the link points at, and nothing of it is left in the environment afterwards."""
    layout = Layout(tmp_path / "ws")
    for name in ("legacy", "plugin"):
        remote = layout.remote(name)
        subprocess.run(["git", "init", "-q", "--bare", str(remote)], check=True)
        work = tmp_path / f"work-{name}"
        subprocess.run(["git", "init", "-q", "-b", f"only-{name}", str(work)], check=True)
        identity = ["-c", "user.name=T", "-c", "user.email=t@example.test"]
        subprocess.run(["git", *identity, "-C", str(work), "commit", "-q", "--allow-empty", "-m", name], check=True)
        subprocess.run(["git", "-C", str(work), "push", "-q", str(remote), f"only-{name}"], check=True)
    layout.point("legacy")
    shared = layout.remote_url if form == "uri" else str(layout.link)
    before = dict(os.environ)

    def heads() -> str:
        listed = subprocess.run(["git", "ls-remote", "--heads", shared], check=True, capture_output=True, text=True)
        return listed.stdout

    assert "only-legacy" in heads()
    with layout.remote_of("plugin"):
        assert "only-plugin" in heads() and "only-legacy" not in heads()
    with layout.remote_of("legacy"):
        assert "only-legacy" in heads()
    assert dict(os.environ) == before


def test_git_s_messages_name_the_shared_remote_in_both_sides_answers(tmp_path: Path) -> None:
    """Through `remote_of` git names the side's own remote in what it prints (here a refused push), which the blog
    puts in its error bodies; `as_shared` writes it back as the shared remote, as both sides gave it."""
    from exthost.evidence.compare import CapturedResponse

    layout = Layout(tmp_path / "ws")
    for name in ("legacy", "plugin"):
        subprocess.run(["git", "init", "-q", "--bare", str(layout.remote(name))], check=True)
    layout.point("legacy")
    empty = tmp_path / "empty"
    subprocess.run(["git", "init", "-q", str(empty)], check=True)
    answers = {}
    for name in ("legacy", "plugin"):
        with layout.remote_of(name):
            pushed = subprocess.run(
                ["git", "-C", str(empty), "push", layout.remote_url, "HEAD:refs/heads/main"],
                capture_output=True,
                text=True,
            )
        assert pushed.returncode != 0 and str(layout.remote(name)) in pushed.stderr
        answer = CapturedResponse(502, (("X-Reason", pushed.stderr.splitlines()[-1]),), pushed.stderr.encode())
        answers[name] = layout.as_shared(name, answer)
    assert answers["legacy"] == answers["plugin"]
    assert str(layout.link).encode() in answers["plugin"].body and b"/plugin/" not in answers["plugin"].body
