"""Server-rendered web pages: sign-in, the project list, the PaperTrail board and the blog editor."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, request
from werkzeug.wrappers import Response

from legacy_core.access import ROLE_RANK, ProjectAccess, require_project
from legacy_core.auth import CurrentUser
from legacy_core.db import transaction
from legacy_core.errors import ApiError
from legacy_core.requestctx import current_user, get_services, page_login_required
from legacy_core.routes.accounts import safe_return_to
from legacy_core.routes.projects import project_url, visible_projects

# Pages load only their own scripts and styles; user data is inserted with textContent, and this policy is the
# second line of defence should a bug ever let markup through. Images may come from anywhere (PaperTrail image
# nodes link to the web); nothing else may.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: https: http:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)


def _signed_in() -> CurrentUser:
    user = current_user()
    if user is None:  # page_login_required runs first; this keeps the type checker and a misuse honest
        raise ApiError(401, "Unauthorized")
    return user


def _project_access(project_id: str, minimum: str, project_type: str) -> ProjectAccess:
    services = get_services()
    with transaction(services.session_factory) as db:
        access = require_project(
            db, _signed_in(), project_id, minimum, project_type=project_type, settings=services.settings
        )
        db.expunge(access.project)  # the template reads plain column values after the session closes
        return access


def _may(access: ProjectAccess, minimum: str) -> bool:
    return ROLE_RANK[access.effective_role] >= ROLE_RANK[minimum]


def make_web_blueprint() -> Blueprint:
    bp = Blueprint("web", __name__)

    @bp.app_context_processor
    def _signed_in_user() -> dict[str, CurrentUser | None]:
        # Every page, error pages included, shows who is signed in.
        return {"user": current_user()}

    @bp.after_request
    def _page_headers(response: Response) -> Response:
        if response.mimetype == "text/html":
            response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
            response.headers.setdefault("X-Content-Type-Options", "nosniff")
            response.headers.setdefault("Referrer-Policy", "same-origin")
            # Pages show private data; a shared browser's back button must not replay them after logout.
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    @bp.get("/")
    def home() -> Response:
        return redirect("/projects" if current_user() is not None else "/login")

    @bp.get("/login")
    def login_page() -> Response | str:
        if current_user() is not None:
            return redirect(safe_return_to(request.args.get("return_to")))
        return render_template("login.html", mode="login", error=None)

    @bp.get("/register")
    def register_page() -> Response | str:
        if current_user() is not None:
            return redirect(safe_return_to(request.args.get("return_to")))
        return render_template("login.html", mode="register", error=None)

    @bp.get("/projects")
    @page_login_required
    def projects_page() -> str:
        services = get_services()
        user = _signed_in()
        with transaction(services.session_factory) as db:
            projects = visible_projects(db, user, services.settings)
        types = [kind for kind in ("papertrail", "blog") if services.settings.project_type_enabled(kind)]
        return render_template("projects.html", projects=projects, project_types=types)

    @bp.get("/projects/<project_id>")
    @page_login_required
    def project_page(project_id: str) -> Response:
        services = get_services()
        with transaction(services.session_factory) as db:
            access = require_project(db, _signed_in(), project_id, "viewer", settings=services.settings)
            return redirect(project_url(access.project))

    @bp.get("/projects/<project_id>/board")
    @page_login_required
    def board_page(project_id: str) -> str:
        access = _project_access(project_id, "viewer", "papertrail")
        return render_template("board.html", project=access.project, can_edit=_may(access, "editor"))

    @bp.get("/projects/<project_id>/blog")
    @page_login_required
    def blog_page(project_id: str) -> str:
        access = _project_access(project_id, "viewer", "blog")
        return render_template(
            "blog.html",
            project=access.project,
            can_edit=_may(access, "editor"),
            can_configure=_may(access, "owner"),
        )

    @bp.get("/projects/<project_id>/blog/new")
    @page_login_required
    def new_post_page(project_id: str) -> str:
        access = _project_access(project_id, "editor", "blog")
        return render_template("editor.html", project=access.project, file=None)

    @bp.get("/projects/<project_id>/blog/edit/<path:file>")
    @page_login_required
    def edit_post_page(project_id: str, file: str) -> str:
        access = _project_access(project_id, "editor", "blog")
        return render_template("editor.html", project=access.project, file=file)

    return bp
