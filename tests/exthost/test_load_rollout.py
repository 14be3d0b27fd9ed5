"""The load-and-fault test of the rollout (scripts/load_rollout.py --quick): gunicorn with 3 workers on PostgreSQL,
12 signed-in clients over loopback, the feature flipped through every mode, a worker and a shadow child killed.
The script checks the stored data and the counts itself and exits 1 when a check fails."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.postgres
@pytest.mark.slow
def test_load_rollout_quick_run_passes_every_check(postgres_url):
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "load_rollout.py"), "--quick", "--database-url", postgres_url],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "every canary fallback counted" in done.stdout
