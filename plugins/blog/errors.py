"""Errors of the blog plugin; `routes.py` turns each into the HTTP answer the legacy Blog API gives.

BlogPluginError              root of everything the plugin raises on purpose
 ├── GitFailed               a git command failed: the command (never a secret), exit code and git's own reason
 │    ├── GitTimedOut        git ran past its timeout and was killed, with its helpers
 │    └── PushRefused        the remote has commits the working clone lacks (a non-fast-forward push)
 ├── AlreadyConfigured       the project has its repository configuration already; it is set once
 ├── PullRefused             the working clone cannot be fast-forwarded; nothing was changed
 ├── FrontMatterInvalid      a post's front matter is not YAML, not closed, or not a mapping
 ├── BadPostName             a post name that is not one safe path segment
 ├── PostMissing             no post of that name in the content folder
 └── PostTaken               a post of that name exists already (create, rename)
"""

from __future__ import annotations


class BlogPluginError(Exception):
    """Root of the blog plugin's exceptions."""


class GitFailed(BlogPluginError):
    """A git command that failed; `reason` is what git said (its last lines of output), secrets redacted."""

    def __init__(self, command: str, returncode: int | None, reason: str):
        # The text is part of the API: a delete whose push fails quotes it in its warning, as legacy does. A
        # missing return code reads "timed out" even when git could not be started at all (a legacy quirk).
        outcome = "timed out" if returncode is None else f"exit {returncode}"
        super().__init__(f"`{command}` failed ({outcome}): {reason}")
        self.command = command
        self.returncode = returncode
        self.reason = reason


class GitTimedOut(GitFailed):
    """A git command that did not finish within `timeout` seconds."""

    def __init__(self, command: str, timeout: float):
        super().__init__(command, None, f"no answer within {timeout:g} s (is the remote reachable?)")
        self.timeout = timeout


class PushRefused(GitFailed):
    """The remote branch moved on; pushing would not be a fast-forward."""


class AlreadyConfigured(BlogPluginError):
    """The blog project already has a stored repository configuration."""


class PullRefused(BlogPluginError):
    """The working clone has diverged from the remote, or unpublished edits stand in the way of a fast-forward."""


class FrontMatterInvalid(BlogPluginError):
    """A post whose front matter cannot be read as a YAML mapping."""


class BadPostName(BlogPluginError):
    """A post name that could leave the content folder or that git and the file system cannot hold."""


class PostMissing(BlogPluginError):
    """No readable post file of that name (a symlink does not count)."""


class PostTaken(BlogPluginError):
    """Creating or renaming onto this name would overwrite a post; the message is the name."""
