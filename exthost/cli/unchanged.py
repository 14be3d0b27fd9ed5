"""`sv parity:run --if-changed`: which features need a run, because the evidence on their code in place is short.

A feature whose code fingerprint (`exthost.evidence.fingerprint`, both sides' source) already has the evidence the
switch gate asks for gains nothing from a run on the same code with the same seed: its cases would be the same. It is
left out, with a line saying so; any change to either side's code changes the fingerprint, and the feature runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from exthost.cli.output import when

if TYPE_CHECKING:
    from legacy_core.settings import Settings


def features_to_run(settings: Settings, features: tuple[str, ...]) -> tuple[str, ...]:
    """The features of `features` whose code in place lacks the gate's evidence; a line on stderr for each other."""
    from exthost.evidence.gate import assess
    from legacy_core.db import make_engine

    engine = make_engine(settings.DATABASE_URL)
    try:
        assessments = [assess(engine, feature, settings) for feature in features]
    finally:
        engine.dispose()
    chosen = []
    for assessment in assessments:
        if not assessment.decision.ok:
            chosen.append(assessment.feature)
            continue
        last = assessment.evidence.last_run
        click.echo(
            f"parity: {assessment.feature}: not run again: its code (fingerprint {assessment.code[:12]}) is unchanged "
            f"since the parity run of {when(last) if last else 'an earlier run'}, whose evidence passes the switch "
            "gate (`sv phase:status` shows it); run `sv parity:run` without --if-changed to run it anyway",
            err=True,
        )
    return tuple(chosen)
