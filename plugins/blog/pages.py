"""The blog's server-rendered pages: the post list, the new-post editor and the edit-post editor.

They extend the platform layout (`base.html`); the plugin's own templates live in `templates/blog/`. As in the
legacy web pages, a visitor without a session is sent to the login page first (even when blogs are switched off),
and only then is the project checked, whose refusals render the platform's HTML error page.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import quote

from flask import redirect, render_template, request
from werkzeug.wrappers import Response

from exthost.sdk import CurrentUser, PluginContext, ProjectAccess

PAGES = "/projects/<project_id>/blog"
ROLE_RANK = {"viewer": 1, "editor": 2, "owner": 3}
# The legacy pages' headers: scripts and styles from the platform only (user data is inserted as text, this is the
# second line of defence), and nothing cached, since the pages show private data.
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: https: http:; "
        "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def login_redirect() -> Response:
    """To the login page, which comes back here afterwards."""
    here = request.full_path if request.query_string else request.path
    return redirect(f"/login?return_to={quote(here, safe='/')}")


def at_least(access: ProjectAccess, role: str) -> bool:
    return ROLE_RANK[access.role] >= ROLE_RANK[role]


class BlogPages:
    """The page handlers over one plugin context."""

    def __init__(self, ctx: PluginContext):
        self.ctx = ctx

    def _access(self, project_id: str, minimum: str) -> ProjectAccess:
        with self.ctx.transaction() as db:
            return self.ctx.auth.require_project(db, project_id, minimum, project_type="blog")

    def blog_page(self, project_id: str) -> Response | str:
        if self.ctx.auth.current_user() is None:
            return login_redirect()
        access = self._access(project_id, "viewer")
        return render_template(
            "blog/posts.html",
            project=access.project,
            can_edit=at_least(access, "editor"),
            can_configure=at_least(access, "owner"),
        )

    def new_post_page(self, project_id: str) -> Response | str:
        if self.ctx.auth.current_user() is None:
            return login_redirect()
        access = self._access(project_id, "editor")
        return render_template("blog/editor.html", project=access.project, file=None)

    def edit_post_page(self, project_id: str, file: str) -> Response | str:
        if self.ctx.auth.current_user() is None:
            return login_redirect()
        access = self._access(project_id, "editor")
        return render_template("blog/editor.html", project=access.project, file=file)


def install_pages(ctx: PluginContext) -> None:
    """Add the three pages to the plugin's router, with the layout's `user` and the pages' headers."""
    pages = BlogPages(ctx)
    router = ctx.router

    @router.app_context_processor
    def signed_in_user() -> dict[str, CurrentUser | None]:
        # The layout shows who is signed in, on every page of the plugin's app, error pages included.
        return {"user": ctx.auth.current_user()}

    endpoints: dict[str, tuple[str, Callable[..., Response | str]]] = {
        "blog_page": (PAGES, pages.blog_page),
        "new_post_page": (f"{PAGES}/new", pages.new_post_page),
        "edit_post_page": (f"{PAGES}/edit/<path:file>", pages.edit_post_page),
    }
    for endpoint, (rule, view) in endpoints.items():
        router.add_url_rule(rule, endpoint, view, methods=["GET"])
    page_endpoints = {f"{router.name}.{endpoint}" for endpoint in endpoints}

    @router.after_request
    def page_headers(response: Response) -> Response:
        # The pages' answers only (their error pages and automatic OPTIONS answers included), as legacy scopes
        # them to its web pages: the API shares this blueprint and sends none of these headers.
        if request.endpoint in page_endpoints and response.mimetype == "text/html":
            for name, value in PAGE_HEADERS.items():
                response.headers.setdefault(name, value)
        return response
