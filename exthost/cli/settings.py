"""The settings every command builds once: defaults, then `.env`, then the environment, then its own options."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from legacy_core.settings import Settings


def load_settings(**overrides: Any) -> Settings:
    """Settings from defaults, `.env` and the environment, with the options a command was given (None = not given);
    a bad value is a usage error naming the setting."""
    from pydantic import ValidationError

    from legacy_core.settings import Settings

    try:
        return Settings(**{key: value for key, value in overrides.items() if value is not None})
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors(include_url=False))
        raise click.UsageError(f"invalid settings: {problems}") from exc
