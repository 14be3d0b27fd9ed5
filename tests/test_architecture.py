"""Import rules of docs/architecture.md, checked by parsing every module, and start-up cost checked by importing."""

from __future__ import annotations

import ast
import importlib
import json
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PROJECT = ("legacy_core", "migrations", "exthost", "plugins", "parity_tests")

FORBIDDEN = {
    "legacy_core": ("exthost", "plugins", "parity_tests"),
    "migrations": ("exthost", "plugins", "parity_tests"),
    "plugins": ("legacy_core", "parity_tests"),
    "exthost": ("parity_tests",),
    "parity_tests": ("exthost.cli",),
}
# Of a forbidden-in-part package, the modules that stay importable: plugins reach the host only through the SDK.
ONLY = {"plugins": {"exthost": ("exthost.sdk",)}}
# What each concern of exthost may never reach, directly or through any module it imports (at run time, at any
# depth, imports inside functions included): the request path stays free of the CLI, the harness and the case
# generators; the evidence stays free of Flask, so the offline harness and the live runner share it unchanged.
NEVER_REACHES = {
    "exthost.rollout": ("exthost.cli", "parity_tests", "hypothesis", "schemathesis"),
    "exthost.evidence": ("flask", "exthost.rollout", "exthost.cli", "parity_tests", "hypothesis", "schemathesis"),
    # The admin page shares the CLI's rules through the modules below it, never by importing the CLI.
    "exthost.admin": ("exthost.cli", "parity_tests", "hypothesis", "schemathesis"),
    # Signature checks run before any plugin code, in the host and in `sv plugins:sign`: no web stack needed.
    "exthost.trust": ("flask", "sqlalchemy", "exthost.host", "exthost.rollout", "exthost.cli", "parity_tests"),
    "exthost": ("parity_tests",),
    "parity_tests": ("exthost.cli",),
}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(path: Path, root: Path = ROOT) -> set[str]:
    """Every module `path` imports at run time (inside functions too; `if TYPE_CHECKING:` blocks left out), with
    relative imports resolved; `from package import name` also counts `package.name`, which may be a module."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = _module_name(path, root)
    if path.name != "__init__.py":
        package = package.rpartition(".")[0]
    names: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return names


def project_modules(root: Path = ROOT) -> dict[str, Path]:
    found = {}
    for package in PROJECT:
        for path in sorted((root / package).rglob("*.py")):
            found[_module_name(path, root)] = path
    return found


def lazy_exports_of(path: Path) -> dict[str, str]:
    """A package `__init__`'s lazy re-exports (`lazy_exports(__name__, {name: module})`): name -> module."""
    found: dict[str, str] = {}
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "lazy_exports" and len(node.args) == 2:
            table = node.args[1]
            if isinstance(table, ast.Dict):
                for key, value in zip(table.keys, table.values, strict=True):
                    if isinstance(key, ast.Constant) and isinstance(value, ast.Constant):
                        found[str(key.value)] = str(value.value)
    return found


def import_graph(root: Path = ROOT) -> dict[str, set[str]]:
    """Module -> the modules importing it runs: its imports (project modules, or the top-level name of a third-party
    package) and the `__init__` of every package above each of them."""
    modules = project_modules(root)
    # `from package import Name` of a lazily re-exported name imports the module behind it on first use.
    lazy = {name: lazy_exports_of(path) for name, path in modules.items() if path.name == "__init__.py"}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        edges: set[str] = set()
        for imported in imported_modules(path, root):
            if imported.split(".")[0] not in PROJECT:
                edges.add(imported.split(".")[0])
                continue
            package, _, attribute = imported.rpartition(".")
            if attribute in lazy.get(package, {}):
                edges.add(lazy[package][attribute])
            parts = imported.split(".")
            edges.update(".".join(parts[:n]) for n in range(1, len(parts) + 1) if ".".join(parts[:n]) in modules)
        edges.discard(name)
        graph[name] = edges
    return graph


