"""Flag changes through the evidence gate: the one set of rules `sv flags:set` and the admin page both apply.

A switch to a gated mode (plugin, retired) needs the evidence on the feature's code in place to pass the gate
(`exthost.evidence.gate.assess`). Short evidence refuses the switch (`GateRefused`, with every shortfall), unless it
is forced; a forced switch needs a reason, and the change log keeps it, marked forced, with the shortfalls appended.
Forcing a switch the gate lets through (or a mode it never holds back) forces nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from exthost.evidence.gate import GATED_MODES, assess
from exthost.rollout.flags import Flag
from exthost.rollout.flagstore import FlagError, FlagStore

if TYPE_CHECKING:
    from legacy_core.settings import Settings

FORCED_NOTE = "forced past the evidence gate"


class GateRefused(FlagError):
    """A switch to plugin or retired refused: the evidence on the code in place is short of the gate."""

    def __init__(self, feature: str, mode: str, code: str, shortfalls: Sequence[str]):
        self.feature = feature
        self.mode = mode
        self.code = code
        self.shortfalls = tuple(shortfalls)
        super().__init__(
            f"refusing to switch {feature!r} to {mode}: the evidence on its code in place ({code[:12]}) is short of "
            f"the gate: {'; '.join(self.shortfalls)}"
        )


class ForceNeedsReason(FlagError):
    """A switch forced past the gate without a reason: the change log must say why."""


@dataclass(frozen=True)
class FlagChange:
    """A stored flag change: the flag now in force and whether it went past the gate."""

    flag: Flag
    forced: bool


def change_flag(
    flags: FlagStore,
    settings: Settings,
    feature: str,
    mode: str,
    *,
    changed_by: str,
    reason: str = "",
    force: bool = False,
    route: str | None = None,
    percent: float | None = None,
    tenants: Sequence[str] | None = None,
    sample: float | None = None,
    routes: Sequence[str] = (),
) -> FlagChange:
    """Check and store one flag change under the gate's rules (see the module docstring).

    Raises FlagError for an unknown feature, mode or route or a bad share, GateRefused for short evidence without
    `force`, ForceNeedsReason for a forced switch without a reason; nothing is stored then.
    """
    flags.check(feature, mode, route=route, routes=routes)
    reason = reason.strip()
    forced = False
    if mode in GATED_MODES:
        assessment = assess(flags.session_factory, feature, settings)
        shortfalls = assessment.decision.shortfalls
        if shortfalls and not force:
            raise GateRefused(feature, mode, assessment.code, shortfalls)
        if shortfalls:
            if not reason:
                raise ForceNeedsReason(
                    f"switching {feature!r} to {mode} past the evidence gate needs a reason, kept in the change log "
                    f"(its evidence is short: {'; '.join(shortfalls)})"
                )
            forced = True
            reason = f"{reason}; {FORCED_NOTE}: {'; '.join(shortfalls)}"
    flag = flags.set(
        feature,
        mode,
        route=route,
        percent=percent,
        tenants=tenants,
        sample=sample,
        changed_by=changed_by,
        reason=reason,
        routes=routes,
        forced=forced,
    )
    return FlagChange(flag, forced)
