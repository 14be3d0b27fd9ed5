"""The blog parity pair: twin platforms (legacy-served and plugin-served Blog), their remotes and state checks.

The blog parity tests (tests/plugins/test_blog_*.py) drive a `BlogPair` with the same requests on both sides and
check that the answers are byte-identical and that the stored rows, the working clones and the remotes end up the
same. This module also proves the pair itself: that the plugin side is really served by the plugin, and that a
difference between the sides fails a test.

The remotes: each side pushes to a bare repository of its own (copies of one template), but both sides must be
configured with the same URL, or every answer and row that names it would differ. So both are configured with
`remotes/blog.git`, a symlink that `BlogPair` points at the serving side's repository before each request. Commit
dates come from the process environment (GIT_AUTHOR_DATE / GIT_COMMITTER_DATE), as in legacy, so commits made by
the two sides have the same hashes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, request
from werkzeug.test import Client, TestResponse
from werkzeug.wrappers import Response

from legacy_core.settings import Settings
from tests.fixtures.gitremote import BRANCH, CONTENT_DIR, GitRemote
from tests.fixtures.twins import Side, Twins, assert_same_answer

# A commit's hash covers its dates; pinning them in the environment both implementations pass to git makes the
# two sides' commits byte-identical (legacy sets no date itself).
COMMIT_DATE = "2026-03-01T09:30:00+00:00"
HOUR = timedelta(hours=1)  # the pinned clock moves on every read, so a missing or extra read shows in the data


def configure_body(url: str, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "repoUrl": url,
        "branch": BRANCH,
        "contentDir": CONTENT_DIR,
        "gitUserName": "Blog Bot",
        "gitUserEmail": "blog-bot@example.test",
    }
    body.update(overrides)
    return body


@dataclass
class BlogPair:
    """Twin platforms serving Blog from legacy and from the plugin, each with its own bare remote behind one URL."""

    twins: Twins
    link: Path
    origins: dict[str, GitRemote]
    reachable: bool = True
    projects: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.link.as_uri()

    def sides(self) -> Iterator[tuple[str, Side]]:
        yield "legacy", self.twins.legacy
        yield "plugin", self.twins.plugin

    def point(self, name: str) -> None:
        """Make the shared URL lead to `name`'s own remote (unless the test made the remote unreachable)."""
        if not self.reachable:
            return
        temporary = self.link.with_name(".blog.git.switch")
        temporary.unlink(missing_ok=True)
        temporary.symlink_to(self.origins[name].path, target_is_directory=True)
        os.replace(temporary, self.link)  # atomic: the link is always whole

    def unplug(self) -> None:
        """The remote goes away, as a dead server would."""
        self.reachable = False
        self.link.unlink(missing_ok=True)

    def plug(self) -> None:
        self.reachable = True

    def send(
        self, user: str | None, method: str, path: str, *, json_for: Callable[[Settings], Any] | None = None, **kw: Any
    ) -> tuple[TestResponse, TestResponse]:
        """The same request on both sides, the URL pointed at each side's remote first; not compared.

        `json_for(settings)` builds a side's JSON body, for bodies that must name a side's own folders.
        """
        answers = []
        for name, side in self.sides():
            self.point(name)
            extra = dict(kw)
            if json_for is not None:
                extra["json"] = json_for(side.platform.services.settings)
            answers.append(side.client(user).open(path, method=method, **extra))
        return answers[0], answers[1]

    def both(self, user: str | None, method: str, path: str, **kw: Any) -> tuple[TestResponse, TestResponse]:
        """`send`, and the answers must be identical (the twins fixture's `assert_same_answer`)."""
        legacy, plugin = self.send(user, method, path, **kw)
        assert_same_answer(f"{method} {path}", legacy, plugin)
        return legacy, plugin

    def json(self, user: str | None, method: str, path: str, **kw: Any) -> Any:
        """`both`, then the (shared) JSON answer."""
        return self.both(user, method, path, **kw)[0].get_json()

    # -- set-up -------------------------------------------------------------------------------------------------

    def user(self, name: str) -> None:
        self.twins.user(name)

    def project(self, owner: str, kind: str = "blog", name: str = "Blog") -> str:
        project_id = self.twins.project(owner, name, kind)
        self.projects.append(project_id)
        return project_id

    def share(self, owner: str, project_id: str, member: str, role: str) -> None:
        self.twins.share(owner, project_id, member, role)

    def blog(self, owner: str = "alice", **overrides: Any) -> str:
        """A blog project of `owner` configured on the shared URL; its id."""
        project_id = self.project(owner)
        answer = self.json(
            owner, "PATCH", f"/api/projects/{project_id}/configure", json=configure_body(self.url, **overrides)
        )
        assert answer["ok"] is True, answer
        return project_id

    # -- behind the app's back ----------------------------------------------------------------------------------

    def workdirs(self, project_id: str) -> dict[str, Path]:
        return {name: side.platform.services.settings.blog_root / project_id / "repo" for name, side in self.sides()}

    def write_post(self, project_id: str, file: str, text: str) -> None:
        """Put a file in both working clones, as an editor with shell access would."""
        for workdir in self.workdirs(project_id).values():
            path = workdir / CONTENT_DIR / file
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")

    def commit_elsewhere(self, file: str, text: str, message: str = "Edit from elsewhere") -> str:
        """A colleague pushes the same commit to both remotes, which move ahead of the working clones."""
        heads = {origin.commit_elsewhere(file, text, message) for origin in self.origins.values()}
        assert len(heads) == 1, heads  # pinned dates: the same commit on both sides
        return heads.pop()

    # -- comparing state ----------------------------------------------------------------------------------------

    def assert_same_state(self) -> None:
        """Same rows, same files in the blog folders, same clone state (git's too) and the same remote history."""
        self.twins.assert_same_state(lambda settings: settings.blog_root)
        clones = {name: clone_state(side.platform.services.settings.blog_root) for name, side in self.sides()}
        assert clones["plugin"] == clones["legacy"]
        histories = {name: history(origin.path) for name, origin in self.origins.items()}
        assert histories["plugin"] == histories["legacy"]


