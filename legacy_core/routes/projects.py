"""Projects and their contributors: `/api/projects` and `/api/projects/<id>/shares`."""

from __future__ import annotations

import re
import shutil
import unicodedata
from typing import Any, Literal

from flask import Blueprint
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import func, literal, or_, select
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from legacy_core.access import require_project
from legacy_core.auth import CurrentUser
from legacy_core.clock import isoformat
from legacy_core.db import insert_unless_taken, transaction
from legacy_core.errors import ApiError
from legacy_core.http import Text, json_object, json_response, no_content, parse
from legacy_core.models import Project, ProjectMember, User
from legacy_core.requestctx import get_services, require_user
from legacy_core.settings import Settings

SLUG_ATTEMPTS = 10
Role = Literal["viewer", "editor", "owner"]


class CreateProjectBody(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True)

    name: Text = Field(min_length=1, max_length=120)
    desc: Text = Field(default="", max_length=500)
    type: Literal["blog", "papertrail"]
    scope: Literal["private", "org", "public"] = "private"


class UpdateProjectBody(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True)

    name: Text | None = Field(default=None, min_length=1, max_length=120)
    desc: Text | None = Field(default=None, max_length=500)
    scope: Literal["private", "org", "public"] | None = None

    @model_validator(mode="after")
    def _something_to_change(self) -> UpdateProjectBody:
        if self.name is None and self.desc is None and self.scope is None:
            raise ValueError("give at least one of 'name', 'desc', 'scope'")
        return self


class ShareBody(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True)

    email: Text = Field(min_length=3, max_length=254)
    role: Role = "viewer"


class ShareUpdateBody(BaseModel):
    role: Role


