"""Request bodies of the blog API, validated once at the boundary (pydantic)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, model_validator

from legacy_core.blog import config
from legacy_core.blog.posts import FIELDS, parse_pub_date


def _encodable(value: str) -> str:
    # A lone surrogate (possible in JSON as "\ud800") cannot be written to a UTF-8 file.
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError("contains a lone surrogate, which no UTF-8 file can hold") from exc
    return value


def _pub_date(value: str) -> str:
    if parse_pub_date(value) is None:
        raise ValueError("use YYYY-MM-DD or an ISO 8601 date-time such as 2026-01-31T09:30:00Z")
    return value


def _stripped(min_length: int, max_length: int) -> Any:
    return StringConstraints(strip_whitespace=True, min_length=min_length, max_length=max_length)


FileName = Annotated[str, _stripped(1, 200), AfterValidator(_encodable)]
Title = Annotated[str, _stripped(1, 300), AfterValidator(_encodable)]
Description = Annotated[str, _stripped(0, 2000), AfterValidator(_encodable)]
Tag = Annotated[str, _stripped(1, 100), AfterValidator(_encodable)]
PubDate = Annotated[str, _stripped(10, 40), AfterValidator(_pub_date)]
# The Markdown body is kept exactly as sent: no stripping, so it round-trips byte for byte.
Body = Annotated[str, StringConstraints(max_length=1_000_000), AfterValidator(_encodable)]


class ConfigureBody(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True, populate_by_name=True)

    repo_url: Annotated[str, AfterValidator(config.check_repo_url)] = Field(
        alias="repoUrl", min_length=1, max_length=2000
    )
    branch: Annotated[str, AfterValidator(config.check_branch)] = Field(default="main", min_length=1, max_length=200)
    content_dir: Annotated[str, AfterValidator(config.check_content_dir)] = Field(
        default="src/content/blog", alias="contentDir", min_length=1, max_length=500
    )
    git_user_name: Annotated[str, AfterValidator(config.check_person)] = Field(
        alias="gitUserName", min_length=1, max_length=200
    )
    git_user_email: Annotated[str, AfterValidator(config.check_email)] = Field(
        alias="gitUserEmail", min_length=3, max_length=254
    )
    git_auth_token: Annotated[str, AfterValidator(config.check_token)] | None = Field(
        default=None, alias="gitAuthToken", max_length=500
    )


class PostFields(BaseModel):
    """Front matter fields a request may set; `None` means "not given"."""

    model_config = ConfigDict(populate_by_name=True)

    description: Description | None = None
    tags: list[Tag] | None = Field(default=None, max_length=50)
    pub_date: PubDate | None = Field(default=None, alias="pubDate")
    draft: bool | None = None

    def front_matter_changes(self) -> dict[str, Any]:
        """The given fields under their front matter keys; a plain date is written as a YAML date."""
        changes: dict[str, Any] = {}
        for key in FIELDS:
            attribute = "pub_date" if key == "pubDate" else key
            value = getattr(self, attribute, None)
            if value is not None:
                changes[key] = value
        if isinstance(changes.get("pubDate"), str) and len(changes["pubDate"]) == 10:
            changes["pubDate"] = date.fromisoformat(changes["pubDate"])
        return changes


class CreatePostBody(PostFields):
    file: FileName | None = None
    title: Title
    body: Body


class UpdatePostBody(PostFields):
    file: FileName | None = None
    title: Title | None = None
    body: Body | None = None

    @model_validator(mode="after")
    def _something_to_change(self) -> UpdatePostBody:
        given = [name for name in type(self).model_fields if getattr(self, name) is not None]
        if not given:
            raise ValueError("give at least one of 'title', 'description', 'tags', 'pubDate', 'draft', 'body', 'file'")
        return self
