"""The evidence record: code fingerprints, parity runs and shadow samples stored and summed per fingerprint."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from exthost.evidence.fingerprint import (
    DEFAULT_RECORDINGS_DIR,
    code_files,
    code_fingerprint,
    corpus_names,
    recordings_dir,
)
from exthost.evidence.gate import EvidenceError, evidence_for, record_parity_run
from exthost.platform import Platform
from exthost.rollout.results import ShadowResults
from legacy_core.app import build_services
from legacy_core.settings import Settings
from parity_tests.outcome import CaseResult, ParityRun
from tests.fixtures.app import TEST_ARGON2_KIB

ROOT = Path(__file__).resolve().parents[2]
COPY_IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc")


def copy_plugins(target: Path) -> Path:
    """The repository's plugins, copied to `target` (a test may change a byte of the copy)."""
    for name in ("papertrail", "blog"):
        shutil.copytree(ROOT / "plugins" / name, target / name, ignore=COPY_IGNORED)
    return target


def copy_legacy(target: Path) -> Path:
    """The legacy feature packages, page views and templates, copied to `target` (a stand-in legacy_core folder)."""
    for part in ("papertrail", "blog", "web", "templates"):
        shutil.copytree(ROOT / "legacy_core" / part, target / part, ignore=COPY_IGNORED)
    return target


def flip_one_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-2] = ord("x") if data[-2] != ord("x") else ord("y")
    path.write_bytes(bytes(data))


@pytest.fixture
def settings(settings_factory: Callable[..., Settings], tmp_path: Path) -> Settings:
    plugins = copy_plugins(tmp_path / "plugins-copy")
    return settings_factory(PLUGINS_DIR=plugins, PLUGIN_ENTRY_POINTS=False, PARITY_RECORDINGS_DIR=tmp_path / "rec")


def case(feature: str, kind: str, source: str, *, ok: bool = True) -> CaseResult:
    return CaseResult(f"{kind}:{source}", kind, feature, source, error=None if ok else "differs")  # type: ignore[arg-type]


def parity_run(cases: list[CaseResult], fingerprints: dict[str, str], *, sides: str = "legacy/plugin") -> ParityRun:
    return ParityRun(
        started_at="2026-11-26T10:00:00+00:00",
        finished_at="2026-11-26T10:05:00+00:00",
        sides=sides,
        features=tuple(sorted(fingerprints)),
        cases=tuple(cases),
        rules_file="parity_tests/noise_rules.toml",
        fingerprints=fingerprints,
    )


# --- the fingerprint ------------------------------------------------------------------------------------------------


def test_evidence_fingerprint_is_stable_and_ignores_droppings(settings: Settings) -> None:
    first = code_fingerprint("papertrail", settings)
    assert len(first) == 64 and first == code_fingerprint("papertrail", settings)
    folder = settings.PLUGINS_DIR / "papertrail"
    (folder / "__pycache__").mkdir(exist_ok=True)
    (folder / "__pycache__" / "plugin.cpython-311.pyc").write_bytes(b"\0compiled")
    (folder / ".plugin.py.swp").write_bytes(b"vim")
    (folder / "plugin.py~").write_bytes(b"emacs")
    (folder / "#plugin.py#").write_bytes(b"emacs autosave")
    (folder / ".DS_Store").write_bytes(b"finder")
    assert code_fingerprint("papertrail", settings) == first
    assert code_fingerprint("blog", settings) != first


@pytest.mark.parametrize(
    "relative",
    ["papertrail/plugin.py", "papertrail/plugin.json", "papertrail/templates/papertrail/board.html"],
    ids=["code", "manifest", "template"],
)
def test_evidence_fingerprint_changes_with_one_byte_of_the_plugin(settings: Settings, relative: str) -> None:
    before = {feature: code_fingerprint(feature, settings) for feature in ("papertrail", "blog")}
    flip_one_byte(settings.PLUGINS_DIR / relative)
    assert code_fingerprint("papertrail", settings) != before["papertrail"]
    assert code_fingerprint("blog", settings) == before["blog"]


def test_evidence_fingerprint_changes_when_a_plugin_file_is_added_or_renamed(settings: Settings) -> None:
    before = code_fingerprint("papertrail", settings)
    extra = settings.PLUGINS_DIR / "papertrail" / "extra.py"
    extra.write_text("X = 1\n", encoding="utf-8")
    added = code_fingerprint("papertrail", settings)
    extra.rename(extra.with_name("other.py"))
    assert len({before, added, code_fingerprint("papertrail", settings)}) == 3


