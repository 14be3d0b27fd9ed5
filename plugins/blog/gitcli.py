"""The git command line, run for one working clone: a fixed environment, timeouts, and git's reasons as errors.

Commits get their author and committer from the blog's configuration through GIT_AUTHOR_* / GIT_COMMITTER_*
(the server may have no global identity), and their dates from git's own default - the wall clock, or
GIT_AUTHOR_DATE / GIT_COMMITTER_DATE when the process environment sets them - exactly as the legacy feature,
so both produce the same commits. No call ever prompts: a missing credential fails at once. An access token
travels as an HTTP header set through the environment, never in argv, `.git/config` or an error message.
"""

from __future__ import annotations

import base64
import contextlib
import os
import signal
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from .errors import GitFailed, GitTimedOut, PushRefused

QUICK = 30.0  # seconds for a command that only reads or writes the working clone
REMOTE = 120.0  # seconds for a command that talks to the remote
REASON_LINES = 6  # git's last lines of output that make up a failure's reason
TOKEN_USER = "x-access-token"  # GitHub wants this user name with a token; GitLab and Gitea take any
# Only well-known transports: `ext::` and the like run a command of the URL's choosing.
TRANSPORT_SETTINGS = {
    "protocol.allow": "never",
    "protocol.https.allow": "always",
    "protocol.http.allow": "always",
    "protocol.ssh.allow": "always",
    "protocol.git.allow": "always",
    "protocol.file.allow": "always",
}


@dataclass(frozen=True)
class Author:
    """Who the blog's commits are by (author and committer alike)."""

    name: str
    email: str


@dataclass(frozen=True)
class Outcome:
    returncode: int
    stdout: str
    stderr: str


def token_settings(remote_url: str, token: str) -> dict[str, str]:
    """The git setting that sends `token` to this http(s) remote's host only; none for other remotes."""
    if not token:
        return {}
    parts = urlsplit(remote_url)
    if parts.scheme.lower() not in ("http", "https"):
        return {}
    # Scoped to scheme://host/, so a redirect to another host never receives the token.
    scope = f"{parts.scheme.lower()}://{parts.netloc}/"
    basic = base64.b64encode(f"{TOKEN_USER}:{token}".encode()).decode("ascii")
    return {f"http.{scope}.extraHeader": f"Authorization: Basic {basic}"}


def environment(base: Mapping[str, str], author: Author | None, remote_url: str, token: str) -> dict[str, str]:
    """The environment of every git call: `base`, no prompts, the C locale (stable messages), identity, settings."""
    env = dict(base)
    env.update(GIT_TERMINAL_PROMPT="0", GIT_ASKPASS="", SSH_ASKPASS="", LC_ALL="C", LANGUAGE="C")
    env.setdefault("GIT_SSH_COMMAND", "ssh -o BatchMode=yes")
    if author is not None:
        for role in ("AUTHOR", "COMMITTER"):
            env[f"GIT_{role}_NAME"] = author.name
            env[f"GIT_{role}_EMAIL"] = author.email
    settings = {"commit.gpgSign": "false", **TRANSPORT_SETTINGS, **token_settings(remote_url, token)}
    # GIT_CONFIG_COUNT / KEY_n / VALUE_n act like `git -c` without showing values in the process list; settings
    # the environment already carries keep their numbers.
    first = int(env.get("GIT_CONFIG_COUNT", "0") or "0")
    for number, (key, value) in enumerate(settings.items(), start=first):
        env[f"GIT_CONFIG_KEY_{number}"] = key
        env[f"GIT_CONFIG_VALUE_{number}"] = value
    env["GIT_CONFIG_COUNT"] = str(first + len(settings))
    return env