def run_git(*args: str, cwd: Path) -> str:
    result = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout


def clone_state(blog_root: Path) -> dict[str, Any]:
    """What stored_files leaves out of each working clone: HEAD, index, refs and the pending renames file."""
    state: dict[str, Any] = {}
    if not blog_root.exists():
        return state
    for project in sorted(blog_root.iterdir()):
        clone = project / "repo"
        if not (clone / ".git").is_dir():
            state[project.name] = None
            continue
        renames = clone / ".git" / "sovereign-renames.json"
        state[project.name] = {
            "refs": run_git("for-each-ref", "--format=%(refname) %(objectname)", cwd=clone),
            "head": run_git("rev-parse", "HEAD", cwd=clone),
            "status": run_git("status", "--porcelain=v1", "--untracked-files=all", cwd=clone),
            "staged": run_git("diff", "--cached", "--name-status", "HEAD", cwd=clone),
            "renames": renames.read_text(encoding="utf-8") if renames.exists() else None,
        }
    return state


def history(remote: Path) -> str:
    """Every commit on every branch of a remote: hash, tree, parents, author, committer, dates and message."""
    return run_git("log", "--all", "--date=raw", "--format=%H %T %P|%an <%ae> %ad|%cn <%ce> %cd|%B", cwd=remote)


def pair_maker(
    twins_factory: Callable[..., Twins], template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., BlogPair]:
    """A function making the test's BlogPair (once), with user `alice` signed in on both sides.

    Its keyword arguments are settings overrides (and `clock_step`); the remotes are copies of the gitremote
    fixture's template, under `tmp_path/remotes`, the folder the test settings allow local remotes in. Test modules
    wrap it in a fixture of their own (a fixture imported from here would shadow its own name in ruff's eyes).
    """
    monkeypatch.setenv("GIT_AUTHOR_DATE", COMMIT_DATE)
    monkeypatch.setenv("GIT_COMMITTER_DATE", COMMIT_DATE)

    def make(
        *, clock_step: timedelta = HOUR, prepare: Callable[[Twins], None] | None = None, **overrides: Any
    ) -> BlogPair:
        remotes = tmp_path / "remotes"
        remotes.mkdir(exist_ok=True)
        origins = {}
        for name in ("legacy", "plugin"):
            scratch = tmp_path / f"scratch-{name}"
            scratch.mkdir()
            origins[name] = GitRemote(path=remotes / f"{name}.git", scratch=scratch)
            shutil.copytree(template, origins[name].path, symlinks=True)
        twins = twins_factory("blog", clock_step=clock_step, **overrides)
        if prepare is not None:  # before any request: Flask refuses new hooks on an app that has served one
            prepare(twins)
        made = BlogPair(twins, remotes / "blog.git", origins)
        made.user("alice")
        return made

    return make


