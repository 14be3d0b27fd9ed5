"""`.env.example`, written from the one settings table (`legacy_core.settings.Settings`): every setting, its help and
its default, commented out. `python -m legacy_core.env_example > .env.example` rewrites it; a test keeps it in sync."""

from __future__ import annotations

import json
import re
import textwrap
from enum import Enum
from pathlib import Path
from typing import Any

from legacy_core.settings import Settings

WIDTH = 118
HEADER = """\
# Sovereign's settings, each with its help and its default. Copy this file to .env and uncomment what you change:
# settings come from these defaults, then .env, then the environment (which wins). A nested one can also be set a
# key at a time, e.g. PLUGIN_CONFIG__hello__GREETING=hi or FEATURE_FLAGS__blog=shadow.
# Written from legacy_core/settings.py by `python -m legacy_core.env_example > .env.example`; do not edit by hand.
"""


def shown(value: Any) -> str:
    """A default as a .env line writes it: booleans as true/false, dicts and lists as JSON, paths as they are."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value)
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, Path):
        return value.as_posix()
    return str(value)


def render() -> str:
    """The text of `.env.example`."""
    blocks = [HEADER]
    for name, field in Settings.model_fields.items():
        default = field.get_default(call_default_factory=True)
        # An example assignment in the help is glued to the word before it: a help line starting with `NAME=` would
        # read as a setting to uncomment.
        help_text = re.sub(r" (?=[A-Z][A-Z0-9_]*=)", "\u00a0", " ".join((field.description or "").split()))
        lines = [line.replace("\u00a0", " ") for line in textwrap.wrap(help_text, WIDTH - 2)] or ["(no help)"]
        comment = "\n".join(f"# {line}" for line in lines)
        value = "" if default is None else shown(default)
        unset = "  (unset by default)" if default is None else ""
        blocks.append(f"{comment}\n# {name}={value}{unset}\n")
    return "\n".join(blocks)


if __name__ == "__main__":
    print(render(), end="")
