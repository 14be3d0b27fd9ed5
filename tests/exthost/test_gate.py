"""The switch gate: the pure decision, `sv flags:set F plugin|retired` refused on short evidence unless --force (which
is recorded), and `sv phase:status` showing where each feature stands."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from hypothesis import given
from hypothesis import strategies as st

from exthost.cli import main
from exthost.evidence.fingerprint import code_fingerprint, corpus_names
from exthost.evidence.gate import Evidence, Thresholds, evidence_for, gate, record_parity_run
from exthost.rollout.results import ShadowResults
from legacy_core.app import build_services
from legacy_core.settings import Settings
from tests.exthost.test_evidence import case, copy_plugins, flip_one_byte, parity_run
from tests.fixtures.app import TEST_ARGON2_KIB

BOARD = "/api/projects/<project_id>/papertrail/board"
RECORDINGS = ("papertrail/edit-board.har", "papertrail/view-board.har")
CODE = "c" * 64


def evidence(**fields: object) -> Evidence:
    return Evidence(feature="papertrail", code=CODE, **fields)  # type: ignore[arg-type]


# --- the pure decision ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("found", "corpus", "thresholds", "shortfalls"),
    [
        (
            evidence(recordings_matched=frozenset(RECORDINGS), generated_cases=500),
            RECORDINGS,
            Thresholds(),
            [],
        ),
        (
            evidence(recordings_matched=frozenset({"a.har", "c.har", "e.har"}), generated_cases=312),
            ("a.har", "b.har", "c.har", "d.har", "e.har"),
            Thresholds(),
            [
                "2 of 5 recorded sessions have not matched on this code: b.har, d.har",
                "312 generated cases, 500 needed",
            ],
        ),
        (
            evidence(generated_cases=600, mismatched_cases=1),
            (),
            Thresholds(),
            [
                "no recorded sessions in the corpus: at least one is needed, and every one must match",
                "1 mismatch since the last code change (1 parity case, 0 shadow samples)",
            ],
        ),
        (
            evidence(generated_cases=1, shadow={"mismatch": 2, "candidate_error": 1, "match": 40}),
            (),
            Thresholds(min_generated=1, all_recordings=False, max_mismatches=2),
            ["3 mismatches since the last code change (0 parity cases, 3 shadow samples), at most 2 allowed"],
        ),
        (
            evidence(shadow={"fallback:plugin-unavailable": 5, "skipped": 9, "match": 1}),
            ("x.har",),
            Thresholds(min_generated=0),
            ["1 of 1 recorded session has not matched on this code: x.har"],
        ),
        (
            evidence(shadow={"fallback:exception": 1, "canary_error": 1}),
            (),
            Thresholds(min_generated=0, all_recordings=False),
            ["2 mismatches since the last code change (0 parity cases, 2 shadow samples)"],
        ),
    ],
    ids=[
        "enough",
        "sessions-and-cases-short",
        "no-corpus-and-a-mismatch",
        "shadow-over-limit",
        "one-session",
        "canary",
    ],
)
def test_gate_lists_every_shortfall(
    found: Evidence, corpus: tuple[str, ...], thresholds: Thresholds, shortfalls: list[str]
) -> None:
    decision = gate(found, corpus, thresholds)
    assert list(decision.shortfalls) == shortfalls
    assert decision.ok == (not shortfalls)
    assert decision.verdict() == ("ready for plugin" if not shortfalls else "; ".join(shortfalls))


names = st.sets(st.sampled_from([f"papertrail/{n}.har" for n in range(6)]))


@given(
    corpus=names,
    matched=names,
    generated=st.integers(min_value=0, max_value=1000),
    mismatched=st.integers(min_value=0, max_value=5),
    shadow_mismatches=st.integers(min_value=0, max_value=5),
    shadow_matches=st.integers(min_value=0, max_value=50),
    min_generated=st.integers(min_value=0, max_value=1000),
    all_recordings=st.booleans(),
    max_mismatches=st.integers(min_value=0, max_value=6),
)
def test_gate_is_ok_exactly_when_all_three_conditions_hold(
    corpus: set[str],
    matched: set[str],
    generated: int,
    mismatched: int,
    shadow_mismatches: int,
    shadow_matches: int,
    min_generated: int,
    all_recordings: bool,
    max_mismatches: int,
) -> None:
    found = evidence(
        recordings_matched=frozenset(matched),
        generated_cases=generated,
        mismatched_cases=mismatched,
        shadow={"mismatch": shadow_mismatches, "match": shadow_matches},
    )
    thresholds = Thresholds(min_generated=min_generated, all_recordings=all_recordings, max_mismatches=max_mismatches)
    decision = gate(found, sorted(corpus), thresholds)
    conditions = [
        not all_recordings or (bool(corpus) and corpus <= matched),
        generated >= min_generated,
        mismatched + shadow_mismatches <= max_mismatches,
    ]
    assert decision.ok == all(conditions)
    assert len(decision.shortfalls) == conditions.count(False)  # one line per condition that fails


# --- `sv flags:set` and `sv phase:status` ---------------------------------------------------------------------------


@pytest.fixture
def settings(settings_factory: Callable[..., Settings], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings over copies of the plugins and a two-session corpus, and the `sv` environment pointing at them."""
    recordings = tmp_path / "recordings"
    for name in RECORDINGS:
        (recordings / name).parent.mkdir(parents=True, exist_ok=True)
        (recordings / name).write_text('{"log": {"entries": []}}', encoding="utf-8")
    settings = settings_factory(
        PLUGINS_DIR=copy_plugins(tmp_path / "plugins-copy"),
        PLUGIN_ENTRY_POINTS=False,
        PARITY_RECORDINGS_DIR=recordings,
    )
    for name in ("DATABASE_URL", "DATA_DIR", "PLUGINS_DIR", "PLUGIN_ENTRY_POINTS", "PARITY_RECORDINGS_DIR"):
        monkeypatch.setenv(name, str(getattr(settings, name)))
    return settings


