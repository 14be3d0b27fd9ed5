"""Parity harness throughput, measured side by side in one run (not a test; this machine is shared and noisy).

    .venv/bin/python scripts/bench_parity.py [--quick] [--jobs 2] [--generated 100]

Prints, as medians over interleaved rounds:
- recorded GETs: compared request pairs per second through the harness (one process, and `--jobs` workers; the
  whole run, and once the first case finished), next to the same requests sent to each side alone (no comparison,
  no state check): their ratio is the harness's cost per request. Each harness figure is measured without and
  with branch coverage (`HarnessConfig(coverage=...)`): coverage.py's tracer slows both apps while they answer,
  and the whole run includes summing up the branch figures;
- state isolation: the time to reset both sides to the template before a case (database, files, remote), and
  its share of a typical recorded session;
- generated cases per second, per feature.
The targets: at least 500 compared pairs per second for recorded GETs on this 2-core machine, and the harness's
own cost at most a quarter of the two apps' (compared pairs/s at least 0.8 of "both sides").
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from exthost.evidence.compare import CapturedRequest, CapturedResponse  # noqa: E402
from exthost.evidence.har import har_document, har_entry  # noqa: E402
from parity_tests.branch_coverage import measuring  # noqa: E402
from parity_tests.harness import HarnessConfig, run_parity  # noqa: E402
from parity_tests.outcome import CaseResult  # noqa: E402
from parity_tests.pair import Pair, build_pair  # noqa: E402
from parity_tests.seed import Seed  # noqa: E402
from parity_tests.state import CASE_START  # noqa: E402


def get_paths(seed: Seed, feature: str) -> list[str]:
    """Reads of one feature's seeded data: the board, its items and page (PaperTrail, database only), or the post
    list, a post and the configuration (Blog, where listing runs git in both implementations)."""
    if feature == "blog":
        blog = f"/api/projects/{seed.projects['blog']['id']}"
        first = seed.projects["blog"]["files"][0]
        return [f"{blog}/blog/post/all", f"{blog}/blog/post/{first}", f"{blog}/configure"]
    project = seed.projects["papertrail"]
    board = f"/api/projects/{project['id']}/papertrail/board"
    return [
        board,
        f"{board}/{project['board_id']}/nodes",
        f"{board}/{project['board_id']}/nodes/claim",
        f"{board}/{project['board_id']}/edges",
        f"{board}/{project['board_id']}/comments",
        f"/projects/{project['id']}/board",
    ]


def write_get_sessions(folder: Path, seed: Seed, feature: str, sessions: int, per_session: int) -> int:
    """HAR files of signed-in sessions of GETs (a login, then `per_session` GETs); the number of GETs written."""
    paths = get_paths(seed, feature)
    login_body = json.dumps({"email": seed.email_of("alice"), "password": "[REDACTED]"}).encode()
    login = CapturedRequest("POST", "/login", headers=(("Content-Type", "application/json"),), body=login_body)
    for number in range(sessions):
        entries = [har_entry(login, CapturedResponse(200), started=CASE_START, time_ms=0.0)]
        for index in range(per_session):
            request = CapturedRequest("GET", paths[index % len(paths)])
            entries.append(har_entry(request, CapturedResponse(200), started=CASE_START, time_ms=0.0))
        (folder / feature).mkdir(parents=True, exist_ok=True)
        document = har_document(entries, creator_version="bench")
        (folder / feature / f"gets-{number:03d}.har").write_text(json.dumps(document), encoding="utf-8")
    return sessions * per_session


def harness_gets(
    workspace: Path, recordings: Path, feature: str, jobs: int, *, coverage: bool = True
) -> tuple[float, float, int]:
    """A run over the GET sessions: its seconds from the plan to the end of the run (worker processes build their
    pairs inside that time, and with `coverage` the branch figures are summed up in it), the rate from the first
    finished case to the last (the steady rate, start-up and summing up left out), and the GET pairs it compared."""
    marks: dict[str, float] = {}
    finished: list[tuple[float, int]] = []
    config = HarnessConfig(
        features=(feature,), recordings=recordings, workspace=workspace, jobs=jobs, coverage=coverage
    )

    def on_plan(plan: object) -> None:
        marks["start"] = time.perf_counter()

    def on_case(case: CaseResult) -> None:
        finished.append((time.perf_counter(), sum(1 for exchange in case.exchanges if exchange.method == "GET")))

    run = run_parity(config, on_plan=on_plan, on_case=on_case)
    seconds = time.perf_counter() - marks["start"]
    assert run.ok, [case.case_id for case in run.mismatched]
    gets = sum(count for _, count in finished)
    # From the end of the first case to the end of the last: the GETs of every case but the first.
    steady = (finished[-1][0] - finished[0][0], gets - finished[0][1])
    return seconds, steady[1] / steady[0] if steady[0] > 0 else float("nan"), gets


def sides_alone(pair: Pair, seed: Seed, feature: str, count: int, coverage: Path | None = None) -> tuple[float, float]:
    """Seconds for `count` GETs on the legacy side only, and on the plugin side only (no comparison, no state
    check): what the two implementations cost by themselves. With `coverage` (a folder for its data), each request
    runs under coverage.py's tracer as the harness's do when it measures branches, so that the harness's own cost
    can be told from the tracer's."""
    paths = get_paths(seed, feature)
    pair.start_case(user="alice")
    seconds = []
    with measuring(pair, (feature,), coverage, "bench") if coverage is not None else contextlib.nullcontext():
        for side in pair.sides:
            started = time.perf_counter()
            for index in range(count):
                request = CapturedRequest("GET", paths[index % len(paths)])
                if pair.meter is None:
                    side.call(request)
                    continue
                with pair.meter.request(side.name, "GET", request.path):
                    side.call(request)
            seconds.append(time.perf_counter() - started)
    return seconds[0], seconds[1]


