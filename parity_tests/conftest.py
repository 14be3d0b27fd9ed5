"""The differential suites: one pair per session, every case's result collected, the reports written at the end.

Under pytest-xdist each worker process has its own pair and collects its own cases; it hands them to the controller
when it finishes (`workeroutput`), and only the controller writes the reports, over every worker's cases.

The reports go to SV_PARITY_REPORT_DIR, by default a fresh temporary folder (never `reports/parity`, where `make demo`
and `sv parity:run` keep theirs: a test run must not replace them); the Markdown summary and the folder are printed
at the end of the run, and the summary appended to $GITHUB_STEP_SUMMARY when CI provides one.
"""

from __future__ import annotations

import os
import pickle
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from parity_tests.harness import VERSION
from parity_tests.outcome import CaseResult, ParityRun
from parity_tests.pair import Pair, build_pair

# The working tree's plugins are unsigned; the production default (PLUGIN_SIGNATURES=enforce) would refuse them and
# every case would differ. The suites run them unchecked, as tests/conftest.py does for the unit tests.
os.environ["PLUGIN_SIGNATURES"] = "off"

ROOT = Path(__file__).resolve().parent.parent
RESULTS = pytest.StashKey[list[CaseResult]]()
STARTED = pytest.StashKey[str]()
SUMMARY = pytest.StashKey[str]()
# Generated cases per feature in the suites (`sv parity:run` makes 500 by default, what the switch gate asks for).
GENERATED = int(os.environ.get("SV_PARITY_GENERATED", "200"))


def report_dir() -> Path | None:
    """SV_PARITY_REPORT_DIR, or None: a temporary folder made when the reports are written."""
    chosen = os.environ.get("SV_PARITY_REPORT_DIR")
    return Path(chosen) if chosen else None


WORKER_RESULTS = "sv_parity_results"


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def pytest_configure(config: pytest.Config) -> None:
    config.stash[RESULTS] = []
    config.stash[STARTED] = datetime.now(UTC).isoformat(timespec="seconds")
    chosen = report_dir()
    if not _is_worker(config) and chosen is not None:
        # A summary left by an earlier session must not be taken (by .ci/run) for this session's.
        (chosen / "summary.md").unlink(missing_ok=True)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: object, error: object) -> None:
    """pytest-xdist, in the controller: a worker finished; its cases join the session's (pickled: plain bytes cross
    the channel, the results are frozen dataclasses of this package)."""
    output = getattr(node, "workeroutput", {})
    if WORKER_RESULTS in output:
        config: pytest.Config = node.config  # type: ignore[attr-defined]
        config.stash[RESULTS].extend(pickle.loads(output[WORKER_RESULTS]))


@pytest.fixture(scope="session")
def parity_pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    """Legacy against the repository's plugins, on a seeded template; each case resets it."""
    pair = build_pair(tmp_path_factory.mktemp("parity") / "workspace")
    yield pair
    pair.close()


@pytest.fixture
def parity_results(request: pytest.FixtureRequest) -> list[CaseResult]:
    """Where a differential test puts its cases' results, for the session's reports."""
    return request.config.stash[RESULTS]


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    results = session.config.stash.get(RESULTS, [])
    if _is_worker(session.config):
        session.config.workeroutput[WORKER_RESULTS] = pickle.dumps(results)  # type: ignore[attr-defined]
        return
    if not results:
        return
    from parity_tests.report import markdown_summary, write_reports

    features = tuple(sorted({case.feature for case in results}))
    run = ParityRun(
        started_at=session.config.stash[STARTED],
        finished_at=datetime.now(UTC).isoformat(timespec="seconds"),
        sides="legacy/plugin",
        features=features,
        cases=tuple(results),
        rules_file=str(ROOT / "parity_tests" / "noise_rules.toml"),
        version=VERSION,
        coverage_note="not measured by the pytest suites (sv parity:run measures it)",
    )
    directory = report_dir() or Path(tempfile.mkdtemp(prefix="sv-parity-suites-"))
    summary = markdown_summary(run)
    try:
        write_reports(run, directory)
    except OSError as exc:  # the tests' verdict stands; only the files are missing
        session.config.stash[SUMMARY] = f"{summary}\n\nThe reports could not be written to {directory}: {exc}\n"
        return
    session.config.stash[SUMMARY] = f"{summary}\n\nReports: {directory}\n"
    step_summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if step_summary:
        with open(step_summary, "a", encoding="utf-8") as handle:
            handle.write(summary + "\n")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    summary = terminalreporter.config.stash.get(SUMMARY, None)
    if summary:
        terminalreporter.section("parity summary")
        terminalreporter.write_line(summary)
