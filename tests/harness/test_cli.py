"""`sv parity:run` end to end: reports, summary, exit code, evidence, and the switch gate reading that evidence."""

from __future__ import annotations

import json
import re
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import text

from exthost.cli import main
from exthost.deploy import upgrade_schema
from legacy_core.db import make_engine
from tests.fixtures.app import BUNDLED_PLUGINS

REPO = Path(__file__).resolve().parents[2]
RECORDINGS = REPO / "parity_tests" / "recordings"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """A migrated evidence database and the settings `sv` reads, with a small generated-case threshold."""
    database = tmp_path / "evidence.db"
    engine = make_engine(f"sqlite:///{database}")
    upgrade_schema(engine, BUNDLED_PLUGINS)
    engine.dispose()
    return {
        "DATABASE_URL": f"sqlite:///{database}",
        "DATA_DIR": str(tmp_path / "data"),
        "PLUGINS_DIR": str(REPO / "plugins"),
        "PLUGIN_ENTRY_POINTS": "false",
        "PARITY_GATE_MIN_GENERATED": "4",
        # Four generated cases reach a fraction of the legacy branches; the gate's coverage check has tests of its own.
        "PARITY_GATE_MIN_BRANCH_COVERAGE": "0",
    }


def run(env: dict[str, str], *args: str) -> object:
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def test_parity_run_writes_reports_records_evidence_and_opens_the_gate(env: dict[str, str], tmp_path: Path) -> None:
    refused = run(env, "flags:set", "papertrail", "plugin")
    assert refused.exit_code != 0 and "sv parity:run" in refused.output

    reports = tmp_path / "reports"
    result = run(
        env,
        "parity:run",
        "--feature",
        "papertrail",
        "--generated",
        "4",
        "--report-dir",
        str(reports),
        "--workspace",
        str(tmp_path / "ws"),
    )
    assert result.exit_code == 0, result.output
    assert "PASS" in result.output  # the Markdown summary is printed
    for name in ("junit.xml", "report.json", "summary.md", "report.html"):
        assert (reports / name).is_file()
    document = json.loads((reports / "report.json").read_text(encoding="utf-8"))
    kinds = [case["kind"] for case in document["cases"]]
    assert kinds.count("recorded") == len(list((RECORDINGS / "papertrail").glob("*.har")))
    assert kinds.count("generated") == 4
    suites = ET.parse(reports / "junit.xml").getroot()
    assert suites.get("failures") == "0"

    engine = make_engine(env["DATABASE_URL"])
    with engine.connect() as connection:
        row = connection.execute(text("SELECT recorded_matched, generated_cases, coverage FROM sv_parity_runs")).one()
    engine.dispose()
    assert tuple(row[:2]) == (kinds.count("recorded"), 4)
    # The run's branch coverage is kept beside its counts, as the report shows it.
    measured = json.loads(row[2])["legacy"]
    shown = document["coverage"]["papertrail"]["legacy"]
    assert measured["branches"] == shown["branches"] and len(measured["covered"]) == shown["coveredBranches"] > 0
    assert 'name="coverage.legacy.branches"' in (reports / "junit.xml").read_text(encoding="utf-8")

    allowed = run(env, "flags:set", "papertrail", "plugin", "--reason", "parity run passed")
    assert allowed.exit_code == 0, allowed.output


def test_parity_run_on_a_diverging_plugin_exits_1_and_names_the_route(env: dict[str, str], tmp_path: Path) -> None:
    plugins = tmp_path / "plugins"
    shutil.copytree(REPO / "plugins", plugins, ignore=shutil.ignore_patterns("__pycache__"))
    shapes = plugins / "papertrail" / "shapes.py"
    source = shapes.read_text(encoding="utf-8")
    anchor = '"body": row.body,'
    assert source.count(anchor) == 1, "the mutation's anchor moved; update this test"
    shapes.write_text(source.replace(anchor, '"body": row.body.upper(),'), encoding="utf-8")
    env = {**env, "PLUGINS_DIR": str(plugins)}

    reports = tmp_path / "reports"
    result = run(
        env,
        "parity:run",
        "--feature",
        "papertrail",
        "--generated",
        "0",
        "--report-dir",
        str(reports),
        "--workspace",
        str(tmp_path / "ws"),
    )
    assert result.exit_code == 1, result.output
    assert "FAIL" in result.output
    assert "/comments" in (reports / "summary.md").read_text(encoding="utf-8")
    assert run(env, "flags:set", "papertrail", "plugin").exit_code != 0


def test_parity_run_checks_the_report_folder_and_the_evidence_store_before_running(
    env: dict[str, str], tmp_path: Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("", encoding="utf-8")
    result = run(env, "parity:run", "--generated", "0", "--report-dir", str(blocker / "sub"))
    assert result.exit_code == 2 and "cannot hold the reports" in result.output and "Traceback" not in result.output

    unmigrated = {**env, "DATABASE_URL": f"sqlite:///{tmp_path / 'empty.db'}"}
    result = run(unmigrated, "parity:run", "--generated", "0", "--report-dir", str(tmp_path / "r"))
    assert result.exit_code == 1 and "sv migrate:deploy" in result.output
    assert not (tmp_path / "r" / "report.json").exists()  # refused before any case ran


def test_parity_run_refuses_recordings_that_hold_nothing_for_the_feature(env: dict[str, str], tmp_path: Path) -> None:
    result = run(
        env,
        "parity:run",
        "--feature",
        "blog",
        "--recordings",
        str(RECORDINGS / "papertrail"),
        "--generated",
        "0",
        "--report-dir",
        str(tmp_path / "r"),
        "--workspace",
        str(tmp_path / "ws"),
    )
    assert result.exit_code == 2 and "holds no recording of blog" in result.output


def test_parity_run_if_changed_reuses_the_evidence_of_unchanged_code(env: dict[str, str], tmp_path: Path) -> None:
    plugins = tmp_path / "plugins"
    shutil.copytree(REPO / "plugins", plugins, ignore=shutil.ignore_patterns("__pycache__"))
    env = {**env, "PLUGINS_DIR": str(plugins)}
    reports = tmp_path / "reports"
    args = ["parity:run", "--feature", "papertrail", "--generated", "4", "--report-dir", str(reports), "--if-changed"]

    def runs() -> int:
        engine = make_engine(env["DATABASE_URL"])
        with engine.connect() as connection:
            count = connection.execute(text("SELECT count(*) FROM sv_parity_runs")).scalar_one()
        engine.dispose()
        return int(count)

    first = run(env, *args)
    assert first.exit_code == 0 and "PASS" in first.output and runs() == 1, first.output
    # The summary's moment is in sv's one format for people.
    assert re.search(r"; started \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\.", first.output), first.output
    again = run(env, *args)
    assert again.exit_code == 0 and runs() == 1, again.output
    assert "papertrail: not run again" in again.output and "unchanged" in again.output and "PASS" not in again.output

    # Any change to the plugin's code is another fingerprint: the run happens.
    (plugins / "papertrail" / "shapes.py").write_text(
        (plugins / "papertrail" / "shapes.py").read_text(encoding="utf-8") + "\n# changed\n", encoding="utf-8"
    )
    changed = run(env, *args)
    assert changed.exit_code == 0 and "PASS" in changed.output and runs() == 2, changed.output

    refused = run(env, *args, "--no-evidence")
    assert refused.exit_code == 2 and "--if-changed" in refused.output
