"""The legacy Sovereign monolith: the Flask platform that the project migrates to plugins.

The public names are loaded on first use, so that importing a light module (`legacy_core.settings`,
`legacy_core.features`, `legacy_core.db`) does not import Flask and the whole app with it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from legacy_core.app import Server, build_services, create_server
    from legacy_core.services import Services
    from legacy_core.settings import Settings

_EXPORTS = {
    "Server": "legacy_core.app",
    "Services": "legacy_core.services",
    "Settings": "legacy_core.settings",
    "build_services": "legacy_core.app",
    "create_server": "legacy_core.app",
}

__all__ = ["Server", "Services", "Settings", "build_services", "create_server"]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'legacy_core' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
