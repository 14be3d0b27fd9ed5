"""The replay side outside a serving process: what the shadow child and `sv shadow:worker` build from a platform's
parts to replay samples, alike."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from exthost.evidence.rules import RuleSet
from exthost.rollout.flags import parse_overrides
from exthost.rollout.flagstore import FlagStore
from exthost.rollout.results import ShadowResults
from exthost.rollout.shadow import Sample, ShadowRunner, mode_unchanged


def preparer(host: Any, legacy_app: Any) -> Callable[[Sample], Sample | None]:
    """Gives a sample that came as plain data its apps: legacy's, and the plugin serving the feature for the
    sample's tenant here; None when no plugin does (the caller counts it)."""

    def prepare(sample: Sample) -> Sample | None:
        tenant = sample.tenant or host.settings.TENANT_DEFAULT
        candidate = host.table().feature_app(sample.feature, tenant)
        if candidate is None:
            return None
        return replace(sample, primary_app=legacy_app, candidate_app=candidate)

    return prepare


def replay_runner(settings: Any, host: Any, results: ShadowResults, rules: RuleSet) -> ShadowRunner:
    """A runner without threads of its own (the caller feeds it), with the settings' lock timeout and age bound, and
    the flags as the serving processes see them: a sample whose route left the mode that took it is not replayed."""
    flags = FlagStore(
        host.services.session_factory,
        features=host.services.features.names,
        overrides=parse_overrides(settings.FEATURE_FLAGS),
        poll_seconds=settings.FLAGS_POLL_SECONDS,
    )
    return ShadowRunner(
        engine=host.services.engine,
        results=results,
        rules=lambda: rules,
        workers=0,
        lock_timeout_ms=settings.SHADOW_LOCK_TIMEOUT_MS,
        max_age_seconds=settings.SHADOW_MAX_SAMPLE_AGE_SECONDS,
        wanted=mode_unchanged(lambda feature, route: flags.current().flag(feature, route).mode),
    )
