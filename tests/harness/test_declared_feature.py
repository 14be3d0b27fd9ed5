"""A feature declared, not wired: the test tree's notes feature (a legacy blueprint and a plugin, both outside the
project's packages) runs through `sv parity:run` with nothing in `parity_tests/` naming it."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from exthost.cli import main
from exthost.deploy import upgrade_schema
from exthost.errors import ManifestError
from exthost.manifest import load_manifest
from legacy_core.db import make_engine
from legacy_core.features import BUILT_IN, Feature, FeatureDeclarationError, FeatureSet, feature_set
from tests.fixtures.app import BUNDLED_PLUGINS
from tests.fixtures.notes_feature import NOTES, PLUGIN_SOURCE

REPO = Path(__file__).resolve().parents[2]
DECLARATION = "tests.fixtures.notes_feature:NOTES"
LIST_ROUTE = "/api/projects/<project_id>/notes"


def _env(tmp_path: Path, plugins: Path) -> dict[str, str]:
    database = tmp_path / "evidence.db"
    engine = make_engine(f"sqlite:///{database}")
    upgrade_schema(engine, BUNDLED_PLUGINS)
    engine.dispose()
    return {
        "DATABASE_URL": f"sqlite:///{database}",
        "DATA_DIR": str(tmp_path / "data"),
        "PLUGINS_DIR": str(plugins),
        "PLUGIN_ENTRY_POINTS": "false",
        "EXTRA_FEATURES": json.dumps([DECLARATION]),
        "PARITY_GATE_MIN_GENERATED": "4",
    }


def _plugins(root: Path, *, order: str = "created_at, id") -> Path:
    """A plugins folder holding only a copy of the notes plugin, its list ordered by `order`."""
    folder = root / "notes"
    shutil.copytree(PLUGIN_SOURCE, folder, ignore=shutil.ignore_patterns("__pycache__"))
    source = folder / "plugin.py"
    text = source.read_text(encoding="utf-8")
    assert "ORDER BY created_at, id" in text
    source.write_text(text.replace("ORDER BY created_at, id", f"ORDER BY {order}"), encoding="utf-8")
    return root


def _run(env: dict[str, str], tmp_path: Path, *extra: str) -> tuple[int, dict[str, object], str]:
    reports = tmp_path / "reports"
    result = CliRunner().invoke(
        main,
        [
            "parity:run",
            "--feature",
            "notes",
            "--generated",
            "30",
            "--seed",
            "7",
            "--report-dir",
            str(reports),
            "--workspace",
            str(tmp_path / "ws"),
            *extra,
        ],
        env=env,
        catch_exceptions=False,
    )
    return result.exit_code, json.loads((reports / "report.json").read_text(encoding="utf-8")), result.output


def test_declared_feature_runs_green_and_is_evidence_for_the_gate(tmp_path: Path) -> None:
    env = _env(tmp_path, _plugins(tmp_path / "plugins"))
    code, report, output = _run(env, tmp_path)
    assert code == 0, output
    cases = [case for case in report["cases"] if case["feature"] == "notes"]  # type: ignore[index]
    assert cases and all(case["match"] for case in cases), output
    # Every route of the feature was reached, with the seeded notes (the declaration's `parameters`).
    routes = {(exchange["method"], exchange["route"]) for case in cases for exchange in case["exchanges"]}
    for method, route in (("GET", LIST_ROUTE), ("POST", LIST_ROUTE), ("GET", LIST_ROUTE + "/<note_id>")):
        assert (method, route) in routes, sorted(routes)
    # Branch coverage measured the declared legacy package and the plugin; reading one note took both ways (a seeded
    # note found, through the declaration's `parameters`, and a missing one).
    measured = report["coverage"]["notes"]  # type: ignore[index]
    assert measured["legacy"]["coveredBranches"] > 0 and measured["plugin"]["coveredBranches"] > 0, measured
    read = next(
        route
        for route in measured["legacy"]["routes"]
        if (route["method"], route["route"]) == ("GET", LIST_ROUTE + "/<note_id>")
    )
    assert read["reachedBranches"] == 2, read

    status = CliRunner().invoke(main, ["phase:status", "--json"], env=env, catch_exceptions=False)
    assert status.exit_code == 0, status.output
    features = {entry["feature"]: entry for entry in json.loads(status.output)["features"]}
    assert features["notes"]["mode"] == "legacy"
    assert features["notes"]["evidence"]["generatedCases"] >= 4, features["notes"]


def test_declared_feature_catches_a_porting_bug(tmp_path: Path) -> None:
    env = _env(tmp_path, _plugins(tmp_path / "plugins", order="created_at DESC, id DESC"))
    code, report, output = _run(env, tmp_path, "--no-evidence")
    assert code == 1, output
    failing = [case for case in report["cases"] if not case["match"]]  # type: ignore[index]
    assert failing, output
    first = next(exchange for exchange in failing[0]["exchanges"] if not exchange["match"])
    assert (first["method"], first["route"]) == ("GET", LIST_ROUTE), first


def test_parity_tests_never_name_the_declared_feature() -> None:
    """What wiring the feature into the harness would have to name: its module, table, ids or routes."""
    wired = re.compile(r"notes_feature|nt_notes|note_?id|/notes\b|feature == [\"']notes[\"']")
    for path in (REPO / "parity_tests").rglob("*.py"):
        found = wired.search(path.read_text(encoding="utf-8"))
        assert found is None, f"{path} names the notes feature: {found.group(0)!r}"


def test_feature_declarations_are_checked_with_a_clear_error() -> None:
    with pytest.raises(FeatureDeclarationError, match="declared twice"):
        FeatureSet((*BUILT_IN, NOTES, NOTES))
    with pytest.raises(FeatureDeclarationError, match="lower-case"):
        FeatureSet((Feature(name="Notes!", package="x", paths="/x"),))
    with pytest.raises(FeatureDeclarationError, match="claimed by two features"):
        FeatureSet((*BUILT_IN, Feature(name="other", package="x", paths="/x", blueprints=("blog",))))
    with pytest.raises(FeatureDeclarationError, match="not a project type of the legacy app"):
        FeatureSet((Feature(name="other", package="x", paths="/x", project_type="wiki"),))
    with pytest.raises(FeatureDeclarationError, match="cannot import 'nowhere_at_all'"):
        feature_set(["nowhere_at_all:NOTES"])
    with pytest.raises(FeatureDeclarationError, match=r"not a legacy_core\.features\.Feature"):
        feature_set(["tests.fixtures.notes_feature:MAX_TEXT"])
    assert feature_set([DECLARATION]).names == ("papertrail", "blog", "notes")


def test_manifest_names_a_declared_feature_only_where_it_is_declared(tmp_path: Path) -> None:
    manifest = PLUGIN_SOURCE / "plugin.json"
    assert load_manifest(manifest, feature_set([DECLARATION]).names).sovereign.feature == "notes"
    with pytest.raises(ManifestError, match="unknown legacy feature, got 'notes'"):
        load_manifest(manifest)
