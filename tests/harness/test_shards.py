"""Sharded runs: `sv parity:run --shard i/n` splits a run deterministically, `sv parity:merge` puts the shards' reports
back together (every case once, coverage unioned) into one report set and one evidence record the gate reads."""

from __future__ import annotations

import dataclasses
import json
import random
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import text

from exthost.cli import main
from exthost.cli.settings import load_settings
from exthost.deploy import upgrade_schema
from exthost.evidence.gate import EvidenceError, assess, record_parity_run
from legacy_core.db import make_engine
from parity_tests.harness import HarnessConfig, open_pair, plan_of, plan_run, recording_key, run_cases, run_parity
from parity_tests.merge import MergeError, merge_reports
from parity_tests.outcome import CaseResult, ParityRun, Shard
from parity_tests.recordings import DEFAULT_RECORDINGS, RecordedSession
from parity_tests.report import html_report, json_report, junit_xml, markdown_summary, write_reports
from tests.fixtures.app import BUNDLED_PLUGINS
from tests.harness.test_coverage import _measured_run
from tests.harness.test_report import mismatched_run, state_and_error_run

REPO = Path(__file__).resolve().parents[2]
FEATURE = "papertrail"
GENERATED = 6


# --- the split, as plans: cheap, so hypothesis can try many -------------------------------------------------------


def recording(name: str, readable: bool) -> RecordedSession | CaseResult:
    if readable:
        return RecordedSession(name, FEATURE, Path(name), ())
    return CaseResult(f"recorded:{name}", "recorded", FEATURE, name, error="unreadable")


recordings_st = st.lists(
    st.tuples(st.text("abc/-._", min_size=1, max_size=6).map(lambda name: name + ".har"), st.booleans()),
    unique_by=lambda item: item[0],
    max_size=12,
)


@given(
    count=st.integers(1, 6),
    jobs=st.integers(1, 3),
    generated=st.integers(0, 40),
    found=recordings_st,
    seed=st.one_of(st.none(), st.integers(0, 1000)),
    order=st.randoms(use_true_random=False),
)
def test_shards_together_plan_exactly_the_unsharded_run_with_n_times_the_jobs(
    count: int, jobs: int, generated: int, found: list[tuple[str, bool]], seed: int | None, order: random.Random
) -> None:
    features = ("papertrail", "blog")
    made = [recording(name, readable) for name, readable in found]
    whole = plan_of(HarnessConfig(features=features, generated=generated, seed=seed, jobs=jobs * count), made)
    recorded: Counter[str] = Counter()
    shares: Counter[Any] = Counter()
    for index in range(1, count + 1):
        config = HarnessConfig(features=features, generated=generated, seed=seed, jobs=jobs, shard=(index, count))
        shuffled = list(made)
        order.shuffle(shuffled)  # the file system's order does not matter
        plan = plan_of(config, shuffled)
        assert plan == plan_of(config, made)  # the same shard always gets the same cases
        assert plan.shard is not None and (plan.shard.index, plan.shard.count) == (index, count)
        assert plan.shard.recordings == tuple(sorted(name for name, _ in found))
        assert plan.total == len(plan.recordings) + sum(size for _, size, *_ in plan.shares)
        recorded.update(recording_key(each) for each in plan.recordings)
        shares.update(plan.shares)
    # Every recording and every share of generated cases (with its seed and numbers) once, none missing.
    assert recorded == Counter(recording_key(each) for each in whole.recordings)
    assert shares == Counter(whole.shares)
    for feature in features:
        assert sum(size for name, size, *_ in shares if name == feature) == generated


def test_shards_spread_the_recordings_evenly_in_sorted_order() -> None:
    made = [recording(f"papertrail/{name}.har", True) for name in "dcbaegf"]
    config = HarnessConfig(features=(FEATURE,), jobs=1)
    names = [
        [each.name for each in plan_of(HarnessConfig(features=config.features, shard=(index, 3)), made).recordings]
        for index in (1, 2, 3)
    ]
    assert names == [
        ["papertrail/a.har", "papertrail/d.har", "papertrail/g.har"],
        ["papertrail/b.har", "papertrail/e.har"],
        ["papertrail/c.har", "papertrail/f.har"],
    ]


