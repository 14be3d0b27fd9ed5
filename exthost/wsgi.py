"""The production WSGI entry: `gunicorn 'exthost.wsgi:create_app()'` builds one platform per worker process."""

from __future__ import annotations

from exthost.platform import Platform, create_platform


def create_app() -> Platform:
    """A platform from the settings (defaults, `.env`, environment); gunicorn calls this once in each worker."""
    from legacy_core.settings import Settings

    return create_platform(Settings())
