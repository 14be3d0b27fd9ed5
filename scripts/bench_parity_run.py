"""How long a default `sv parity:run` takes on this checkout against an earlier revision, side by side.

The earlier revision is checked out in a temporary git worktree; each round runs the default command (the bundled
recordings and 500 generated cases per feature, `--jobs 2`) once on each, in alternating order, each in a fresh
process with its own DATA_DIR and workspace, so that the machine's load falls on both alike. Prints every round's
seconds and the median ratio. This machine is shared: compare the ratio, not the seconds.

    .venv/bin/python scripts/bench_parity_run.py --baseline cd38743 --rounds 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _run(tree: Path, work: Path, extra: list[str]) -> float:
    """One default run on the checkout at `tree` (its own code first on the path), in seconds."""
    env = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
    env.update(
        PYTHONPATH=str(tree),
        DATA_DIR=str(work / "data"),
        DATABASE_URL=f"sqlite:///{work / 'evidence.db'}",
        PLUGINS_DIR=str(tree / "plugins"),
        PLUGIN_ENTRY_POINTS="false",
        PLUGIN_SIGNATURES="off",  # the working tree's plugins are unsigned
    )
    command = [sys.executable, "-c", "from exthost.cli import main; main()"]
    subprocess.run([*command, "migrate:deploy"], cwd=tree, env=env, check=True, capture_output=True)
    started = time.perf_counter()
    done = subprocess.run(
        [*command, "parity:run", "--no-evidence", "--report-dir", str(work / "reports"), *extra],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"the run on {tree} failed ({done.returncode}):\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    report = json.loads((work / "reports" / "report.json").read_text(encoding="utf-8"))
    for feature, found in sorted(report.get("coverage", {}).items()):
        shown = ", ".join(
            f"{side} {found[side]['coveredBranches']} of {found[side]['branches']} ({found[side]['percent']}%)"
            for side in ("legacy", "plugin")
        )
        print(f"  {feature} branches reached: {shown}", flush=True)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", required=True, help="Git revision to compare with.")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--feature", action="append", default=[], help="Only this feature (repeatable).")
    args = parser.parse_args()
    extra = [part for feature in args.feature for part in ("--feature", feature)]
    with tempfile.TemporaryDirectory(prefix="sv-bench-run-") as folder:
        root = Path(folder)
        baseline = root / "baseline"
        subprocess.run(["git", "worktree", "add", "--detach", str(baseline), args.baseline], cwd=REPO, check=True)
        try:
            times: dict[str, list[float]] = {"baseline": [], "current": []}
            for number in range(args.rounds):
                order = [("baseline", baseline), ("current", REPO)]
                if number % 2:
                    order.reverse()
                for label, tree in order:
                    seconds = _run(tree, root / f"{label}-{number}", extra)
                    times[label].append(seconds)
                    print(f"round {number + 1}: {label:8} {seconds:6.1f} s", flush=True)
            ratios = [current / base for current, base in zip(times["current"], times["baseline"], strict=True)]
            print(
                f"median: baseline {statistics.median(times['baseline']):.1f} s, current "
                f"{statistics.median(times['current']):.1f} s; current/baseline ratio {statistics.median(ratios):.2f} "
                f"(rounds: {', '.join(f'{ratio:.2f}' for ratio in ratios)})"
            )
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(baseline)], cwd=REPO, check=False)


if __name__ == "__main__":
    main()
