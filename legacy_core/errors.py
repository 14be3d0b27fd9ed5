"""Errors of the legacy monolith.

SovereignError                 root of everything this package raises on purpose
 ├── ApiError                  an HTTP answer: status, message, optional details; rendered as JSON under /api
 │    └── FeatureDisabled      a disabled project type: a bare 404 with no body
 ├── EmailTaken                an account with that email exists (also when a concurrent request won the race)
 └── ConfigurationError        settings or environment that cannot work, named with the fix
"""

from __future__ import annotations

from typing import Any


class SovereignError(Exception):
    """Root of the legacy core's exceptions."""


class ApiError(SovereignError):
    """An error answer with a status code and a message safe to show to the caller."""

    def __init__(self, status: int, message: str, *, details: Any = None, extra: dict[str, Any] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.details = details
        self.extra = extra or {}

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": self.message}
        if self.details is not None:
            body["details"] = self.details
        body.update(self.extra)
        return body


class FeatureDisabled(ApiError):
    """A project type whose feature toggle is off: answered as a bare 404."""

    def __init__(self, feature: str):
        super().__init__(404, f"feature {feature!r} is disabled")
        self.feature = feature


class EmailTaken(SovereignError):
    """An account with this email already exists."""

    def __init__(self, email: str):
        super().__init__(f"an account with email {email!r} already exists")
        self.email = email


class ConfigurationError(SovereignError):
    """A setting that cannot work; the message names it and says how to fix it."""
