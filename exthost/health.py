"""Health checks behind `GET /health`: the database, the plugin registry and each enabled plugin's `health` hook,
run on threads of their own and bounded in time, so a hung check never hangs the probe.

A check that has not finished by the deadline counts as failed; while it is still running, later probes report it
failed at once instead of starting another (a hung plugin hook costs one thread, not one per probe).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text

from exthost.host import ExtensionHost


@dataclass(frozen=True)
class CheckResult:
    """One check's verdict, its detail (for platform admins) and how long it took."""

    name: str
    ok: bool
    detail: Mapping[str, Any] = field(default_factory=dict)
    ms: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, **self.detail, "ms": round(self.ms, 1)}


@dataclass(frozen=True)
class HealthReport:
    """Every check's result; healthy when all are."""

    checks: tuple[CheckResult, ...]

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)

    def as_dict(self, *, detail: bool) -> dict[str, Any]:
        """`{"ok": ...}`; with `detail`, each check under `checks`."""
        if not detail:
            return {"ok": self.ok}
        return {"ok": self.ok, "checks": {check.name: check.as_dict() for check in self.checks}}


class _Running:
    """One check on its own daemon thread (a hung check must not keep the interpreter from exiting)."""

    def __init__(self, name: str, check: Callable[[], Mapping[str, Any] | None]):
        self.name = name
        self.started = time.monotonic()
        self.finished = threading.Event()
        self.result: CheckResult | None = None
        self._check = check
        threading.Thread(target=self._run, name=f"sv-health-{name}", daemon=True).start()

    def _run(self) -> None:
        try:
            report = self._check()
            detail = dict(report or {})
            ok = bool(detail.pop("ok", True))
            if not ok and "error" not in detail:
                detail["error"] = "reported not ok"
            result = CheckResult(self.name, ok, detail)
        except Exception as exc:  # a failing check is a verdict, not an error of the probe
            result = CheckResult(self.name, False, {"error": f"{type(exc).__name__}: {exc}"})
        self.result = CheckResult(result.name, result.ok, result.detail, (time.monotonic() - self.started) * 1000)
        self.finished.set()


class HealthChecker:
    """Runs the checks of one platform with a deadline of `timeout` seconds per probe."""

    def __init__(self, host: ExtensionHost, *, timeout: float):
        self.host = host
        self.timeout = timeout
        self._running: dict[str, _Running] = {}
        self._lock = threading.Lock()

    def check(self) -> HealthReport:
        deadline = time.monotonic() + self.timeout
        checks: dict[str, Callable[[], Mapping[str, Any] | None]] = {
            "database": self._database,
            "registry": self._registry,
        }
        for name in self._enabled_plugins():
            checks[f"plugin:{name}"] = self._plugin_check(name)
        started = {name: self._start(name, check) for name, check in checks.items()}
        results = []
        for name, running in started.items():
            if running.finished.wait(max(0.0, deadline - time.monotonic())) and running.result is not None:
                results.append(running.result)
                continue
            waited = time.monotonic() - running.started
            results.append(
                CheckResult(
                    name, False, {"error": f"no answer after {waited:.1f} s (HEALTH_TIMEOUT_SECONDS)"}, waited * 1000
                )
            )
        return HealthReport(tuple(results))

    def _start(self, name: str, check: Callable[[], Mapping[str, Any] | None]) -> _Running:
        with self._lock:
            running = self._running.get(name)
            if running is None or running.finished.is_set():
                running = self._running[name] = _Running(name, check)
            return running

    def _enabled_plugins(self) -> list[str]:
        """Plugins this host serves for some tenant, or should (a tenant whose on_enable failed here)."""
        return sorted(record.name for record in self.host.plugins.values() if record.tenants or record.tenant_failures)

    def _database(self) -> Mapping[str, Any]:
        with self.host.services.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        return {"dialect": self.host.services.engine.dialect.name}

    def _registry(self) -> Mapping[str, Any]:
        return {"version": self.host.registry.version()}

    def _plugin_check(self, name: str) -> Callable[[], Mapping[str, Any] | None]:
        def check() -> Mapping[str, Any] | None:
            record = self.host.plugins[name]
            if not record.loaded:
                return {"ok": False, "error": f"plugin is {record.display_state()}: {record.reason}"}
            if record.tenant_failures:
                failed = ", ".join(sorted(record.tenant_failures))
                return {"ok": False, "error": f"not serving tenant(s) {failed}: their on_enable failed here"}
            report = self.host.health(record)
            if report is not None and not report.get("ok", True):
                error = str(report.get("error", "its health hook reported not ok"))
                return {"ok": False, "error": error, "report": report}
            return {"report": report}

        return check