def reached(graph: dict[str, set[str]], start: Iterable[str]) -> dict[str, str]:
    """Every name reachable from `start`, each with the module that imports it (for the message)."""
    via: dict[str, str] = {}
    todo = list(start)
    seen = set(todo)
    while todo:
        module = todo.pop()
        for imported in graph.get(module, ()):
            if imported not in seen:
                seen.add(imported)
                via[imported] = module
                todo.append(imported)
    return via


def _chain(via: dict[str, str], name: str) -> str:
    chain = [name]
    while chain[-1] in via:
        chain.append(via[chain[-1]])
    return " <- ".join(chain)


def violations(package: str, root: Path = ROOT) -> list[str]:
    found = []
    for path in sorted((root / package).rglob("*.py")):
        for name in imported_modules(path, root):
            top = name.split(".")[0]
            allowed = ONLY.get(package, {}).get(top)
            if allowed is not None:
                # `from exthost.sdk import hookimpl` also yields "exthost.sdk.hookimpl": a name in an allowed module.
                if not any(name == module or name.startswith(module + ".") for module in allowed) and name != top:
                    found.append(f"{path.relative_to(root)} imports {name}")
            elif top in FORBIDDEN[package]:
                found.append(f"{path.relative_to(root)} imports {name}")
    return sorted(set(found))


def unreachable_violations(graph: dict[str, set[str]], concern: str, forbidden: Iterable[str]) -> list[str]:
    starts = [module for module in graph if module == concern or module.startswith(concern + ".")]
    via = reached(graph, starts)
    bad = []
    for name in sorted(via):
        for prefix in forbidden:
            if name == prefix or name.startswith(prefix + "."):
                bad.append(f"{concern} reaches {name}: {_chain(via, name)}")
    return bad


def cycles(graph: dict[str, set[str]], within: tuple[str, ...]) -> list[list[str]]:
    """The strongly connected components of more than one module among the modules under `within`."""
    nodes = [m for m in graph if m.split(".")[0] in within]
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for edge in graph[node]:
            if edge not in graph or edge.split(".")[0] not in within:
                continue
            if edge not in index:
                connect(edge)
                low[node] = min(low[node], low[edge])
            elif edge in on_stack:
                low[node] = min(low[node], index[edge])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in nodes:
        if node not in index:
            connect(node)
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_architecture_import_rules_hold(package):
    assert violations(package) == []


@pytest.mark.parametrize("concern", sorted(NEVER_REACHES))
def test_architecture_concern_never_reaches_what_it_must_not(concern):
    assert unreachable_violations(import_graph(), concern, NEVER_REACHES[concern]) == []


def test_architecture_no_import_cycles_between_modules():
    # Package __init__ modules that only re-export lazily import nothing at run time, so they close no cycle.
    assert cycles(import_graph(), ("exthost", "parity_tests", "plugins")) == []


def test_architecture_checker_catches_a_forbidden_import(tmp_path):
    (tmp_path / "plugins" / "bad").mkdir(parents=True)
    (tmp_path / "plugins" / "bad" / "handlers.py").write_text(
        "import json\nfrom legacy_core.models import Project\nfrom . import sibling\n"
        "from exthost.sdk import hookimpl\nfrom exthost.host import ExtensionHost\n"
    )
    assert violations("plugins", tmp_path) == [
        "plugins/bad/handlers.py imports exthost.host",
        "plugins/bad/handlers.py imports exthost.host.ExtensionHost",
        "plugins/bad/handlers.py imports legacy_core.models",
        "plugins/bad/handlers.py imports legacy_core.models.Project",
    ]


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    for package in PROJECT:
        (tmp_path / package).mkdir(exist_ok=True)
    return tmp_path


