"""Parity cases spread over worker processes, each with a pair of its own (its own template, states and remote).

A worker builds its workspace from scratch (about a second): the template is deterministic (pinned clock and ids),
and a workspace's remote URL is stored in its template's rows, so templates are not shared between workspaces.
Results stream back as they finish; they are returned in the order of the tasks, each task's cases in order. A task
that raises, or whose worker dies, becomes a failed case naming why; the other tasks still run.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import queue
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from parity_tests.branch_coverage import CoverageUnavailable, measuring
from parity_tests.outcome import CaseResult
from parity_tests.tasks import run_task, task_failed

# How often the parent looks at its workers while waiting for results.
POLL_SECONDS = 1.0
STARTED, FINISHED, NOTE = "started", "finished", "note"


def _work(config: Any, root: Path, number: int, tasks: Any, results: Any, coverage_dir: Path | None) -> None:
    try:
        pair = config.build_pair(root)
    except Exception:
        results.put((-1, f"worker {number} could not build its pair: {traceback.format_exc(limit=3)}"))
        return
    try:
        with contextlib.ExitStack() as stack:
            if coverage_dir is not None and config.coverage:
                try:
                    stack.enter_context(measuring(pair, config.features, coverage_dir, f"worker{number}"))
                except CoverageUnavailable as exc:  # the cases still run; the run's coverage says it is partial
                    results.put((-1, f"worker {number} measures no coverage: {exc}"))
            _take_tasks(pair, tasks, results, number)
    finally:
        pair.close()


def _take_tasks(pair: Any, tasks: Any, results: Any, number: int) -> None:
    while True:
        item = tasks.get()
        if item is None:
            return
        index, task = item
        results.put((index, (STARTED, number)))

        def report(result: CaseResult, index: int = index) -> None:
            results.put((index, result))

        def note(text: str, index: int = index) -> None:
            results.put((index, (NOTE, text)))

        try:
            run_task(pair, task, report, note)
        except Exception as exc:
            results.put((index, task_failed(task, f"the harness failed: {type(exc).__name__}: {exc}")))
        results.put((index, (FINISHED, number)))


def run_in_workers(
    config: Any,
    tasks: Sequence[Any],
    root: Path,
    on_case: Callable[[CaseResult], None] | None = None,
    *,
    coverage_dir: Path | None = None,
    on_note: Callable[[str], None] | None = None,
) -> list[CaseResult]:
    """Run `tasks` on `config.jobs` worker processes under `root`; every case's result, in task order. With
    `coverage_dir` (and `config.coverage`), each worker measures branch coverage and saves its data there."""
    context = multiprocessing.get_context("spawn")  # a fresh interpreter: no inherited engines or threads
    inbox: Any = context.Queue()
    outbox: Any = context.Queue()
    for index, task in enumerate(tasks):
        inbox.put((index, task))
    workers = []
    for number in range(config.jobs):
        inbox.put(None)
        process = context.Process(
            target=_work,
            args=(config, root / f"worker{number}", number, inbox, outbox, coverage_dir),
            daemon=True,
        )
        process.start()
        workers.append(process)
    found: dict[int, list[CaseResult]] = {index: [] for index in range(len(tasks))}
    running: dict[int, int] = {}  # task index -> worker number
    done: set[int] = set()

    def finish(index: int, result: CaseResult | None = None) -> None:
        if result is not None:
            found[index].append(result)
            if on_case is not None:
                on_case(result)
        done.add(index)
        running.pop(index, None)

    problems: list[str] = []
    try:
        while len(done) < len(tasks):
            try:
                index, message = outbox.get(timeout=POLL_SECONDS)
            except queue.Empty:
                dead = {number for number, process in enumerate(workers) if not process.is_alive()}
                for index, number in list(running.items()):
                    if number in dead:  # the worker died inside this task
                        code = workers[number].exitcode
                        finish(index, task_failed(tasks[index], f"parity worker {number} died (exit code {code})"))
                if len(dead) == len(workers):  # nobody is left to take the tasks not started
                    why = "; ".join(problems) or "every parity worker exited"
                    for index in range(len(tasks)):
                        if index not in done:
                            finish(index, task_failed(tasks[index], why))
                continue
            if isinstance(message, str):
                problems.append(message)
            elif isinstance(message, tuple):
                state, detail = message
                if state == STARTED:
                    running[index] = detail
                elif state == NOTE:
                    if on_note is not None:
                        on_note(detail)
                else:
                    finish(index)
            else:
                found[index].append(message)
                if on_case is not None:
                    on_case(message)
    finally:
        inbox.cancel_join_thread()  # tasks a dead worker never took must not keep this process from exiting
        for process in workers:
            process.join(timeout=30)  # a worker saves its coverage data as it exits
            if process.is_alive():
                process.kill()
    return [result for index in sorted(found) for result in found[index]]
