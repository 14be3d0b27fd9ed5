"""Units of work of a parity run (a recording, or a share of a feature's generated cases), run in this process or
in a worker process alike."""

from __future__ import annotations

from collections.abc import Callable

from parity_tests.outcome import CaseResult
from parity_tests.pair import Pair
from parity_tests.recordings import RecordedSession, replay_session

# A recording to replay, a recording that could not be read, or a share of a feature's generated cases:
# (feature, how many, seed, number of its first case, which share, of how many shares).
Task = RecordedSession | CaseResult | tuple[str, int, int | None, int, int, int]


def task_failed(task: Task, why: str) -> CaseResult:
    """A case standing for a unit of work that could not run to its end (the harness failed, a worker died): it
    counts as a mismatch, so a broken run never reads as parity."""
    if isinstance(task, CaseResult):
        return task
    if isinstance(task, RecordedSession):
        return CaseResult(f"recorded:{task.name}", "recorded", task.feature, task.source, error=why)
    feature, count, _, first, _, _ = task
    source = f"generated cases {first}..{first + count - 1}"
    return CaseResult(f"generated:{feature}:{first}+", "generated", feature, source, error=why)


def run_task(
    pair: Pair,
    task: Task,
    on_case: Callable[[CaseResult], None],
    on_note: Callable[[str], None] | None = None,
) -> None:
    """Run one unit of work on `pair`, reporting each finished case (and, to `on_note`, how generation went)."""
    if isinstance(task, CaseResult):
        on_case(task)
    elif isinstance(task, RecordedSession):
        on_case(replay_session(pair, task))
    else:
        from parity_tests.generated import generate_cases  # schemathesis loads only when cases are generated

        feature, count, seed, first, share, shares = task
        generate_cases(
            pair,
            feature,
            count,
            seed=seed,
            on_case=on_case,
            on_note=on_note,
            number_from=first,
            share=(share, shares),
        )