@pytest.mark.parametrize("shard", [(0, 2), (3, 2), (1, 0)], ids=["zero", "past-the-count", "no-shards"])
def test_harness_config_refuses_a_shard_that_does_not_exist(shard: tuple[int, int]) -> None:
    with pytest.raises(ValueError, match="numbered 1 to"):
        HarnessConfig(shard=shard)


# --- the command line -----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A migrated evidence database and the settings `sv` reads, with thresholds a small run can meet."""
    root = tmp_path_factory.mktemp("env")
    database = root / "evidence.db"
    engine = make_engine(f"sqlite:///{database}")
    upgrade_schema(engine, BUNDLED_PLUGINS)
    engine.dispose()
    return {
        "DATABASE_URL": f"sqlite:///{database}",
        "DATA_DIR": str(root / "data"),
        "PLUGINS_DIR": str(REPO / "plugins"),
        "PLUGIN_ENTRY_POINTS": "false",
        "PARITY_GATE_MIN_GENERATED": str(GENERATED),
        "PARITY_GATE_MIN_BRANCH_COVERAGE": "0",
    }


def sv(env: dict[str, str], *args: str) -> Result:
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


@pytest.mark.parametrize("value", ["0/2", "3/2", "a/b", "1/0", "2", "-1/2"])
def test_parity_run_refuses_a_shard_that_is_not_i_of_n(env: dict[str, str], tmp_path: Path, value: str) -> None:
    result = sv(env, "parity:run", "--shard", value, "--report-dir", str(tmp_path / "r"))
    assert result.exit_code == 2, result.output
    assert "--shard" in result.output and repr(value) in result.output and "Traceback" not in result.output
    assert not (tmp_path / "r" / "report.json").exists()


def rows(env: dict[str, str]) -> list[Any]:
    engine = make_engine(env["DATABASE_URL"])
    try:
        with engine.connect() as connection:
            return list(
                connection.execute(
                    text("SELECT feature, recorded_matched, generated_cases, report_dir FROM sv_parity_runs")
                )
            )
    finally:
        engine.dispose()


def shard_args(folder: Path, shard: str) -> list[str]:
    return [
        "parity:run",
        "--feature",
        FEATURE,
        "--generated",
        str(GENERATED),
        "--jobs",
        "1",
        "--no-coverage",
        "--shard",
        shard,
        "--report-dir",
        str(folder),
    ]


