"""The docs against the code.

docs/plugin-sdk.md: hooks, context attributes, manifest fields, states, commands, settings, examples and the
/diagnostics keys. README.md: the plugin settings and the `sv` commands. docs/architecture.md: the exthost modules.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import Any, get_args, get_origin

import click
import pytest
from pydantic import BaseModel

from exthost.cli import main
from exthost.errors import ManifestError
from exthost.hookspecs import HOOK_NAMES
from exthost.host import REGISTERED, STATES
from exthost.manifest import Manifest, parse_manifest, unwrap_annotation
from legacy_core.settings import Settings
from tests.fixtures.plugins import write_plugin

ROOT = Path(__file__).resolve().parents[2]
DOC_PATH = ROOT / "docs" / "plugin-sdk.md"
DOC = DOC_PATH.read_text(encoding="utf-8")
README = (ROOT / "README.md").read_text(encoding="utf-8")
ARCHITECTURE = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
# PLUGINS_DIR and every PLUGIN_* setting: the settings a plugin author or operator of plugins touches.
PLUGIN_SETTINGS = sorted(name for name in Settings.model_fields if name.startswith("PLUGIN"))


def fenced_block(title: str) -> str:
    """The fenced block whose info string is `<language> title=<title>` (the doc's convention for tested examples)."""
    found = re.findall(rf"^```[\w-]* title={re.escape(title)}\n(.*?)^```$", DOC, flags=re.M | re.S)
    assert len(found) == 1, f"docs/plugin-sdk.md needs exactly one block titled {title!r}, found {len(found)}"
    return str(found[0])


def section(heading: str, text: str = DOC) -> str:
    """The text of the `## <heading>` section (of docs/plugin-sdk.md by default), up to the next `## ` heading."""
    match = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^## |\Z)", text, flags=re.M | re.S)
    assert match is not None, f"no '## {heading}' section"
    return match.group(1)


def first_column(text: str) -> list[str]:
    """The backticked first cell of every table row in `text`."""
    return re.findall(r"^\| `([^`]+)` \|", text, flags=re.M)


def field_paths(model: type[BaseModel], prefix: str = "") -> set[str]:
    """Every leaf field of a manifest model: `sovereign.entry`, `capabilities[].grant`, `config.<KEY>.type`."""

    def is_model(annotation: Any) -> bool:
        return isinstance(annotation, type) and issubclass(annotation, BaseModel)

    paths: set[str] = set()
    for name, field in model.model_fields.items():
        annotation = unwrap_annotation(field.annotation)
        origin = get_origin(annotation)
        item = unwrap_annotation(get_args(annotation)[-1]) if origin in (list, dict) else None
        if is_model(annotation):
            paths |= field_paths(annotation, f"{prefix}{name}.")
        elif origin is list and is_model(item):
            paths |= field_paths(item, f"{prefix}{name}[].")
        elif origin is dict and is_model(item):
            paths |= field_paths(item, f"{prefix}{name}.<KEY>.")
        else:
            paths.add(f"{prefix}{name}")
    return paths


def test_docs_every_hook_has_a_heading_and_every_heading_is_a_hook():
    headings = re.findall(r"^### `([^`]+)`\s*$", DOC, flags=re.M)
    assert sorted(headings) == sorted(HOOK_NAMES)


def test_docs_the_context_table_lists_exactly_the_public_attributes_of_a_real_context(settings_factory, host_factory):
    settings = settings_factory(PLUGIN_ENTRY_POINTS=False)
    write_plugin(settings.PLUGINS_DIR, "hello")
    context = host_factory(settings).plugins["hello"].context
    assert context is not None
    # `ctx.transaction()` is listed with its call parentheses; the attribute is `transaction`.
    cells = [cell for cell in first_column(DOC) if cell.startswith("ctx.")]
    documented = [re.sub(r"\(.*\)$", "", cell).removeprefix("ctx.") for cell in cells]
    public = {name for name in dir(context) if not name.startswith("_")}
    assert len(documented) == len(set(documented)), "a ctx attribute is listed twice"
    assert [name for name in documented if not hasattr(context, name)] == []
    assert sorted(public - set(documented)) == []


def test_docs_the_manifest_table_lists_exactly_the_manifest_fields():
    documented = first_column(section("Manifest reference"))
    assert len(documented) == len(set(documented)), "a manifest field is listed twice"
    assert sorted(documented) == sorted(field_paths(Manifest))


def test_docs_the_state_table_lists_exactly_the_plugin_states():
    assert sorted(first_column(section("Plugin states"))) == sorted(STATES)


def test_docs_every_plugin_command_is_mentioned_and_every_mentioned_command_exists():
    mentioned = set(re.findall(r"(?<![\w-])sv ([a-z]+:[a-z-]+)", DOC))
    commands = set(main.list_commands(click.Context(main)))
    plugin_commands = {name for name in commands if name.startswith("plugins:")}
    assert plugin_commands, "no plugins:* command is registered on exthost.cli.main"
    assert sorted(plugin_commands - mentioned) == []
    assert sorted(mentioned - commands) == []


def test_docs_the_broken_manifest_example_gives_the_documented_errors():
    with pytest.raises(ManifestError) as caught:
        parse_manifest(json.loads(fenced_block("broken-plugin.json")), "plugins/hello/plugin.json")
    assert caught.value.problems == fenced_block("errors").splitlines()


def test_docs_the_minimal_plugin_imports_only_the_sdk():
    tree = ast.parse(fenced_block("plugin.py"))
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    assert imported == {"exthost.sdk"}


def test_docs_the_minimal_plugin_loads_and_serves_the_documented_response(settings_factory, platform_factory):
    manifest = json.loads(fenced_block("plugin.json"))
    settings = settings_factory(PLUGIN_ENTRY_POINTS=False)
    write_plugin(settings.PLUGINS_DIR, manifest["name"], fenced_block("plugin.py"), manifest=manifest)
    platform = platform_factory(settings)
    record = platform.host.plugins[manifest["name"]]
    assert record.state == REGISTERED, record.reason
    platform.host.enable(manifest["name"])
    method, path = fenced_block("request").split()
    response = platform.test_client().open(path, method=method)
    assert response.status_code == 200
    assert response.get_json() == json.loads(fenced_block("response"))


def test_docs_the_diagnostics_example_has_exactly_the_keys_a_real_host_reports(settings_factory, platform_factory):
    settings = settings_factory(PLUGIN_ENTRY_POINTS=False)
    write_plugin(settings.PLUGINS_DIR, "hello")
    platform = platform_factory(settings)
    platform.host.enable("hello")
    real = platform.host.diagnostics()
    documented = json.loads(fenced_block("diagnostics"))
    assert list(documented) == list(real)
    [documented_plugin] = documented["plugins"]
    [real_plugin] = real["plugins"]
    assert list(documented_plugin) == list(real_plugin)
    for hook, timing in documented_plugin["hooks"].items():
        assert list(timing) == list(real_plugin["hooks"][hook])


def test_docs_every_plugin_setting_is_mentioned():
    assert [name for name in PLUGIN_SETTINGS if f"`{name}`" not in DOC] == []


def test_readme_the_config_table_lists_every_plugin_setting_with_its_default():
    def shown(value: Any) -> str:
        return ("on" if value else "off") if isinstance(value, bool) else f"`{value}`"

    rows = dict(re.findall(r"^\| `(PLUGIN\w*)` \| ([^|]+?) \|", section("Configuration", README), flags=re.M))
    fields = Settings.model_fields
    defaults = {name: shown(fields[name].get_default(call_default_factory=True)) for name in PLUGIN_SETTINGS}
    assert rows == defaults


def test_readme_the_command_list_names_exactly_the_sv_commands():
    block = re.search(r"```\n(.*?)```", section("Commands", README), flags=re.S)
    assert block is not None, "README.md's Commands section has no fenced block"
    listed = re.findall(r"^sv (\S+)", block.group(1), flags=re.M)
    assert len(listed) == len(set(listed)), "a command is listed twice"
    assert sorted(listed) == sorted(main.list_commands(click.Context(main)))


@pytest.mark.parametrize(
    ("heading", "folder"),
    [
        ("exthost: the plugin host", "exthost"),
        ("exthost.rollout: the request path", "exthost/rollout"),
        ("exthost.evidence: what proves parity", "exthost/evidence"),
        ("exthost.cli: the `sv` command line", "exthost/cli"),
        ("exthost.admin: the admin page", "exthost/admin"),
        ("exthost.trust: signed plugins", "exthost/trust"),
        ("exthost.sandbox: plugins in worker processes", "exthost/sandbox"),
    ],
)
def test_architecture_each_exthost_package_section_names_exactly_its_modules(heading, folder):
    names = re.findall(r"^- (`[^:]*):", section(heading, ARCHITECTURE), flags=re.M)
    documented = {module for prefix in names for module in re.findall(r"`(\w+\.py)`", prefix)}
    modules = {path.name for path in (ROOT / folder).glob("*.py")}
    if folder != "exthost/cli":  # the CLI's __init__ holds the group itself; elsewhere it only re-exports
        modules.discard("__init__.py")
    assert sorted(modules - documented) == [], f"{folder} modules missing from docs/architecture.md"
    assert sorted(documented - modules) == [], f"docs/architecture.md names {folder} modules that do not exist"
