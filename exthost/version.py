"""The Sovereign version: what plugins' `sovereign.engine` ranges are checked against and what HAR files name."""

from __future__ import annotations

import importlib.metadata


def host_version() -> str:
    """The Sovereign version plugins' `sovereign.engine` ranges are checked against."""
    try:
        return importlib.metadata.version("sovereign")
    except importlib.metadata.PackageNotFoundError:  # running from a source tree that was never installed
        return "0.1.0"
