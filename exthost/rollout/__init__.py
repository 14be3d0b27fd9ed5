"""The rollout on the request path: the feature-flag router decides, per request, whether legacy or the plugin
answers (legacy, shadow, canary, plugin, retired), replays shadow samples off the request path and counts outcomes.

Modules: `router` (the platform's WSGI callable), `flags` (pure flag data and decisions), `flagstore` (flags in the
shared database), `breaker` (the canary circuit breaker), `shadow` (the in-process runner and the sample),
`shadow_process` (the default runner: a child process per serving process), `results` (outcome counts and kept
mismatches) and `isolation` (runs inside a rolled-back transaction with pinned clock and ids).

May import the plugin host and `exthost.evidence`; never the CLI, the harness (`parity_tests`), hypothesis or
schemathesis.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from exthost._exports import lazy_exports

if TYPE_CHECKING:
    from exthost.rollout.breaker import CircuitBreaker
    from exthost.rollout.flags import MODES, Decision, Flag, FlagSet, decide
    from exthost.rollout.flagstore import FlagError, FlagStore
    from exthost.rollout.results import ShadowResults
    from exthost.rollout.router import FlagRouter
    from exthost.rollout.shadow import Sample, ShadowRunner, ShadowSink
    from exthost.rollout.shadow_process import ProcessShadowRunner

__all__ = [
    "MODES",
    "CircuitBreaker",
    "Decision",
    "Flag",
    "FlagError",
    "FlagRouter",
    "FlagSet",
    "FlagStore",
    "ProcessShadowRunner",
    "Sample",
    "ShadowResults",
    "ShadowRunner",
    "ShadowSink",
    "decide",
]

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "MODES": "exthost.rollout.flags",
        "CircuitBreaker": "exthost.rollout.breaker",
        "Decision": "exthost.rollout.flags",
        "Flag": "exthost.rollout.flags",
        "FlagError": "exthost.rollout.flagstore",
        "FlagRouter": "exthost.rollout.router",
        "FlagSet": "exthost.rollout.flags",
        "FlagStore": "exthost.rollout.flagstore",
        "ProcessShadowRunner": "exthost.rollout.shadow_process",
        "Sample": "exthost.rollout.shadow",
        "ShadowResults": "exthost.rollout.results",
        "ShadowRunner": "exthost.rollout.shadow",
        "ShadowSink": "exthost.rollout.shadow",
        "decide": "exthost.rollout.flags",
    },
)
