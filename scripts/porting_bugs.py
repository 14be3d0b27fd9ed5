"""Which realistic porting bugs a plain `sv parity:run` catches today (not a test; each bug is a whole run).

    .venv/bin/python scripts/porting_bugs.py [--jobs 2] [--only NAME ...] [--keep DIR]

For each bug of `tests/harness/porting_bugs.py`: copy the plugins, make the bug's edit, run
`sv parity:run --feature <feature> --no-evidence --jobs 1` with the default case count and seed on the copy, and
print bug / kind / route expected / caught? / routes the run reported / seconds. A bug is caught when the run exits 1
and reports a mismatch on the bug's (method, route). Bugs run in `--jobs` processes at once (the machine is shared:
keep it at 2 or less); each run is about 45 s.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import multiprocessing
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.harness.porting_bugs import BUGS, Outcome, PortingBug, bug_named, run_bug  # noqa: E402 (path first)


def _run_one(bug: PortingBug, workdir: str) -> Outcome:
    return run_bug(bug, Path(workdir))


def _short(route: str) -> str:
    return route.replace("/api/projects/<project_id>", "…")


def _row(outcome: Outcome) -> str:
    bug = outcome.bug
    reported = ", ".join(f"{method} {_short(route)}" for method, route in outcome.reported) or "-"
    if getattr(outcome, "errors", ()):  # the harness itself failed: neither caught nor missed
        verdict = "ERROR"
    elif outcome.caught:
        verdict = "CAUGHT"
    else:
        verdict = "missed" if outcome.exit_code in (0, 1) else f"exit {outcome.exit_code}"
    return (
        f"{bug.name:36} {bug.kind:18} {bug.method + ' ' + _short(bug.route):52} {verdict:7} "
        f"{outcome.seconds:6.0f}s  {reported}"
        + (f"\n{'':36} differences there: {', '.join(outcome.evidence[:6])}" if outcome.evidence else "")
        + (f"\n{'':36} harness error: {outcome.errors[0][:200]}" if getattr(outcome, "errors", ()) else "")
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1, help="Bugs run at once, each in its own process.")
    parser.add_argument("--only", action="append", default=[], help="Run only this bug (repeatable).")
    parser.add_argument("--keep", type=Path, default=None, help="Keep each run's copy and reports under this folder.")
    options = parser.parse_args()
    try:
        bugs = [bug_named(name) for name in options.only] if options.only else list(BUGS)
    except KeyError as exc:
        parser.error(str(exc.args[0]))
    root = options.keep or Path(tempfile.mkdtemp(prefix="sv-porting-bugs-"))
    print(f"{len(bugs)} bugs, {options.jobs} at a time; runs under {root}", flush=True)
    print(f"{'bug':36} {'kind':18} {'route expected':52} {'caught?':7} {'time':>7}  routes reported", flush=True)
    outcomes: dict[str, Outcome] = {}
    # A fresh interpreter per bug: each run loads its own copy of the plugins, and nothing leaks into the next.
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(options.jobs, mp_context=context, max_tasks_per_child=1) as pool:
        running = {pool.submit(_run_one, bug, str(root / bug.name)): bug for bug in bugs}
        for done in concurrent.futures.as_completed(running):
            outcome = done.result()
            outcomes[outcome.bug.name] = outcome
            print(_row(outcome), flush=True)
    caught = [bug.name for bug in bugs if outcomes[bug.name].caught]
    print(f"\ncaught {len(caught)} of {len(bugs)}; missed: {', '.join(b.name for b in bugs if b.name not in caught)}")
    print("what each missed bug needs:")
    for bug in bugs:
        if bug.name not in caught:
            print(f"  {bug.name}: {bug.needs}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
