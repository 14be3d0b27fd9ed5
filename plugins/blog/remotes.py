"""Which git remotes, branches, folders and identities a blog may be configured with, and why one is refused.

The field checks raise ValueError with the text the API shows (pydantic prefixes it with "Value error, "). The
remote policy needs the platform's settings: a local remote (absolute path or file:// URL) could be any repository
the server can read, another project's working clone included, so it must lie inside the operator's allow-list
folder BLOG_LOCAL_REMOTES_ROOT, symlinks resolved, and never among the platform's own files.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

SCHEMES = ("https", "http", "ssh", "git", "file")
_SCP_STYLE = re.compile(r"^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:")  # git@github.com:owner/repo.git
_SPACE_OR_CONTROL = re.compile(r"[\x00-\x20\x7f]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_BRANCH_CHARACTERS = re.compile(r"^[A-Za-z0-9._/-]+$")
_EMAIL = re.compile(r"^[^@\s<>]+@[^@\s<>]+$")
_FILE_URL_HINT = "file:///absolute/path"


def valid_remote_url(url: str) -> str:
    """An https/http/ssh/git/file URL, an scp-style `user@host:path`, or an absolute local path."""
    if _SPACE_OR_CONTROL.search(url):
        raise ValueError("the URL must not contain spaces or control characters")
    if url.startswith("-"):  # git would read it as an option
        raise ValueError("the URL must not start with '-'")
    if url.startswith("/") or _SCP_STYLE.match(url):
        return url
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        choices = ", ".join(f"{name}://" for name in SCHEMES)
        raise ValueError(f"use a {choices} URL, user@host:path, or an absolute path")
    if scheme in ("http", "https") and (parts.username or parts.password):
        raise ValueError("put the access token in 'gitAuthToken', not in the URL (it would be stored in .git/config)")
    if scheme == "file":
        _check_file_url(url)
    elif not parts.netloc:
        raise ValueError(f"the {parts.scheme}:// URL has no host")
    return url


def _check_file_url(url: str) -> None:
    # git takes everything after file://<host> as the path, '?' and '#' included, where urlsplit would cut a query
    # or fragment off: only a URL both read alike may pass, or the policy below would judge another folder.
    parts = urlsplit(url)
    if not url.startswith("file://"):
        raise ValueError(f"write a file URL as {_FILE_URL_HINT}")
    has_extras = parts.query or parts.fragment or "?" in url or "#" in url
    if parts.netloc not in ("", "localhost") or has_extras:
        raise ValueError(f"a file:// URL takes no host, '?' or '#': write it as {_FILE_URL_HINT}")
    if not parts.path.startswith("/"):
        raise ValueError(f"a file:// URL needs an absolute path: {_FILE_URL_HINT}")


def valid_branch(branch: str) -> str:
    """A branch name git accepts, of letters, digits and `._/-` only."""
    if not _BRANCH_CHARACTERS.match(branch):
        raise ValueError("use letters, digits and '._/-' only")
    if branch.startswith(("-", "/", ".")) or branch.endswith(("/", ".", ".lock")):
        raise ValueError("must not start with '-', '/' or '.', nor end with '/', '.' or '.lock'")
    if any(part in branch for part in ("..", "//", "/.")):
        raise ValueError("must not contain '..', '//' or '/.'")
    return branch


def valid_content_dir(content_dir: str) -> str:
    """A folder inside the repository written with '/', such as `src/content/blog`; outer slashes are dropped."""
    # A leading '/' is kept so that the check below refuses it, where stripping would quietly accept it.
    folder = content_dir if content_dir.startswith("/") else content_dir.strip("/")
    if folder.startswith("/") or "\\" in folder or _CONTROL.search(folder):
        raise ValueError("use a relative folder with '/' separators, such as 'src/content/blog'")
    parts = folder.split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise ValueError("must not contain empty, '.' or '..' parts")
    if parts[0].lower() == ".git":
        raise ValueError("must not be inside .git")
    return folder


def valid_person(name: str) -> str:
    """A commit author name: no angle brackets (they delimit the email in a commit) and no control characters."""
    if re.search(r"[<>\x00-\x1f\x7f]", name):
        raise ValueError("must not contain '<', '>' or control characters")
    return name


def valid_email(email: str) -> str:
    if not _EMAIL.match(email) or _CONTROL.search(email):
        raise ValueError("must look like name@example.com")
    return email


def valid_token(token: str) -> str:
    if _SPACE_OR_CONTROL.search(token):
        raise ValueError("must not contain spaces or control characters")
    return token


def local_folder(url: str) -> Path | None:
    """The folder a local remote names (absolute path or file:// URL); None for a network remote."""
    if url.startswith("/"):
        return Path(url)
    parts = urlsplit(url)
    return Path(unquote(parts.path)) if parts.scheme.lower() == "file" else None


def lies_within(path: Path, folders: list[Path]) -> bool:
    """Whether `path`, symlinks resolved, is one of `folders` or inside one."""
    real = path.resolve()
    return any(real.is_relative_to(folder.resolve()) for folder in folders)


def refusal(url: str, platform: Mapping[str, Any], blog_root: Path) -> str | None:
    """Why this server does not let a blog push to and pull from `url`; None when it may.

    `platform` is the platform settings (`ctx.platform`); `blog_root` the folder of the blog working clones.
    """
    folder = local_folder(url)
    if folder is None:
        if platform["BLOG_NETWORK_REMOTES"]:
            return None
        return "network remotes are disabled here (BLOG_NETWORK_REMOTES)"
    data_dir: Path = platform["DATA_DIR"]
    papertrail_root: Path = platform["PAPERTRAIL_DATA_ROOT"] or data_dir / "papertrail"
    if lies_within(folder, [data_dir, blog_root, papertrail_root]):
        return "a local repository inside the platform's data folder"
    allowed: Path | None = platform["BLOG_LOCAL_REMOTES_ROOT"]
    if allowed is None:
        return "local repositories are refused here; an operator allows a folder of them with BLOG_LOCAL_REMOTES_ROOT"
    if not lies_within(folder, [allowed]):
        return "a local repository outside the folder BLOG_LOCAL_REMOTES_ROOT allows"
    return None
