"""What `sv parity:run` and `sv parity:merge` use of the harness, found through the `sovereign.harness` entry point
(pyproject.toml)."""

from __future__ import annotations

from parity_tests.harness import HarnessConfig, Plan, run_parity
from parity_tests.merge import MergeError, merge_reports
from parity_tests.recordings import DEFAULT_RECORDINGS
from parity_tests.report import markdown_summary, write_reports

__all__ = [
    "DEFAULT_RECORDINGS",
    "HarnessConfig",
    "MergeError",
    "Plan",
    "markdown_summary",
    "merge_reports",
    "run_parity",
    "write_reports",
]
