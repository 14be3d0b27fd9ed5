"""The lifecycle hooks a plugin may implement (pluggy hook specifications, project name `sovereign`).

A plugin's entry object (a class, instantiated once per host, or any object) implements some of these as methods
marked with `exthost.sdk.hookimpl`. A marked method whose name is not one of these is an error at load time, so a
misspelt hook fails loudly instead of never running. Every hook receives the plugin's `PluginContext`.
"""

from __future__ import annotations

from typing import Any

import pluggy

PROJECT = "sovereign"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


class PluginHooks:
    """Hook specifications; docs/plugin-sdk.md documents each one, and a test keeps the two in step."""

    @hookspec
    def register(self, ctx: Any) -> None:
        """Called once per host when the plugin loads: add routes to `ctx.router`, read `ctx.config`.

        Raising marks the plugin failed; nothing of it is mounted. Runs before any tenant has enabled the plugin,
        so it must not touch tenant data.
        """

    @hookspec
    def on_enable(self, ctx: Any, tenant: str) -> None:
        """Called when the plugin starts serving `tenant`: by `sv plugins:enable` (before the change is committed,
        so raising cancels it) and again in every host process that picks the change up. Must be idempotent.
        """

    @hookspec
    def on_disable(self, ctx: Any, tenant: str) -> None:
        """Called when the plugin stops serving `tenant`. The plugin is unmounted for the tenant even if it raises
        (the error is recorded as the plugin's reason and the plugin is marked failed).
        """

    @hookspec
    def on_tenant_created(self, ctx: Any, tenant: str) -> None:
        """Called once per loaded plugin after `sv tenants:create` committed a new tenant (and every plugin's tenant
        steps for it), in the process that created it, whether or not the plugin is enabled for anyone. Raising is
        reported by the command; the tenant stays created.
        """

    @hookspec
    def on_shutdown(self, ctx: Any) -> None:
        """Called once when the host shuts down or the plugin is unloaded (hot reload): release what it holds."""

    @hookspec(firstresult=True)
    def health(self, ctx: Any) -> dict[str, Any] | None:
        """The plugin's own health report, shown in `/diagnostics`; e.g. `{"ok": True, "queue": 3}`. While the plugin
        serves a tenant, `GET /health` calls it too (bounded by HEALTH_TIMEOUT_SECONDS): `"ok": False` answers 503.

        Returning None means "no opinion"; raising reports the plugin unhealthy without changing its state.
        """


HOOK_NAMES = ("register", "on_enable", "on_disable", "on_tenant_created", "on_shutdown", "health")
