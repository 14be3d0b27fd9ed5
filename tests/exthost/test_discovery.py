"""Plugin discovery: folders and installed distributions' entry points, name clashes, dependency order."""

from __future__ import annotations

import json
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from exthost.catalogue import ENTRY_POINT_GROUP
from exthost.host import INVALID, REGISTERED, ExtensionHost
from legacy_core import Settings
from tests.fixtures.plugins import HELLO_CODE, manifest_for, write_plugin

DISTRIBUTION = "acme-plugin"
PACKAGE = "acme_plugin"


def install_distribution(
    site: Path, entry_points: dict[str, str], *, packages: dict[str, dict[str, str]] | None = None
) -> None:
    """A distribution `acme-plugin 1.0` installed into `site`: its packages and a dist-info declaring entry points."""
    for package, files in (packages or {}).items():
        folder = site / package
        folder.mkdir(parents=True)
        for relative, content in files.items():
            (folder / relative).write_text(textwrap.dedent(content), encoding="utf-8")
    dist_info = site / f"{PACKAGE}-1.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {DISTRIBUTION}\nVersion: 1.0\n")
    lines = "".join(f"{name} = {target}\n" for name, target in entry_points.items())
    (dist_info / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\n{lines}")


def acme_package() -> dict[str, str]:
    return {
        "__init__.py": '"""The acme plugin, shipped as a distribution."""\n',
        "plugin.json": json.dumps(manifest_for("acme"), indent=2),
        "plugin.py": HELLO_CODE.replace("/api/hello", "/api/acme"),
    }


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A folder on sys.path standing in for site-packages; the packages imported from it are forgotten afterwards."""
    folder = tmp_path / "site-packages"
    folder.mkdir()
    monkeypatch.syspath_prepend(str(folder))  # also invalidates the import caches
    yield folder
    for name in [m for m in sys.modules if m.split(".")[0] in (PACKAGE, "empty_plugin")]:
        del sys.modules[name]


@pytest.fixture
def entry_point_settings(settings_factory: Callable[..., Settings]) -> Settings:
    return settings_factory(PLUGIN_ENTRY_POINTS=True)


def test_an_installed_distribution_is_discovered_through_its_entry_point(
    site, entry_point_settings, host_factory: Callable[..., ExtensionHost]
):
    install_distribution(site, {"acme": PACKAGE}, packages={PACKAGE: acme_package()})
    host = host_factory(entry_point_settings)
    record = host.get("acme")
    assert record.state == REGISTERED, record.reason
    assert record.source == f"distribution {DISTRIBUTION} (entry point 'acme')"
    assert record.folder == (site / PACKAGE).resolve()
    host.enable("acme")
    app = host.app_for("/api/acme/greet", "tenant-0")
    assert app is not None
    response = app.test_client().get("/api/acme/greet")
    assert response.status_code == 200
    assert response.get_json() == {"greeting": "hello", "tenant": "tenant-0"}


def test_entry_points_are_ignored_when_the_setting_is_off(site, settings_factory, host_factory):
    install_distribution(site, {"acme": PACKAGE}, packages={PACKAGE: acme_package()})
    host = host_factory(settings_factory(PLUGIN_ENTRY_POINTS=False))
    assert "acme" not in host.plugins


def test_an_entry_point_package_without_a_manifest_is_invalid(site, entry_point_settings, host_factory):
    install_distribution(
        site, {"empty": "empty_plugin"}, packages={"empty_plugin": {"__init__.py": '"""No manifest here."""\n'}}
    )
    record = host_factory(entry_point_settings).get("empty")
    assert record.state == INVALID
    assert record.reason is not None
    assert f"distribution {DISTRIBUTION} (entry point 'empty')" in record.reason
    assert "package 'empty_plugin' has no plugin.json" in record.reason


def test_an_entry_point_naming_a_missing_module_is_invalid(site, entry_point_settings, host_factory):
    install_distribution(site, {"ghost": "ghost_plugin_not_installed"})
    record = host_factory(entry_point_settings).get("ghost")
    assert record.state == INVALID
    assert record.reason is not None
    assert "cannot import 'ghost_plugin_not_installed'" in record.reason
    assert "ModuleNotFoundError" in record.reason


def test_a_distribution_reusing_a_folder_plugins_name_is_invalid(site, entry_point_settings, host_factory):
    folder = write_plugin(entry_point_settings.PLUGINS_DIR, "acme")
    install_distribution(site, {"acme": PACKAGE}, packages={PACKAGE: acme_package()})
    host = host_factory(entry_point_settings)
    assert host.get("acme").source == "folder"
    assert host.get("acme").state == REGISTERED
    [duplicate] = [record for name, record in host.plugins.items() if name != "acme"]
    assert duplicate.state == INVALID
    assert duplicate.source.startswith(f"distribution {DISTRIBUTION}")
    assert duplicate.reason is not None
    assert "name: 'acme' is already used by" in duplicate.reason
    assert str(folder / "plugin.json") in duplicate.reason
    assert str(site.resolve() / PACKAGE / "plugin.json") in duplicate.reason


def test_a_folder_whose_name_differs_from_the_manifest_name_is_invalid(settings_factory, host_factory):
    settings = settings_factory(PLUGIN_ENTRY_POINTS=False)
    write_plugin(settings.PLUGINS_DIR, "greeter", manifest=manifest_for("hello"))
    record = host_factory(settings).get("hello")
    assert record.state == INVALID
    assert record.reason is not None
    assert "name: 'hello' differs from its folder 'greeter'" in record.reason
    assert "rename the folder or the plugin" in record.reason


def _recording_code(log: Path, name: str) -> str:
    """Plugin code whose register hook appends the plugin's name to `log`."""
    return f"""
    from pathlib import Path

    from exthost.sdk import hookimpl


    class Plugin:
        @hookimpl
        def register(self, ctx):
            with Path({str(log)!r}).open("a", encoding="utf-8") as log:
                log.write({name!r} + "\\n")
    """


def test_plugins_load_in_dependency_order(tmp_path, settings_factory, host_factory):
    settings = settings_factory(PLUGIN_ENTRY_POINTS=False)
    log = tmp_path / "registered.txt"
    # Alphabetical order would be the wrong one: every plugin depends on the one after it.
    write_plugin(
        settings.PLUGINS_DIR,
        "alpha",
        _recording_code(log, "alpha"),
        manifest=manifest_for("alpha", requires={"hard": {"beta": "^1.0.0"}}),
    )
    write_plugin(
        settings.PLUGINS_DIR,
        "beta",
        _recording_code(log, "beta"),
        manifest=manifest_for("beta", requires={"soft": {"gamma": "^1.0.0"}}),
    )
    write_plugin(settings.PLUGINS_DIR, "gamma", _recording_code(log, "gamma"))
    host = host_factory(settings)
    assert log.read_text().splitlines() == ["gamma", "beta", "alpha"]
    assert all(record.state == REGISTERED for record in host.plugins.values())

    fresh = host_factory(settings, start=False)
    fresh.discover()
    assert fresh.validated_order() == ["gamma", "beta", "alpha"]


def test_an_absent_soft_dependency_does_not_block_but_an_absent_hard_one_does(settings_factory, host_factory):
    settings = settings_factory(PLUGIN_ENTRY_POINTS=False)
    write_plugin(settings.PLUGINS_DIR, "relaxed", manifest=manifest_for("relaxed", requires={"soft": {"extra": "*"}}))
    write_plugin(settings.PLUGINS_DIR, "strict", manifest=manifest_for("strict", requires={"hard": {"extra": "*"}}))
    host = host_factory(settings)
    assert host.get("relaxed").state == REGISTERED, host.get("relaxed").reason
    assert host.get("strict").state == INVALID
    assert "requires.hard.extra: no plugin 'extra' is installed" in (host.get("strict").reason or "")