@pytest.mark.parametrize(
    ("relative", "changes"),
    [
        ("papertrail/board.py", {"papertrail"}),
        ("templates/board.html", {"papertrail"}),
        ("blog/posts.py", {"blog"}),
        ("templates/editor.html", {"blog"}),
        ("templates/login.html", set()),
    ],
    ids=["papertrail-package", "papertrail-template", "blog-package", "blog-template", "core-template"],
)
def test_evidence_fingerprint_changes_with_one_byte_of_the_legacy_feature(
    settings: Settings, tmp_path: Path, relative: str, changes: set[str]
) -> None:
    legacy = copy_legacy(tmp_path / "legacy")
    before = {feature: code_fingerprint(feature, settings, legacy_dir=legacy) for feature in ("papertrail", "blog")}
    flip_one_byte(legacy / relative)
    after = {feature: code_fingerprint(feature, settings, legacy_dir=legacy) for feature in ("papertrail", "blog")}
    assert {feature for feature in before if before[feature] != after[feature]} == changes


def test_evidence_fingerprint_covers_only_the_feature_s_own_page_views(settings: Settings, tmp_path: Path) -> None:
    legacy = copy_legacy(tmp_path / "legacy")
    pages = legacy / "web" / "pages.py"
    before = {feature: code_fingerprint(feature, settings, legacy_dir=legacy) for feature in ("papertrail", "blog")}
    text = pages.read_text(encoding="utf-8")
    pages.write_text(text.replace('"login.html"', '"login.html" '), encoding="utf-8")  # a core page: no feature's
    assert {f: code_fingerprint(f, settings, legacy_dir=legacy) for f in before} == before
    pages.write_text(text.replace('render_template("board.html"', 'render_template("board.html" '), encoding="utf-8")
    assert code_fingerprint("papertrail", settings, legacy_dir=legacy) != before["papertrail"]
    assert code_fingerprint("blog", settings, legacy_dir=legacy) == before["blog"]


def test_evidence_fingerprint_covers_both_sides(settings: Settings) -> None:
    labels = [label for label, _ in code_files("papertrail", settings)]
    assert labels == sorted(labels)
    assert "legacy/papertrail/board.py" in labels and "legacy/templates/board.html" in labels
    assert "legacy/web/pages.py#board_page" in labels and "legacy/web/pages.py#blog_page" not in labels
    assert "plugin/papertrail/plugin.json" in labels and "plugin/papertrail/plugin.py" in labels
    assert not any(label.startswith("plugin/blog/") or "__pycache__" in label for label in labels)


def test_evidence_fingerprint_of_a_feature_without_a_plugin_covers_legacy_only(
    settings_factory: Callable[..., Settings], settings: Settings
) -> None:
    bare = settings_factory(PLUGIN_ENTRY_POINTS=False)
    assert not any(label.startswith("plugin/") for label, _ in code_files("papertrail", bare))
    assert code_fingerprint("papertrail", bare) != code_fingerprint("papertrail", settings)