@pytest.fixture
def pair(
    twins_factory: Callable[..., Twins],
    gitremote_template: Path,
    no_global_git_identity: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> BlogPair:
    return pair_maker(twins_factory, gitremote_template, tmp_path, monkeypatch)()


def post_url(project_id: str, file: str = "") -> str:
    base = f"/api/projects/{project_id}/blog/post"
    return f"{base}/{file}" if file else base


# -- the pair itself ---------------------------------------------------------------------------------------------


def legacy_teapot(app: Flask) -> None:
    """Make a legacy app answer 418 on every blog path, so any blog answer it gives is unmistakable."""

    @app.before_request
    def _teapot() -> Response | None:
        blog_path = "/blog" in request.path or request.path.endswith("/configure")
        return Response("legacy answered", status=418) if blog_path else None


def walk_through(pair: BlogPair) -> None:
    """A short tour of the blog: configure, write, publish, list, read, delete, pull, one page."""
    project_id = pair.blog()
    created = pair.json("alice", "POST", post_url(project_id), json={"title": "Hello there", "body": "Hi\n"})
    assert created["post"]["file"] == "hello-there.md"
    assert pair.json("alice", "POST", post_url(project_id, "hello-there.md"))["commit"] is not None
    assert len(pair.json("alice", "GET", post_url(project_id, "all"))["posts"]) == 3
    assert pair.json("alice", "GET", post_url(project_id, "first-post"))["post"]["status"] == "Published"
    assert pair.json("alice", "DELETE", post_url(project_id, "second-post.md"))["commit"] is not None
    assert pair.json("alice", "POST", f"/api/projects/{project_id}/blog/pull")["updated"] is False
    pair.both("alice", "GET", f"/projects/{project_id}/blog")
    pair.assert_same_state()


def test_blog_pair_plugin_side_is_answered_by_the_plugin(
    twins_factory: Callable[..., Twins],
    gitremote_template: Path,
    no_global_git_identity: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The plugin platform's legacy app answers 418 on blog paths: every answer of that side that still equals the
    # legacy platform's came from the plugin.
    make = pair_maker(twins_factory, gitremote_template, tmp_path, monkeypatch)
    pair = make(prepare=lambda twins: legacy_teapot(twins.plugin.platform.legacy.app))
    walk_through(pair)
    poisoned = Client(pair.twins.plugin.platform.legacy.app)  # the poison works: asked directly, legacy says 418
    assert poisoned.get(post_url(pair.projects[0], "all")).status_code == 418


def test_blog_pair_fails_when_the_sides_answer_differently(
    twins_factory: Callable[..., Twins],
    gitremote_template: Path,
    no_global_git_identity: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    make = pair_maker(twins_factory, gitremote_template, tmp_path, monkeypatch)
    pair = make(prepare=lambda twins: legacy_teapot(twins.legacy.platform.legacy.app))
    project_id = pair.project("alice")
    with pytest.raises(AssertionError):
        pair.both("alice", "GET", f"/api/projects/{project_id}/configure")


def test_blog_pair_fails_when_the_sides_store_differently(pair: BlogPair) -> None:
    project_id = pair.blog()
    pair.assert_same_state()
    workdirs = pair.workdirs(project_id)
    # A file in one working clone only.
    (workdirs["plugin"] / "stray.txt").write_text("only here", encoding="utf-8")
    with pytest.raises(AssertionError):
        pair.assert_same_state()
    (workdirs["plugin"] / "stray.txt").unlink()
    # A pending rename on one side only (git's folder, which the fixture's file comparison leaves out).
    (workdirs["legacy"] / ".git" / "sovereign-renames.json").write_text("{}", encoding="utf-8")
    with pytest.raises(AssertionError):
        pair.assert_same_state()
    (workdirs["legacy"] / ".git" / "sovereign-renames.json").unlink()
    # A commit on one remote only.
    pair.origins["plugin"].commit_elsewhere("elsewhere.md", "x\n")
    with pytest.raises(AssertionError):
        pair.assert_same_state()


def test_blog_pair_gives_each_side_its_own_remote_behind_one_url(pair: BlogPair) -> None:
    project_id = pair.blog()
    assert pair.json("alice", "POST", post_url(project_id), json={"title": "Mine", "body": ""})["ok"] is True
    commit = pair.json("alice", "POST", post_url(project_id, "mine.md"))["commit"]
    for origin in pair.origins.values():
        assert origin.log() == ["Publish mine.md", "Initial commit"]
        assert origin.head() == commit  # pinned dates: the same commit, pushed to two repositories
        assert origin.author() == "Blog Bot <blog-bot@example.test>"
    assert pair.link.is_symlink() and pair.link.resolve() in {origin.path for origin in pair.origins.values()}
    pair.assert_same_state()
