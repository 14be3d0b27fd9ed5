"""A small typed wrapper that runs the git command line for the blog's working clones.

Why not GitPython: GitPython shells out to this same `git` CLI anyway, and the blog needs a handful of commands
(ls-remote, clone, fetch, status, add, rm, commit, push, reset, merge --ff-only). Running them directly keeps what
matters explicit: no interactive prompt ever (GIT_TERMINAL_PROMPT=0), a timeout on every call that kills git and
its helpers, the commit identity from the blog config (the host may have no user.name/user.email), and an access
token that travels in an HTTP header given through the environment, so it never lands in argv, .git/config or a
log line.
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

from legacy_core.blog.errors import GitError, GitTimeout, PushRejected

LOCAL_TIMEOUT = 30.0  # seconds for commands that only touch the working clone
NETWORK_TIMEOUT = 120.0  # seconds for commands that talk to the remote
REASON_LINES = 6  # how many of git's last stderr lines make up an error's reason
TOKEN_USER = "x-access-token"  # the user name GitHub expects with a token; GitLab and Gitea accept any name
# Only the well-known transports; never ext:: or other protocols that run a helper command of the URL's choosing.
TRANSPORTS = {
    "protocol.allow": "never",
    **{f"protocol.{name}.allow": "always" for name in ("https", "http", "ssh", "git", "file")},
}


@dataclass(frozen=True)
class GitIdentity:
    """Author and committer of the commits the blog makes."""

    name: str
    email: str


@dataclass(frozen=True)
class GitResult:
    returncode: int
    stdout: str
    stderr: str


def is_http_url(url: str) -> bool:
    return urlsplit(url).scheme.lower() in ("http", "https")


def auth_config(remote_url: str, token: str) -> dict[str, str]:
    """The git setting that sends `token` to this http(s) remote only; nothing for other remotes or no token."""
    if not token or not is_http_url(remote_url):
        return {}
    parts = urlsplit(remote_url)
    # Scoped to scheme://host/ so a redirect to another host never receives the token.
    scope = f"{parts.scheme.lower()}://{parts.netloc}/"
    credentials = base64.b64encode(f"{TOKEN_USER}:{token}".encode()).decode("ascii")
    return {f"http.{scope}.extraHeader": f"Authorization: Basic {credentials}"}


def git_env(
    base: Mapping[str, str],
    *,
    identity: GitIdentity | None = None,
    remote_url: str = "",
    token: str = "",
) -> dict[str, str]:
    """The environment of one git call: `base` plus no prompts, C locale, identity and per-call settings."""
    env = dict(base)
    env.update(
        GIT_TERMINAL_PROMPT="0",
        GIT_ASKPASS="",
        SSH_ASKPASS="",
        LC_ALL="C",
        LANGUAGE="C",
    )
    env.setdefault("GIT_SSH_COMMAND", "ssh -o BatchMode=yes")
    if identity is not None:
        env.update(
            GIT_AUTHOR_NAME=identity.name,
            GIT_AUTHOR_EMAIL=identity.email,
            GIT_COMMITTER_NAME=identity.name,
            GIT_COMMITTER_EMAIL=identity.email,
        )
    settings = {"commit.gpgSign": "false", **TRANSPORTS, **auth_config(remote_url, token)}
    # GIT_CONFIG_COUNT/KEY_n/VALUE_n (git >= 2.31) act like `-c` without showing the values in the process list.
    count = int(env.get("GIT_CONFIG_COUNT", "0") or "0")
    for key, value in settings.items():
        env[f"GIT_CONFIG_KEY_{count}"] = key
        env[f"GIT_CONFIG_VALUE_{count}"] = value
        count += 1
    env["GIT_CONFIG_COUNT"] = str(count)
    return env


class Git:
    """Runs git in one folder with a fixed environment; every method raises GitError with git's reason."""

    def __init__(
        self,
        cwd: Path | None = None,
        *,
        identity: GitIdentity | None = None,
        remote_url: str = "",
        token: str = "",
        executable: str = "git",
        base_env: Mapping[str, str] | None = None,
    ) -> None:
        self.cwd = cwd
        self.executable = executable
        self._token = token
        self._env = git_env(
            os.environ if base_env is None else base_env, identity=identity, remote_url=remote_url, token=token
        )

    def run(self, *args: str, timeout: float = LOCAL_TIMEOUT, ok_codes: Sequence[int] = (0,)) -> GitResult:
        """Run `git <args>`; a return code outside `ok_codes` raises GitError, running past `timeout` GitTimeout."""
        command = self._redact(" ".join(("git", *args)))
        try:
            process = subprocess.Popen(
                [self.executable, *args],
                cwd=self.cwd,
                env=self._env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                encoding="utf-8",
                errors="replace",
                start_new_session=True,  # its own process group, so a timeout also stops ssh and remote helpers
            )
        except OSError as exc:
            raise GitError(command, None, f"cannot run {self.executable!r}: {exc.strerror}; is git installed?") from exc
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(process)
            raise GitTimeout(command, timeout) from None
        result = GitResult(process.returncode, stdout, stderr)
        if result.returncode not in ok_codes:
            raise GitError(command, result.returncode, self._reason(result))
        return result

    def _reason(self, result: GitResult) -> str:
        lines = [line.strip() for line in (result.stderr or result.stdout).splitlines() if line.strip()]
        return self._redact(" ".join(lines[-REASON_LINES:]) or "no message")

    def _redact(self, text: str) -> str:
        return text.replace(self._token, "***") if self._token else text

    # -- talking to the remote ------------------------------------------------------------------------------

    def remote_branches(self, url: str) -> list[str]:
        """Names of the branches of the repository at `url`."""
        output = self.run("ls-remote", "--heads", "--", url, timeout=NETWORK_TIMEOUT).stdout
        prefix = "refs/heads/"
        return [ref[len(prefix) :] for _sha, _, ref in (line.partition("\t") for line in output.splitlines())]

    def clone(self, url: str, dest: Path, branch: str) -> None:
        self.run(
            "clone", "--quiet", "--no-tags", "--single-branch", "--branch", branch, "--", url, str(dest),
            timeout=NETWORK_TIMEOUT,
        )  # fmt: skip

    def push(self, branch: str) -> None:
        """Push HEAD to `branch` of origin; PushRejected when the remote has commits this clone lacks."""
        result = self.run(
            "push", "--porcelain", "origin", f"HEAD:refs/heads/{branch}", timeout=NETWORK_TIMEOUT, ok_codes=(0, 1)
        )
        if result.returncode == 0:
            return
        command = f"git push origin HEAD:refs/heads/{branch}"
        rejected = [line for line in result.stdout.splitlines() if line.startswith("!") and "[rejected]" in line]
        if rejected:
            raise PushRejected(command, result.returncode, rejected[0].split("\t")[-1])
        raise GitError(command, result.returncode, self._reason(result))

    def fetch(self, branch: str) -> str:
        """Fetch `branch` of origin into its remote-tracking ref; returns the sha of the remote branch's tip."""
        tracking = f"refs/remotes/origin/{branch}"
        self.run("fetch", "--quiet", "--no-tags", "origin", f"+refs/heads/{branch}:{tracking}", timeout=NETWORK_TIMEOUT)
        return self.run("rev-parse", "--verify", f"{tracking}^{{commit}}").stdout.strip()

    # -- the working clone ----------------------------------------------------------------------------------

    def head(self) -> str:
        return self.run("rev-parse", "--verify", "HEAD").stdout.strip()

    def is_ancestor(self, ancestor: str, commit: str) -> bool:
        """Whether `ancestor` is `commit` or one of its ancestors."""
        return self.run("merge-base", "--is-ancestor", ancestor, commit, ok_codes=(0, 1)).returncode == 0

    def count_commits(self, since: str, until: str) -> int:
        """How many commits `until` has that `since` lacks."""
        return int(self.run("rev-list", "--count", f"{since}..{until}").stdout.strip())

    def paths_between(self, old: str, new: str) -> set[str]:
        """Paths (relative to the repository root) whose content differs between two commits."""
        output = self.run("diff", "--name-only", "--no-renames", "-z", old, new, "--").stdout
        return {path for path in output.split("\0") if path}

    def fast_forward(self, commit: str) -> None:
        """Move the branch, index and working tree to `commit`, a descendant of HEAD; local changes stay."""
        self.run("merge", "--ff-only", "--quiet", commit)

    def changed_paths(self, folder: str) -> set[str]:
        """Paths under `folder` that differ from HEAD: untracked, modified, deleted, staged or not."""
        output = self.run(
            "status", "--porcelain=v1", "-z", "--untracked-files=all", "--no-renames", "--", folder
        ).stdout
        return {entry[3:] for entry in output.split("\0") if len(entry) > 3}

    def in_head(self, path: str) -> bool:
        return bool(self.run("ls-tree", "--name-only", "HEAD", "--", path).stdout.strip())

    def stage(self, paths: Sequence[str]) -> None:
        """Stage the working tree state of `paths`, additions and deletions alike."""
        self.run("add", "--all", "--", *paths)

    def remove(self, paths: Sequence[str]) -> None:
        self.run("rm", "--quiet", "--force", "--ignore-unmatch", "--", *paths)

    def has_staged_changes(self, paths: Sequence[str]) -> bool:
        result = self.run("diff", "--cached", "--quiet", "HEAD", "--", *paths, ok_codes=(0, 1))
        return result.returncode == 1

    def commit(self, message: str, paths: Sequence[str]) -> str:
        """Commit exactly `paths` (whatever else is staged stays staged); returns the new commit's sha."""
        self.run("commit", "--quiet", "--no-verify", "--message", message, "--only", "--", *paths)
        return self.head()

    def reset_soft(self, commit: str) -> None:
        """Move the branch back to `commit`, keeping the index and the working tree as they are."""
        self.run("reset", "--soft", "--quiet", commit)


def _kill_group(process: subprocess.Popen[str]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.communicate()
