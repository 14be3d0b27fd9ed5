"""The `blog_configs` table as the plugin maps it, and the repository settings it holds as a plain value.

The table belongs to the core schema today (a core alembic revision creates it, with a foreign key to
`projects.id`); the plugin maps the same columns with its own declarative base so it never imports the legacy
models. The foreign key is left out of this mapping on purpose: `projects` is not in this metadata, and the
database enforces the key anyway.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import DateTime, String
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from .gitcli import Author, GitCli


class BlogBase(DeclarativeBase):
    """Declarative base of the blog plugin's mappings."""


class BlogConfigRow(BlogBase):
    """One configured blog project: where its posts live and who commits them."""

    __tablename__ = "blog_configs"

    project_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    repo_url: Mapped[str] = mapped_column(String(2000))
    branch: Mapped[str] = mapped_column(String(200))
    content_dir: Mapped[str] = mapped_column(String(500))
    git_user_name: Mapped[str] = mapped_column(String(200))
    git_user_email: Mapped[str] = mapped_column(String(254))
    # Stored because pushes need it; the API only ever shows whether there is one.
    git_auth_token: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


# BlogRepo attribute -> (table column, key in the API's view). The view's order is this table's order.
_FIELDS: dict[str, tuple[str, str]] = {
    "url": ("repo_url", "repoUrl"),
    "branch": ("branch", "branch"),
    "content_dir": ("content_dir", "contentDir"),
    "author_name": ("git_user_name", "gitUserName"),
    "author_email": ("git_user_email", "gitUserEmail"),
}


@dataclass(frozen=True)
class BlogRepo:
    """Repository settings of one blog; the token, when present, is only ever offered to http(s) remotes."""

    url: str
    branch: str
    content_dir: str
    author_name: str
    author_email: str
    token: str = ""

    def git(self, folder: Path) -> GitCli:
        """A git runner for `folder` that commits as this blog's author and authenticates to its remote."""
        who = Author(name=self.author_name, email=self.author_email)
        return GitCli(folder, author=who, remote_url=self.url, token=self.token)

    def public(self) -> dict[str, Any]:
        """What the API reveals: every setting by its JSON key, and in place of the token just `hasToken`."""
        shown = {key: getattr(self, attribute) for attribute, (_column, key) in _FIELDS.items()}
        shown["hasToken"] = bool(self.token)
        return shown

    def row(self, project_id: str, created_at: datetime) -> BlogConfigRow:
        columns = {column: getattr(self, attribute) for attribute, (column, _key) in _FIELDS.items()}
        return BlogConfigRow(project_id=project_id, git_auth_token=self.token, created_at=created_at, **columns)


def stored_repo(db: Session, project_id: str) -> BlogRepo | None:
    """Settings saved for the project, or None when the blog has not been configured yet."""
    found = db.get(BlogConfigRow, project_id)
    if found is None:
        return None
    values = {attribute: getattr(found, column) for attribute, (column, _key) in _FIELDS.items()}
    return BlogRepo(token=found.git_auth_token, **values)