@pytest.fixture(scope="module")
def shards(env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """The report folders of the two shards of one small run (bundled recordings, GENERATED cases, one process)."""
    root = tmp_path_factory.mktemp("shards")
    folders = [root / "shard-1", root / "shard-2"]
    for index, folder in enumerate(folders, start=1):
        result = sv(env, *shard_args(folder, f"{index}/2"))
        assert result.exit_code == 0, result.output
        assert f"shard {index}/2: not added to the evidence record" in result.output
    return folders


def document(folder: Path) -> dict[str, Any]:
    return dict(json.loads((folder / "report.json").read_text(encoding="utf-8")))


def test_a_shard_run_says_which_shard_it_is_and_adds_no_evidence(env: dict[str, str], shards: list[Path]) -> None:
    first, second = document(shards[0]), document(shards[1])
    assert (first["shard"]["index"], first["shard"]["count"]) == (1, 2)
    assert (second["shard"]["index"], second["shard"]["count"]) == (2, 2)
    assert first["shard"]["seed"] == 0 and first["shard"]["generated"] == GENERATED and first["shard"]["shares"] == 2
    assert first["shard"]["rulesDigest"].startswith("sha256:")
    assert "Shard 1 of 2 of a sharded run" in (shards[0] / "summary.md").read_text(encoding="utf-8")
    corpus = sorted(
        path.relative_to(DEFAULT_RECORDINGS).as_posix() for path in (DEFAULT_RECORDINGS / FEATURE).glob("*.har")
    )
    assert first["shard"]["recordings"] == corpus
    # Each shard ran half of the recordings and one of the two shares of generated cases, no case in both.
    ids = [{case["id"] for case in each["cases"]} for each in (first, second)]
    assert ids[0] and ids[1] and not ids[0] & ids[1]
    assert sum(case["kind"] == "recorded" for each in (first, second) for case in each["cases"]) == len(corpus)
    assert not {row.report_dir for row in rows(env)} & {str(folder) for folder in shards}


def test_merge_makes_the_run_the_shards_make_together_as_one_unsharded_run(shards: list[Path], tmp_path: Path) -> None:
    merged = merge_reports(shards)
    # The same cases, in the same order, as one unsharded run with 2 shares (--jobs 2) of the same seed makes;
    # its tasks are run in this process, which makes the same cases as its two workers would.
    config = HarnessConfig(
        features=(FEATURE,), recordings=DEFAULT_RECORDINGS, generated=GENERATED, jobs=2, coverage=False
    )
    with open_pair(HarnessConfig(features=(FEATURE,), workspace=tmp_path)) as pair:
        whole = run_cases(config, pair, plan_run(config, pair))
    assert [(case.case_id, case.source) for case in merged.cases] == [(case.case_id, case.source) for case in whole]
    assert merged.shard is None and merged.merged_from == tuple(str(folder) for folder in shards)
    assert merged.ok and merged.coverage == {} and merged.coverage_note == "not measured (--no-coverage)"
    # Notes are kept, each prefixed by its shard.
    notes = [note for folder in shards for note in document(folder)["notes"]]
    assert len(merged.notes) == len(notes) and all(
        note.startswith(("shard 1/2: ", "shard 2/2: ")) for note in merged.notes
    )


def test_parity_merge_writes_one_report_set_and_one_evidence_record_the_gate_reads(
    env: dict[str, str], shards: list[Path], tmp_path: Path
) -> None:
    assert sv(env, "flags:set", FEATURE, "plugin").exit_code != 0  # the shards alone are no evidence
    out = tmp_path / "merged"

    result = sv(env, "parity:merge", *map(str, shards), "--report-dir", str(out))

    assert result.exit_code == 0, result.output
    assert "PASS" in result.output
    for name in ("junit.xml", "report.json", "summary.md", "report.html"):
        assert (out / name).is_file()
    merged = document(out)
    assert merged["shard"] is None and merged["mergedFrom"] == [str(folder) for folder in shards]
    assert "Merged from 2 shard runs" in (out / "summary.md").read_text(encoding="utf-8")
    assert sum(case["kind"] == "generated" for case in merged["cases"]) == GENERATED
    assert 'tests="' + str(len(merged["cases"])) + '"' in (out / "junit.xml").read_text(encoding="utf-8")
    recorded = sum(case["kind"] == "recorded" for case in merged["cases"])
    assert [tuple(row) for row in rows(env)] == [(FEATURE, recorded, GENERATED, str(out))]
    # The gate reads the merged record as it reads an unsharded run's: every recording matched, enough cases.
    settings = load_settings(**env)
    engine = make_engine(env["DATABASE_URL"])
    try:
        found = assess(engine, FEATURE, settings)
    finally:
        engine.dispose()
    assert found.decision.ok, found.decision.shortfalls
    assert found.evidence.runs == 1 and found.evidence.recordings_matched == frozenset(found.corpus)
    assert found.evidence.generated_cases == GENERATED
    allowed = sv(env, "flags:set", FEATURE, "plugin", "--reason", "sharded parity run passed")
    assert allowed.exit_code == 0, allowed.output


def test_merge_of_a_mismatching_shard_exits_1_with_no_evidence(
    env: dict[str, str], shards: list[Path], tmp_path: Path
) -> None:
    broken = tmp_path / "shard-2"
    shutil.copytree(shards[1], broken)
    data = document(broken)
    data["cases"][0]["error"] = "the harness failed: injected"
    (broken / "report.json").write_text(json.dumps(data), encoding="utf-8")
    before = rows(env)

    result = sv(env, "parity:merge", str(shards[0]), str(broken), "--report-dir", str(tmp_path / "m"), "--no-evidence")

    assert result.exit_code == 1, result.output
    assert "FAIL" in result.output and data["cases"][0]["id"] in (tmp_path / "m" / "summary.md").read_text("utf-8")
    assert rows(env) == before


# --- refusals -------------------------------------------------------------------------------------------------------


def _set(path: str, value: Any) -> Any:
    def change(data: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target = data
        for part in parents:
            target = target[part]
        target[last] = value

    return change


REFUSALS = {
    "fingerprint": (_set("fingerprints.papertrail", "sha256:other"), "'fingerprints'"),
    "seed": (_set("shard.seed", 7), "'shard.seed'"),
    "features": (_set("features", ["blog", "papertrail"]), "'features'"),
    "sides": (_set("sides", "legacy/legacy"), "'sides'"),
    "rules": (_set("shard.rulesDigest", "sha256:0"), "'shard.rulesDigest'"),
    "generated": (_set("shard.generated", 500), "'shard.generated'"),
    "shard-count": (_set("shard.count", 3), "'shard.count'"),
    "jobs": (_set("shard.shares", 4), "same --jobs"),
    "recordings": (_set("shard.recordings", ["papertrail/other.har"]), "'shard.recordings'"),
    "recorded-bytes": (_set("shard.inputsDigest", "sha256:0"), "same recordings from the same snapshots"),
    "not-a-shard": (_set("shard", None), "is not a shard report"),
    "no-such-shard": (_set("shard.index", 3), "'shard.index' is 3, not 1 to 2"),
}


@pytest.mark.parametrize("name", list(REFUSALS))
def test_merge_refuses_reports_that_are_not_shards_of_one_run(
    env: dict[str, str], shards: list[Path], tmp_path: Path, name: str
) -> None:
    change, message = REFUSALS[name]
    odd = tmp_path / "odd-shard-2"
    shutil.copytree(shards[1], odd)
    data = document(odd)
    change(data)
    (odd / "report.json").write_text(json.dumps(data), encoding="utf-8")

    result = sv(env, "parity:merge", str(shards[0]), str(odd), "--report-dir", str(tmp_path / "m"), "--no-evidence")

    assert result.exit_code == 2, result.output
    assert message in result.output and str(odd) in result.output and "Traceback" not in result.output
    assert not (tmp_path / "m" / "report.json").exists()


def test_merge_refuses_a_shard_given_twice_and_names_the_missing_ones(shards: list[Path], tmp_path: Path) -> None:
    with pytest.raises(MergeError, match=r"shard 1/2 given twice: .*shard-1.*shard-1"):
        merge_reports([shards[0], shards[0], shards[1]])
    with pytest.raises(MergeError, match=r"1 of 2 shards missing: 2/2"):
        merge_reports([shards[0]])
    with pytest.raises(MergeError, match=r"holds no report.json"):
        merge_reports([shards[0], tmp_path])


def test_merge_refuses_to_write_over_a_shards_reports(env: dict[str, str], shards: list[Path]) -> None:
    result = sv(env, "parity:merge", *map(str, shards), "--report-dir", str(shards[0]), "--no-evidence")
    assert result.exit_code == 2 and "would replace that shard's" in result.output


def test_a_shard_run_cannot_be_recorded_as_evidence_by_itself(env: dict[str, str], shards: list[Path]) -> None:
    run = ParityRun.from_json(document(shards[0]))
    engine = make_engine(env["DATABASE_URL"])
    try:
        with pytest.raises(EvidenceError, match="shard 1/2 of a sharded run"):
            record_parity_run(engine, run)
    finally:
        engine.dispose()


# --- report.json reads back -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make_run", [mismatched_run, state_and_error_run, _measured_run], ids=["exchanges", "state-error", "coverage"]
)
def test_report_json_reads_back_into_the_same_run_and_the_same_reports(make_run: Any) -> None:
    run = make_run()
    run = dataclasses.replace(run, shard=Shard(1, 2, 0, 10, 4, ("a.har",), "sha256:x"))

    back = ParityRun.from_json(json.loads(json_report(run)))

    assert json_report(back) == json_report(run)
    assert junit_xml(back) == junit_xml(run)
    assert markdown_summary(back) == markdown_summary(run)
    assert html_report(back) == html_report(run)


# --- coverage: the union of the shards' arcs ------------------------------------------------------------------------


def test_merged_coverage_is_the_union_of_the_shards_arcs_and_what_one_run_reaches(tmp_path: Path) -> None:
    def run(name: str, shard: tuple[int, int] | None) -> ParityRun:
        config = HarnessConfig(
            features=(FEATURE,), recordings=DEFAULT_RECORDINGS, workspace=tmp_path / name, shard=shard
        )
        return run_parity(config)

    parts = [run(f"shard-{index}", (index, 2)) for index in (1, 2)]
    for index, part in enumerate(parts, start=1):
        write_reports(part, tmp_path / f"reports-{index}")
    merged = merge_reports([tmp_path / "reports-1", tmp_path / "reports-2"])
    whole = run("whole", None)

    for side in ("legacy", "plugin"):
        arcs = [part.coverage[FEATURE].side(side).covered_arcs for part in parts]
        found = merged.coverage[FEATURE].side(side)
        assert found.covered_arcs == arcs[0] | arcs[1]
        assert found.covered > max(len(arcs[0]), len(arcs[1]))  # a union, not the best shard
        # The same figures, file by file and route by route, as the one unsharded run over the same recordings.
        expected = whole.coverage[FEATURE].side(side)
        assert found.covered_arcs == expected.covered_arcs
        assert [(file.path, file.covered, file.covered_statements, file.missing_lines) for file in found.files] == [
            (file.path, file.covered, file.covered_statements, file.missing_lines) for file in expected.files
        ]
        assert [(route.route, route.reached, route.handler_covered) for route in found.routes] == [
            (route.route, route.reached, route.handler_covered) for route in expected.routes
        ]
    assert merged.coverage[FEATURE].evidence()["legacy"]["covered"] == sorted(
        whole.coverage[FEATURE].legacy.covered_arcs
    )


def test_a_shard_with_no_case_of_a_small_run_passes_and_merges(env: dict[str, str], tmp_path: Path) -> None:
    one = sorted((DEFAULT_RECORDINGS / FEATURE).glob("*.har"))[0]
    folders = [tmp_path / "1", tmp_path / "2"]
    for index, folder in enumerate(folders, start=1):
        args = ["--recordings", str(one), "--generated", "0", "--no-coverage", "--feature", FEATURE]
        result = sv(env, "parity:run", *args, "--shard", f"{index}/2", "--report-dir", str(folder))
        # Shard 2 gets nothing of one recording: not "holds no recording", not a failed run of nothing.
        assert result.exit_code == 0, result.output
    assert [len(document(folder)["cases"]) for folder in folders] == [1, 0]

    result = sv(env, "parity:merge", *map(str, folders), "--report-dir", str(tmp_path / "m"), "--no-evidence")

    assert result.exit_code == 0, result.output
    assert [case["source"].split("#")[0] for case in document(tmp_path / "m")["cases"]] == [one.name]


def test_the_inputs_digest_follows_each_recordings_bytes_and_snapshot(tmp_path: Path) -> None:
    """What merge compares beyond the recordings' names: the same names with other bytes, or replayed from another
    snapshot, make another digest; the same inputs the same one."""
    from datetime import UTC, datetime

    from exthost.evidence.snapshot import Snapshot
    from parity_tests.harness import inputs_digest
    from parity_tests.recordings import RecordedSession

    def session(digest: str, snapshot: Snapshot | None = None) -> RecordedSession:
        name = "papertrail/live.har"
        return RecordedSession(name, FEATURE, tmp_path / name, (), f"{name}#{digest}", True, None, None, snapshot)

    monday = Snapshot(tmp_path / "snap", datetime(2026, 12, 7, tzinfo=UTC), {}, {})
    tuesday = Snapshot(tmp_path / "snap", datetime(2026, 12, 8, tzinfo=UTC), {}, {})
    plain = inputs_digest([session("aaa", monday)])
    assert plain == inputs_digest([session("aaa", monday)])
    assert plain != inputs_digest([session("bbb", monday)])
    assert plain != inputs_digest([session("aaa", tuesday)])
    assert plain != inputs_digest([session("aaa")])