def test_architecture_checker_finds_an_indirect_reach_and_a_cycle_through_a_function_import(tmp_path):
    root = _tree(
        tmp_path,
        {
            "exthost/__init__.py": "",
            "exthost/evidence/__init__.py": "",
            "exthost/evidence/engine.py": "from exthost.helpers import tool\n",
            "exthost/helpers.py": "def tool():\n    from legacy_core.app import create\n",
            "legacy_core/__init__.py": "",
            "legacy_core/app.py": "import flask\n",
            "exthost/rollout/__init__.py": "",
            "exthost/rollout/router.py": "from exthost.rollout.child import run\n",
            "exthost/rollout/child.py": "def run():\n    from exthost.rollout.router import x\n",
            "exthost/typed.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import flask\n",
            "exthost/lazy/__init__.py": "__getattr__, __dir__ = lazy_exports(__name__, {'App': 'legacy_core.app'})\n",
            "exthost/uses_lazy.py": "from exthost.lazy import App\n",
        },
    )
    graph = import_graph(root)
    assert unreachable_violations(graph, "exthost.evidence", ("flask",)) == [
        "exthost.evidence reaches flask: flask <- legacy_core.app <- exthost.helpers <- exthost.evidence.engine"
    ]
    assert cycles(graph, ("exthost",)) == [["exthost.rollout.child", "exthost.rollout.router"]]
    assert "flask" not in graph["exthost.typed"]
    assert "legacy_core.app" in graph["exthost.uses_lazy"]  # importing a lazy re-export imports its module
    assert "legacy_core.app" not in graph["exthost.lazy"]  # the package itself imports nothing at import time


# What must not be imported just to start `sv`, list its commands or read one module (decided by importing, in a
# fresh interpreter: the start-up cost a user pays).
HEAVY = ("flask", "werkzeug", "sqlalchemy", "alembic", "pydantic", "hypothesis", "schemathesis", "rich", "parity_tests")


def loaded_after(code: str) -> set[str]:
    probe = f"import sys\n{code}\nimport json\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True, text=True, cwd=ROOT).stdout
    return {name.split(".")[0] for name in json.loads(out.splitlines()[-1])}


def test_architecture_sv_help_imports_no_heavy_library():
    loaded = loaded_after(
        "from click.testing import CliRunner\nfrom exthost.cli import main\n"
        "result = CliRunner().invoke(main, ['--help'])\nassert result.exit_code == 0 and 'flags:list' in result.output"
    )
    assert loaded & set(HEAVY) == set()


@pytest.mark.parametrize(
    "module",
    [
        "exthost.evidence.compare",
        "exthost.evidence.capture",
        "exthost.evidence.fingerprint",
        "exthost.evidence.gate",
        "exthost.evidence.recorder",
        "exthost.rollout.flags",
        "exthost.rollout.flagstore",
        "exthost.rollout.results",
    ],
)
def test_architecture_evidence_and_flag_modules_load_without_flask(module):
    assert "flask" not in loaded_after(f"import {module}")


def test_architecture_flags_list_command_loads_without_flask():
    assert "flask" not in loaded_after("import exthost.cli.flags")


def test_architecture_sv_help_lists_each_command_with_its_own_summary():
    from exthost.cli import COMMANDS, main

    for name, (module, attribute, summary) in COMMANDS.items():
        command = getattr(importlib.import_module(f"exthost.cli.{module}"), attribute)
        assert command.name == name
        assert command.get_short_help_str(limit=300) == summary, name
    assert main.list_commands(None) == sorted(COMMANDS)


@pytest.mark.parametrize("package", ["exthost", "exthost.evidence", "exthost.rollout", "legacy_core"])
def test_architecture_public_surface_is_sorted_and_exported(package):
    module = importlib.import_module(package)
    # Sorted as ruff sorts `__all__`: constants, then classes, then functions, each alphabetically.
    assert module.__all__ == sorted(module.__all__, key=lambda name: (not name.isupper(), not name[0].isupper(), name))
    for name in module.__all__:
        assert getattr(module, name) is not None
    submodules = {path.stem for path in Path(module.__file__).parent.glob("*.py")}
    # A re-exported name that is also a submodule's name would be shadowed once that submodule is imported.
    assert set(module.__all__) & submodules == set()
