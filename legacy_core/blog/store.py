"""The working clone of one blog project: reading and writing post files, publishing and deleting through git.

Layout under `settings.blog_root/<projectId>/`: `repo/` is the clone, `lock` serialises every operation on it
(an flock, so it also holds across gunicorn workers), and `repo/.git/sovereign-renames.json` remembers, for a
renamed post that is not yet published, the name it has in the last commit, so publishing or deleting it also
commits the removal of that old name.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from legacy_core.blog import frontmatter
from legacy_core.blog.config import RepoConfig
from legacy_core.blog.errors import FrontMatterError, GitError, GitTimeout, PostExists, PostNotFound, PullRefused
from legacy_core.blog.frontmatter import Document
from legacy_core.blog.posts import Post, is_post_name, listing_key

RENAMES_FILE = "sovereign-renames.json"


@dataclass(frozen=True)
class DeleteOutcome:
    commit: str | None
    pushed: bool
    warning: str | None = None


@dataclass(frozen=True)
class PullOutcome:
    head: str
    updated: bool


@contextlib.contextmanager
def project_lock(root: Path) -> Iterator[None]:
    """Hold the blog project's lock (blocking) for the duration of the block."""
    root.mkdir(parents=True, exist_ok=True)
    with open(root / "lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def clone_into(root: Path, config: RepoConfig) -> Path:
    """Clone the configured branch into a fresh folder under `root` and return it; the caller installs it.

    Raises GitError with git's reason when the remote cannot be read, and a GitError naming the known branches
    when the branch does not exist. Nothing is left behind on failure.
    """
    root.mkdir(parents=True, exist_ok=True)
    git = config.git(root)
    branches = git.remote_branches(config.repo_url)
    if config.branch not in branches:
        known = ", ".join(repr(name) for name in sorted(branches)) or "none (the repository is empty)"
        raise GitError(
            f"git ls-remote --heads -- {config.repo_url}",
            0,
            f"branch {config.branch!r} does not exist in the repository; its branches: {known}",
        )
    target = Path(tempfile.mkdtemp(prefix="clone-", dir=root))
    try:
        git.clone(config.repo_url, target / "repo", config.branch)
    except BaseException:
        shutil.rmtree(target, ignore_errors=True)
        raise
    return target


def install_clone(root: Path, cloned: Path) -> None:
    """Move a clone made by `clone_into` to `root/repo`, replacing a stale one, and drop its temporary folder."""
    workdir = root / "repo"
    if workdir.exists():
        shutil.rmtree(workdir)
    os.replace(cloned / "repo", workdir)
    shutil.rmtree(cloned, ignore_errors=True)


class BlogStore:
    """Post files and git operations on one project's working clone; call its methods inside `locked()`."""

    def __init__(self, root: Path, config: RepoConfig):
        self.root = root
        self.config = config
        self.workdir = root / "repo"
        self.git = config.git(self.workdir)

    @contextlib.contextmanager
    def locked(self) -> Iterator[BlogStore]:
        """The store under the project lock, with the working clone present (cloned again when it went missing)."""
        with project_lock(self.root):
            if not (self.workdir / ".git").is_dir():
                install_clone(self.root, clone_into(self.root, self.config))
            yield self

    # -- paths ------------------------------------------------------------------------------------------------

    @property
    def content_folder(self) -> Path:
        folder = self.workdir / self.config.content_dir
        # A symlinked folder in the repository must not lead the API outside the working clone.
        if not folder.resolve().is_relative_to(self.workdir.resolve()):
            raise PostNotFound(f"content folder {self.config.content_dir!r} leads outside the repository")
        return folder

    def repo_path(self, file: str) -> str:
        """The path git knows `file` by (relative to the repository root, with '/')."""
        return f"{self.config.content_dir}/{file}"

    def _file(self, file: str) -> Path:
        return self.content_folder / file

    def exists(self, file: str) -> bool:
        path = self._file(file)
        return path.is_file() and not path.is_symlink()

    def _require(self, file: str) -> Path:
        if not self.exists(file):
            raise PostNotFound(file)
        return self._file(file)

    # -- reading ----------------------------------------------------------------------------------------------

    def _read(self, file: str) -> Post:
        path = self._require(file)
        with open(path, encoding="utf-8", errors="replace", newline="") as handle:
            text = handle.read()
        return Post(file, frontmatter.parse(text, name=file))

    def read(self, file: str) -> tuple[Post, bool]:
        """The post and whether it has changes not yet committed; FrontMatterError when unreadable."""
        post = self._read(file)
        return post, self.repo_path(file) in self.git.changed_paths(self.repo_path(file))

    def summaries(self) -> list[dict[str, Any]]:
        """Summaries of every post in the content folder, newest first; unreadable front matter counts as none."""
        folder = self.content_folder
        if not folder.is_dir():
            return []
        changed = self.git.changed_paths(self.config.content_dir)
        summaries: list[dict[str, Any]] = []
        for entry in sorted(folder.iterdir()):
            if not is_post_name(entry.name) or not self.exists(entry.name):
                continue
            try:
                post = self._read(entry.name)
            except FrontMatterError:
                post = Post(entry.name, Document({}, ""))
            summaries.append(post.summary(self.repo_path(entry.name) in changed))
        summaries.sort(key=listing_key)
        return summaries

    # -- writing (no commit) ----------------------------------------------------------------------------------

    def _write(self, file: str, document: Document) -> None:
        folder = self.content_folder
        folder.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=".tmp-", dir=folder)
        try:
            with os.fdopen(handle, "w", encoding="utf-8", newline="") as out:
                out.write(frontmatter.dump(document))
            os.chmod(temporary, 0o644)
            os.replace(temporary, folder / file)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
            raise

    def create(self, file: str, document: Document) -> None:
        if self._file(file).exists() or self._file(file).is_symlink():
            raise PostExists(file)
        self._write(file, document)

    def update(self, file: str, document: Document, *, new_file: str | None = None) -> str:
        """Rewrite a post, renaming it when `new_file` differs; returns the post's (new) name."""
        self._require(file)
        if new_file is None or new_file == file:
            self._write(file, document)
            return file
        if self._file(new_file).exists() or self._file(new_file).is_symlink():
            raise PostExists(new_file)
        renames = self._renames()
        origin = renames.pop(file, None) or (file if self.git.in_head(self.repo_path(file)) else None)
        if origin is not None and origin != new_file:
            renames[new_file] = origin
        self._write(new_file, document)  # the new file first: a crash in between leaves a copy, never nothing
        os.unlink(self._file(file))
        self._save_renames(renames)
        return new_file

    # -- committing -------------------------------------------------------------------------------------------

    def _paths_with_origin(self, file: str) -> tuple[list[str], list[str]]:
        """The repo path of `file` and, when it is an unpublished rename, the committed old name to remove."""
        origin = self._renames().get(file)
        if origin is None or self.exists(origin) or not self.git.in_head(self.repo_path(origin)):
            return [self.repo_path(file)], []
        return [self.repo_path(file)], [self.repo_path(origin)]

    def publish(self, file: str) -> str | None:
        """Commit `file` (and the removal of its old name) as "Publish <file>" and push it; None when unchanged.

        When the push fails (PushRejected or another GitError) the commit is undone - the branch moves back and
        the changes stay staged - so the working clone never holds a commit the remote refused.
        """
        self._require(file)
        present, gone = self._paths_with_origin(file)
        self.git.stage(present)
        if gone:
            self.git.remove(gone)
        paths = present + gone
        if not self.git.has_staged_changes(paths):
            return None
        before = self.git.head()
        commit = self.git.commit(f"Publish {file}", paths)
        try:
            self.git.push(self.config.branch)
        except GitError:
            self.git.reset_soft(before)
            raise
        self._forget_rename(file)
        return commit

    def delete(self, file: str) -> DeleteOutcome:
        """Remove `file`, commit "Delete <file>" and push; a failed push leaves the local commit in place.

        A post that was never committed is just removed from disk (commit None, nothing to push).
        """
        path = self._require(file)
        present, gone = self._paths_with_origin(file)
        paths = present + gone
        self.git.remove(paths)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()  # an untracked post: git rm leaves it alone
        if not self.git.has_staged_changes(paths):
            self._forget_rename(file)
            return DeleteOutcome(commit=None, pushed=False)
        # Only paths of the last commit can be named: a post that was merely staged is now unknown to git.
        commit = self.git.commit(f"Delete {file}", [path for path in paths if self.git.in_head(path)])
        self._forget_rename(file)
        try:
            self.git.push(self.config.branch)
        except GitError as exc:
            return DeleteOutcome(commit=commit, pushed=False, warning=str(exc))
        return DeleteOutcome(commit=commit, pushed=True)

    # -- catching up with the remote -------------------------------------------------------------------------

    def pull(self) -> PullOutcome:
        """Fetch the configured branch and fast-forward the working clone to it; uncommitted changes stay.

        A working clone already at (or ahead of) the remote branch is left as it is (`updated` false). PullRefused,
        with nothing changed, when the clone has commits the remote lacks while the remote moved on too (a delete
        whose push failed), or when uncommitted changes touch files the remote changed.
        """
        branch = self.config.branch
        remote = self.git.fetch(branch)
        head = self.git.head()
        if self.git.is_ancestor(remote, head):
            return PullOutcome(head, updated=False)
        if not self.git.is_ancestor(head, remote):
            local_only = self.git.count_commits(remote, head)
            remote_only = self.git.count_commits(head, remote)
            raise PullRefused(
                f"the working copy has {local_only} commit(s) the branch {branch!r} of {self.config.repo_url} lacks, "
                f"and that branch has {remote_only} commit(s) the working copy lacks, so it cannot be fast-forwarded; "
                "nothing was changed; the two histories need merging with git in the working copy before a pull works"
            )
        conflicts = sorted(self.git.changed_paths(".") & self.git.paths_between(head, remote))
        if conflicts:
            raise PullRefused(self._conflict_message(conflicts))
        try:
            self.git.fast_forward(remote)
        except GitTimeout:
            raise
        except GitError as exc:  # e.g. an untracked file where the remote now has a folder: git changed nothing
            raise PullRefused(f"cannot fast-forward the working copy, nothing was changed: {exc.reason}") from exc
        return PullOutcome(remote, updated=True)

    def _conflict_message(self, paths: list[str]) -> str:
        prefix = f"{self.config.content_dir}/"
        names = [path.removeprefix(prefix) for path in paths]
        return (
            f"unpublished changes to {', '.join(repr(name) for name in names)} would be overwritten by the remote's "
            f"version (branch {self.config.branch!r} of {self.config.repo_url}), so nothing was changed; these "
            "edits conflict with the remote's and need resolving with git in the working copy before a pull works"
        )

    # -- renames not yet published ----------------------------------------------------------------------------

    def _renames_path(self) -> Path:
        return self.workdir / ".git" / RENAMES_FILE

    def _renames(self) -> dict[str, str]:
        try:
            data = json.loads(self._renames_path().read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            return {}
        return {str(key): str(value) for key, value in data.items()} if isinstance(data, dict) else {}

    def _save_renames(self, renames: dict[str, str]) -> None:
        self._renames_path().write_text(json.dumps(renames, sort_keys=True), encoding="utf-8")

    def _forget_rename(self, file: str) -> None:
        renames = self._renames()
        if renames.pop(file, None) is not None:
            self._save_renames(renames)
