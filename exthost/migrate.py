"""Schema migrations of the extension host and of plugins, each with its own alembic version table.

Order on `sv migrate:deploy`: core (`legacy_core.migrate`), then the host's registry tables, then each plugin's
folder in dependency order. A plugin's revisions live in its manifest's `migrations` folder; its version table is
`alembic_version_<plugin>`, so one plugin's history never tangles with another's or the core's. Every upgrade or
downgrade runs in one transaction that covers DDL, together with its row of the migration log
(`exthost.migration_log`) and any work that must stand or fall with it (an uninstall's registry rows).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, MetaData, Table

from exthost.migration_log import EXTHOST, LogBook, Step, now, plugin_history
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


def _current_on(connection: Connection, version_table: str) -> str | None:
    return MigrationContext.configure(connection, opts={"version_table": version_table}).get_current_revision()


def _move(
    engine: Engine,
    versions: Path,
    version_table: str,
    *,
    target: str = "head",
    down: bool = False,
    history: str,
    log: LogBook | None = None,
    then: Callable[[Connection], None] | None = None,
) -> None:
    """Upgrade (or downgrade) one history to `target` in one transaction that covers DDL: the revisions, the log's
    row and `then` (more work that must stand or fall with them) commit together or not at all."""
    config = _config(engine, versions, version_table)
    with engine.connect() as connection, transaction_with_ddl(connection):
        before = _current_on(connection, version_table)
        config.attributes["connection"] = connection
        if down:
            command.downgrade(config, target)
        else:
            command.upgrade(config, target)
        after = _current_on(connection, version_table)
        if log is not None and after != before:
            log.record(connection, Step(history, before, after, "downgrade" if down else "upgrade", now()))
        if then is not None:
            then(connection)


def _upgrade(engine: Engine, versions: Path, version_table: str, history: str, log: LogBook | None) -> None:
    _move(engine, versions, version_table, history=history, log=log)


def _current(engine: Engine, version_table: str) -> str | None:
    with engine.connect() as connection:
        return _current_on(connection, version_table)


def _head(engine: Engine, versions: Path, version_table: str) -> str | None:
    return ScriptDirectory.from_config(_config(engine, versions, version_table)).get_current_head()


def upgrade_exthost(engine: Engine, log: LogBook | None = None) -> None:
    """Create or update the registry tables."""
    _upgrade(engine, EXTHOST_VERSIONS, EXTHOST_VERSION_TABLE, EXTHOST, log)


def exthost_revisions(engine: Engine) -> tuple[str | None, str | None]:
    """(current, head) of the registry tables."""
    return _current(engine, EXTHOST_VERSION_TABLE), _head(engine, EXTHOST_VERSIONS, EXTHOST_VERSION_TABLE)


def upgrade_plugin(engine: Engine, plugin: str, folder: Path, log: LogBook | None = None) -> None:
    """Apply a plugin's pending revisions; each runs in the one transaction, so a failure leaves nothing half-done."""
    _upgrade(engine, folder, plugin_version_table(plugin), plugin_history(plugin), log)


def downgrade_plugin(
    engine: Engine,
    plugin: str,
    folder: Path,
    target: str,
    log: LogBook | None = None,
    *,
    then: Callable[[Connection], None] | None = None,
) -> None:
    """Run a plugin's downgrades down to `target` (a revision, "-1" or "base") in one transaction, with `then`: a
    failing downgrade (or `then`) leaves its schema where it was."""
    _move(
        engine,
        folder,
        plugin_version_table(plugin),
        target=target,
        down=True,
        history=plugin_history(plugin),
        log=log,
        then=then,
    )


def remove_plugin_schema(
    engine: Engine, plugin: str, folder: Path | None, log: LogBook | None, then: Callable[[Connection], None]
) -> None:
    """Downgrade a plugin to base (its downgrades drop its tables), drop its version table and run `then` (e.g.
    delete its registry rows), all in one transaction. `folder` None: a plugin without migrations, only `then`."""
    version_table = plugin_version_table(plugin)

    def drop_version_table(connection: Connection) -> None:
        Table(version_table, MetaData()).drop(connection, checkfirst=True)
        then(connection)

    if folder is None:
        with engine.connect() as connection, transaction_with_ddl(connection):
            drop_version_table(connection)
        return
    _move(
        engine,
        folder,
        version_table,
        target="base",
        down=True,
        history=plugin_history(plugin),
        log=log,
        then=drop_version_table,
    )


@dataclass(frozen=True)
class Revision:
    """A revision not yet applied: its id and the first line of its docstring."""

    id: str
    description: str


def script_of(versions: Path, engine: Engine, version_table: str) -> ScriptDirectory:
    return ScriptDirectory.from_config(_config(engine, versions, version_table))


def pending_revisions(script: ScriptDirectory, current: str | None) -> list[Revision]:
    """The revisions between `current` (exclusive) and the head, in the order they would be applied. Raises
    alembic's CommandError when `current` is not one of the script's revisions."""
    found = list(script.iterate_revisions("heads", current or "base"))
    found = [revision for revision in found if revision.revision != current]
    return [
        Revision(revision.revision, (revision.doc or "").strip().splitlines()[0] if revision.doc else "")
        for revision in reversed(found)
    ]


def plugin_current_revision(engine: Engine, plugin: str) -> str | None:
    """The revision a plugin's schema is at; reads only the database, so it works when the revision files do not."""
    return _current(engine, plugin_version_table(plugin))


def plugin_revisions(engine: Engine, plugin: str, folder: Path) -> tuple[str | None, str | None]:
    """(current, head) of a plugin's schema."""
    return plugin_current_revision(engine, plugin), _head(engine, folder, plugin_version_table(plugin))
