"""Shadow and canary results: outcome counts per route and mode, and each mismatch kept whole for HAR export.

Counting happens in memory (one lock, no I/O on the request path) and is flushed to `sv_shadow_counts` by adding
deltas, so every worker's counts add up in the shared database; the same flush adds them to the evidence of the code
in place (`sv_shadow_evidence`, exthost.evidence.gate). Mismatches and candidate errors are written at once
to `sv_shadow_mismatches`, redacted of secrets, with the request and both responses.
"""

from __future__ import annotations

import base64
import json
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, Text, insert, select
from sqlalchemy.orm import Session, sessionmaker

from exthost.evidence.compare import CapturedRequest, CapturedResponse, Difference
from exthost.evidence.gate import add_shadow_evidence
from exthost.evidence.redact import redact_request, redact_response
from legacy_core.clock import Clock, IdGenerator, RandomIds, SystemClock
from legacy_core.db import transaction, upsert_insert

# What can happen to one feature request outside plain legacy serving. "skipped:<why>" and "fallback:<why>" carry
# their reason after the colon.
OUTCOMES = ("match", "mismatch", "candidate_error", "dropped", "skipped", "fallback", "breaker")
KEPT = ("mismatch", "candidate_error")

metadata = MetaData()

counts_table = Table(
    "sv_shadow_counts",
    metadata,
    Column("feature", String(40), primary_key=True),
    Column("route", String(300), primary_key=True),
    Column("method", String(10), primary_key=True),
    Column("mode", String(20), primary_key=True),
    Column("outcome", String(80), primary_key=True),
    Column("count", Integer, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

mismatches_table = Table(
    "sv_shadow_mismatches",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("feature", String(40), nullable=False),
    Column("route", String(300), nullable=False),
    Column("method", String(10), nullable=False),
    Column("mode", String(20), nullable=False),
    Column("outcome", String(80), nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    Column("exchange", Text, nullable=False),
    Column("differences", Text, nullable=False),
)


@dataclass(frozen=True)
class CountKey:
    feature: str
    route: str
    method: str
    mode: str
    outcome: str


def request_json(request: CapturedRequest) -> dict[str, Any]:
    return {
        "method": request.method,
        "path": request.path,
        "query": request.query,
        "headers": [list(pair) for pair in request.headers],
        "body": base64.b64encode(request.body).decode("ascii"),
    }


def response_json(response: CapturedResponse) -> dict[str, Any]:
    return {
        "status": response.status,
        "headers": [list(pair) for pair in response.headers],
        "body": base64.b64encode(response.body).decode("ascii"),
    }


def request_from_json(data: Mapping[str, Any]) -> CapturedRequest:
    return CapturedRequest(
        method=data["method"],
        path=data["path"],
        query=data["query"],
        headers=tuple((str(k), str(v)) for k, v in data["headers"]),
        body=base64.b64decode(data["body"]),
    )


def response_from_json(data: Mapping[str, Any]) -> CapturedResponse:
    return CapturedResponse(
        status=int(data["status"]),
        headers=tuple((str(k), str(v)) for k, v in data["headers"]),
        body=base64.b64decode(data["body"]),
    )


def difference_json(difference: Difference) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(json.dumps(difference.to_json(), default=str))
    return data


def mismatch_har(row: Mapping[str, Any]) -> dict[str, Any]:
    """A kept mismatch as a HAR 1.2 document: one entry replaying the request with the primary's response; the
    other side's response and the differences ride along in the entry's `_sovereign` field."""
    from exthost.evidence.har import har_document, har_entry
    from exthost.version import host_version

    exchange = row["exchange"]
    request = request_from_json(exchange["request"])
    primary_side = exchange["primary"]
    responses = {side: response_from_json(data) for side, data in exchange["responses"].items()}
    other = "plugin" if primary_side == "legacy" else "legacy"
    extra: dict[str, Any] = {
        "mismatch": row["id"],
        "feature": row["feature"],
        "route": row["route"],
        "mode": row["mode"],
        "outcome": row["outcome"],
        "primary": primary_side,
        "differences": row["differences"],
        "rulesApplied": exchange.get("rulesApplied", []),
    }
    if other in responses:
        extra[f"{other}Response"] = response_json(responses[other])
    entry = har_entry(
        request,
        responses[primary_side],
        started=datetime.fromisoformat(exchange["startedAt"]),
        time_ms=0,
        comment=f"{row['feature']} {row['method']} {row['route']}: {row['outcome']} ({primary_side} answered)",
        extra=extra,
    )
    return har_document([entry], creator_version=host_version())


class ShadowResults:
    """Counts and kept mismatches of one platform, shared through its database."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        *,
        clock: Clock | None = None,
        ids: IdGenerator | None = None,
        codes: Mapping[str, str] | None = None,
    ):
        self.session_factory = session_factory
        # Code fingerprint of each feature in place (evidence.fingerprint), taken once at start: flushed outcomes are
        # also added to that code's evidence. A feature without one gathers no evidence.
        self.codes = dict(codes or {})
        self.clock = clock or SystemClock()
        self.ids = ids or RandomIds()
        self._pending: Counter[CountKey] = Counter()
        self._lock = threading.Lock()
        # Held for a whole flush (never by `count`, so the request path never waits on it): a reader of the counts
        # sees them either still pending or already in the table, never in between.
        self._flush_lock = threading.Lock()
        self.flush_errors = 0
        # Called with every count as it is taken, e.g. the platform's Prometheus counter (exthost.metrics).
        self.listeners: list[Callable[[str, str | None, str, str, str, int], None]] = []

    def count(self, feature: str, route: str | None, method: str, mode: str, outcome: str, n: int = 1) -> None:
        """Add to a count; no I/O (a flush writes it)."""
        key = CountKey(feature, route or "", method, mode, outcome)
        with self._lock:
            self._pending[key] += n
        for listener in self.listeners:
            listener(feature, route, method, mode, outcome, n)

    def flush(self) -> None:
        """Add the pending counts to the shared table; on a database error they stay pending for the next flush."""
        with self._flush_lock:
            self._flush()

    def _flush(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, Counter()
        if not pending:
            return
        try:
            with transaction(self.session_factory) as db:
                now = self.clock.now()
                dialect = db.get_bind().dialect.name
                for key, n in pending.items():
                    statement = upsert_insert(dialect, counts_table).values(**vars(key), count=n, updated_at=now)
                    db.execute(
                        statement.on_conflict_do_update(
                            index_elements=["feature", "route", "method", "mode", "outcome"],
                            set_={"count": counts_table.c.count + statement.excluded.count, "updated_at": now},
                        )
                    )
                # In the same transaction: counts and evidence are added together or, on an error, retried together.
                evidence: Counter[tuple[str, str, str]] = Counter()
                for key, n in pending.items():
                    if key.feature in self.codes:
                        evidence[(key.feature, self.codes[key.feature], key.outcome)] += n
                add_shadow_evidence(db, evidence, now)
        except Exception:
            self.flush_errors += 1
            with self._lock:
                self._pending.update(pending)

    def pending(self) -> bool:
        """Whether counts are waiting for a flush (after a failed one, the database could not be written)."""
        with self._lock:
            return bool(self._pending)

    def keep(
        self,
        *,
        feature: str,
        route: str | None,
        mode: str,
        outcome: str,
        request: CapturedRequest,
        primary_side: str,
        primary: CapturedResponse,
        candidate: CapturedResponse | None,
        differences: Iterable[Difference],
        started: datetime,
        rules_applied: Iterable[str] = (),
        note: str = "",
    ) -> str:
        """Store one mismatch or candidate error, secrets redacted; returns its id."""
        sides = {primary_side: primary}
        if candidate is not None:
            sides["plugin" if primary_side == "legacy" else "legacy"] = candidate
        exchange = {
            "startedAt": started.isoformat(),
            "primary": primary_side,
            "request": request_json(redact_request(request)),
            "responses": {side: response_json(redact_response(r)) for side, r in sides.items()},
            "rulesApplied": list(rules_applied),
            "note": note,
        }
        mismatch_id = self.ids.new("mm")
        with transaction(self.session_factory) as db:
            db.execute(
                insert(mismatches_table).values(
                    id=mismatch_id,
                    feature=feature,
                    route=route or "",
                    method=request.method,
                    mode=mode,
                    outcome=outcome,
                    recorded_at=self.clock.now(),
                    exchange=json.dumps(exchange),
                    differences=json.dumps([difference_json(d) for d in differences]),
                )
            )
        return mismatch_id

    def counts(self) -> list[dict[str, Any]]:
        """Every count, all workers' flushed counts plus this one's pending ones, by feature, route, method, mode."""
        totals: Counter[CountKey] = Counter()
        with self._flush_lock:
            with self.session_factory() as db:
                for row in db.execute(select(counts_table)):
                    data = row._mapping
                    key = CountKey(data["feature"], data["route"], data["method"], data["mode"], data["outcome"])
                    totals[key] += data["count"]
            with self._lock:
                totals.update(self._pending)
        return [
            {**vars(key), "count": n}
            for key, n in sorted(totals.items(), key=lambda item: tuple(vars(item[0]).values()))
        ]

    def summary(self) -> dict[str, dict[str, int]]:
        """Counts by feature, then outcome (reasons folded into their outcome)."""
        summary: dict[str, Counter[str]] = {}
        for row in self.counts():
            summary.setdefault(row["feature"], Counter())[row["outcome"].partition(":")[0]] += row["count"]
        return {feature: dict(sorted(c.items())) for feature, c in sorted(summary.items())}

    def mismatches(self, feature: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        """The latest kept mismatches, newest first, without their bodies."""
        query = (
            select(
                mismatches_table.c.id,
                mismatches_table.c.feature,
                mismatches_table.c.route,
                mismatches_table.c.method,
                mismatches_table.c.mode,
                mismatches_table.c.outcome,
                mismatches_table.c.recorded_at,
                mismatches_table.c.differences,
            )
            .order_by(mismatches_table.c.recorded_at.desc(), mismatches_table.c.id.desc())
            .limit(limit)
        )
        if feature is not None:
            query = query.where(mismatches_table.c.feature == feature)
        with self.session_factory() as db:
            rows = [dict(row._mapping) for row in db.execute(query)]
        for row in rows:
            row["differences"] = json.loads(row["differences"])
        return rows

    def mismatch(self, mismatch_id: str) -> dict[str, Any] | None:
        """One kept mismatch, whole."""
        with self.session_factory() as db:
            row = db.execute(select(mismatches_table).where(mismatches_table.c.id == mismatch_id)).first()
        if row is None:
            return None
        data = dict(row._mapping)
        data["exchange"] = json.loads(data["exchange"])
        data["differences"] = json.loads(data["differences"])
        return data
