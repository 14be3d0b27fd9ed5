"""The plugin registry: which plugin is enabled for which tenant, in the database every worker shares.

Two tables, owned by the extension host and created by its own migrations (`exthost/migrations/`):
`sv_plugin_states` holds one row per (plugin, tenant) that was ever switched, and `sv_registry_version` holds a
counter bumped in the same transaction as every change, so a host learns that something changed with one cheap
read and rebuilds its mount table only then. No row means disabled: a new plugin serves nobody until enabled.
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar, Generic, TypeVar

from sqlalchemy import Boolean, Column, DateTime, Integer, MetaData, String, Table, Text, delete, insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from legacy_core.clock import Clock
from legacy_core.db import upsert_insert

metadata = MetaData()

plugin_states = Table(
    "sv_plugin_states",
    metadata,
    Column("plugin", String(40), primary_key=True),
    Column("tenant_id", String(64), primary_key=True),
    Column("enabled", Boolean, nullable=False),
    Column("changed_at", DateTime(timezone=True), nullable=False),
    Column("changed_by", String(200), nullable=False),
    Column("reason", Text, nullable=True),
)

registry_version = Table(
    "sv_registry_version",
    metadata,
    Column("key", String(40), primary_key=True),
    Column("version", Integer, nullable=False),
)

VERSION_KEY = "plugins"
T = TypeVar("T")


def bump_version(db: Session, key: str) -> None:
    """Add one to the change counter `key` of `sv_registry_version`, in the caller's transaction (created at 1)."""
    bumped = db.execute(
        update(registry_version).where(registry_version.c.key == key).values(version=registry_version.c.version + 1)
    )
    if not getattr(bumped, "rowcount", 0):
        db.execute(insert(registry_version).values(key=key, version=1))


@dataclass(frozen=True)
class StateRow:
    plugin: str
    tenant_id: str
    enabled: bool
    changed_at: datetime
    changed_by: str
    reason: str | None


class Registry:
    """Reads and writes the registry tables; every write takes the caller's session, so it joins its transaction."""

    def __init__(self, session_factory: sessionmaker[Session], clock: Clock):
        self.session_factory = session_factory
        self.clock = clock

    def version(self) -> int:
        with self.session_factory() as db:
            value = db.scalar(select(registry_version.c.version).where(registry_version.c.key == VERSION_KEY))
        return int(value or 0)

    def rows(self) -> list[StateRow]:
        with self.session_factory() as db:
            result = db.execute(select(plugin_states).order_by(plugin_states.c.plugin, plugin_states.c.tenant_id))
            return [StateRow(**row._mapping) for row in result]

    def snapshot(self) -> tuple[int, list[StateRow]]:
        """The version and the rows, read in one transaction so they agree."""
        with self.session_factory() as db, db.begin():
            version = db.scalar(select(registry_version.c.version).where(registry_version.c.key == VERSION_KEY))
            result = db.execute(select(plugin_states).order_by(plugin_states.c.plugin, plugin_states.c.tenant_id))
            return int(version or 0), [StateRow(**row._mapping) for row in result]

    def set_state(
        self, db: Session, plugin: str, tenant_id: str, enabled: bool, changed_by: str, *, reason: str | None = None
    ) -> None:
        """Record the switch and bump the version, inside the caller's transaction.

        An upsert, so two workers switching the same plugin at once both succeed (the last one wins) instead of one
        losing with a primary-key error.
        """
        values = {
            "plugin": plugin,
            "tenant_id": tenant_id,
            "enabled": enabled,
            "changed_at": self.clock.now(),
            "changed_by": changed_by[:200],
            "reason": reason,
        }
        changes = {key: values[key] for key in ("enabled", "changed_at", "changed_by", "reason")}
        dialect = db.get_bind().dialect.name
        if dialect in ("postgresql", "sqlite"):
            statement = upsert_insert(dialect, plugin_states).values(**values)
            db.execute(statement.on_conflict_do_update(index_elements=["plugin", "tenant_id"], set_=changes))
        else:  # other databases: delete and insert in the caller's transaction
            db.execute(
                delete(plugin_states).where(plugin_states.c.plugin == plugin, plugin_states.c.tenant_id == tenant_id)
            )
            db.execute(insert(plugin_states).values(**values))
        bump_version(db, VERSION_KEY)


class PolledStore(ABC, Generic[T]):
    """A value kept in the database and cached by each worker: re-read only when its `sv_registry_version` counter
    (`version_key`) moved, checked at most every `poll_seconds`, and never waited for by a request while another
    thread checks. Subclasses say how the cached value shows its version and how to load it.

    A read error keeps the last value in force and is counted (a serving process must not fail requests over a
    database hiccup, or a database not yet migrated); with `strict` (the CLI) it is raised.
    """

    version_key: ClassVar[str]

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        *,
        initial: T,
        poll_seconds: float = 1.0,
        monotonic: Callable[[], float] = time.monotonic,
        strict: bool = False,
    ):
        self.session_factory = session_factory
        self.poll_seconds = poll_seconds
        self.strict = strict
        self.read_errors = 0
        self._monotonic = monotonic
        self._cached = initial
        self._checked_at = float("-inf")
        self._loaded = False
        self._refreshing = threading.Lock()

    @abstractmethod
    def _version_of(self, value: T) -> int:
        """The counter value `value` was read at."""

    @abstractmethod
    def _load(self, db: Session, version: int) -> T:
        """Read the value from its own tables, stamped with `version`."""

    def current(self) -> T:
        """The value in force; checks the counter at most every poll_seconds."""
        if self._loaded and self._monotonic() - self._checked_at < self.poll_seconds:
            return self._cached
        if not self._refreshing.acquire(blocking=not self._loaded):
            return self._cached
        try:
            self._refresh()
        finally:
            self._refreshing.release()
        return self._cached

    def refresh(self) -> T:
        """Re-read now, whatever the poll interval."""
        with self._refreshing:
            self._loaded = False
            self._refresh()
        return self._cached

    def _refresh(self) -> None:
        self._checked_at = self._monotonic()
        try:
            with self.session_factory() as db:
                query = select(registry_version.c.version).where(registry_version.c.key == self.version_key)
                version = int(db.scalar(query) or 0)
                if self._loaded and version == self._version_of(self._cached):
                    return
                value = self._load(db, version)
        except Exception:
            if self.strict:
                raise
            self.read_errors += 1
            self._loaded = True
            return
        self._cached = value
        self._loaded = True
