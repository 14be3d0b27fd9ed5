"""One table of the git invocations the blog plugin makes, and a single runner that looks them up by verb.

The runner never lets git ask for anything (no terminal, no askpass, ssh in batch mode) and always speaks the C
locale, so the reasons quoted in errors read the same on every host. Commit identity comes from the blog's
settings via GIT_AUTHOR_* / GIT_COMMITTER_*; commit dates are left to git (wall clock, or GIT_*_DATE when the
process environment pins them). A token is handed to git as an `http.<origin>.extraHeader` setting through the
GIT_CONFIG_KEY_n / GIT_CONFIG_VALUE_n variables: it shows up neither in argv, nor in `.git/config`, nor in errors.
"""

from __future__ import annotations

import base64
import contextlib
import os
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from .errors import GitFailed, GitTimedOut

LOCAL_SECONDS = 30.0
NETWORK_SECONDS = 120.0
TAIL = 6  # how many trailing non-blank output lines explain a failure
HEADS = "refs/heads/"
NO_QUESTIONS = {"GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "", "SSH_ASKPASS": "", "LC_ALL": "C", "LANGUAGE": "C"}
# `ext::` and friends would let a remote URL start a program; only these transports are switched on.
SAFE_TRANSPORTS = ("https", "http", "ssh", "git", "file")
_PROCESS_OPTIONS: dict[str, Any] = {
    "stdin": subprocess.DEVNULL,
    "stdout": subprocess.PIPE,
    "stderr": subprocess.PIPE,
    "text": True,
    "encoding": "utf-8",
    "errors": "replace",
    # git gets a process group of its own: when it overruns, the whole group (ssh, remote helpers) is killed.
    "start_new_session": True,
}


@dataclass(frozen=True)
class Verb:
    """A git invocation: argv pieces with `{name}` holes, whether it goes over the network, the exits it tolerates.

    A verb whose pieces end with `--` takes its paths after them.
    """

    pieces: tuple[str, ...]
    network: bool = False
    tolerated: tuple[int, ...] = (0,)


VERBS: dict[str, Verb] = {
    "list-heads": Verb(("ls-remote", "--heads", "--", "{url}"), network=True),
    "clone": Verb(
        ("clone", "--quiet", "--no-tags", "--single-branch", "--branch", "{branch}", "--", "{url}", "{into}"),
        network=True,
    ),
    "fetch": Verb(("fetch", "--quiet", "--no-tags", "origin", "+refs/heads/{branch}:{tracking}"), network=True),
    "push": Verb(("push", "--porcelain", "origin", "HEAD:refs/heads/{branch}"), network=True, tolerated=(0, 1)),
    "resolve": Verb(("rev-parse", "--verify", "{rev}")),
    "is-ancestor": Verb(("merge-base", "--is-ancestor", "{older}", "{newer}"), tolerated=(0, 1)),
    "count": Verb(("rev-list", "--count", "{span}")),
    "changed-between": Verb(("diff", "--name-only", "--no-renames", "-z", "{old}", "{new}", "--")),
    "fast-forward": Verb(("merge", "--ff-only", "--quiet", "{rev}")),
    "status": Verb(("status", "--porcelain=v1", "-z", "--untracked-files=all", "--no-renames", "--")),
    "in-head": Verb(("ls-tree", "--name-only", "HEAD", "--")),
    "stage": Verb(("add", "--all", "--")),
    "unstage-and-delete": Verb(("rm", "--quiet", "--force", "--ignore-unmatch", "--")),
    "index-differs": Verb(("diff", "--cached", "--quiet", "HEAD", "--"), tolerated=(0, 1)),
    "commit": Verb(("commit", "--quiet", "--no-verify", "--message", "{message}", "--only", "--")),
    "rewind": Verb(("reset", "--soft", "--quiet", "{rev}")),
}


class Author(NamedTuple):
    """The name and email the blog commits under, as author and as committer."""

    name: str
    email: str


class Outcome(NamedTuple):
    """What a finished git process left: its exit code and both output streams."""

    returncode: int
    stdout: str
    stderr: str

    @property
    def text(self) -> str:
        return self.stdout.strip()

    @property
    def items(self) -> list[str]:
        """The non-empty entries of NUL-separated (`-z`) output."""
        return [item for item in self.stdout.split("\0") if item]


def _header_setting(remote_url: str, token: str) -> list[tuple[str, str]]:
    """An Authorization header for the remote's own origin; nothing without a token or for non-http remotes."""
    url = urlsplit(remote_url)
    scheme = url.scheme.lower()
    if not token or scheme not in ("http", "https"):
        return []
    # Bound to one scheme://host/, so following a redirect elsewhere leaves the token behind.
    pair = base64.b64encode(("x-access-token:" + token).encode()).decode("ascii")
    return [(f"http.{scheme}://{url.netloc}/.extraHeader", "Authorization: Basic " + pair)]


def _environment(author: Author | None, remote_url: str, token: str) -> dict[str, str]:
    env = {**os.environ, **NO_QUESTIONS}
    env.setdefault("GIT_SSH_COMMAND", "ssh -o BatchMode=yes")
    if author is not None:
        for who in ("AUTHOR", "COMMITTER"):
            env.update({f"GIT_{who}_NAME": author.name, f"GIT_{who}_EMAIL": author.email})
    settings = [("commit.gpgSign", "false"), ("protocol.allow", "never")]
    settings += [(f"protocol.{transport}.allow", "always") for transport in SAFE_TRANSPORTS]
    settings += _header_setting(remote_url, token)
    # Numbered after any GIT_CONFIG_* settings the process already has, which stay in force.
    offset = int(env.get("GIT_CONFIG_COUNT", "0") or "0")
    for index, (key, value) in enumerate(settings, offset):
        env[f"GIT_CONFIG_KEY_{index}"], env[f"GIT_CONFIG_VALUE_{index}"] = key, value
    env["GIT_CONFIG_COUNT"] = str(offset + len(settings))
    return env


class GitCli:
    """Runs the verbs of `VERBS` inside one folder; a failure raises GitFailed (GitTimedOut when it overran)."""

    executable = "git"

    def __init__(self, folder: Path, *, author: Author | None = None, remote_url: str = "", token: str = "") -> None:
        self.folder = folder
        self._secret = token
        # Built now, from the environment as it is at this moment (tests pin the commit dates there).
        self._env = _environment(author, remote_url, token)

    def masked(self, text: str) -> str:
        """`text` with the token, if any, replaced by `***`."""
        return text.replace(self._secret, "***") if self._secret else text

    def explain(self, outcome: Outcome) -> str:
        """The failure's reason: the last non-blank lines of stderr (stdout when stderr is empty), joined."""
        stream = outcome.stderr or outcome.stdout
        tail = [stripped for stripped in map(str.strip, stream.splitlines()) if stripped][-TAIL:]
        return self.masked(" ".join(tail) or "no message")

    def __call__(self, verb: str, *paths: str, **holes: str) -> Outcome:
        """Run `verb` with its holes filled from `holes` and `paths` appended."""
        spec = VERBS[verb]
        argv = [piece.format_map(holes) for piece in spec.pieces]
        argv.extend(paths)
        seconds = NETWORK_SECONDS if spec.network else LOCAL_SECONDS
        label = self.masked("git " + " ".join(argv))
        try:
            child = subprocess.Popen([self.executable, *argv], cwd=self.folder, env=self._env, **_PROCESS_OPTIONS)
        except OSError as exc:
            message = f"cannot run {self.executable!r}: {exc.strerror}; is git installed?"
            raise GitFailed(label, None, message) from exc
        try:
            out, err = child.communicate(timeout=seconds)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGKILL)
            child.communicate()
            raise GitTimedOut(label, seconds) from None
        outcome = Outcome(child.returncode, out, err)
        if outcome.returncode in spec.tolerated:
            return outcome
        raise GitFailed(label, outcome.returncode, self.explain(outcome))
