"""The production WSGI entry: `gunicorn 'exthost.wsgi:create_app()'` builds one platform per worker process."""

from __future__ import annotations

from exthost.platform import Platform, create_platform


def create_app() -> Platform:
    """A platform from the settings (defaults, `.env`, environment); gunicorn calls this once in each worker."""
    import atexit

    from legacy_core.settings import Settings

    platform = create_platform(Settings())
    # A worker gunicorn stops (SIGTERM, max-requests, a reload) exits through the interpreter: its pending counts
    # are written and its shadow child stopped on the way out.
    atexit.register(platform.close)
    return platform
