"""Posts as plain data: safe file names, slugs, the excerpt rule, front matter fields and the listing order.

Nothing here touches the disk or git; `store.py` does, and the routes turn these values into JSON.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Literal

from legacy_core.blog.errors import InvalidFileName
from legacy_core.blog.frontmatter import Document, jsonable

SUFFIX = ".md"
FILE_NAME_MAX = 200
SLUG_MAX = 80
EXCERPT_LENGTH = 140
ELLIPSIS = "\u2026"
Status = Literal["Draft", "Published"]
# The front matter keys the API edits, in the order a new post's front matter is written.
FIELDS = ("title", "description", "pubDate", "tags", "draft")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def normalize_file_name(raw: str) -> str:
    """`raw` as a post file name: exactly one safe path segment, ending in `.md` (appended when missing).

    Refused with InvalidFileName: empty names, `/` or `\\`, NUL and other control characters, any `..`, a leading
    `.` (hidden files, `.git`), and names longer than 200 characters.
    """
    if not raw:
        raise InvalidFileName("file name is empty")
    if "/" in raw or "\\" in raw:
        raise InvalidFileName(f"file name {raw!r} must be a single name, without '/' or '\\'")
    if _CONTROL.search(raw):
        raise InvalidFileName(f"file name {raw!r} contains a control character")
    if ".." in raw:
        raise InvalidFileName(f"file name {raw!r} must not contain '..'")
    if raw.startswith("."):
        raise InvalidFileName(f"file name {raw!r} must not start with '.'")
    name = raw if raw.endswith(SUFFIX) else raw + SUFFIX
    if len(name) > FILE_NAME_MAX:
        raise InvalidFileName(f"file name {raw[:40]!r}... is longer than {FILE_NAME_MAX} characters")
    return name


def is_post_name(name: str) -> bool:
    """Whether a file found in the content folder is a post the API can address."""
    try:
        return name.endswith(SUFFIX) and normalize_file_name(name) == name
    except InvalidFileName:
        return False


def slug_file_name(title: str) -> str:
    """The file name of a new post without one: ASCII words of the title joined by dashes, `post.md` when none."""
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_title.lower()).strip("-")[:SLUG_MAX].strip("-")
    return (slug or "post") + SUFFIX


def excerpt(body: str) -> str:
    """The listing's excerpt of a Markdown body (raw Markdown, markup included).

    Runs of whitespace (anything `str.isspace` accepts: spaces, tabs, newlines, U+2028, NBSP...) become one space
    and leading/trailing whitespace goes. A result of at most 140 characters (code points) is returned whole;
    a longer one is cut at exactly 140 characters - even mid-word or right after a space, the legacy quirk - and
    "…" (U+2026) is appended, so a cut excerpt is 141 characters long.
    """
    collapsed = " ".join(body.split())
    if len(collapsed) <= EXCERPT_LENGTH:
        return collapsed
    return collapsed[:EXCERPT_LENGTH] + ELLIPSIS


def pub_date_text(value: Any) -> str | None:
    """The front matter's pubDate as the API shows it: a YAML date as ISO text, a string as written."""
    if value is None:
        return None
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def parse_pub_date(text: str) -> datetime | None:
    """`YYYY-MM-DD` or an ISO 8601 date-time as an aware datetime (UTC when no offset); None when not a date."""
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            return datetime(day.year, day.month, day.day, tzinfo=UTC)
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _tags(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return [_text(tag) for tag in value if tag is not None]
    return [_text(value)]


@dataclass(frozen=True)
class Post:
    """One post file: its name in the content folder and its parsed document."""

    file: str
    document: Document

    @property
    def front_matter(self) -> dict[str, Any]:
        return self.document.front_matter

    @property
    def title(self) -> str:
        title = _text(self.front_matter.get("title"))
        return title or self.file.removesuffix(SUFFIX)

    @property
    def description(self) -> str:
        return _text(self.front_matter.get("description"))

    @property
    def tags(self) -> list[str]:
        return _tags(self.front_matter.get("tags"))

    @property
    def pub_date(self) -> str | None:
        return pub_date_text(self.front_matter.get("pubDate"))

    @property
    def draft(self) -> bool:
        return self.front_matter.get("draft") is True

    def status(self, uncommitted: bool) -> Status:
        """Draft when the file differs from the last commit or its front matter says `draft: true`."""
        return "Draft" if uncommitted or self.draft else "Published"

    def summary(self, uncommitted: bool) -> dict[str, Any]:
        return {
            "file": self.file,
            "title": self.title,
            "description": self.description,
            "tags": self.tags,
            "status": self.status(uncommitted),
            "pubDate": self.pub_date,
            "excerpt": excerpt(self.document.body),
        }

    def detail(self, uncommitted: bool) -> dict[str, Any]:
        return {
            "file": self.file,
            "title": self.title,
            "description": self.description,
            "tags": self.tags,
            "pubDate": self.pub_date,
            "draft": self.draft,
            "status": self.status(uncommitted),
            "body": self.document.body,
            "frontMatter": jsonable(self.front_matter),
        }


def listing_key(summary: dict[str, Any]) -> tuple[int, float, str]:
    """Newest pubDate first; posts without a readable date after all dated ones; ties by file name."""
    moment = parse_pub_date(summary["pubDate"]) if summary["pubDate"] is not None else None
    if moment is None:
        return (1, 0.0, summary["file"])
    return (0, -moment.timestamp(), summary["file"])


def with_fields(front_matter: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """`front_matter` with the API fields in `changes` set; other keys keep their values and order."""
    updated = dict(front_matter)
    for key in FIELDS:
        if key in changes:
            updated[key] = changes[key]
    return updated