def isolation(pair: Pair, rounds: int, *, after_writes: bool) -> float:
    """Median seconds of one reset of both sides: after a case that only read (the database is copied back), or
    after one that wrote a post to the blog's clone and remote and a node to the board (folders copied back too)."""
    times = []
    project = pair.seed.projects["papertrail"]
    json_type = (("Content-Type", "application/json"),)
    writes = [
        CapturedRequest(
            "POST",
            f"/api/projects/{pair.seed.projects['blog']['id']}/blog/post",
            headers=json_type,
            body=json.dumps({"title": "Bench", "body": "text"}).encode(),
        ),
        CapturedRequest(
            "POST",
            f"/api/projects/{pair.seed.projects['blog']['id']}/blog/post/bench.md",
        ),
        CapturedRequest(
            "POST",
            f"/api/projects/{project['id']}/papertrail/board/{project['board_id']}/nodes",
            headers=json_type,
            body=json.dumps({"id": "bench", "label": "Bench"}).encode(),
        ),
    ]
    pair.start_case(user="alice")
    for _ in range(rounds):
        if after_writes:
            for request in writes:
                pair.send(request, "blog")
        started = time.perf_counter()
        pair.start_case(user="alice")
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def generated_rate(workspace: Path, feature: str, count: int) -> float:
    marks: dict[str, float] = {}

    def on_plan(plan: object) -> None:
        marks["start"] = time.perf_counter()

    config = HarnessConfig(features=(feature,), recordings=None, generated=count, workspace=workspace)
    run = run_parity(config, on_plan=on_plan)
    return len(run.cases) / (time.perf_counter() - marks["start"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="Fewer rounds and requests.")
    parser.add_argument("--jobs", type=int, default=2, help="Worker processes for the parallel figure.")
    parser.add_argument("--generated", type=int, default=100, help="Generated cases per feature (0: skip).")
    args = parser.parse_args()
    # The harness builds its sides from the environment; the working tree's plugins are unsigned.
    os.environ.setdefault("PLUGIN_SIGNATURES", "off")
    rounds = 3 if args.quick else 5
    sessions, per_session = (4, 50) if args.quick else (10, 100)
    with tempfile.TemporaryDirectory(prefix="sv-bench-parity-") as scratch:
        root = Path(scratch)
        pair = build_pair(root / "single")
        seed = pair.seed
        for feature in ("papertrail", "blog"):
            recordings = root / f"recordings-{feature}"
            total = write_get_sessions(recordings, seed, feature, sessions, per_session)
            figures: dict[str, list[float]] = {}
            for number in range(rounds):  # interleaved, so drift in the machine's load hits every figure alike
                for measured in (False, True):
                    label = "coverage" if measured else "plain"
                    seconds, rate, gets = harness_gets(
                        root / f"serial-{label}-{feature}{number}", recordings, feature, 1, coverage=measured
                    )
                    figures.setdefault(f"one {label}", []).append(gets / seconds)
                    figures.setdefault(f"one steady {label}", []).append(rate)
                    seconds, rate, gets = harness_gets(
                        root / f"parallel-{label}-{feature}{number}", recordings, feature, args.jobs, coverage=measured
                    )
                    figures.setdefault(f"many {label}", []).append(gets / seconds)
                    figures.setdefault(f"many steady {label}", []).append(rate)
                legacy_seconds, plugin_seconds = sides_alone(pair, seed, feature, total)
                figures.setdefault("alone", []).append(total / legacy_seconds)
                figures.setdefault("both", []).append(total / (legacy_seconds + plugin_seconds))
                under = sides_alone(pair, seed, feature, total, coverage=root / f"alone-{feature}{number}")
                figures.setdefault("both coverage", []).append(total / sum(under))
                # Each round's own share, the harness beside the two apps alone measured just after it: the
                # machine's load drifts less within a round than across rounds.
                for label, both in (("plain", "both"), ("coverage", "both coverage")):
                    figures.setdefault(f"share {label}", []).append(
                        figures[f"one steady {label}"][-1] / figures[both][-1]
                    )
            median = {name: statistics.median(values) for name, values in figures.items()}
            pairs = median["both"]
            print(
                f"{feature}: recorded GETs, {sessions} sessions x {per_session} GETs + login, {rounds} rounds, medians:"
            )
            print(f"  legacy side alone                {median['alone']:8.0f} requests/s")
            print(f"  both sides, one after the other  {pairs:8.0f} request pairs/s (no comparison, no state check)")
            traced = median["both coverage"]
            slower = pairs / traced
            print(f"    the same under coverage.py     {traced:8.0f} request pairs/s (tracer: {slower:.2f}x slower)")
            print("  harness (compared pairs/s, share of both sides)   without coverage     with coverage")
            rows = (
                ("1 process, whole run", "one"),
                ("1 process, once started", "one steady"),
                (f"{args.jobs} workers, whole run", "many"),
                (f"{args.jobs} workers, once started", "many steady"),
            )
            for title, key in rows:
                plain, covered = median[f"{key} plain"], median[f"{key} coverage"]
                print(f"    {title:28} {plain:8.0f} ({plain / pairs:.2f})  {covered:14.0f} ({covered / traced:.2f})")
            print("  (with coverage, the share is of both sides under coverage.py too)")
            shares = median["share plain"], median["share coverage"]
            print(f"  share per round, 1 process once started: median {shares[0]:.2f} / {shares[1]:.2f}")
            best = max(median[f"{key} plain"] for _, key in rows)
            verdict = "met" if best >= 500 else f"NOT met (the two apps alone: {pairs:.0f} pairs/s in one process)"
            print(f"  target >= 500 compared pairs/s (without coverage): {verdict}")
            for share, label in zip(shares, ("without coverage", "with coverage"), strict=True):
                verdict = "met" if share >= 0.8 else "NOT met"
                print(f"  target >= 0.8 of both sides in 1 process, once started, {label}: {verdict}")
        count = 10 if args.quick else 30
        quiet, busy = isolation(pair, count, after_writes=False), isolation(pair, count, after_writes=True)
        pair.close()
        print("state isolation per case, both sides back to the template (medians):")
        print(f"  after a case that only read       {quiet * 1000:6.1f} ms")
        print(f"  after a case that wrote files     {busy * 1000:6.1f} ms  (blog post published, board node added)")
        if args.generated:
            for feature in ("papertrail", "blog"):
                rate = generated_rate(root / f"generated-{feature}", feature, args.generated)
                print(f"generated cases, {feature}: {rate:.1f} cases/s ({args.generated} cases, each from fresh state)")


if __name__ == "__main__":
    main()
