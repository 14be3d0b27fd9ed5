"""Demo data: a tenant, an admin user, one project of each enabled type and the demo blog's repository (idempotent)."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from legacy_core.auth import PLATFORM_ADMIN
from legacy_core.blog import demo
from legacy_core.blog.config import RepoConfig
from legacy_core.blog.configure import configure_blog
from legacy_core.blog.errors import AlreadyConfigured
from legacy_core.blog.git import GitIdentity
from legacy_core.db import transaction
from legacy_core.models import BlogConfig, Project, ProjectMember
from legacy_core.papertrail import demo as board_demo
from legacy_core.papertrail.board import find_board
from legacy_core.routes.projects import slugify
from legacy_core.services import Services

DEMO_EMAIL = "demo@sovereign.test"
DEMO_PASSWORD = "sovereign-demo"
DEMO_NAME = "Demo Admin"
# Inside DATA_DIR, so deleting the data folder starts the whole demo over. Users cannot configure a blog on it
# (configure refuses local remotes inside DATA_DIR); the seed may, being the operator's own action.
DEMO_BLOG_REMOTE = Path("demo-remotes") / "team-blog.git"


@dataclass(frozen=True)
class SeedResult:
    tenant_id: str
    user_email: str
    password: str
    project_ids: tuple[str, ...]
    created: bool
    blog_remote: Path | None = None


def seed_demo(services: Services) -> SeedResult:
    """Create the demo tenant, user and projects unless they already exist, and give the demo blog its repository."""
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
                name=DEMO_NAME,
                tenant_id=tenant.id,
                roles={PLATFORM_ADMIN},
            )
        wanted = [("Evidence board", "papertrail"), ("Team blog", "blog")]
        project_ids = []
        blog_id: str | None = None
        new_board_id: str | None = None
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
            if kind == "blog":
                blog_id = existing.id
            if kind == "papertrail" and find_board(db, existing.id) is None:
                new_board_id = existing.id  # never opened: the demo content goes in once, never over a user's
    if new_board_id is not None:
        _seed_board(services, new_board_id)
    blog_remote = _seed_blog(services, blog_id) if blog_id is not None else None
    return SeedResult(tenant.id, DEMO_EMAIL, DEMO_PASSWORD, tuple(project_ids), created, blog_remote)


def _seed_board(services: Services, project_id: str) -> None:
    """Give the demo board its content through the board API, signed in as the demo user, as a first save would."""
    from legacy_core.app import create_server

    client = create_server(services=services).app.test_client()
    signed_in = client.post("/login", json={"email": DEMO_EMAIL, "password": DEMO_PASSWORD})
    if signed_in.status_code != 200:  # the demo user's password was changed: leave the board as it is
        return
    saved = client.post(f"/api/projects/{project_id}/papertrail/board", json=board_demo.board_body())
    if saved.status_code != 200:
        raise RuntimeError(f"the demo board could not be saved: {saved.status_code} {saved.get_data(as_text=True)}")
    client.get("/logout")


def _seed_blog(services: Services, project_id: str) -> Path:
    """Create the demo blog's bare repository and configure the demo blog on it, each unless already done."""
    remote = (services.settings.DATA_DIR / DEMO_BLOG_REMOTE).resolve()
    identity = GitIdentity(DEMO_NAME, DEMO_EMAIL)
    demo.ensure_demo_remote(remote, identity, services.clock.now())
    with transaction(services.session_factory) as db:
        configured = db.get(BlogConfig, project_id) is not None
    if not configured:
        config = RepoConfig(
            repo_url=str(remote),
            branch=demo.BRANCH,
            content_dir=demo.CONTENT_DIR,
            user_name=identity.name,
            user_email=identity.email,
        )
        with contextlib.suppress(AlreadyConfigured):  # another seed run got there first
            configure_blog(services, project_id, config)
    return remote
