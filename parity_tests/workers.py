"""Parity cases spread over worker processes, each with a pair of its own (its own template, states and remote).

A worker builds its workspace from scratch (about a second): the template is deterministic (pinned clock and ids),
and a workspace's remote URL is stored in its template's rows, so templates are not shared between workspaces.
Results stream back as they finish; they are returned in the order of the tasks, each task's cases in order.
"""

from __future__ import annotations

import multiprocessing
import queue
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from parity_tests.outcome import CaseResult
from parity_tests.pair import build_pair

# A guard against a wedged worker, not a performance expectation: a case takes milliseconds.
HANG_GUARD_SECONDS = 600.0


def _work(config: Any, root: Path, tasks: Any, results: Any) -> None:
    from parity_tests.harness import run_task

    pair = build_pair(
        root,
        base=config.base,
        plugins_dir=config.plugins_dir,
        rules_file=config.rules_file,
        features=config.features,
        aa=config.aa,
    )
    try:
        while True:
            item = tasks.get()
            if item is None:
                return
            index, task = item

            def report(result: CaseResult, index: int = index) -> None:
                results.put((index, result))

            try:
                run_task(pair, task, report)
            except Exception:
                results.put((index, f"worker {root.name}: {traceback.format_exc()}"))
            results.put((index, None))
    finally:
        pair.close()


def run_in_workers(
    config: Any, tasks: Sequence[Any], root: Path, on_case: Callable[[CaseResult], None] | None = None
) -> list[CaseResult]:
    """Run `tasks` on `config.jobs` worker processes under `root`; every case's result, in task order."""
    context = multiprocessing.get_context("spawn")  # a fresh interpreter: no inherited engines or threads
    inbox: Any = context.Queue()
    outbox: Any = context.Queue()
    for index, task in enumerate(tasks):
        inbox.put((index, task))
    workers = []
    for number in range(config.jobs):
        inbox.put(None)
        process = context.Process(target=_work, args=(config, root / f"worker{number}", inbox, outbox), daemon=True)
        process.start()
        workers.append(process)
    found: dict[int, list[CaseResult]] = {index: [] for index in range(len(tasks))}
    pending = len(tasks)
    try:
        while pending:
            try:
                index, result = outbox.get(timeout=HANG_GUARD_SECONDS)
            except queue.Empty:
                raise RuntimeError(f"no parity worker answered for {HANG_GUARD_SECONDS:.0f} s") from None
            if result is None:
                pending -= 1
            elif isinstance(result, str):
                raise RuntimeError(result)
            else:
                found[index].append(result)
                if on_case is not None:
                    on_case(result)
            if pending and not any(process.is_alive() for process in workers) and outbox.empty():
                raise RuntimeError("every parity worker exited before the cases were done")
    finally:
        for process in workers:
            process.join(timeout=5)
            if process.is_alive():
                process.kill()
    return [result for index in sorted(found) for result in found[index]]
