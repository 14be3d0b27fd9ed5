"""Extension host: loads plugins beside the legacy app, routes each feature by its flag, and gathers the evidence.

One concern per package:

- the plugin host, in this package itself: `manifest`, `catalogue` (discovery and checks), `loader`, `hookspecs`,
  `host` (lifecycle), `records`, `registry`, `mounts`, `migrate`, `watch` (hot reload) and `sdk`, the one module
  plugins may import; `platform` composes a whole instance and `wsgi` serves it under gunicorn.
- `exthost.rollout`: the request path — the feature-flag router, flags and their store, canary breaker, shadow
  runners, shadow results and isolated runs.
- `exthost.evidence`: the comparison engine, noise rules, HAR, redaction, request capture, the recorder, code
  fingerprints and the switch gate. No Flask.
- `exthost.cli`: the `sv` command line, one module per command group, loaded only when its command runs.

docs/architecture.md says what each may import; tests/test_architecture.py checks it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from exthost._exports import lazy_exports

if TYPE_CHECKING:
    from exthost.errors import ExtHostError
    from exthost.host import ExtensionHost
    from exthost.platform import Platform, create_platform

__all__ = ["ExtHostError", "ExtensionHost", "Platform", "create_platform"]

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "ExtHostError": "exthost.errors",
        "ExtensionHost": "exthost.host",
        "Platform": "exthost.platform",
        "create_platform": "exthost.platform",
    },
)