class GitCli:
    """git in one folder; every command raises GitFailed (or GitTimedOut) with git's reason when it fails."""

    def __init__(
        self, folder: Path, *, author: Author | None = None, remote_url: str = "", token: str = "", program: str = "git"
    ) -> None:
        self.folder = folder
        self.program = program
        self._token = token
        # Read at construction, once per request: the process environment may pin commit dates (tests do).
        self._env = environment(os.environ, author, remote_url, token)

    def _hide(self, text: str) -> str:
        return text.replace(self._token, "***") if self._token else text

    def run(self, *args: str, timeout: float = QUICK, accept: Sequence[int] = (0,)) -> Outcome:
        """`git <args>`; a return code outside `accept` raises GitFailed, running past `timeout` GitTimedOut."""
        shown = self._hide(" ".join(["git", *args]))
        try:
            process = subprocess.Popen(
                [self.program, *args],
                cwd=self.folder,
                env=self._env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                encoding="utf-8",
                errors="replace",
                start_new_session=True,  # a process group of its own, so a timeout also stops ssh and helpers
            )
        except OSError as exc:
            raise GitFailed(shown, None, f"cannot run {self.program!r}: {exc.strerror}; is git installed?") from exc
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
            raise GitTimedOut(shown, timeout) from None
        outcome = Outcome(process.returncode, stdout, stderr)
        if outcome.returncode not in accept:
            raise GitFailed(shown, outcome.returncode, self.reason(outcome))
        return outcome

    def reason(self, outcome: Outcome) -> str:
        """git's last few non-blank lines (stderr, else stdout) on one line, secrets hidden."""
        lines = [line.strip() for line in (outcome.stderr or outcome.stdout).splitlines() if line.strip()]
        return self._hide(" ".join(lines[-REASON_LINES:]) or "no message")

    # -- the remote ---------------------------------------------------------------------------------------------

    def branches_of(self, url: str) -> list[str]:
        """The branch names of the repository at `url`."""
        listing = self.run("ls-remote", "--heads", "--", url, timeout=REMOTE).stdout
        prefix_length = len("refs/heads/")
        return [line.partition("\t")[2][prefix_length:] for line in listing.splitlines()]

    def clone(self, url: str, destination: Path, branch: str) -> None:
        self.run(
            "clone", "--quiet", "--no-tags", "--single-branch", "--branch", branch, "--", url, str(destination),
            timeout=REMOTE,
        )  # fmt: skip

    def push(self, branch: str) -> None:
        """Push HEAD to `branch` of origin; PushRefused when the remote has commits this clone lacks."""
        outcome = self.run("push", "--porcelain", "origin", f"HEAD:refs/heads/{branch}", timeout=REMOTE, accept=(0, 1))
        if outcome.returncode == 0:
            return
        # Errors name the push without --porcelain, as legacy does (the text reaches API answers).
        command = f"git push origin HEAD:refs/heads/{branch}"
        for line in outcome.stdout.splitlines():
            if line.startswith("!") and "[rejected]" in line:
                raise PushRefused(command, outcome.returncode, line.split("\t")[-1])
        raise GitFailed(command, outcome.returncode, self.reason(outcome))

    def fetch(self, branch: str) -> str:
        """Fetch `branch` of origin into its remote-tracking ref; the commit it points at."""
        tracking = f"refs/remotes/origin/{branch}"
        self.run("fetch", "--quiet", "--no-tags", "origin", f"+refs/heads/{branch}:{tracking}", timeout=REMOTE)
        return self.run("rev-parse", "--verify", f"{tracking}^{{commit}}").stdout.strip()

    # -- history ------------------------------------------------------------------------------------------------

    def head(self) -> str:
        return self.run("rev-parse", "--verify", "HEAD").stdout.strip()

    def contains(self, commit: str, ancestor: str) -> bool:
        """Whether `ancestor` is `commit` or one of its ancestors."""
        answer = self.run("merge-base", "--is-ancestor", ancestor, commit, accept=(0, 1))
        return answer.returncode == 0

    def commits_missing(self, since: str, until: str) -> int:
        """How many commits `until` has that `since` lacks."""
        return int(self.run("rev-list", "--count", f"{since}..{until}").stdout.strip())

    def paths_changed_between(self, old: str, new: str) -> set[str]:
        listing = self.run("diff", "--name-only", "--no-renames", "-z", old, new, "--").stdout
        return {path for path in listing.split("\0") if path}

    def fast_forward(self, commit: str) -> None:
        """Move branch, index and files to `commit`, a descendant of HEAD; local changes stay (or git refuses)."""
        self.run("merge", "--ff-only", "--quiet", commit)

    # -- the working tree and the index -------------------------------------------------------------------------

    def uncommitted(self, pathspec: str) -> set[str]:
        """Paths under `pathspec` (relative to the repository) that differ from HEAD, staged or not, or untracked."""
        listing = self.run(
            "status", "--porcelain=v1", "-z", "--untracked-files=all", "--no-renames", "--", pathspec
        ).stdout
        # Each entry is "XY <path>"; -z keeps odd names unquoted.
        return {entry[3:] for entry in listing.split("\0") if len(entry) > 3}

    def committed(self, path: str) -> bool:
        """Whether `path` is in the HEAD commit."""
        return bool(self.run("ls-tree", "--name-only", "HEAD", "--", path).stdout.strip())

    def add(self, paths: Sequence[str]) -> None:
        """Stage the state of `paths`, deletions included."""
        self.run("add", "--all", "--", *paths)

    def remove(self, paths: Sequence[str]) -> None:
        self.run("rm", "--quiet", "--force", "--ignore-unmatch", "--", *paths)

    def staged(self, paths: Sequence[str]) -> bool:
        """Whether the index differs from HEAD for any of `paths`."""
        return self.run("diff", "--cached", "--quiet", "HEAD", "--", *paths, accept=(0, 1)).returncode == 1

    def commit(self, message: str, paths: Sequence[str]) -> str:
        """Commit exactly `paths` (anything else staged stays staged); the new commit's id."""
        self.run("commit", "--quiet", "--no-verify", "--message", message, "--only", "--", *paths)
        return self.head()

    def undo_commit(self, commit: str) -> None:
        """Move the branch back to `commit`; the index and the files stay as they are."""
        self.run("reset", "--soft", "--quiet", commit)
