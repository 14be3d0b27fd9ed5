"""Screening a blog's repository settings: each field on its own, then the remote against this server's policy.

Field screens raise ValueError carrying the API's wording (pydantic shows it after "Value error, "). The policy
part matters for local remotes - a bare path or a file:// URL - because the server can read far more than blog
repositories (its own data, other projects' clones). Such a remote is allowed only below the operator's
BLOG_LOCAL_REMOTES_ROOT, judged after resolving symlinks, and never below one of the platform's data folders.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

Rule = tuple[Callable[[str], bool], str]

SCHEMES = ("https", "http", "ssh", "git", "file")
_HOST_COLON_PATH = re.compile(r"^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:")  # the scp form, e.g. git@example.org:a/b.git
_BLANK_OR_CONTROL = re.compile(r"[\x00-\x20\x7f]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_BRANCH_ALPHABET = re.compile(r"^[A-Za-z0-9._/-]+$")
_ADDRESS = re.compile(r"^[^@\s<>]+@[^@\s<>]+$")
_NAME_FORBIDDEN = re.compile(r"[<>\x00-\x1f\x7f]")
_FILE_FORM = "file:///absolute/path"


def _screen(value: str, rules: tuple[Rule, ...]) -> str:
    """`value` itself when no rule objects; otherwise ValueError with the first objecting rule's text."""
    for objects, text in rules:
        if objects(value):
            raise ValueError(text)
    return value


def _network_url_problem(url: str) -> str | None:
    split = urlsplit(url)
    scheme = split.scheme.lower()
    if scheme not in SCHEMES:
        return "use a " + ", ".join(name + "://" for name in SCHEMES) + " URL, user@host:path, or an absolute path"
    if scheme in ("http", "https") and (split.username or split.password):
        return "put the access token in 'gitAuthToken', not in the URL (it would be stored in .git/config)"
    if scheme == "file":
        return _file_url_problem(url)
    return None if split.netloc else f"the {split.scheme}:// URL has no host"


def _file_url_problem(url: str) -> str | None:
    # For git the path is all that follows file://<host>, '?' and '#' included; urlsplit drops a query and a
    # fragment. A URL the two would read differently is refused, so the policy judges the folder git would use.
    split = urlsplit(url)
    if not url.startswith("file://"):
        return f"write a file URL as {_FILE_FORM}"
    if split.netloc not in ("", "localhost") or any((split.query, split.fragment, "?" in url, "#" in url)):
        return f"a file:// URL takes no host, '?' or '#': write it as {_FILE_FORM}"
    if not split.path.startswith("/"):
        return f"a file:// URL needs an absolute path: {_FILE_FORM}"
    return None


def valid_remote_url(url: str) -> str:
    """A remote git can reach: scheme URL (https, http, ssh, git, file), `user@host:path`, or absolute path."""
    _screen(
        url,
        (
            (
                lambda u: _BLANK_OR_CONTROL.search(u) is not None,
                "the URL must not contain spaces or control characters",
            ),
            (lambda u: u[:1] == "-", "the URL must not start with '-'"),  # git would take it for an option
        ),
    )
    if url[:1] == "/" or _HOST_COLON_PATH.match(url):
        return url
    problem = _network_url_problem(url)
    if problem is not None:
        raise ValueError(problem)
    return url


_BRANCH_RULES: tuple[Rule, ...] = (
    (lambda b: not _BRANCH_ALPHABET.match(b), "use letters, digits and '._/-' only"),
    (
        lambda b: b[:1] in ("-", "/", ".") or b.endswith(("/", ".", ".lock")),
        "must not start with '-', '/' or '.', nor end with '/', '.' or '.lock'",
    ),
    (lambda b: any(bad in b for bad in ("..", "//", "/.")), "must not contain '..', '//' or '/.'"),
)


def valid_branch(branch: str) -> str:
    """A branch name made of letters, digits and `._/-`, in a form git takes as a ref."""
    return _screen(branch, _BRANCH_RULES)


_FOLDER_RULES: tuple[Rule, ...] = (
    (
        lambda f: f[:1] == "/" or "\\" in f or _CONTROL.search(f) is not None,
        "use a relative folder with '/' separators, such as 'src/content/blog'",
    ),
    (lambda f: not {"", ".", ".."}.isdisjoint(f.split("/")), "must not contain empty, '.' or '..' parts"),
    (lambda f: f.split("/")[0].lower() == ".git", "must not be inside .git"),
)


def valid_content_dir(content_dir: str) -> str:
    """A repository folder such as `src/content/blog`, written with '/'; surrounding slashes are trimmed."""
    # Trimming is skipped for an absolute folder, so that the first rule rejects it instead of accepting it.
    trimmed = content_dir if content_dir[:1] == "/" else content_dir.strip("/")
    return _screen(trimmed, _FOLDER_RULES)


def valid_person(name: str) -> str:
    """An author name fit for a commit header: '<' and '>' would be taken for the email's brackets."""
    return _screen(
        name, ((lambda n: _NAME_FORBIDDEN.search(n) is not None, "must not contain '<', '>' or control characters"),)
    )


def valid_email(email: str) -> str:
    shaped = bool(_ADDRESS.match(email)) and _CONTROL.search(email) is None
    return _screen(email, ((lambda _: not shaped, "must look like name@example.com"),))


def valid_token(token: str) -> str:
    return _screen(
        token, ((lambda t: _BLANK_OR_CONTROL.search(t) is not None, "must not contain spaces or control characters"),)
    )


def _folder_named_by(url: str) -> Path | None:
    """The directory behind a local remote; None when `url` names a network remote."""
    if url[:1] == "/":
        return Path(url)
    split = urlsplit(url)
    if split.scheme.lower() != "file":
        return None
    return Path(unquote(split.path))


def _below_any(path: Path, roots: list[Path]) -> bool:
    """Whether `path` with links followed equals or descends from one of `roots` (also with links followed)."""
    target = path.resolve()
    return any(target.is_relative_to(root.resolve()) for root in roots)


def refusal(url: str, platform: Mapping[str, Any], blog_root: Path) -> str | None:
    """The reason this server will not use `url` as a blog remote; None when it is acceptable.

    `platform` holds the platform settings (`ctx.platform`), `blog_root` is where blog working clones live.
    """
    folder = _folder_named_by(url)
    if folder is None:
        return None if platform["BLOG_NETWORK_REMOTES"] else "network remotes are disabled here (BLOG_NETWORK_REMOTES)"
    data_dir: Path = platform["DATA_DIR"]
    protected = [data_dir, blog_root, platform["PAPERTRAIL_DATA_ROOT"] or data_dir / "papertrail"]
    if _below_any(folder, protected):
        return "a local repository inside the platform's data folder"
    allow_root: Path | None = platform["BLOG_LOCAL_REMOTES_ROOT"]
    if allow_root is None:
        return "local repositories are refused here; an operator allows a folder of them with BLOG_LOCAL_REMOTES_ROOT"
    return (
        None
        if _below_any(folder, [allow_root])
        else "a local repository outside the folder BLOG_LOCAL_REMOTES_ROOT allows"
    )
