"""One blog project's working clone: post files on disk, and publishing, deleting and pulling through git.

The layout is the legacy feature's, shared with it on purpose (`ctx.feature_dir/<projectId>/`): `repo/` is the
clone and `lock` an flock that serialises every operation on it, across processes and across the two
implementations. `repo/.git/sovereign-renames.json` maps a renamed, unpublished post to the name it has in the
last commit, so publishing or deleting it also commits the old name's removal; its format is legacy's too.
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

from .errors import FrontMatterInvalid, GitFailed, GitTimedOut, PostMissing, PostTaken, PullRefused, PushRefused
from .frontmatter import Document, read_document, write_document
from .gitcli import HEADS, GitCli
from .models import BlogRepo
from .posts import Post, is_listed, listing_order

CLONE = "repo"
LOCK = "lock"
RENAMES = "sovereign-renames.json"


@dataclass(frozen=True)
class Deletion:
    """What a delete did: its commit (None when the post was never committed) and whether the push worked."""

    commit: str | None
    pushed: bool
    warning: str | None = None


@dataclass(frozen=True)
class Pull:
    head: str
    updated: bool


def dirty_paths(git: GitCli, pathspec: str) -> set[str]:
    """Repository paths under `pathspec` whose working or staged state is not HEAD's (untracked ones included)."""
    # A `-z` status entry is two status letters, a space, then the path, unquoted.
    return {entry[3:] for entry in git("status", pathspec).items if len(entry) > 3}


def in_head(git: GitCli, path: str) -> bool:
    return git("in-head", path).text != ""


def index_differs(git: GitCli, paths: list[str]) -> bool:
    """True when staging left something for a commit of `paths` to record."""
    return git("index-differs", *paths).returncode == 1


def commit_only(git: GitCli, message: str, paths: list[str]) -> str:
    """Record exactly `paths` (other staged work is left staged) and answer the commit's id."""
    git("commit", *paths, message=message)
    return git("resolve", rev="HEAD").text


def push_branch(git: GitCli, branch: str) -> None:
    """Send HEAD to the remote branch; a non-fast-forward answer becomes PushRefused."""
    answer = git("push", branch=branch)
    if answer.returncode == 0:
        return
    # Named without --porcelain, the way the legacy feature quotes it in API answers.
    label = f"git push origin HEAD:{HEADS}{branch}"
    refused = next((row for row in answer.stdout.splitlines() if row[:1] == "!" and "[rejected]" in row), None)
    if refused is None:
        raise GitFailed(label, answer.returncode, git.explain(answer))
    raise PushRefused(label, answer.returncode, refused.split("\t")[-1])


@contextlib.contextmanager
def project_lock(folder: Path) -> Iterator[None]:
    """Hold the project's lock file (blocking) for the block; the folder is created when missing."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / LOCK, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def fresh_clone(folder: Path, repo: BlogRepo) -> Path:
    """Clone the configured branch into a new temporary folder under `folder`; the caller installs or drops it.

    GitFailed with git's reason when the remote cannot be read, or naming the known branches when the branch does
    not exist. Nothing is left behind on failure.
    """
    folder.mkdir(parents=True, exist_ok=True)
    git = repo.git(folder)
    branches = [row.partition("\t")[2][len(HEADS) :] for row in git("list-heads", url=repo.url).stdout.splitlines()]
    if repo.branch not in branches:
        known = ", ".join(repr(name) for name in sorted(branches)) or "none (the repository is empty)"
        reason = f"branch {repo.branch!r} does not exist in the repository; its branches: {known}"
        raise GitFailed(f"git ls-remote --heads -- {repo.url}", 0, reason)
    staging = Path(tempfile.mkdtemp(prefix="clone-", dir=folder))
    try:
        git("clone", branch=repo.branch, url=repo.url, into=str(staging / CLONE))
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return staging


def install(folder: Path, staging: Path) -> None:
    """Make the clone in `staging` the project's working clone (replacing a stale one) and drop `staging`."""
    target = folder / CLONE
    if target.exists():
        shutil.rmtree(target)
    os.replace(staging / CLONE, target)
    shutil.rmtree(staging, ignore_errors=True)


