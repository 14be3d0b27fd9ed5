"""A plain `sv parity:run` catches realistic porting bugs: each bug of `porting_bugs.py`, made in a copy of the
plugins, fails a default run of its feature with a mismatch on the bug's route.

Each case is a whole default run (45 to 100 s), so CI runs the share in `IN_CI` (each kind, four bugs of each plugin),
parametrised so that xdist spreads them; `scripts/porting_bugs.py` runs them all. That an unmodified
copy passes is checked elsewhere (`test_cli.py`, `test_injected.py`).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from parity_tests.outcome import SESSION_END
from tests.harness.mutants import apply_edit, copy_plugins
from tests.harness.porting_bugs import BUGS, IN_CI, KINDS, PortingBug, bug_named, reported_routes, run_bug


def test_porting_bugs_cover_the_kinds_on_both_plugins(tmp_path: Path) -> None:
    assert len(BUGS) >= 15
    assert len({bug.name for bug in BUGS}) == len(BUGS)
    kinds = Counter(bug.kind for bug in BUGS)
    assert set(kinds) == set(KINDS) and all(count >= 2 for count in kinds.values()), kinds
    assert {bug.feature for bug in BUGS} == {"papertrail", "blog"}
    plugins = copy_plugins(tmp_path / "plugins")
    for bug in BUGS:  # every anchor still occurs exactly once (apply_edit raises otherwise)
        apply_edit(plugins, bug.edit)


def test_reported_routes_reads_mismatches_and_end_state() -> None:
    report = {
        "cases": [
            {"mismatches": [{"method": "GET", "route": "/a"}], "endStateDifferences": [], "error": None},
            {"mismatches": [], "endStateDifferences": [{"pointer": "/state/x"}], "error": None},
            {"mismatches": [{"method": "POST", "route": "/b"}, {"method": "GET", "route": "/a"}]},
        ]
    }
    assert reported_routes(report) == (("*", SESSION_END), ("GET", "/a"), ("POST", "/b"))


def test_the_ci_share_covers_every_kind_on_both_plugins() -> None:
    chosen = [bug_named(name) for name in IN_CI]
    assert set(Counter(bug.kind for bug in chosen)) == set(KINDS)
    assert Counter(bug.feature for bug in chosen) == {"papertrail": 4, "blog": 4}


@pytest.mark.slow
@pytest.mark.parametrize("bug", [bug_named(name) for name in IN_CI], ids=list(IN_CI))
def test_porting_bug_is_caught_by_a_default_run(tmp_path: Path, bug: PortingBug) -> None:
    outcome = run_bug(bug, tmp_path)
    assert not outcome.errors, f"{bug.name}: the harness itself failed, so the run says nothing: {outcome.errors[0]}"
    routes = "\n".join(f"  {method} {route}" for method, route in outcome.reported) or "  none"
    assert outcome.exit_code == 1, f"{bug.name}: exit {outcome.exit_code}, needs {bug.needs}\n{outcome.output}"
    assert (bug.method, bug.route) in outcome.reported, (
        f"{bug.name} ({bug.kind}): no mismatch on {bug.method} {bug.route}; it needs {bug.needs}. "
        f"The run reported:\n{routes}"
    )
