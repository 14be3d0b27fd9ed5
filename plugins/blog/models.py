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


@dataclass(frozen=True)
class BlogRepo:
    """A blog's repository settings; `token` goes to http(s) remotes only."""

    url: str
    branch: str
    content_dir: str
    author_name: str
    author_email: str
    token: str = ""

    def git(self, folder: Path) -> GitCli:
        """git in `folder` with this blog's commit identity and its token for its remote."""
        return GitCli(folder, author=Author(self.author_name, self.author_email), remote_url=self.url, token=self.token)

    def public(self) -> dict[str, Any]:
        """The settings as the API shows them: the token only as `hasToken` (key order is part of the API)."""
        return {
            "repoUrl": self.url,
            "branch": self.branch,
            "contentDir": self.content_dir,
            "gitUserName": self.author_name,
            "gitUserEmail": self.author_email,
            "hasToken": bool(self.token),
        }

    def row(self, project_id: str, created_at: datetime) -> BlogConfigRow:
        return BlogConfigRow(
            project_id=project_id,
            repo_url=self.url,
            branch=self.branch,
            content_dir=self.content_dir,
            git_user_name=self.author_name,
            git_user_email=self.author_email,
            git_auth_token=self.token,
            created_at=created_at,
        )


def stored_repo(db: Session, project_id: str) -> BlogRepo | None:
    """The blog project's stored repository settings; None while it is not configured."""
    row = db.get(BlogConfigRow, project_id)
    if row is None:
        return None
    return BlogRepo(
        url=row.repo_url,
        branch=row.branch,
        content_dir=row.content_dir,
        author_name=row.git_user_name,
        author_email=row.git_user_email,
        token=row.git_auth_token,
    )
