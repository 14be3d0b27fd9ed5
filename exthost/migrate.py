"""Schema migrations of the extension host and of plugins, each with its own alembic version table.

Order on `sv migrate:deploy`: core (`legacy_core.migrate`), then the host's registry tables, then each plugin's
folder in dependency order. A plugin's revisions live in its manifest's `migrations` folder; its version table is
`alembic_version_<plugin>`, so one plugin's history never tangles with another's or the core's.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from legacy_core.db import transaction_with_ddl

ENV_DIR = Path(__file__).resolve().parent / "migrations"
EXTHOST_VERSIONS = ENV_DIR / "versions"
EXTHOST_VERSION_TABLE = "exthost_alembic_version"


def plugin_version_table(plugin: str) -> str:
    return f"alembic_version_{plugin}"


def _config(engine: Engine, versions: Path, version_table: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(ENV_DIR))
    config.set_main_option("version_locations", str(versions))
    config.set_main_option("path_separator", "os")
    config.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    config.attributes["version_table"] = version_table
    return config


def _upgrade(engine: Engine, versions: Path, version_table: str) -> None:
    config = _config(engine, versions, version_table)
    with engine.connect() as connection, transaction_with_ddl(connection):
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def _current(engine: Engine, version_table: str) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection, opts={"version_table": version_table}).get_current_revision()


def _head(engine: Engine, versions: Path, version_table: str) -> str | None:
    return ScriptDirectory.from_config(_config(engine, versions, version_table)).get_current_head()


def upgrade_exthost(engine: Engine) -> None:
    """Create or update the registry tables."""
    _upgrade(engine, EXTHOST_VERSIONS, EXTHOST_VERSION_TABLE)


def exthost_revisions(engine: Engine) -> tuple[str | None, str | None]:
    """(current, head) of the registry tables."""
    return _current(engine, EXTHOST_VERSION_TABLE), _head(engine, EXTHOST_VERSIONS, EXTHOST_VERSION_TABLE)


def upgrade_plugin(engine: Engine, plugin: str, folder: Path) -> None:
    """Apply a plugin's pending revisions; each runs in the one transaction, so a failure leaves nothing half-done."""
    _upgrade(engine, folder, plugin_version_table(plugin))


def plugin_current_revision(engine: Engine, plugin: str) -> str | None:
    """The revision a plugin's schema is at; reads only the database, so it works when the revision files do not."""
    return _current(engine, plugin_version_table(plugin))


def plugin_revisions(engine: Engine, plugin: str, folder: Path) -> tuple[str | None, str | None]:
    """(current, head) of a plugin's schema."""
    return plugin_current_revision(engine, plugin), _head(engine, folder, plugin_version_table(plugin))
