"""Flags in the shared database: every worker reads the same modes, and every change is logged with who and when.

`sv_flags` holds the mode in force per feature (route '') or route; `sv_flag_changes` logs each change; the row
`flags` of `sv_registry_version` is bumped in the same transaction. A worker caches the whole flag set and re-reads
it only when that counter moved, checking the counter at most every `poll_seconds`, never waiting for another
thread's check: a change takes effect everywhere within about `poll_seconds`. FEATURE_FLAGS in the settings
overrides stored flags in this process only (for development).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Boolean, Column, DateTime, Float, Integer, MetaData, String, Table, Text, insert, select
from sqlalchemy.orm import Session, sessionmaker

from exthost.errors import ExtHostError
from exthost.registry import PolledStore, bump_version
from exthost.rollout.flags import MODES, Flag, FlagSet, Mode, check_percent
from legacy_core.clock import Clock, SystemClock
from legacy_core.db import transaction, upsert_insert

VERSION_KEY = "flags"
metadata = MetaData()

flags_table = Table(
    "sv_flags",
    metadata,
    Column("feature", String(40), primary_key=True),
    Column("route", String(300), primary_key=True),
    Column("mode", String(20), nullable=False),
    Column("percent", Float, nullable=False),
    Column("tenants", Text, nullable=False),
    Column("sample", Float, nullable=False),
    Column("updated_by", String(200), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("reason", Text, nullable=False),
)

flag_changes = Table(
    "sv_flag_changes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("feature", String(40), nullable=False),
    Column("route", String(300), nullable=False),
    Column("previous_mode", String(20), nullable=False),
    Column("mode", String(20), nullable=False),
    Column("percent", Float, nullable=False),
    Column("tenants", Text, nullable=False),
    Column("sample", Float, nullable=False),
    Column("changed_by", String(200), nullable=False),
    Column("changed_at", DateTime(timezone=True), nullable=False),
    Column("reason", Text, nullable=False),
    # Set when the change went past the evidence gate with --force (exthost.evidence.gate).
    Column("forced", Boolean, nullable=False, default=False),
)


class FlagError(ExtHostError):
    """A flag change that cannot be made: unknown feature or route, bad mode or share."""


def _flag(row: dict[str, object]) -> Flag:
    return Flag(
        feature=str(row["feature"]),
        route=str(row["route"]) or None,
        mode=row["mode"],  # type: ignore[arg-type]
        percent=float(row["percent"]),  # type: ignore[arg-type]
        tenants=frozenset(json.loads(str(row["tenants"]))),
        sample=float(row["sample"]),  # type: ignore[arg-type]
        updated_by=str(row["updated_by"]),
        updated_at=row["updated_at"],  # type: ignore[arg-type]
        reason=str(row["reason"]),
    )


class FlagStore(PolledStore[FlagSet]):
    """Reads (cached, version-checked; see `PolledStore`) and writes the flags of one database."""

    version_key = VERSION_KEY

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        *,
        features: Sequence[str],
        overrides: Sequence[Flag] = (),
        poll_seconds: float = 1.0,
        clock: Clock | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        strict: bool = False,
    ):
        self.features = tuple(features)
        self.overrides = tuple(overrides)
        self.clock = clock or SystemClock()  # wall time: a change log is about when people acted
        super().__init__(
            session_factory,
            initial=FlagSet().with_overrides(self.overrides),
            poll_seconds=poll_seconds,
            monotonic=monotonic,
            strict=strict,
        )

    # -- reading ---------------------------------------------------------------------------------------------------

    def _version_of(self, value: FlagSet) -> int:
        return value.version

    def _load(self, db: Session, version: int) -> FlagSet:
        rows = [dict(row._mapping) for row in db.execute(select(flags_table))]
        stored = {(flag.feature, flag.route): flag for flag in map(_flag, rows)}
        return FlagSet(stored, version).with_overrides(self.overrides)

    def history(self, feature: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        """The latest changes, newest first."""
        query = select(flag_changes).order_by(flag_changes.c.id.desc()).limit(limit)
        if feature is not None:
            query = query.where(flag_changes.c.feature == feature)
        with self.session_factory() as db:
            return [dict(row._mapping) for row in db.execute(query)]

    # -- writing ---------------------------------------------------------------------------------------------------

    def set(
        self,
        feature: str,
        mode: str,
        *,
        route: str | None = None,
        percent: float | None = None,
        tenants: Sequence[str] | None = None,
        sample: float | None = None,
        changed_by: str,
        reason: str = "",
        routes: Sequence[str] = (),
        forced: bool = False,
    ) -> Flag:
        """Store a feature's (or route's) mode, log the change and bump the counter, in one transaction.

        Unset share fields keep their stored values. `routes` lists the feature's known rules, to check `route`.
        `forced` marks, in the change log, a switch made past the evidence gate.
        """
        mode = self.check(feature, mode, route=route, routes=routes)
        with transaction(self.session_factory) as db:
            # The version bump comes first: it takes the write lock (SQLite) or the row lock (PostgreSQL) before the
            # stored flag is read, so two concurrent changes run one after the other and neither is lost.
            bump_version(db, VERSION_KEY)
            old = self._stored(db, feature, route)
            try:
                flag = Flag(
                    feature=feature,
                    route=route,
                    mode=mode,
                    percent=check_percent(old.percent if percent is None else percent, "percent"),
                    tenants=frozenset(old.tenants if tenants is None else (t for t in tenants if t)),
                    sample=check_percent(old.sample if sample is None else sample, "sample"),
                    updated_by=changed_by[:200],
                    updated_at=self.clock.now(),
                    reason=reason,
                )
            except ValueError as exc:
                raise FlagError(str(exc)) from exc
            self._write(db, flag, old.mode, forced=forced)
        self.refresh()
        return flag

    def check(self, feature: str, mode: str, *, route: str | None = None, routes: Sequence[str] = ()) -> Mode:
        """`mode`, checked: FlagError unless `feature`, `mode` and `route` (one of `routes`) can be stored."""
        if feature not in self.features:
            raise FlagError(f"unknown feature {feature!r}; one of {', '.join(self.features)}")
        if mode not in MODES:
            raise FlagError(f"unknown mode {mode!r}; one of {', '.join(MODES)}")
        if route is not None and routes and route not in routes:
            shown = "\n  ".join(sorted(routes))
            raise FlagError(f"feature {feature!r} has no route {route!r}; its routes:\n  {shown}")
        return mode

    def _stored(self, db: Session, feature: str, route: str | None) -> Flag:
        row = db.execute(
            select(flags_table).where(flags_table.c.feature == feature, flags_table.c.route == (route or ""))
        ).first()
        return _flag(dict(row._mapping)) if row is not None else Flag(feature, route=route)

    def _write(self, db: Session, flag: Flag, previous: Mode, *, forced: bool = False) -> None:
        values = {
            "feature": flag.feature,
            "route": flag.route or "",
            "mode": flag.mode,
            "percent": flag.percent,
            "tenants": json.dumps(sorted(flag.tenants)),
            "sample": flag.sample,
            "updated_by": flag.updated_by,
            "updated_at": flag.updated_at,
            "reason": flag.reason,
        }
        changes = {k: v for k, v in values.items() if k not in ("feature", "route")}
        dialect = db.get_bind().dialect.name
        statement = upsert_insert(dialect, flags_table).values(**values)
        db.execute(statement.on_conflict_do_update(index_elements=["feature", "route"], set_=changes))
        log = {k: values[k] for k in ("feature", "route", "mode", "percent", "tenants", "sample", "reason")}
        db.execute(
            insert(flag_changes).values(
                **log, previous_mode=previous, changed_by=flag.updated_by, changed_at=flag.updated_at, forced=forced
            )
        )
