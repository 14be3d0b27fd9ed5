"""What the host and a plugin's workers say to each other besides the request: the `X-Sv-*` headers (only the host
sets them; the worker admits a request only with its pool's token) and the answer headers the host removes."""

from __future__ import annotations

from http import HTTPStatus

TOKEN_HEADER = "HTTP_X_SV_SANDBOX_TOKEN"
USER_HEADER = "HTTP_X_SV_USER"
RUN_HEADER = "HTTP_X_SV_RUN"
PINS_HEADER = "HTTP_X_SV_PINS"
SCHEME_HEADER = "HTTP_X_SV_SCHEME"
REMOTE_HEADER = "HTTP_X_SV_REMOTE_ADDR"
SCRIPT_HEADER = "HTTP_X_SV_SCRIPT_NAME"  # percent-encoded: the mount point of the platform, if any
# Answer headers: an unhandled error of the plugin's own code (its exception's class), and a throw-away run that lost
# a database lock to live traffic.
ERROR_ANSWER = "X-Sv-Plugin-Error"
# The host's readiness probe (with the token): answered by the worker itself once the plugin is loaded.
PING_PATH = "/.sv-sandbox-ping"
# The host runs a plugin's lifecycle hooks (on_enable, on_disable, health, on_shutdown) in a worker, never in itself:
# POST {"hook": ..., "tenant": ...} with the token; the answer is {"ok": true, "result": ...} or {"ok": false,
# "error": "<class>: <message>"}.
HOOK_PATH = "/.sv-sandbox-hook"
REMOTE_HOOKS = frozenset({"on_enable", "on_disable", "on_tenant_created", "health", "on_shutdown"})
# Of those, the ones that take the tenant.
TENANT_HOOKS = frozenset({"on_enable", "on_disable", "on_tenant_created"})
CONTENDED_ANSWER = "X-Sv-Contended"


def status_line(status: int) -> str:
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return f"{status} UNKNOWN"