def sv(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def history(feature: str = "papertrail") -> list[dict[str, object]]:
    listed = json.loads(sv("flags:list", "--json", "--history").output)
    return [change for change in listed["history"] if change["feature"] == feature]


def mode(feature: str = "papertrail") -> str:
    return next(str(f["mode"]) for f in json.loads(sv("flags:list", "--json").output) if f["feature"] == feature)


def record_enough(settings: Settings, code: str | None = None, generated: int = 500) -> None:
    """A parity run on the code in place: every recorded session and `generated` generated cases matched."""
    code = code or code_fingerprint("papertrail", settings)
    cases = [case("papertrail", "recorded", name) for name in corpus_names("papertrail", settings)]
    cases += [case("papertrail", "generated", f"generated:{n}") for n in range(generated)]
    engine = build_services(settings, argon2_memory_kib=TEST_ARGON2_KIB).engine
    # Every legacy branch reached, so whatever PARITY_GATE_MIN_BRANCH_COVERAGE is, coverage is not what is short.
    everything = _Measured(2, ["a.py:1>2", "a.py:1>3"])
    record_parity_run(
        engine,
        dataclasses.replace(parity_run(cases, {"papertrail": code}), coverage={"papertrail": everything}),  # type: ignore[dict-item]
        recordings={"papertrail": corpus_names("papertrail", settings)},
        report_dir="reports/run-1",
    )
    engine.dispose()


def test_gate_refuses_a_switch_without_evidence_and_leaves_the_flag(settings: Settings) -> None:
    result = sv("flags:set", "papertrail", "plugin", "--by", "alice")
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert "refusing to switch 'papertrail' to plugin" in result.output
    assert (
        "2 of 2 recorded sessions have not matched on this code: papertrail/edit-board.har, papertrail/view-board.har"
        in result.output
    )
    assert "0 generated cases, 500 needed" in result.output
    assert "sv parity:run --feature papertrail" in result.output and "--force" in result.output
    assert mode() == "legacy" and history() == []

    retired = sv("flags:set", "papertrail", "retired", "--route", BOARD)
    assert retired.exit_code == 1 and "refusing to switch 'papertrail' to retired" in retired.output
    # A bad route is a usage error before any gate.
    assert sv("flags:set", "papertrail", "plugin", "--route", "/nope").exit_code == 2


@pytest.mark.parametrize("target", ["legacy", "shadow", "canary"])
def test_gate_never_holds_back_legacy_shadow_or_canary(settings: Settings, target: str) -> None:
    result = sv("flags:set", "papertrail", target)
    assert result.exit_code == 0, result.output
    assert mode() == target and history()[0]["forced"] is False


def test_gate_lets_the_switch_through_on_enough_evidence(settings: Settings) -> None:
    record_enough(settings, generated=499)
    short = sv("flags:set", "papertrail", "plugin")
    assert short.exit_code == 1 and "499 generated cases, 500 needed" in short.output
    assert "recorded sessions have not matched" not in short.output
    record_enough(settings, generated=1)
    result = sv("flags:set", "papertrail", "plugin", "--reason", "evidence complete")
    assert result.exit_code == 0, result.output
    assert mode() == "plugin"
    [change] = history()
    assert change["forced"] is False and change["reason"] == "evidence complete"
    route = sv("flags:set", "papertrail", "retired", "--route", BOARD)
    assert route.exit_code == 0, route.output


def test_gate_force_switches_and_is_recorded(settings: Settings) -> None:
    result = sv("flags:set", "papertrail", "plugin", "--force", "--reason", "incident 42", "--by", "bob")
    assert result.exit_code == 0, result.output
    assert "forced past the evidence gate" in result.output
    assert mode() == "plugin"
    [change] = history()
    assert change["forced"] is True and change["changed_by"] == "bob"
    assert str(change["reason"]).startswith("incident 42; forced past the evidence gate: 2 of 2 recorded sessions")
    assert "0 generated cases, 500 needed" in str(change["reason"])
    table = sv("flags:list", "--history")
    assert table.exit_code == 0 and "FORCED" in table.output
    # Forcing a mode that is never gated forces nothing.
    assert sv("flags:set", "papertrail", "shadow", "--force").exit_code == 0
    assert history()[0]["forced"] is False


def test_gate_a_shadow_mismatch_on_the_code_in_place_blocks(settings: Settings) -> None:
    record_enough(settings)
    code = code_fingerprint("papertrail", settings)
    services = build_services(settings, argon2_memory_kib=TEST_ARGON2_KIB)
    results = ShadowResults(services.session_factory, codes={"papertrail": code})
    results.count("papertrail", BOARD, "GET", "shadow", "match", 20)
    results.count("papertrail", BOARD, "GET", "shadow", "mismatch")
    results.flush()
    # Shadow results gathered on other code say nothing about this code.
    other = ShadowResults(services.session_factory, codes={"papertrail": "0" * 64})
    other.count("papertrail", BOARD, "GET", "shadow", "candidate_error", 5)
    other.flush()
    services.engine.dispose()
    result = sv("flags:set", "papertrail", "plugin")
    assert result.exit_code == 1
    assert "1 mismatch since the last code change (0 parity cases, 1 shadow sample)" in result.output
    assert "generated cases" not in result.output and mode() == "legacy"


def test_gate_a_code_change_discards_the_old_evidence(settings: Settings) -> None:
    record_enough(settings)
    flip_one_byte(settings.PLUGINS_DIR / "papertrail" / "plugin.py")
    result = sv("flags:set", "papertrail", "plugin")
    assert result.exit_code == 1 and "0 generated cases, 500 needed" in result.output
    assert "2 of 2 recorded sessions have not matched" in result.output
    record_enough(settings)
    assert sv("flags:set", "papertrail", "plugin").exit_code == 0


def test_phase_status_shows_modes_evidence_and_verdicts(settings: Settings) -> None:
    record_enough(settings)
    code = code_fingerprint("papertrail", settings)
    services = build_services(settings, argon2_memory_kib=TEST_ARGON2_KIB)
    results = ShadowResults(services.session_factory, codes={"papertrail": code})
    results.count("papertrail", BOARD, "GET", "shadow", "match", 12)
    results.flush()
    services.engine.dispose()
    assert sv("flags:set", "papertrail", "canary", "--route", BOARD, "--percent", "5").exit_code == 0
    assert sv("flags:set", "blog", "plugin", "--force", "--reason", "demo").exit_code == 0

    status = sv("phase:status", "--json")
    assert status.exit_code == 0, status.output
    report = json.loads(status.output)
    assert report["recordingsDir"] == str(settings.PARITY_RECORDINGS_DIR)
    features = {f["feature"]: f for f in report["features"]}
    assert list(features) == ["papertrail", "blog"]
    papertrail = features["papertrail"]
    assert papertrail["mode"] == "legacy" and papertrail["routeFlags"] == [{"route": BOARD, "mode": "canary"}]
    corpus = list(corpus_names("papertrail", settings))  # the names carry each file's digest
    assert [name.split("#")[0] for name in corpus] == list(RECORDINGS)
    assert papertrail["code"] == code and papertrail["corpus"] == corpus
    found = papertrail["evidence"]
    assert found["recordingsMatched"] == corpus and found["generatedCases"] == 500
    assert found["shadow"] == {"match": 12} and found["mismatches"] == 0
    assert found["lastRun"] == "2026-11-26T10:05:00+00:00" and found["runs"] == 1
    assert papertrail["gate"] == {"ok": True, "shortfalls": []} and papertrail["verdict"] == "ready for plugin"
    assert papertrail["thresholds"] == {
        "minGenerated": 500,
        "allRecordings": True,
        "maxMismatches": 0,
        "minBranchCoverage": settings.PARITY_GATE_MIN_BRANCH_COVERAGE,
        "maxInconclusivePercent": settings.PARITY_GATE_MAX_INCONCLUSIVE_PERCENT,
    }
    blog = features["blog"]
    assert blog["mode"] == "plugin" and blog["code"] == code_fingerprint("blog", settings)
    assert blog["gate"]["ok"] is False and blog["evidence"]["lastRun"] is None
    assert blog["gate"]["shortfalls"] == [
        "no recorded sessions in the corpus: at least one is needed, and every one must match",
        "0 generated cases, 500 needed",
        "branch coverage of the legacy code not measured on this code (75% needed)",
    ]

    plain = sv("phase:status")
    assert plain.exit_code == 0, plain.output
    assert f"code: {code[:12]}" in plain.output and "mode: legacy (1 route flag)" in plain.output
    assert "recorded sessions: 2 of 2 matched" in plain.output and "shadow samples: match 12" in plain.output
    assert "gate: ready for plugin" in plain.output and "gate: not ready: no recorded sessions" in plain.output
    assert "last parity run: none on this code" in plain.output


def test_phase_status_on_an_unmigrated_database_says_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    result = sv("phase:status")
    assert result.exit_code == 1 and "sv migrate:deploy" in result.output and "Traceback" not in result.output


# --- branch coverage as evidence ------------------------------------------------------------------------------------


class _Measured:
    """A feature's coverage as `record_parity_run` reads it (`FeatureCoverage.evidence()`)."""

    def __init__(self, branches: int, covered: list[str], measure: str = "coverage 7; python 3.11"):
        self.branches, self.covered, self.measure = branches, covered, measure

    def evidence(self) -> dict[str, object]:
        return {
            "legacy": {"branches": self.branches, "covered": self.covered, "measure": self.measure},
            "plugin": {"branches": 4, "covered": [], "measure": self.measure},
        }


def test_gate_needs_the_branch_coverage_it_is_set_to() -> None:
    thresholds = Thresholds(min_generated=0, all_recordings=False, min_branch_coverage=90)
    assert gate(evidence(), (), thresholds).shortfalls == (
        "branch coverage of the legacy code not measured on this code (90% needed)",
    )
    short = evidence(coverage={"legacy": (200, 170), "plugin": (10, 10)})
    assert gate(short, (), thresholds).shortfalls == (
        "the parity cases reached 85.0% of the legacy code's branches (170 of 200), 90% needed",
    )
    assert gate(evidence(coverage={"legacy": (200, 180)}), (), thresholds).ok
    # 0 turns the check off, measured or not.
    assert gate(evidence(), (), Thresholds(min_generated=0, all_recordings=False)).ok


def test_evidence_unions_the_branches_each_run_reached(settings: Settings) -> None:
    code = code_fingerprint("papertrail", settings)
    engine = build_services(settings, argon2_memory_kib=TEST_ARGON2_KIB).engine
    for covered in (["a.py:1>2", "a.py:3>4"], ["a.py:3>4", "b.py:5>-1"]):
        run = dataclasses.replace(
            parity_run([case("papertrail", "generated", "g")], {"papertrail": code}),
            coverage={"papertrail": _Measured(10, covered)},  # type: ignore[dict-item]
        )
        record_parity_run(engine, run)
    # A run that did not measure coverage adds cases, not branches.
    record_parity_run(engine, parity_run([case("papertrail", "generated", "h")], {"papertrail": code}))
    found = evidence_for(engine, "papertrail", code)
    engine.dispose()
    assert found.coverage == {"legacy": (10, 3), "plugin": (4, 0)}
    assert found.branch_coverage("legacy") == 30.0 and found.branch_coverage("plugin") == 0.0
    assert found.generated_cases == 3
    assert found.to_json()["coverage"]["legacy"] == {"branches": 10, "coveredBranches": 3, "percent": 30.0}


def test_phase_status_shows_branch_coverage_and_the_gate_reads_it(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    code = code_fingerprint("papertrail", settings)
    record_enough(settings)
    engine = build_services(settings, argon2_memory_kib=TEST_ARGON2_KIB).engine
    run = dataclasses.replace(
        parity_run([case("papertrail", "generated", "g")], {"papertrail": code}),
        coverage={"papertrail": _Measured(8, ["a.py:1>2", "a.py:2>3", "a.py:4>5", "a.py:6>7", "a.py:8>9", "x:1>2"])},  # type: ignore[dict-item]
    )
    record_parity_run(engine, run)
    engine.dispose()
    # record_enough's run counted 2 branches: measured otherwise, it is not unioned with this one (6 of 8).
    monkeypatch.setenv("PARITY_GATE_MIN_BRANCH_COVERAGE", "80")
    status = sv("phase:status")
    assert "branch coverage: legacy 75.0% (6 of 8), plugin 0.0% (0 of 4) (needed: legacy 80%)" in status.output
    refused = sv("flags:set", "papertrail", "plugin")
    assert (
        refused.exit_code == 1 and "reached 75.0% of the legacy code's branches (6 of 8), 80% needed" in refused.output
    )
    monkeypatch.setenv("PARITY_GATE_MIN_BRANCH_COVERAGE", "75")
    assert sv("flags:set", "papertrail", "plugin").exit_code == 0


def test_evidence_unions_only_runs_measured_alike_and_never_passes_100(settings: Settings) -> None:
    code = code_fingerprint("papertrail", settings)
    engine = build_services(settings, argon2_memory_kib=TEST_ARGON2_KIB).engine
    runs = [
        ("2026-11-26T10:05:00+00:00", _Measured(4, ["a:1>2", "a:3>4", "a:5>6"], "coverage 7.1; python 3.11")),
        # The latest run: another coverage.py numbers the same code's arcs otherwise.
        ("2026-11-26T11:05:00+00:00", _Measured(4, ["a:9>10"], "coverage 7.2; python 3.12")),
    ]
    for finished, measured in runs:
        run = dataclasses.replace(
            parity_run([case("papertrail", "generated", "g")], {"papertrail": code}),
            finished_at=finished,
            coverage={"papertrail": measured},  # type: ignore[dict-item]
        )
        record_parity_run(engine, run)
    assert evidence_for(engine, "papertrail", code).coverage["legacy"] == (4, 1)
    # Alike, but more arcs than branches (a damaged record): capped at every branch.
    run = dataclasses.replace(
        parity_run([case("papertrail", "generated", "h")], {"papertrail": code}),
        finished_at="2026-11-26T12:05:00+00:00",
        coverage={
            "papertrail": _Measured(4, ["b:1>2", "b:2>3", "b:3>4", "b:4>5", "b:5>6"], "coverage 7.2; python 3.12")
        },  # type: ignore[dict-item]
    )
    record_parity_run(engine, run)
    found = evidence_for(engine, "papertrail", code)
    engine.dispose()
    assert found.coverage["legacy"] == (4, 4) and found.branch_coverage("legacy") == 100.0


# --- inconclusive replays ------------------------------------------------------------------------------------------


@given(
    matched=st.integers(min_value=0, max_value=12),
    unsure=st.integers(min_value=0, max_value=12),
    failed=st.integers(min_value=0, max_value=3),
    bound=st.sampled_from([0.0, 10.0, 25.0, 50.0, 100.0]),
)
def test_gate_counts_inconclusive_recordings_apart_and_bounds_their_share(
    matched: int, unsure: int, failed: int, bound: float
) -> None:
    names = [f"m{n}" for n in range(matched)] + [f"u{n}" for n in range(unsure)] + [f"f{n}" for n in range(failed)]
    found = evidence(
        recordings_matched=frozenset(name for name in names if name.startswith("m")),
        recordings_inconclusive=frozenset(name for name in names if name.startswith("u")),
    )
    thresholds = Thresholds(min_generated=0, max_inconclusive_percent=bound)
    decision = gate(found, names, thresholds)
    too_many = bool(names) and 100.0 * unsure / len(names) > bound
    assert decision.ok == (bool(names) and failed == 0 and not too_many)
    # An inconclusive recording is never reported as not matched: only the failed ones are.
    text = decision.verdict()
    assert ("not matched" in text) == (failed > 0)
    assert ("replayed inconclusively" in text) == too_many


def test_evidence_keeps_inconclusive_recordings_apart_until_one_matches(settings: Settings) -> None:
    code = code_fingerprint("papertrail", settings)
    engine = build_services(settings, argon2_memory_kib=TEST_ARGON2_KIB).engine
    unsure = dataclasses.replace(case("papertrail", "recorded", "live/a.har"), inconclusive="state moved")
    record_parity_run(engine, parity_run([unsure, case("papertrail", "recorded", "live/b.har")], {"papertrail": code}))
    first = evidence_for(engine, "papertrail", code)
    assert first.recordings_inconclusive == {"live/a.har"} and first.recordings_matched == {"live/b.har"}
    assert first.recorded_matched == 1 and first.mismatched_cases == 0
    # A later run where it matched: matched wins.
    record_parity_run(engine, parity_run([case("papertrail", "recorded", "live/a.har")], {"papertrail": code}))
    second = evidence_for(engine, "papertrail", code)
    engine.dispose()
    assert second.recordings_inconclusive == frozenset() and second.recordings_matched == {"live/a.har", "live/b.har"}
