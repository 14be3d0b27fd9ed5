"""Rules about posts that need neither disk nor git: naming, slugs, excerpts, dates, the API's views, ordering.

Every function here depends only on its arguments; `workspace.py` feeds them what it reads from the clone.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

from .errors import BadPostName
from .frontmatter import Document, to_json

MARKDOWN = ".md"
NAME_LIMIT = 200
SLUG_LIMIT = 80
EXCERPT_LIMIT = 140
ELLIPSIS = "\u2026"
# Keys a request may set, in the order they land in a brand-new post's front matter.
EDITABLE_KEYS = ("title", "description", "pubDate", "tags", "draft")
_CONTROL_CHARACTER = re.compile(r"[\x00-\x1f\x7f]")
_SLUG_WORD = re.compile(r"[a-z0-9]+")

# Complaints about a requested name, in priority order: the answer names the first one that applies.
_NAME_RULES: tuple[tuple[Callable[[str], bool], str], ...] = (
    (lambda raw: "/" in raw or "\\" in raw, "must be a single name, without '/' or '\\'"),
    (lambda raw: _CONTROL_CHARACTER.search(raw) is not None, "contains a control character"),
    (lambda raw: ".." in raw, "must not contain '..'"),
    (lambda raw: raw.startswith("."), "must not start with '.'"),
)


def _complaint(raw: str) -> str | None:
    return next((f"file name {raw!r} {text}" for broken, text in _NAME_RULES if broken(raw)), None)


def post_file_name(raw: str) -> str:
    """The post file `raw` asks for, `.md` appended when absent; BadPostName if it is no safe single segment."""
    if raw == "":
        raise BadPostName("file name is empty")
    complaint = _complaint(raw)
    if complaint is not None:
        raise BadPostName(complaint)
    name = raw + ("" if raw.endswith(MARKDOWN) else MARKDOWN)
    if len(name) <= NAME_LIMIT:
        return name
    raise BadPostName(f"file name {raw[:40]!r}... is longer than {NAME_LIMIT} characters")


def is_listed(name: str) -> bool:
    """True for a content-folder entry that the API could address by exactly this name."""
    return name.endswith(MARKDOWN) and len(name) <= NAME_LIMIT and _complaint(name) is None


def slug_name(title: str) -> str:
    """A file name made from a title: its ASCII letters and digits in dash-joined runs; `post.md` if none."""
    folded = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode("ascii").lower()
    slug = "-".join(_SLUG_WORD.findall(folded))[:SLUG_LIMIT].strip("-")
    return (slug if slug else "post") + MARKDOWN


def excerpt(body: str) -> str:
    """The body's words joined by single spaces; past 140 characters, the first 140 plus an ellipsis.

    The cut is blind to words, so a space can end up just before the ellipsis; the legacy API does the same.
    """
    words = " ".join(body.split())
    cut = words[:EXCERPT_LIMIT]
    return cut if cut == words else cut + ELLIPSIS


def shown_pub_date(value: Any) -> str | None:
    """How the API spells a pubDate: ISO text for YAML dates and timestamps, plain text otherwise."""
    match value:
        case None:
            return None
        case date():
            return value.isoformat()
        case _:
            return str(value)


def read_pub_date(text: str) -> datetime | None:
    """An aware instant from `YYYY-MM-DD` (UTC midnight) or ISO 8601 (UTC if naive); None for other text."""
    parser: Callable[[str], date] = date.fromisoformat if len(text) == 10 else datetime.fromisoformat
    try:
        parsed = parser(text)
    except ValueError:
        return None
    if not isinstance(parsed, datetime):
        return datetime.combine(parsed, time(), tzinfo=UTC)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed


def _plain(value: Any) -> str:
    return "" if value is None else str(value)


def _tag_list(value: Any) -> list[str]:
    if value is None:
        return []
    many = value if isinstance(value, list | tuple) else [value]
    return [str(tag) for tag in many if tag is not None]


@dataclass(frozen=True)
class Post:
    """A post file's name, its parsed content, and whether git sees it as changed since HEAD."""

    file: str
    document: Document
    uncommitted: bool = False

    @property
    def title(self) -> str:
        named = _plain(self.document.front_matter.get("title"))
        return named if named else self.file.removesuffix(MARKDOWN)

    @property
    def draft(self) -> bool:
        # Strictly YAML true: the string "yes" or the number 1 do not hide a post.
        return self.document.front_matter.get("draft") is True

    @property
    def status(self) -> str:
        if self.uncommitted or self.draft:
            return "Draft"
        return "Published"

    def _view(self, keys: tuple[str, ...]) -> dict[str, Any]:
        return {key: _VIEW_FIELDS[key](self) for key in keys}

    def summary(self) -> dict[str, Any]:
        return self._view(_SUMMARY)

    def detail(self) -> dict[str, Any]:
        return self._view(_DETAIL)


# Each field the API shows for a post, computed only when a view asks for it.
_VIEW_FIELDS: dict[str, Callable[[Post], Any]] = {
    "file": lambda post: post.file,
    "title": lambda post: post.title,
    "description": lambda post: _plain(post.document.front_matter.get("description")),
    "tags": lambda post: _tag_list(post.document.front_matter.get("tags")),
    "pubDate": lambda post: shown_pub_date(post.document.front_matter.get("pubDate")),
    "draft": lambda post: post.draft,
    "status": lambda post: post.status,
    "excerpt": lambda post: excerpt(post.document.body),
    "body": lambda post: post.document.body,
    "frontMatter": lambda post: to_json(post.document.front_matter),
}
# The views' key orders are part of the API.
_SUMMARY = ("file", "title", "description", "tags", "status", "pubDate", "excerpt")
_DETAIL = ("file", "title", "description", "tags", "pubDate", "draft", "status", "body", "frontMatter")


def listing_order(summary: dict[str, Any]) -> tuple[int, float, str]:
    """Sort key of a summary: dated posts (latest first) ahead of undated or unparsable ones, then by file."""
    shown = summary["pubDate"]
    moment = None if shown is None else read_pub_date(shown)
    if moment is not None:
        return (0, -moment.timestamp(), summary["file"])
    return (1, 0.0, summary["file"])


def with_changes(front_matter: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """`front_matter` updated with the editable keys of `changes`; untouched keys keep value and position."""
    chosen = {key: changes[key] for key in EDITABLE_KEYS if key in changes}
    return {**front_matter, **chosen}
