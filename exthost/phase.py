"""Where each feature stands in its migration: its mode, code in place, evidence and the switch gate's verdict.

`sv phase:status` prints it and the admin page shows it; both read it from `feature_phases`, in the same words.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from exthost.evidence.gate import Assessment, SessionSource, assess
from legacy_core.clock import display_time

if TYPE_CHECKING:
    from exthost.rollout.flags import FlagSet
    from legacy_core.settings import Settings


@dataclass(frozen=True)
class FeaturePhase:
    """One feature: the mode in force (and any route's own) and the gate's assessment of its code in place."""

    feature: str
    mode: str
    route_flags: tuple[tuple[str, str], ...]
    assessment: Assessment

    @property
    def mode_text(self) -> str:
        """The mode, with how many routes have their own."""
        n = len(self.route_flags)
        return f"{self.mode} ({n} route flag{'' if n == 1 else 's'})" if n else self.mode

    @property
    def verdict(self) -> str:
        decision = self.assessment.decision
        return "ready for plugin" if decision.ok else "not ready: " + "; ".join(decision.shortfalls)

    def evidence_lines(self) -> list[tuple[str, str]]:
        """The evidence since the feature's last code change, one (name, value) per kind."""
        assessment = self.assessment
        return [
            ("recorded sessions", _recordings(assessment)),
            ("generated cases", _generated(assessment)),
            ("branch coverage", _coverage(assessment)),
            ("mismatches", _mismatches(assessment)),
            ("shadow samples", _shadow(assessment)),
            ("last parity run", _when(assessment)),
        ]

    def to_json(self) -> dict[str, Any]:
        return {
            "feature": self.feature,
            "mode": self.mode,
            "routeFlags": [{"route": route, "mode": mode} for route, mode in self.route_flags],
            **self.assessment.to_json(),
            "verdict": self.verdict,
        }


def feature_phases(
    source: SessionSource, flags: FlagSet, settings: Settings, features: tuple[str, ...] | None = None
) -> list[FeaturePhase]:
    """Every feature's phase (or those named), assessed on the code on disk now."""
    if features is None:
        from legacy_core.features import feature_set

        features = feature_set(settings.EXTRA_FEATURES).names
    return [
        FeaturePhase(
            feature=feature,
            mode=flags.flag(feature).mode,
            route_flags=tuple((f.route, f.mode) for f in flags.all() if f.feature == feature and f.route),
            assessment=assess(source, feature, settings),
        )
        for feature in features
    ]


def _when(assessment: Assessment) -> str:
    last = assessment.evidence.last_run
    return display_time(last) if last else "none on this code"


def _shadow(assessment: Assessment) -> str:
    samples = assessment.evidence.shadow
    return ", ".join(f"{outcome} {n}" for outcome, n in samples.items()) or "none on this code"


def _recordings(assessment: Assessment) -> str:
    matched = sum(1 for name in assessment.corpus if name in assessment.evidence.recordings_matched)
    return f"{matched} of {len(assessment.corpus)} matched"


def _generated(assessment: Assessment) -> str:
    evidence = assessment.evidence
    needed = assessment.thresholds.min_generated
    return f"{evidence.generated_cases} run, {evidence.generated_matched} matched (needed: {needed})"


def _coverage(assessment: Assessment) -> str:
    evidence, needed = assessment.evidence, assessment.thresholds.min_branch_coverage
    shown = []
    for side in ("legacy", "plugin"):
        reached = evidence.branch_coverage(side)
        if reached is not None:
            branches, covered = evidence.coverage[side]
            shown.append(f"{side} {reached:.1f}% ({covered} of {branches})")
    return (", ".join(shown) or "not measured on this code") + (f" (needed: legacy {needed:g}%)" if needed else "")


def _mismatches(assessment: Assessment) -> str:
    evidence = assessment.evidence
    return (
        f"{evidence.mismatches} ({evidence.mismatched_cases} parity, {evidence.shadow_mismatches} shadow; "
        f"allowed: {assessment.thresholds.max_mismatches})"
    )
