"""Prometheus metrics of one platform: requests by feature, mode and outcome, their latencies, rollout events (shadow
and canary outcomes, fallbacks) and plugin errors.

`build_metrics(settings)` makes the metrics on a `CollectorRegistry` of their own, so two platforms in one process
never share a count. With `PROMETHEUS_MULTIPROC_DIR` set, prometheus_client writes every process's values to files in
that folder (it decides this from the process environment when it is first imported), and `exposition()` sums the
files of every process: each gunicorn worker and shadow child counts, and any worker's `/metrics` shows the total.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest, values
from prometheus_client.multiprocess import MultiProcessCollector
from werkzeug.wsgi import ClosingIterator

from exthost.errors import ExtHostError
from exthost.rollout.router import DECISION_KEY

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

    from legacy_core.settings import Settings

# A request no feature owns: the router sends it to legacy or to a plugin of no feature.
NO_FEATURE = "none"
# Seconds; from a cached page (1 ms) to a slow export, with the default buckets' resolution where answers usually are.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


@dataclass(frozen=True)
class Metrics:
    """The metrics of one platform; `multiprocess_dir` set when every process's values are summed from files."""

    registry: CollectorRegistry
    requests: Counter
    latency: Histogram
    rollout: Counter
    plugin_errors: Counter
    multiprocess_dir: Path | None

    def request(self, feature: str, mode: str, outcome: str, seconds: float) -> None:
        """One request answered (or failed) through the router."""
        self.requests.labels(feature, mode, outcome).inc()
        self.latency.labels(feature, mode).observe(seconds)

    def rollout_event(self, feature: str, route: str | None, method: str, mode: str, outcome: str, n: int = 1) -> None:
        """One rollout count (`ShadowResults.count`'s arguments): a comparison's outcome, a canary fallback, a breaker
        trip, a skipped or dropped sample. The route and method stay in `sv shadow:status`, not in label values."""
        self.rollout.labels(feature, mode, outcome).inc(n)

    def plugin_error(self, plugin: str, kind: str) -> None:
        """A plugin's hook raised (`hook:<name>`) or its handler raised an unhandled error (`handler`)."""
        self.plugin_errors.labels(plugin, kind).inc()

    def exposition(self) -> tuple[bytes, str]:
        """The Prometheus text format and its content type: this platform's values, or every process's summed."""
        if self.multiprocess_dir is None:
            return generate_latest(self.registry), CONTENT_TYPE_LATEST
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=str(self.multiprocess_dir))  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST


def build_metrics(settings: Settings) -> Metrics:
    """The platform's metrics. Raises ExtHostError when PROMETHEUS_MULTIPROC_DIR cannot be used."""
    folder = settings.PROMETHEUS_MULTIPROC_DIR
    if folder is not None:
        if values.ValueClass is values.MutexValue:
            raise ExtHostError(
                f"setting PROMETHEUS_MULTIPROC_DIR={str(folder)!r} came from a .env file or a setting, but "
                "prometheus_client only reads it from the process environment when it loads: export "
                "PROMETHEUS_MULTIPROC_DIR in the environment gunicorn starts with"
            )
        if not folder.is_dir():
            raise ExtHostError(
                f"setting PROMETHEUS_MULTIPROC_DIR={str(folder)!r}: no such folder; create it (empty) before the "
                "server starts"
            )
    registry = CollectorRegistry(auto_describe=True)
    return Metrics(
        registry=registry,
        requests=Counter(
            "sv_requests",
            "Requests through the feature-flag router by feature, mode and outcome (status class, or exception).",
            ("feature", "mode", "outcome"),
            registry=registry,
        ),
        latency=Histogram(
            "sv_request_duration_seconds",
            "Time from a request's arrival to the end of its answer's body, by feature and mode.",
            ("feature", "mode"),
            buckets=LATENCY_BUCKETS,
            registry=registry,
        ),
        rollout=Counter(
            "sv_rollout_events",
            "Shadow and canary outcomes: match, mismatch, candidate_error, fallback:<why>, breaker, skipped:<why>, "
            "dropped..., by feature, mode and outcome.",
            ("feature", "mode", "outcome"),
            registry=registry,
        ),
        plugin_errors=Counter(
            "sv_plugin_errors",
            "Plugin hooks that raised (kind hook:<name>) and unhandled errors of plugin handlers (kind handler).",
            ("plugin", "kind"),
            registry=registry,
        ),
        multiprocess_dir=folder,
    )


class MeasuredApp:
    """WSGI middleware counting and timing each request by the feature and mode the router noted in the environ."""

    def __init__(self, app: WSGIApplication, metrics: Metrics):
        self.app = app
        self.metrics = metrics

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        started = time.perf_counter()
        status: list[str] = []

        def measured_start(line: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            status[:] = [line]
            return start_response(line, headers, exc_info) if exc_info else start_response(line, headers)

        def done() -> None:
            outcome = f"{status[0][:1]}xx" if status else "exception"
            self._observe(environ, outcome, started)

        try:
            body = self.app(environ, measured_start)
        except BaseException:
            self._observe(environ, "exception", started)
            raise
        return ClosingIterator(body, done)

    def _observe(self, environ: WSGIEnvironment, outcome: str, started: float) -> None:
        feature, mode = environ.get(DECISION_KEY) or (NO_FEATURE, "legacy")
        self.metrics.request(feature, mode, outcome, time.perf_counter() - started)