def slugify(name: str) -> str:
    """Lower-case ASCII words joined by dashes; `project` when nothing is left."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:100].strip("-")
    return slug or "project"


def project_url(project: Project) -> str:
    return f"/projects/{project.id}/board" if project.type == "papertrail" else f"/projects/{project.id}/blog"


def project_json(project: Project, role: str | None) -> dict[str, Any]:
    return {
        "id": project.id,
        "name": project.name,
        "slug": project.slug,
        "desc": project.description,
        "type": project.type,
        "scope": project.scope,
        "ownerId": project.owner_id,
        "role": role,
        "url": project_url(project),
        "createdAt": isoformat(project.created_at),
        "updatedAt": isoformat(project.updated_at),
    }


def member_json(member: ProjectMember, user: User) -> dict[str, Any]:
    return {
        "id": member.id,
        "userId": user.id,
        "email": user.email,
        "name": user.name,
        "role": member.role,
        "createdAt": isoformat(member.created_at),
    }


def _insert_with_free_slug(db: Session, values: dict[str, Any], base: str) -> Project:
    """Insert the project under `base`, `base-2` … `base-10`, the first that is free; 409 when none is.

    Each candidate is claimed by the insert itself, so two requests racing for one slug both succeed, on
    different slugs, instead of one failing on the unique constraint.
    """
    for attempt in range(SLUG_ATTEMPTS):
        candidate = base if attempt == 0 else f"{base}-{attempt + 1}"
        if insert_unless_taken(db, Project, {**values, "slug": candidate}):
            return db.get_one(Project, values["id"])
    raise ApiError(409, f"Could not find a free slug for {base!r} after {SLUG_ATTEMPTS} attempts; rename the project")


def _owner_count(db: Session, project_id: str) -> int:
    return int(
        db.scalar(
            select(func.count())
            .select_from(ProjectMember)
            .where(ProjectMember.project_id == project_id, ProjectMember.role == "owner")
        )
        or 0
    )


def remove_project_files(settings: Settings, project_id: str) -> None:
    """Delete what a project keeps outside the database (uploads, blog working clone)."""
    for root in (settings.papertrail_root, settings.blog_root):
        folder = root / project_id
        if folder.is_dir():
            shutil.rmtree(folder, ignore_errors=True)


def visible_projects(db: Session, user: CurrentUser, settings: Settings) -> list[dict[str, Any]]:
    """The user's projects (member of, org/public in the tenant, or all of the tenant for a platform admin) of
    enabled types, newest first, as JSON objects."""
    rows = db.execute(
        select(Project, ProjectMember.role)
        .outerjoin(
            ProjectMember,
            (ProjectMember.project_id == Project.id) & (ProjectMember.user_id == user.id),
        )
        .where(
            Project.tenant_id == user.tenant_id,
            or_(ProjectMember.id.is_not(None), Project.scope.in_(("org", "public")), literal(user.is_admin)),
        )
        .order_by(Project.created_at.desc(), Project.id)
    ).all()
    implicit = "owner" if user.is_admin else "viewer"
    return [
        project_json(project, role or implicit) for project, role in rows if settings.project_type_enabled(project.type)
    ]


def make_projects_blueprint() -> Blueprint:
    bp = Blueprint("projects", __name__)

    @bp.post("/api/projects")
    def create_project() -> Response:
        services = get_services()
        user = require_user()
        body = parse(CreateProjectBody, json_object())
        if not services.settings.project_type_enabled(body.type):
            raise ApiError(
                400,
                "Invalid request",
                details=[{"field": "type", "message": f"project type {body.type!r} is disabled on this platform"}],
            )
        with transaction(services.session_factory) as db:
            now = services.clock.now()
            values = {
                "id": services.ids.new("p"),
                "tenant_id": user.tenant_id,
                "owner_id": user.id,
                "name": body.name,
                "description": body.desc,
                "type": body.type,
                "scope": body.scope,
                "created_at": now,
                "updated_at": now,
            }
            project = _insert_with_free_slug(db, values, slugify(body.name))
            db.add(
                ProjectMember(
                    id=services.ids.new("m"), project_id=project.id, user_id=user.id, role="owner", created_at=now
                )
            )
        return json_response({"ok": True, "id": project.id, "slug": project.slug, "url": project_url(project)}, 201)

    @bp.get("/api/projects")
    def list_projects() -> Response:
        services = get_services()
        user = require_user()
        with transaction(services.session_factory) as db:
            projects = visible_projects(db, user, services.settings)
        return json_response({"projects": projects})

    @bp.get("/api/projects/<project_id>")
    def get_project(project_id: str) -> Response:
        services = get_services()
        user = require_user()
        with transaction(services.session_factory) as db:
            access = require_project(db, user, project_id, "viewer", settings=services.settings)
            return json_response({"project": project_json(access.project, access.effective_role)})

    @bp.patch("/api/projects/<project_id>")
    def update_project(project_id: str) -> Response:
        services = get_services()
        user = require_user()
        with transaction(services.session_factory) as db:
            access = require_project(db, user, project_id, "owner", settings=services.settings)
            body = parse(UpdateProjectBody, json_object())
            project = access.project
            if body.name is not None:
                project.name = body.name  # the slug stays: links already handed out keep working
            if body.desc is not None:
                project.description = body.desc
            if body.scope is not None:
                project.scope = body.scope
            project.updated_at = services.clock.now()
            return json_response({"ok": True, "project": project_json(project, access.effective_role)})

    @bp.delete("/api/projects/<project_id>")
    def delete_project(project_id: str) -> Response:
        services = get_services()
        user = require_user()
        with transaction(services.session_factory) as db:
            access = require_project(db, user, project_id, "owner", settings=services.settings)
            db.delete(access.project)
        remove_project_files(services.settings, project_id)
        return no_content()

    @bp.get("/api/projects/<project_id>/shares")
    def list_shares(project_id: str) -> Response:
        services = get_services()
        user = require_user()
        with transaction(services.session_factory) as db:
            require_project(db, user, project_id, "viewer", settings=services.settings)
            return json_response({"members": _members(db, project_id)})

    @bp.post("/api/projects/<project_id>/shares")
    def add_share(project_id: str) -> Response:
        services = get_services()
        user = require_user()
        with transaction(services.session_factory) as db:
            require_project(db, user, project_id, "owner", settings=services.settings)
            body = parse(ShareBody, json_object())
            invitee = services.auth.find_user(db, body.email)
            if invitee is None or invitee.tenant_id != user.tenant_id:
                raise ApiError(404, "User not found")
            exists = db.scalar(
                select(ProjectMember.id).where(
                    ProjectMember.project_id == project_id, ProjectMember.user_id == invitee.id
                )
            )
            if exists is not None:
                raise ApiError(409, "User is already a contributor")
            member = ProjectMember(
                id=services.ids.new("m"),
                project_id=project_id,
                user_id=invitee.id,
                role=body.role,
                created_at=services.clock.now(),
            )
            db.add(member)
            db.flush()
            return json_response({"ok": True, "member": member_json(member, invitee)}, 201)

    @bp.patch("/api/projects/<project_id>/shares/<member_id>")
    def update_share(project_id: str, member_id: str) -> Response:
        services = get_services()
        user = require_user()
        with transaction(services.session_factory) as db:
            require_project(db, user, project_id, "owner", settings=services.settings)
            member = _member(db, project_id, member_id)
            body = parse(ShareUpdateBody, json_object())
            if member.role == "owner" and body.role != "owner" and _owner_count(db, project_id) <= 1:
                raise ApiError(409, "A project needs at least one owner")
            member.role = body.role
            invitee = db.get(User, member.user_id)
            assert invitee is not None  # guaranteed by the foreign key
            return json_response({"ok": True, "member": member_json(member, invitee)})

    @bp.delete("/api/projects/<project_id>/shares/<member_id>")
    def remove_share(project_id: str, member_id: str) -> Response:
        services = get_services()
        user = require_user()
        with transaction(services.session_factory) as db:
            require_project(db, user, project_id, "owner", settings=services.settings)
            member = _member(db, project_id, member_id)
            if member.role == "owner" and _owner_count(db, project_id) <= 1:
                raise ApiError(409, "A project needs at least one owner")
            db.delete(member)
        return no_content()

    return bp


def _member(db: Session, project_id: str, member_id: str) -> ProjectMember:
    member = db.get(ProjectMember, member_id)
    if member is None or member.project_id != project_id:
        raise ApiError(404, "Contributor not found")
    return member


def _members(db: Session, project_id: str) -> list[dict[str, Any]]:
    rows = db.execute(
        select(ProjectMember, User)
        .join(User, User.id == ProjectMember.user_id)
        .where(ProjectMember.project_id == project_id)
        .order_by(ProjectMember.created_at, ProjectMember.id)
    ).all()
    return [member_json(member, user) for member, user in rows]


__all__ = [
    "make_projects_blueprint",
    "project_json",
    "project_url",
    "remove_project_files",
    "slugify",
    "visible_projects",
]
