"""Import rules of docs/architecture.md, checked by parsing every module."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

FORBIDDEN = {
    "legacy_core": ("exthost", "plugins", "parity_tests"),
    "migrations": ("exthost", "plugins", "parity_tests"),
    "plugins": ("legacy_core", "parity_tests"),
    "exthost": (),  # parity_tests only through ONLY below
}
# Of a forbidden-in-part package, the modules that stay importable: plugins reach the host only through the SDK;
# exthost's CLI registers the harness's command and imports nothing else of it.
ONLY = {"plugins": {"exthost": ("exthost.sdk",)}, "exthost": {"parity_tests": ("parity_tests.cli",)}}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def violations(package: str, root: Path = ROOT) -> list[str]:
    found = []
    for path in sorted((root / package).rglob("*.py")):
        for name in imported_modules(path):
            top = name.split(".")[0]
            allowed = ONLY.get(package, {}).get(top)
            if top in FORBIDDEN[package] or (allowed is not None and name not in allowed):
                found.append(f"{path.relative_to(root)} imports {name}")
    found.sort()
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_architecture_import_rules_hold(package):
    assert violations(package) == []


def test_architecture_checker_catches_a_forbidden_import(tmp_path):
    (tmp_path / "plugins" / "bad").mkdir(parents=True)
    (tmp_path / "plugins" / "bad" / "handlers.py").write_text(
        "import json\nfrom legacy_core.models import Project\nfrom . import sibling\n"
        "from exthost.sdk import hookimpl\nfrom exthost.host import ExtensionHost\n"
    )
    assert violations("plugins", tmp_path) == [
        "plugins/bad/handlers.py imports exthost.host",
        "plugins/bad/handlers.py imports legacy_core.models",
    ]


def test_legacy_core_public_surface_is_sorted_and_exported():
    import legacy_core

    assert legacy_core.__all__ == sorted(legacy_core.__all__)
    for name in legacy_core.__all__:
        assert hasattr(legacy_core, name)
