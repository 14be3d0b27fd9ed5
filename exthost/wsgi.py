"""The production WSGI entry: `gunicorn 'exthost.wsgi:create_app()'` builds one platform per worker process."""

from __future__ import annotations

from exthost.platform import Platform, create_platform


def create_app() -> Platform:
    """A platform from the settings (defaults, `.env`, environment); gunicorn calls this once in each worker."""
    import atexit

    from legacy_core.settings import Settings

    settings = Settings()
    if settings.PLUGIN_ISOLATION is None:
        # Served for real: plugins run in their own supervised worker processes unless the operator says otherwise.
        settings = settings.model_copy(update={"PLUGIN_ISOLATION": "process"})
    platform = create_platform(settings)
    # A worker gunicorn stops (SIGTERM, max-requests, a reload) exits through the interpreter: its pending counts
    # are written and its shadow child stopped on the way out.
    atexit.register(platform.close)
    return platform
