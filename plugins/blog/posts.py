"""Posts as plain data: which names are safe, slugs, the excerpt rule, the fields the API shows, listing order.

Nothing here reads the disk or runs git (`workspace.py` does); every function is a pure function of its input.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from .errors import BadPostName
from .frontmatter import Document, to_json

MARKDOWN = ".md"
NAME_LIMIT = 200
SLUG_LIMIT = 80
EXCERPT_LIMIT = 140
ELLIPSIS = "\u2026"
# The front matter keys the API sets, in the order a new post writes them.
EDITABLE_KEYS = ("title", "description", "pubDate", "tags", "draft")
_CONTROL_CHARACTER = re.compile(r"[\x00-\x1f\x7f]")
_NOT_SLUG = re.compile(r"[^a-z0-9]+")


def post_file_name(raw: str) -> str:
    """`raw` as the name of a post file: one safe path segment ending in `.md` (added when missing).

    BadPostName, checked in this order because the message names the first problem: empty, a `/` or `\\`, a
    control character, `..` anywhere, a leading `.`, and over 200 characters once `.md` is added.
    """
    if not raw:
        raise BadPostName("file name is empty")
    if "/" in raw or "\\" in raw:
        raise BadPostName(f"file name {raw!r} must be a single name, without '/' or '\\'")
    if _CONTROL_CHARACTER.search(raw):
        raise BadPostName(f"file name {raw!r} contains a control character")
    if ".." in raw:
        raise BadPostName(f"file name {raw!r} must not contain '..'")
    if raw.startswith("."):
        raise BadPostName(f"file name {raw!r} must not start with '.'")
    name = raw if raw.endswith(MARKDOWN) else raw + MARKDOWN
    if len(name) > NAME_LIMIT:
        raise BadPostName(f"file name {raw[:40]!r}... is longer than {NAME_LIMIT} characters")
    return name


def is_listed(name: str) -> bool:
    """Whether a file of the content folder is a post the API can address (and so is listed)."""
    if not name.endswith(MARKDOWN):
        return False
    try:
        return post_file_name(name) == name
    except BadPostName:
        return False


def slug_name(title: str) -> str:
    """The file name of a new post that names none: the title's ASCII words joined by `-`, or `post.md`."""
    ascii_only = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode("ascii")
    slug = _NOT_SLUG.sub("-", ascii_only.lower()).strip("-")
    slug = slug[:SLUG_LIMIT].strip("-")
    return f"{slug or 'post'}{MARKDOWN}"


def excerpt(body: str) -> str:
    """The listing's excerpt: the raw Markdown with whitespace runs collapsed, cut at exactly 140 characters.

    The cut ignores word boundaries and may leave a space before the "…" (the legacy rule, kept on purpose).
    """
    flat = " ".join(body.split())
    return flat if len(flat) <= EXCERPT_LIMIT else flat[:EXCERPT_LIMIT] + ELLIPSIS


def shown_pub_date(value: Any) -> str | None:
    """The pubDate as the API shows it: a YAML date or date-time as ISO text, anything else as its text."""
    if value is None:
        return None
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def read_pub_date(text: str) -> datetime | None:
    """`YYYY-MM-DD` (midnight UTC) or an ISO 8601 date-time (UTC when it has no offset); None when it is neither."""
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            return datetime(day.year, day.month, day.day, tzinfo=UTC)
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _as_text(value: Any) -> str:
    return "" if value is None else str(value)


def _as_tags(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return [_as_text(tag) for tag in value if tag is not None]
    return [_as_text(value)]


@dataclass(frozen=True)
class Post:
    """A post file: its name in the content folder, its document, and whether it differs from the last commit."""

    file: str
    document: Document
    uncommitted: bool = False

    @property
    def title(self) -> str:
        return _as_text(self.document.front_matter.get("title")) or self.file.removesuffix(MARKDOWN)

    @property
    def draft(self) -> bool:
        # Only a real YAML `true`: "yes" as a string, or 1, leave a post published.
        return self.document.front_matter.get("draft") is True

    @property
    def status(self) -> str:
        return "Draft" if self.uncommitted or self.draft else "Published"

    def _field(self, key: str) -> Any:
        return self.document.front_matter.get(key)

    def summary(self) -> dict[str, Any]:
        """The listing's view (key order is part of the API)."""
        return {
            "file": self.file,
            "title": self.title,
            "description": _as_text(self._field("description")),
            "tags": _as_tags(self._field("tags")),
            "status": self.status,
            "pubDate": shown_pub_date(self._field("pubDate")),
            "excerpt": excerpt(self.document.body),
        }

    def detail(self) -> dict[str, Any]:
        """The single post's view (key order is part of the API)."""
        return {
            "file": self.file,
            "title": self.title,
            "description": _as_text(self._field("description")),
            "tags": _as_tags(self._field("tags")),
            "pubDate": shown_pub_date(self._field("pubDate")),
            "draft": self.draft,
            "status": self.status,
            "body": self.document.body,
            "frontMatter": to_json(self.document.front_matter),
        }


def listing_order(summary: dict[str, Any]) -> tuple[int, float, str]:
    """Sort key: newest readable pubDate first, then every undated or unreadable one; ties by file name."""
    text = summary["pubDate"]
    moment = read_pub_date(text) if text is not None else None
    if moment is None:
        return (1, 0.0, summary["file"])
    return (0, -moment.timestamp(), summary["file"])


def with_changes(front_matter: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """A copy of `front_matter` with the editable keys in `changes` set; other keys keep their value and place."""
    updated = dict(front_matter)
    updated.update((key, changes[key]) for key in EDITABLE_KEYS if key in changes)
    return updated
