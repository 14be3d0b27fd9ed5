"""The Blog plugin's entry: registers the blog API and pages on the plugin's router, reports whether git runs."""

from __future__ import annotations

import shutil
from typing import Any

from exthost.sdk import PluginContext, hookimpl

from .pages import install_pages
from .routes import install_api


class Plugin:
    """Blog projects: Markdown posts with YAML front matter, kept in a git repository (the legacy feature, anew)."""

    @hookimpl
    def register(self, ctx: PluginContext) -> None:
        install_api(ctx)
        install_pages(ctx)

    @hookimpl
    def health(self, ctx: PluginContext) -> dict[str, Any]:
        # Every blog route but the configuration read needs the git command line.
        git = shutil.which("git")
        return {"ok": git is not None, "git": git}
