"""What `sv parity:run` uses of the harness, found through the `sovereign.harness` entry point (pyproject.toml)."""

from __future__ import annotations

from parity_tests.harness import HarnessConfig, Plan, run_parity
from parity_tests.recordings import DEFAULT_RECORDINGS
from parity_tests.report import markdown_summary, write_reports

__all__ = ["DEFAULT_RECORDINGS", "HarnessConfig", "Plan", "markdown_summary", "run_parity", "write_reports"]
