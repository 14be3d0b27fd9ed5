"""The differential suites under pytest (`make test`) write their reports to a temporary folder, never to
`reports/parity/`, where `make demo` and `sv parity:run` keep theirs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_parity_suites_leave_the_demo_reports_alone(tmp_path: Path) -> None:
    demo_summary = REPO / "reports" / "parity" / "summary.md"
    before = demo_summary.read_bytes() if demo_summary.exists() else None
    env = {key: value for key, value in os.environ.items() if not key.startswith(("SV_PARITY_", "PYTEST_"))}
    env |= {"SV_PARITY_GENERATED": "12", "TMPDIR": str(tmp_path)}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--basetemp",
            str(tmp_path / "basetemp"),
            "parity_tests/test_generated_parity.py",
            "-k",
            "papertrail",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    written = sorted(tmp_path.glob("sv-parity-suites-*/summary.md"))
    assert len(written) == 1, done.stdout[-3000:]
    assert f"Reports: {written[0].parent}" in done.stdout
    assert (demo_summary.read_bytes() if demo_summary.exists() else None) == before
