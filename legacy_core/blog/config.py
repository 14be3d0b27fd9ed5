"""A blog's repository settings: the checks a configuration must pass and the shape the API shows."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from legacy_core.blog.git import Git, GitIdentity
from legacy_core.settings import Settings

REMOTE_SCHEMES = ("https", "http", "ssh", "git", "file")
_SCP_LIKE = re.compile(r"^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:")  # git@github.com:owner/repo.git
_BRANCH = re.compile(r"^[A-Za-z0-9._/-]+$")
_EMAIL = re.compile(r"^[^@\s<>]+@[^@\s<>]+$")
_UNSAFE = re.compile(r"[\x00-\x20\x7f]")  # control characters and whitespace


@dataclass(frozen=True)
class RepoConfig:
    """Where a blog's posts live and who commits them; `token` is sent to https remotes only."""

    repo_url: str
    branch: str
    content_dir: str
    user_name: str
    user_email: str
    token: str = ""

    def git(self, cwd: Path | None) -> Git:
        """A git runner for this blog: its commit identity, and its token for the configured remote."""
        identity = GitIdentity(self.user_name, self.user_email)
        return Git(cwd, identity=identity, remote_url=self.repo_url, token=self.token)

    def public(self) -> dict[str, Any]:
        """The configuration as the API shows it: everything but the token, which only shows as `hasToken`."""
        return {
            "repoUrl": self.repo_url,
            "branch": self.branch,
            "contentDir": self.content_dir,
            "gitUserName": self.user_name,
            "gitUserEmail": self.user_email,
            "hasToken": bool(self.token),
        }


def check_repo_url(url: str) -> str:
    """An https/http/ssh/git/file URL, an scp-like `user@host:path`, or an absolute local path."""
    if _UNSAFE.search(url):
        raise ValueError("the URL must not contain spaces or control characters")
    if url.startswith("-"):
        raise ValueError("the URL must not start with '-'")
    if url.startswith("/"):
        return url
    if _SCP_LIKE.match(url):
        return url
    parts = urlsplit(url)
    if parts.scheme.lower() not in REMOTE_SCHEMES:
        allowed = ", ".join(f"{scheme}://" for scheme in REMOTE_SCHEMES)
        raise ValueError(f"use a {allowed} URL, user@host:path, or an absolute path")
    if parts.scheme.lower() in ("http", "https") and (parts.username or parts.password):
        raise ValueError("put the access token in 'gitAuthToken', not in the URL (it would be stored in .git/config)")
    if parts.scheme.lower() == "file":
        _check_file_url(url)
    elif not parts.netloc:
        raise ValueError(f"the {parts.scheme}:// URL has no host")
    return url


def _check_file_url(url: str) -> None:
    # Git reads everything after file://<host> as the path (ignoring the host, keeping '?' and '#'), while
    # urlsplit would cut a query or fragment off: only URLs both read the same way get through.
    parts = urlsplit(url)
    if not url.startswith("file://"):
        raise ValueError("write a file URL as file:///absolute/path")
    if parts.netloc not in ("", "localhost") or parts.query or parts.fragment or "?" in url or "#" in url:
        raise ValueError("a file:// URL takes no host, '?' or '#': write it as file:///absolute/path")
    if not parts.path.startswith("/"):
        raise ValueError("a file:// URL needs an absolute path: file:///absolute/path")


def local_path(url: str) -> Path | None:
    """The folder a local remote (absolute path or file:// URL) points at; None for network remotes."""
    if url.startswith("/"):
        return Path(url)
    parts = urlsplit(url)
    if parts.scheme.lower() == "file":
        return Path(unquote(parts.path))
    return None


def remote_refusal(url: str, settings: Settings) -> str | None:
    """Why this server does not let a blog use `url` as its remote, or None when it may.

    A local remote can be any git repository the server can read (the platform's own source, another project's
    working clone), so it must lie inside the operator's allow-list folder BLOG_LOCAL_REMOTES_ROOT, symlinks
    resolved, and never among the platform's own files.
    """
    local = local_path(url)
    if local is None:
        return None if settings.BLOG_NETWORK_REMOTES else "network remotes are disabled here (BLOG_NETWORK_REMOTES)"
    if is_inside(local, [settings.DATA_DIR, settings.blog_root, settings.papertrail_root]):
        return "a local repository inside the platform's data folder"
    root = settings.BLOG_LOCAL_REMOTES_ROOT
    if root is None:
        return "local repositories are refused here; an operator allows a folder of them with BLOG_LOCAL_REMOTES_ROOT"
    if not is_inside(local, [root]):
        return "a local repository outside the folder BLOG_LOCAL_REMOTES_ROOT allows"
    return None


def is_inside(path: Path, folders: list[Path]) -> bool:
    """Whether `path` (symlinks resolved) is one of `folders` or lies inside one."""
    resolved = path.resolve()
    return any(resolved.is_relative_to(folder.resolve()) for folder in folders)


def check_branch(branch: str) -> str:
    """A branch name git accepts, limited to letters, digits and `._/-`."""
    if not _BRANCH.match(branch):
        raise ValueError("use letters, digits and '._/-' only")
    if branch.startswith(("-", "/", ".")) or branch.endswith(("/", ".", ".lock")):
        raise ValueError("must not start with '-', '/' or '.', nor end with '/', '.' or '.lock'")
    if ".." in branch or "//" in branch or "/." in branch:
        raise ValueError("must not contain '..', '//' or '/.'")
    return branch


def check_content_dir(content_dir: str) -> str:
    """A relative folder inside the repository, written with '/', such as `src/content/blog`."""
    folder = content_dir.strip("/") if not content_dir.startswith("/") else content_dir
    if folder.startswith("/") or "\\" in folder or re.search(r"[\x00-\x1f\x7f]", folder):
        raise ValueError("use a relative folder with '/' separators, such as 'src/content/blog'")
    parts = folder.split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise ValueError("must not contain empty, '.' or '..' parts")
    if parts[0].lower() == ".git":
        raise ValueError("must not be inside .git")
    return folder


def check_person(name: str) -> str:
    if re.search(r"[<>\x00-\x1f\x7f]", name):
        raise ValueError("must not contain '<', '>' or control characters")
    return name


def check_email(email: str) -> str:
    if not _EMAIL.match(email) or re.search(r"[\x00-\x1f\x7f]", email):
        raise ValueError("must look like name@example.com")
    return email


def check_token(token: str) -> str:
    if _UNSAFE.search(token):
        raise ValueError("must not contain spaces or control characters")
    return token
