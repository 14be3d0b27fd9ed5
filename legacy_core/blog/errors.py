"""Errors of the blog feature.

BlogError                      root of everything the blog package raises on purpose (a SovereignError)
 ├── GitError                  a git command failed: the command (never a secret), exit code and git's own reason
 │    ├── GitTimeout           a git command ran longer than its timeout and was killed
 │    └── PushRejected         the remote refused a push because it has commits we lack (non-fast-forward)
 ├── AlreadyConfigured         the project has a repository configuration already (it is set once)
 ├── PullRefused               the working clone cannot be fast-forwarded to the remote branch (nothing changed)
 ├── FrontMatterError          a post's YAML front matter cannot be read (not YAML, or not a mapping)
 ├── InvalidFileName           a post file name that is not one safe path segment
 ├── PostNotFound              no post of that name in the content folder
 └── PostExists                a post of that name is already there (create, rename)
"""

from __future__ import annotations

from legacy_core.errors import SovereignError


class BlogError(SovereignError):
    """Root of the blog feature's exceptions."""


class GitError(BlogError):
    """A git command that failed; `reason` is git's own explanation (its last stderr lines)."""

    def __init__(self, command: str, returncode: int | None, reason: str):
        super().__init__(f"`{command}` failed ({_exit(returncode)}): {reason}")
        self.command = command
        self.returncode = returncode
        self.reason = reason


class GitTimeout(GitError):
    """A git command that did not finish within its timeout (it and its children were killed)."""

    def __init__(self, command: str, timeout: float):
        super().__init__(command, None, f"no answer within {timeout:g} s (is the remote reachable?)")
        self.timeout = timeout


class PushRejected(GitError):
    """The remote branch has commits the working clone lacks, so the push would not be a fast-forward."""


class AlreadyConfigured(BlogError):
    """The blog project has a stored repository configuration already; it is set once."""


class PullRefused(BlogError):
    """A pull that would not be a fast-forward: local commits the remote lacks, or uncommitted changes in the way."""


class FrontMatterError(BlogError):
    """A post whose front matter is not a YAML mapping."""


class InvalidFileName(BlogError):
    """A post file name that could escape the content folder or is otherwise unusable."""


class PostNotFound(BlogError):
    """No post file of that name in the content folder of the working clone."""


class PostExists(BlogError):
    """A post file of that name already exists, so creating or renaming onto it would overwrite it."""


def _exit(returncode: int | None) -> str:
    return "timed out" if returncode is None else f"exit {returncode}"