def test_evidence_fingerprint_covers_distribution_plugins_without_importing_them(
    settings_factory: Callable[..., Settings], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib.metadata
    import sys

    package = tmp_path / "site" / "sv_test_extpkg"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("raise RuntimeError('plugin code ran')\n", encoding="utf-8")
    (package / "plugin.json").write_text('{"sovereign": {"feature": "blog"}}', encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    found = [importlib.metadata.EntryPoint("ext", "sv_test_extpkg:Plugin", "sovereign.plugins")]
    monkeypatch.setattr(importlib.metadata, "entry_points", lambda group: found if group == "sovereign.plugins" else [])
    with_entry_points = settings_factory(PLUGIN_ENTRY_POINTS=True)
    labels = [label for label, _ in code_files("blog", with_entry_points)]
    assert "plugin/sv_test_extpkg/plugin.json" in labels and "plugin/sv_test_extpkg/__init__.py" in labels
    without = settings_factory(PLUGIN_ENTRY_POINTS=False)
    assert code_files("papertrail", with_entry_points) == code_files("papertrail", without)
    assert not any(label.startswith("plugin/") for label, _ in code_files("blog", without))
    assert "sv_test_extpkg" not in sys.modules


# --- the corpus -----------------------------------------------------------------------------------------------------


def test_evidence_corpus_is_every_har_file_of_the_feature_folder(settings: Settings) -> None:
    root = settings.PARITY_RECORDINGS_DIR
    assert root is not None and recordings_dir(settings) == root
    assert corpus_names("papertrail", settings) == ()
    for relative in ("papertrail/b.har", "papertrail/sub/a.har", "papertrail/notes.txt", "blog/c.har"):
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text("{}", encoding="utf-8")
    digest = "#sha256:44136fa355b3678a"  # of "{}": a name carries its file's content digest
    assert corpus_names("papertrail", settings) == (f"papertrail/b.har{digest}", f"papertrail/sub/a.har{digest}")
    assert corpus_names("blog", settings) == (f"blog/c.har{digest}",)
    # The same name with other content is another recording: earlier evidence for it does not count.
    (root / "blog" / "c.har").write_text('{"log": {}}', encoding="utf-8")
    assert corpus_names("blog", settings) != (f"blog/c.har{digest}",)


def test_evidence_recordings_default_to_the_parity_tests_folder(settings_factory: Callable[..., Settings]) -> None:
    assert DEFAULT_RECORDINGS_DIR == ROOT / "parity_tests" / "recordings"
    assert recordings_dir(settings_factory()) == DEFAULT_RECORDINGS_DIR


# --- parity runs ----------------------------------------------------------------------------------------------------


def test_evidence_sums_only_the_runs_of_the_code_asked_for(settings: Settings) -> None:
    engine = build_services(settings, argon2_memory_kib=TEST_ARGON2_KIB).engine
    old, new = "a" * 64, "b" * 64
    record_parity_run(
        engine, parity_run([case("papertrail", "generated", f"g{n}") for n in range(7)], {"papertrail": old})
    )
    first = [case("papertrail", "recorded", "papertrail/one.har"), case("papertrail", "generated", "g1")]
    second = [
        case("papertrail", "recorded", "papertrail/two.har"),
        case("papertrail", "generated", "g2"),
        case("papertrail", "generated", "g3", ok=False),
        case("blog", "generated", "g4"),
    ]
    record_parity_run(engine, parity_run(first, {"papertrail": new}), report_dir="reports/1")
    ids = record_parity_run(engine, parity_run(second, {"papertrail": new, "blog": old}))
    assert len(ids) == 2
    # An A/A run is no evidence.
    assert record_parity_run(engine, parity_run(first, {"papertrail": new}, sides="legacy/legacy")) == []

    evidence = evidence_for(engine, "papertrail", new)
    assert evidence.runs == 2
    assert evidence.recordings_matched == {"papertrail/one.har", "papertrail/two.har"}
    assert (evidence.recorded_cases, evidence.recorded_matched) == (2, 2)
    assert (evidence.generated_cases, evidence.generated_matched) == (3, 2)
    assert evidence.mismatched_cases == 1 and evidence.mismatches == 1
    assert evidence.last_run is not None and evidence.last_run.isoformat() == "2026-11-26T10:05:00+00:00"
    assert evidence_for(engine, "papertrail", old).generated_cases == 7
    assert evidence_for(engine, "blog", old).generated_cases == 1
    assert evidence_for(engine, "blog", new).runs == 0 and evidence_for(engine, "blog", new).last_run is None
    engine.dispose()


def test_evidence_a_recording_matches_only_when_each_of_its_cases_did(settings: Settings) -> None:
    engine = build_services(settings, argon2_memory_kib=TEST_ARGON2_KIB).engine
    cases = [
        case("papertrail", "recorded", "/srv/recordings/papertrail/a.har"),
        case("papertrail", "recorded", "b.har"),
        case("papertrail", "recorded", "papertrail/c.har"),
        case("papertrail", "recorded", "papertrail/c.har", ok=False),
    ]
    corpus = {"papertrail": ["papertrail/a.har", "papertrail/b.har", "papertrail/c.har"]}
    record_parity_run(engine, parity_run(cases, {"papertrail": "c" * 64}), recordings=corpus)
    evidence = evidence_for(engine, "papertrail", "c" * 64)
    assert evidence.recordings_matched == {"papertrail/a.har", "papertrail/b.har"}
    engine.dispose()


def test_evidence_refuses_a_run_without_a_fingerprint(settings: Settings) -> None:
    engine = build_services(settings, argon2_memory_kib=TEST_ARGON2_KIB).engine
    run = parity_run([case("blog", "generated", "g")], {"papertrail": "d" * 64})
    with pytest.raises(EvidenceError, match=r"no code fingerprint for 'blog'.*code_fingerprint"):
        record_parity_run(engine, run)
    assert evidence_for(engine, "papertrail", "d" * 64).runs == 0  # nothing of the run was written
    engine.dispose()


# --- shadow samples -------------------------------------------------------------------------------------------------


def test_evidence_shadow_outcomes_count_for_the_code_in_place(settings: Settings) -> None:
    services = build_services(settings, argon2_memory_kib=TEST_ARGON2_KIB)
    code = code_fingerprint("papertrail", settings)
    route = "/api/projects/<project_id>/papertrail/board"
    for worker in range(2):  # two workers' deltas add up
        results = ShadowResults(services.session_factory, codes={"papertrail": code})
        results.count("papertrail", route, "GET", "shadow", "match", 3)
        results.count("papertrail", route, "POST", "shadow", "skipped:writes-outside-database")
        results.count("papertrail", route, "GET", "shadow", "skipped:state-moved")
        results.count("papertrail", route, "GET", "canary", "fallback:status-500")
        results.count("papertrail", route, "GET", "canary", "fallback:plugin-unavailable")
        results.count("blog", None, "GET", "shadow", "mismatch")  # no code given for blog: no evidence
        if worker:
            results.count("papertrail", route, "GET", "shadow", "mismatch")
        results.flush()
        assert results.flush_errors == 0
    evidence = evidence_for(services.engine, "papertrail", code)
    assert evidence.shadow == {
        "fallback:plugin-unavailable": 2,
        "fallback:status-500": 2,
        "match": 6,
        "mismatch": 1,
        "skipped": 4,
    }
    assert evidence.shadow_mismatches == 3 and evidence.mismatches == 3 and evidence.shadow_samples == 15
    assert evidence_for(services.engine, "papertrail", "0" * 64).shadow == {}
    assert evidence_for(services.engine, "blog", code).shadow == {}
    # The per-route counts are unchanged by the evidence.
    assert sum(row["count"] for row in results.counts() if row["feature"] == "blog") == 2
    services.engine.dispose()


def test_evidence_platform_fingerprints_its_code_at_start(
    settings: Settings, platform_factory: Callable[..., Platform]
) -> None:
    platform = platform_factory(settings)
    assert platform.results.codes == {
        "papertrail": code_fingerprint("papertrail", settings),
        "blog": code_fingerprint("blog", settings),
    }


@pytest.mark.postgres
def test_evidence_on_postgres_sums_runs_and_workers_samples(postgres_url: str, tmp_path: Path) -> None:
    from exthost.deploy import upgrade_schema
    from legacy_core.db import make_engine
    from tests.fixtures.app import BUNDLED_PLUGINS, make_settings

    engine = make_engine(postgres_url)
    upgrade_schema(engine, BUNDLED_PLUGINS)
    settings = make_settings(tmp_path, DATABASE_URL=postgres_url, PLUGIN_ENTRY_POINTS=False)
    services = build_services(settings, argon2_memory_kib=TEST_ARGON2_KIB)
    code = "e" * 64
    record_parity_run(engine, parity_run([case("blog", "recorded", "blog/a.har")], {"blog": code}))
    record_parity_run(engine, parity_run([case("blog", "generated", "g")], {"blog": code}))
    for _ in range(2):
        results = ShadowResults(services.session_factory, codes={"blog": code})
        results.count("blog", "/x", "GET", "shadow", "match", 2)
        results.count("blog", "/x", "GET", "shadow", "skipped:state-moved")
        results.flush()
        assert results.flush_errors == 0
    evidence = evidence_for(services.session_factory, "blog", code)
    assert (evidence.runs, evidence.recordings_matched, evidence.generated_cases) == (2, {"blog/a.har"}, 1)
    assert evidence.shadow == {"match": 4, "skipped": 2}
    services.engine.dispose()
    engine.dispose()


@pytest.mark.postgres
def test_evidence_on_postgres_flushes_a_writes_outside_database_skip(postgres_url: str, tmp_path: Path) -> None:
    from exthost.deploy import upgrade_schema
    from legacy_core.db import make_engine
    from tests.fixtures.app import BUNDLED_PLUGINS, make_settings

    engine = make_engine(postgres_url)
    upgrade_schema(engine, BUNDLED_PLUGINS)
    engine.dispose()
    services = build_services(make_settings(tmp_path, DATABASE_URL=postgres_url), argon2_memory_kib=TEST_ARGON2_KIB)
    results = ShadowResults(services.session_factory, codes={"blog": "e" * 64})
    results.count("blog", "/x", "POST", "shadow", "skipped:writes-outside-database")
    results.flush()
    services.engine.dispose()
    assert results.flush_errors == 0
