"""Request bodies of the blog API, read and validated once at the boundary (pydantic).

The 400 answers are part of the API: their `details` list one `{"field", "message"}` per problem, in the order
pydantic reports them, so the models below declare their fields in the legacy order with the legacy limits.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, TypeVar

from flask import request
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, ValidationError, model_validator

from exthost.sdk import HttpError

from . import remotes
from .posts import EDITABLE_KEYS, read_pub_date

Model = TypeVar("Model", bound=BaseModel)


def _writable(text: str) -> str:
    """`text` if a UTF-8 file can store it: JSON escapes may smuggle in a surrogate code point, which it cannot."""
    if any(0xD800 <= ord(character) <= 0xDFFF for character in text):
        raise ValueError("contains a lone surrogate, which no UTF-8 file can hold")
    return text


def _dated(text: str) -> str:
    if read_pub_date(text) is not None:
        return text
    raise ValueError("use YYYY-MM-DD or an ISO 8601 date-time such as 2026-01-31T09:30:00Z")


def _stripped(longest: int, *, at_least: int = 1) -> StringConstraints:
    """Surrounding whitespace removed, then the length held between `at_least` and `longest`."""
    return StringConstraints(strip_whitespace=True, min_length=at_least, max_length=longest)


_STORABLE = AfterValidator(_writable)
FileName = Annotated[str, _stripped(200), _STORABLE]
Title = Annotated[str, _stripped(300), _STORABLE]
Description = Annotated[str, _stripped(2000, at_least=0), _STORABLE]
Tag = Annotated[str, _stripped(100), _STORABLE]
PubDate = Annotated[str, _stripped(40, at_least=10), AfterValidator(_dated)]
# No stripping for the Markdown itself: what arrives is what lands in the file.
Body = Annotated[str, StringConstraints(max_length=1_000_000), _STORABLE]
# Front matter key -> attribute of FrontMatterFields, where the two differ.
_ATTRIBUTE_OF = {"pubDate": "pub_date"}


def _yaml_value(key: str, value: Any) -> Any:
    """A bare `YYYY-MM-DD` pubDate goes into YAML as a date; every other value as it came."""
    if key == "pubDate" and isinstance(value, str) and len(value) == 10:
        return date.fromisoformat(value)
    return value


class ConfigureBody(BaseModel):
    """PATCH /configure. Both the API's camelCase names and the snake_case ones are accepted (legacy does)."""

    model_config = ConfigDict(str_strip_whitespace=True, populate_by_name=True)

    repo_url: Annotated[str, AfterValidator(remotes.valid_remote_url)] = Field(
        alias="repoUrl", min_length=1, max_length=2000
    )
    branch: Annotated[str, AfterValidator(remotes.valid_branch)] = Field(default="main", min_length=1, max_length=200)
    content_dir: Annotated[str, AfterValidator(remotes.valid_content_dir)] = Field(
        default="src/content/blog", alias="contentDir", min_length=1, max_length=500
    )
    git_user_name: Annotated[str, AfterValidator(remotes.valid_person)] = Field(
        alias="gitUserName", min_length=1, max_length=200
    )
    git_user_email: Annotated[str, AfterValidator(remotes.valid_email)] = Field(
        alias="gitUserEmail", min_length=3, max_length=254
    )
    git_auth_token: Annotated[str, AfterValidator(remotes.valid_token)] | None = Field(
        default=None, alias="gitAuthToken", max_length=500
    )


class FrontMatterFields(BaseModel):
    """The front matter fields a post request may set; None means "not given"."""

    model_config = ConfigDict(populate_by_name=True)

    description: Description | None = None
    tags: list[Tag] | None = Field(default=None, max_length=50)
    pub_date: PubDate | None = Field(default=None, alias="pubDate")
    draft: bool | None = None

    def changes(self) -> dict[str, Any]:
        """The given fields by front matter key; a plain `YYYY-MM-DD` becomes a YAML date, not a string."""
        present = ((key, getattr(self, _ATTRIBUTE_OF.get(key, key), None)) for key in EDITABLE_KEYS)
        return {key: _yaml_value(key, value) for key, value in present if value is not None}


class NewPostBody(FrontMatterFields):
    """POST /blog/post."""

    file: FileName | None = None
    title: Title
    body: Body


class PostChangesBody(FrontMatterFields):
    """PATCH /blog/post/<file>: any of the fields, at least one."""

    file: FileName | None = None
    title: Title | None = None
    body: Body | None = None

    @model_validator(mode="after")
    def _not_empty(self) -> PostChangesBody:
        values = [getattr(self, name) for name in type(self).model_fields]
        if values.count(None) == len(values):
            raise ValueError("give at least one of 'title', 'description', 'tags', 'pubDate', 'draft', 'body', 'file'")
        return self


def json_object() -> dict[str, Any]:
    """The request body as a JSON object; no body is `{}`; anything else that is not an object is a 400."""
    try:
        data = request.get_json(silent=True)
    except RecursionError:
        # json.loads raises this, not ValueError, on very deep nesting, so Flask's `silent` lets it through.
        raise HttpError(400, "Request body is nested too deeply") from None
    if data is None:
        if request.get_data(cache=True):
            raise HttpError(400, "Request body is not valid JSON")
        return {}
    if not isinstance(data, dict):
        raise HttpError(400, f"Request body must be a JSON object, not {type(data).__name__}")
    return data


def validated(model: type[Model], data: Any) -> Model:
    """`data` as a `model`, or a 400 "Invalid request" naming each bad field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        details = [
            {"field": ".".join(str(part) for part in problem["loc"]) or "body", "message": problem["msg"]}
            for problem in exc.errors(include_url=False)
        ]
        raise HttpError(400, "Invalid request", details=details) from exc
