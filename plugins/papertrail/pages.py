"""The board page (`/projects/<projectId>/board`) and what the plugin's pages share with the platform's.

The page extends the platform layout (`base.html`), which shows the signed-in user, so the plugin supplies `user`
to every template it renders, error pages included, as the platform's web pages do. The page answers carry the
platform's page headers.
"""

from __future__ import annotations

from urllib.parse import quote

from flask import redirect, render_template, request
from werkzeug.wrappers import Response

from exthost.sdk import CurrentUser

from .feature import EDITOR, VIEWER, Feature, at_least

BOARD_PAGE = "/projects/<project_id>/board"
PAGE_TEMPLATE = "papertrail/board.html"
# The platform's policy for its pages: only their own scripts and styles; images from anywhere, since image nodes
# link to the web.
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: https: http:; "
        "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    # The page shows private data; a shared browser's back button must not replay it after logout.
    "Cache-Control": "no-store",
}


def login_redirect() -> Response:
    """Send a visitor without a session to the login page, which brings them back here afterwards."""
    here = request.full_path if request.query_string else request.path
    return redirect(f"/login?return_to={quote(here, safe='/')}")


def register_pages(feature: Feature) -> None:
    """Add the board page, the `user` template variable and the page headers to the plugin's router."""
    router = feature.ctx.router
    page_endpoint = f"{router.name}.board_page"

    @router.app_context_processor
    def signed_in_user() -> dict[str, CurrentUser | None]:
        return {"user": feature.ctx.auth.current_user()}

    @router.after_request
    def page_headers(response: Response) -> Response:
        # Only the page's own answers (its error pages and login redirect included), never the files under /uploads.
        if request.endpoint == page_endpoint and response.mimetype == "text/html":
            for name, value in PAGE_HEADERS.items():
                response.headers.setdefault(name, value)
        return response

    @router.get(BOARD_PAGE)
    def board_page(project_id: str) -> Response | str:
        # The session comes first: without one, even a switched-off feature answers with the login redirect.
        if feature.ctx.auth.current_user() is None:
            return login_redirect()
        with feature.ctx.transaction() as db:
            found = feature.access(db, project_id, VIEWER)
        return render_template(PAGE_TEMPLATE, project=found.project, can_edit=at_least(found.role, EDITOR))
