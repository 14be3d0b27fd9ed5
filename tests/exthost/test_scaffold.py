"""`sv plugins:new NAME`: the skeleton it writes migrates, enables and serves over HTTP at once, its own test passes
under pytest, and a bad name or an existing folder is refused with a clear message, writing nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from exthost.cli import main
from exthost.scaffold import ScaffoldError, skeleton, write
from tests.exthost.test_cli_plugins import _env, _sv
from tests.exthost.test_serve import eventually, free_port, status_of


def new(directory: Path, *args: str):
    return CliRunner().invoke(main, ["plugins:new", *args, "--dir", str(directory)])


@pytest.mark.slow
def test_plugins_new_writes_a_plugin_that_serves_once_enabled_and_whose_test_passes(settings_factory, tmp_path):
    settings = settings_factory(PLUGIN_ENTRY_POINTS=False)
    result = new(settings.PLUGINS_DIR, "notes")
    assert result.exit_code == 0, result.output
    folder = settings.PLUGINS_DIR / "notes"
    assert f"created {folder}" in result.output
    assert sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()) == [
        "README.md",
        "migrations/0001_notes_items.py",
        "plugin.json",
        "plugin.py",
        "tests/test_notes.py",
    ]
    deployed = _sv(settings, "migrate:deploy")
    assert deployed.exit_code == 0 and "plugin notes: <empty> -> notes_0001" in deployed.output, deployed.output

    port = free_port()
    env = os.environ | _env(settings, PLUGIN_POLL_SECONDS="0.2")
    command = [sys.executable, "-c", "from exthost.cli import main; main()", "serve", "--port", str(port)]
    server = subprocess.Popen(command, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/api/notes/items"
    try:
        eventually(lambda: status_of(f"http://127.0.0.1:{port}/health") == 200)
        assert status_of(url) == 404  # registered, enabled for no tenant yet
        enabled = _sv(settings, "plugins:enable", "notes")
        assert enabled.exit_code == 0, enabled.output
        eventually(lambda: status_of(url) == 200, timeout=10)  # the running server, no restart
        with urllib.request.urlopen(url) as response:
            assert json.load(response) == {"items": [], "tenant": "tenant-0"}  # read from its migrated table
    finally:
        server.terminate()
        server.communicate(timeout=30)

    # The generated test, run as its author would: pytest on the plugin's tests folder, warnings as errors.
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "error", str(folder / "tests")],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout


def test_plugins_new_refuses_an_existing_folder_and_leaves_it_alone(tmp_path):
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "mine.txt").write_text("keep me")
    result = new(tmp_path, "notes")
    assert result.exit_code == 2
    assert f"'{tmp_path / 'notes'}' already exists" in result.output and "Traceback" not in result.output
    assert [p.name for p in (tmp_path / "notes").iterdir()] == ["mine.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes"]


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("My-Notes", "use 'my_notes'"),
        ("class", "must not be a Python keyword"),
        ("x", "must be 2-40 characters"),
        ("../escape", "must be 2-40 characters"),
        ("projects", "its mount /api/projects would cover legacy routes"),
    ],
    ids=["uppercase-dash", "keyword", "too-short", "path", "covers-core-routes"],
)
def test_plugins_new_refuses_a_bad_name_with_how_to_fix_and_writes_nothing(tmp_path, name, message):
    result = new(tmp_path / "plugins", name)
    assert result.exit_code == 2, result.output
    assert f"cannot make a plugin named {name!r}" in result.output and message in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "plugins").exists() or list((tmp_path / "plugins").iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) in ([], ["plugins"])


@given(name=st.one_of(st.text(max_size=45), st.from_regex(r"[a-z][a-z0-9_]{1,39}", fullmatch=True)))
@hypothesis_settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_scaffold_any_name_gives_a_loadable_manifest_or_a_refusal_that_writes_nothing(tmp_path, name):
    plugins = tmp_path / "plugins"
    try:
        made = skeleton(name)
    except ScaffoldError as exc:
        assert str(exc).startswith(f"cannot make a plugin named {name!r}")
        return
    manifest = json.loads(made.files["plugin.json"])
    assert manifest["name"] == name and manifest["mounts"] == {"api": f"/api/{name}"}
    if (plugins / name).exists():
        return
    folder = write(made, plugins)
    assert folder == plugins / name and (folder / "plugin.py").is_file()
    assert [p.name for p in plugins.iterdir() if p.name.startswith(".")] == []  # no staging folder left
