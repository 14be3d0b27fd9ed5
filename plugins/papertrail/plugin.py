"""The PaperTrail plugin's entry: registers the board API, the attachment files and the board page on the router."""

from __future__ import annotations

from flask import request

from exthost.sdk import PluginContext, hookimpl

from .board_routes import register_board_routes
from .comment_routes import register_comment_routes
from .feature import Feature
from .import_routes import register_import_routes
from .item_routes import register_item_routes
from .pages import register_pages
from .upload_routes import register_upload_routes


class Plugin:
    """Entry object named by plugin.json (`plugin:Plugin`); the host makes one per load."""

    @hookimpl
    def register(self, ctx: PluginContext) -> None:
        feature = Feature(ctx)
        page_endpoint = f"{ctx.router.name}.board_page"

        @ctx.router.before_request
        def feature_gate() -> None:
            # The toggle is the first check of every API and file route, signed in or not. The page checks the
            # session first and the toggle with the project (as the platform's pages do), so it is left out here.
            if request.endpoint != page_endpoint:
                feature.require_enabled()

        register_board_routes(feature)
        register_import_routes(feature)
        register_item_routes(feature)
        register_comment_routes(feature)
        register_upload_routes(feature)
        register_pages(feature)

    @hookimpl
    def health(self, ctx: PluginContext) -> dict[str, object]:
        """Whether the shared files folder is reachable (it is created on the first upload, so absent is fine)."""
        root = ctx.feature_dir
        return {"ok": not root.exists() or root.is_dir(), "featureEnabled": ctx.feature_enabled("papertrail")}
