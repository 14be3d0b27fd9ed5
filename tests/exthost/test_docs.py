"""docs/plugin-sdk.md against the code: hooks, context attributes, manifest fields, states, commands, examples."""

from __future__ import annotations

import ast
import json
import re
import types
from pathlib import Path
from typing import Annotated, Any, Union, get_args, get_origin

import pytest
from pydantic import BaseModel

from exthost.cli import main
from exthost.errors import ManifestError
from exthost.hookspecs import HOOK_NAMES
from exthost.host import REGISTERED, STATES
from exthost.manifest import Manifest, parse_manifest
from tests.fixtures.plugins import write_plugin

DOC_PATH = Path(__file__).resolve().parents[2] / "docs" / "plugin-sdk.md"
DOC = DOC_PATH.read_text(encoding="utf-8")


def fenced_block(title: str) -> str:
    """The fenced block whose info string is `<language> title=<title>` (the doc's convention for tested examples)."""
    found = re.findall(rf"^```[\w-]* title={re.escape(title)}\n(.*?)^```$", DOC, flags=re.M | re.S)
    assert len(found) == 1, f"docs/plugin-sdk.md needs exactly one block titled {title!r}, found {len(found)}"
    return str(found[0])


def section(heading: str) -> str:
    """The text of the `## <heading>` section, up to the next `## ` heading."""
    match = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^## |\Z)", DOC, flags=re.M | re.S)
    assert match is not None, f"docs/plugin-sdk.md has no '## {heading}' section"
    return match.group(1)


def first_column(text: str) -> list[str]:
    """The backticked first cell of every table row in `text`."""
    return re.findall(r"^\| `([^`]+)` \|", text, flags=re.M)


def field_paths(model: type[BaseModel], prefix: str = "") -> set[str]:
    """Every leaf field of a manifest model: `sovereign.entry`, `capabilities[].grant`, `config.<KEY>.type`."""

    def unwrap(annotation: Any) -> Any:
        while True:
            origin = get_origin(annotation)
            if origin is Annotated:
                annotation = get_args(annotation)[0]
            elif origin in (Union, types.UnionType):
                annotation = next(arg for arg in get_args(annotation) if arg is not type(None))
            else:
                return annotation

    def is_model(annotation: Any) -> bool:
        return isinstance(annotation, type) and issubclass(annotation, BaseModel)

    paths: set[str] = set()
    for name, field in model.model_fields.items():
        annotation = unwrap(field.annotation)
        origin = get_origin(annotation)
        item = unwrap(get_args(annotation)[-1]) if origin in (list, dict) else None
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
    plugin_commands = {name for name in main.commands if name.startswith("plugins:")}
    assert plugin_commands, "no plugins:* command is registered on exthost.cli.main"
    assert sorted(plugin_commands - mentioned) == []
    assert sorted(mentioned - set(main.commands)) == []


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
