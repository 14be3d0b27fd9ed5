"""The settings every command builds once: defaults, then `.env`, then the environment, then its own options."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from pathlib import Path

    from sqlalchemy.orm import Session, sessionmaker

    from legacy_core.features import FeatureSet
    from legacy_core.settings import Settings


def load_settings(**overrides: Any) -> Settings:
    """Settings from defaults, `.env` and the environment, with the options a command was given (None = not given);
    a bad value is a usage error naming the setting."""
    from pydantic import ValidationError
    from pydantic_settings import SettingsError

    from legacy_core.settings import Settings

    try:
        return Settings(**{key: value for key, value in overrides.items() if value is not None})
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors(include_url=False))
        raise click.UsageError(f"invalid settings: {problems}") from exc
    except SettingsError as exc:  # a list or mapping setting whose value is not JSON
        raise click.UsageError(
            f"invalid settings: {exc} ({exc.__cause__ or 'not JSON'}); list and mapping settings take JSON, "
            "e.g. EXTRA_FEATURES='[\"notes.feature:NOTES\"]'"
        ) from exc


def features_of(settings: Settings) -> FeatureSet:
    """The deployment's features (built-in plus EXTRA_FEATURES); a bad declaration is a usage error."""
    from legacy_core.features import FeatureDeclarationError, feature_set

    try:
        return feature_set(settings.EXTRA_FEATURES)
    except FeatureDeclarationError as exc:
        raise click.UsageError(str(exc)) from exc


def feature_names(settings: Settings) -> tuple[str, ...]:
    """The names of the deployment's features (`features_of`)."""
    return features_of(settings).names


def data_folders(settings: Settings) -> dict[str, Path]:
    """Each feature's data folder under `settings`, for the features that keep files."""
    found = {feature.name: feature.data_root(settings) for feature in features_of(settings)}
    return {name: folder for name, folder in found.items() if folder is not None}


def require_database(settings: Settings) -> None:
    """Refuse, with what to do, a database that `sv migrate:deploy` has not made: a SQLite file that does not exist
    is not created (a read would leave an empty file behind), and one without the schema is named as such."""
    from pathlib import Path

    from sqlalchemy import inspect
    from sqlalchemy.engine import make_url

    from legacy_core.db import make_engine

    url = make_url(settings.DATABASE_URL)
    shown = url.render_as_string(hide_password=True)
    database = url.database or ""
    sqlite_file = database not in ("", ":memory:") and not database.startswith("file:")
    on_disk = url.get_backend_name() == "sqlite" and sqlite_file
    if on_disk and not Path(database).exists():
        raise click.ClickException(
            f"no database at {database!r} (DATABASE_URL {shown!r}); run `sv migrate:deploy` first to create it"
        )
    engine = make_engine(settings.DATABASE_URL)
    try:
        migrated = inspect(engine).has_table("alembic_version")
    except Exception as exc:
        raise click.ClickException(f"cannot reach the database {shown!r} (DATABASE_URL): {exc}") from exc
    finally:
        engine.dispose()
    if not migrated:
        raise click.ClickException(f"the database {shown!r} has no schema yet; run `sv migrate:deploy` first")


@contextmanager
def opened_database(settings: Settings, what: str) -> Iterator[sessionmaker[Session]]:
    """A session factory of the configured (migrated) database for one command, its engine disposed afterwards; a
    database error becomes a message naming `what` was being read and where."""
    from sqlalchemy.exc import SQLAlchemyError

    from legacy_core.db import make_engine, make_session_factory

    require_database(settings)
    engine = make_engine(settings.DATABASE_URL)
    try:
        yield make_session_factory(engine)
    except SQLAlchemyError as exc:
        where = engine.url.render_as_string(hide_password=True)
        raise click.ClickException(
            f"cannot read {what} in {where!r} ({type(exc).__name__}); is it migrated? run `sv migrate:deploy`"
        ) from exc
    finally:
        engine.dispose()