class Workspace:
    """Posts and git operations on one project's working clone; use it inside `open()`."""

    def __init__(self, folder: Path, repo: BlogRepo):
        self.folder = folder
        self.repo = repo
        self.clone = folder / CLONE
        self.git = repo.git(self.clone)

    @contextlib.contextmanager
    def open(self) -> Iterator[Workspace]:
        """The workspace under the project lock, its clone made again first if it went missing."""
        with project_lock(self.folder):
            if not (self.clone / ".git").is_dir():
                install(self.folder, fresh_clone(self.folder, self.repo))
            yield self

    # -- where posts are ----------------------------------------------------------------------------------------

    def _content(self) -> Path:
        content = self.clone / self.repo.content_dir
        # A symlinked folder in the repository must not lead the API out of the clone.
        if not content.resolve().is_relative_to(self.clone.resolve()):
            raise PostMissing(f"content folder {self.repo.content_dir!r} leads outside the repository")
        return content

    def in_repo(self, file: str) -> str:
        """The path git knows a post by."""
        return f"{self.repo.content_dir}/{file}"

    def _path(self, file: str) -> Path:
        return self._content() / file

    def _is_post(self, file: str) -> bool:
        path = self._path(file)
        return path.is_file() and not path.is_symlink()

    def _existing(self, file: str) -> Path:
        if not self._is_post(file):
            raise PostMissing(file)
        return self._path(file)

    def _occupied(self, file: str) -> bool:
        path = self._path(file)
        return path.exists() or path.is_symlink()

    # -- reading ------------------------------------------------------------------------------------------------

    def _document(self, file: str) -> Document:
        # newline="": "\r\n" stays in the body as written (Path.read_text only takes `newline` from Python 3.13).
        with open(self._existing(file), encoding="utf-8", errors="replace", newline="") as handle:
            return read_document(handle.read(), name=file)

    def post(self, file: str) -> Post:
        """The post, marked uncommitted when it differs from the last commit; FrontMatterInvalid when unreadable."""
        document = self._document(file)
        return Post(file, document, uncommitted=self.in_repo(file) in dirty_paths(self.git, self.in_repo(file)))

    def listing(self) -> list[dict[str, Any]]:
        """Summaries of every post, newest first; a post with unreadable front matter shows as having none."""
        content = self._content()
        if not content.is_dir():
            return []
        changed = dirty_paths(self.git, self.repo.content_dir)
        summaries = []
        for entry in sorted(content.iterdir()):
            name = entry.name
            if not is_listed(name) or not self._is_post(name):
                continue
            try:
                document = self._document(name)
            except FrontMatterInvalid:
                document = Document({}, "")
            summaries.append(Post(name, document, uncommitted=self.in_repo(name) in changed).summary())
        return sorted(summaries, key=listing_order)

    # -- writing, without committing ----------------------------------------------------------------------------

    def _save(self, file: str, document: Document) -> None:
        content = self._content()
        content.mkdir(parents=True, exist_ok=True)
        # Written beside the target and renamed over it, so a reader never sees half a post.
        handle, temporary = tempfile.mkstemp(prefix=".tmp-", dir=content)
        try:
            with os.fdopen(handle, "w", encoding="utf-8", newline="") as out:
                out.write(write_document(document))
            os.chmod(temporary, 0o644)
            os.replace(temporary, content / file)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
            raise

    def create(self, file: str, document: Document) -> None:
        if self._occupied(file):
            raise PostTaken(file)
        self._save(file, document)

    def update(self, file: str, document: Document, new_file: str | None = None) -> str:
        """Rewrite a post, under `new_file` when that is another name; the post's name afterwards."""
        self._existing(file)
        if new_file is None or new_file == file:
            self._save(file, document)
            return file
        if self._occupied(new_file):
            raise PostTaken(new_file)
        renames = self._renames()
        committed_name = renames.pop(file, None) or (file if in_head(self.git, self.in_repo(file)) else None)
        if committed_name is not None and committed_name != new_file:
            renames[new_file] = committed_name
        self._save(new_file, document)  # the new file first: a crash in between leaves a copy, never nothing
        os.unlink(self._path(file))
        self._keep_renames(renames)
        return new_file

    # -- committing ---------------------------------------------------------------------------------------------

    def _commit_paths(self, file: str) -> tuple[list[str], list[str]]:
        """The post's path, and the committed old name to remove with it when it is an unpublished rename."""
        committed_name = self._renames().get(file)
        if (
            committed_name is None
            or self._is_post(committed_name)
            or not in_head(self.git, self.in_repo(committed_name))
        ):
            return [self.in_repo(file)], []
        return [self.in_repo(file)], [self.in_repo(committed_name)]

    def publish(self, file: str) -> str | None:
        """Commit "Publish <file>" (with its old name's removal) and push it; None when nothing changed.

        A failed push undoes the commit (the branch moves back, the changes stay staged), so the clone never keeps
        a commit the remote refused.
        """
        self._existing(file)
        current, old = self._commit_paths(file)
        self.git("stage", *current)
        if old:
            self.git("unstage-and-delete", *old)
        paths = current + old
        if not index_differs(self.git, paths):
            return None
        before = self.git("resolve", rev="HEAD").text
        commit = commit_only(self.git, f"Publish {file}", paths)
        try:
            push_branch(self.git, self.repo.branch)
        except GitFailed:
            self.git("rewind", rev=before)
            raise
        self._forget_rename(file)
        return commit

    def delete(self, file: str) -> Deletion:
        """Remove the post, commit "Delete <file>" and push; a failed push keeps the local commit.

        A post that was never committed is only removed from disk.
        """
        path = self._existing(file)
        current, old = self._commit_paths(file)
        paths = current + old
        self.git("unstage-and-delete", *paths)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()  # git rm leaves an untracked post alone
        if not index_differs(self.git, paths):
            self._forget_rename(file)
            return Deletion(commit=None, pushed=False)
        # git commit --only names paths of the last commit; one that was merely staged is unknown to git now.
        commit = commit_only(self.git, f"Delete {file}", [path for path in paths if in_head(self.git, path)])
        self._forget_rename(file)
        try:
            push_branch(self.git, self.repo.branch)
        except GitFailed as exc:
            return Deletion(commit=commit, pushed=False, warning=str(exc))
        return Deletion(commit=commit, pushed=True)

    # -- catching up with the remote ----------------------------------------------------------------------------

    def pull(self) -> Pull:
        """Fetch the branch and fast-forward the clone to it, keeping uncommitted changes.

        A clone at or ahead of the remote is left as it is. PullRefused, with nothing changed, when both sides
        have commits the other lacks, or when uncommitted changes touch files the remote changed.
        """
        branch, url = self.repo.branch, self.repo.url
        tracking = f"refs/remotes/origin/{branch}"
        self.git("fetch", branch=branch, tracking=tracking)
        remote = self.git("resolve", rev=tracking + "^{commit}").text
        head = self.git("resolve", rev="HEAD").text

        def descends(newer: str, older: str) -> bool:
            return self.git("is-ancestor", older=older, newer=newer).returncode == 0

        def ahead(of: str, by: str) -> int:
            return int(self.git("count", span=f"{of}..{by}").text)

        if descends(head, remote):
            return Pull(head, updated=False)
        if not descends(remote, head):
            ours = ahead(remote, head)
            theirs = ahead(head, remote)
            raise PullRefused(
                f"the working copy has {ours} commit(s) the branch {branch!r} of {url} lacks, "
                f"and that branch has {theirs} commit(s) the working copy lacks, so it cannot be fast-forwarded; "
                "nothing was changed; the two histories need merging with git in the working copy before a pull works"
            )
        unpublished = dirty_paths(self.git, ".")
        in_the_way = sorted(unpublished.intersection(self.git("changed-between", old=head, new=remote).items))
        if in_the_way:
            prefix = f"{self.repo.content_dir}/"
            names = ", ".join(repr(path.removeprefix(prefix)) for path in in_the_way)
            raise PullRefused(
                f"unpublished changes to {names} would be overwritten by the remote's version (branch {branch!r} "
                f"of {url}), so nothing was changed; these edits conflict with the remote's and need resolving "
                "with git in the working copy before a pull works"
            )
        try:
            self.git("fast-forward", rev=remote)
        except GitTimedOut:
            raise
        except GitFailed as exc:  # e.g. an untracked file where the remote now has a folder: git changed nothing
            raise PullRefused(f"cannot fast-forward the working copy, nothing was changed: {exc.reason}") from exc
        return Pull(remote, updated=True)

    # -- renamed posts not yet published ------------------------------------------------------------------------

    def _renames_file(self) -> Path:
        return self.clone / ".git" / RENAMES

    def _renames(self) -> dict[str, str]:
        try:
            data = json.loads(self._renames_file().read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            return {}
        if not isinstance(data, dict):
            return {}
        return {str(new): str(old) for new, old in data.items()}

    def _keep_renames(self, renames: dict[str, str]) -> None:
        self._renames_file().write_text(json.dumps(renames, sort_keys=True), encoding="utf-8")

    def _forget_rename(self, file: str) -> None:
        renames = self._renames()
        if renames.pop(file, None) is not None:
            self._keep_renames(renames)
