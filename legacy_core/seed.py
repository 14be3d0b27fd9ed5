"""Demo data: a tenant, an admin user and one project of each enabled type (idempotent)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from legacy_core.auth import PLATFORM_ADMIN
from legacy_core.db import transaction
from legacy_core.models import Project, ProjectMember
from legacy_core.routes.projects import slugify
from legacy_core.services import Services

DEMO_EMAIL = "demo@sovereign.test"
DEMO_PASSWORD = "sovereign-demo"


@dataclass(frozen=True)
class SeedResult:
    tenant_id: str
    user_email: str
    password: str
    project_ids: tuple[str, ...]
    created: bool


def seed_demo(services: Services) -> SeedResult:
    """Create the demo tenant, user and projects unless they already exist."""
    settings = services.settings
    with transaction(services.session_factory) as db:
        tenant = services.tenancy.ensure(db, settings.TENANT_DEFAULT, "Demo tenant")
        user = services.auth.find_user(db, DEMO_EMAIL)
        created = user is None
        if user is None:
            user = services.auth.create_user(
                db,
                email=DEMO_EMAIL,
                password=DEMO_PASSWORD,
                name="Demo Admin",
                tenant_id=tenant.id,
                roles={PLATFORM_ADMIN},
            )
        wanted = [("Evidence board", "papertrail"), ("Team blog", "blog")]
        project_ids = []
        for name, kind in wanted:
            if not settings.project_type_enabled(kind):
                continue
            existing = db.scalar(select(Project).where(Project.tenant_id == tenant.id, Project.slug == slugify(name)))
            if existing is None:
                now = services.clock.now()
                existing = Project(
                    id=services.ids.new("p"),
                    tenant_id=tenant.id,
                    owner_id=user.id,
                    name=name,
                    slug=slugify(name),
                    description=f"Demo {kind} project",
                    type=kind,
                    scope="private",
                    created_at=now,
                    updated_at=now,
                )
                db.add(existing)
                db.flush()
                db.add(
                    ProjectMember(
                        id=services.ids.new("m"), project_id=existing.id, user_id=user.id, role="owner", created_at=now
                    )
                )
            project_ids.append(existing.id)
    return SeedResult(tenant.id, DEMO_EMAIL, DEMO_PASSWORD, tuple(project_ids), created)
