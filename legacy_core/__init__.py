"""The legacy Sovereign monolith: the Flask platform that the project migrates to plugins."""

from __future__ import annotations

from legacy_core.app import Server, build_services, create_server
from legacy_core.services import Services
from legacy_core.settings import Settings

__all__ = ["Server", "Services", "Settings", "build_services", "create_server"]
