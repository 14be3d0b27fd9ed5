"""The admin page at `/admin`: plugins, each feature's phase and results, and the plugin and flag switches, for
platform admins.

Modules: `views` (the routes, on the platform's own app), `model` (what the page shows, as plain data) and `csrf`
(the forms' per-session token). May import the host, `exthost.rollout`, `exthost.evidence` and `exthost.phase`;
never the CLI: the page and `sv` share the rules through those modules.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from exthost._exports import lazy_exports

if TYPE_CHECKING:
    from exthost.admin.views import ADMIN_COOKIE, make_admin_blueprint

__all__ = ["ADMIN_COOKIE", "make_admin_blueprint"]

__getattr__, __dir__ = lazy_exports(
    __name__, {"ADMIN_COOKIE": "exthost.admin.views", "make_admin_blueprint": "exthost.admin.views"}
)
