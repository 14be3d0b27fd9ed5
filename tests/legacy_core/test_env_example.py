"""`.env.example` is written from the settings table: every setting is in it with its help and its default, and
uncommenting every line gives the defaults back."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from legacy_core.env_example import render
from legacy_core.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
LINE = re.compile(r"^# ([A-Z][A-Z0-9_]*)=(.*?)(  \(unset by default\))?$", re.M)


def test_env_example_is_in_sync_with_the_settings_table() -> None:
    assert (ROOT / ".env.example").read_text(encoding="utf-8") == render(), (
        "run `python -m legacy_core.env_example > .env.example`"
    )


def test_env_example_lists_every_setting_once_with_its_help() -> None:
    text = render()
    names = [name for name, _, _ in LINE.findall(text)]
    assert names == list(Settings.model_fields)
    for name, field in Settings.model_fields.items():
        first_words = " ".join((field.description or "").split()[:4])
        assert f"# {first_words}" in text, name


def test_env_example_uncommented_gives_back_every_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in Settings.model_fields:
        monkeypatch.delenv(name, raising=False)
    env_file = tmp_path / ".env"
    env_file.write_text(
        "".join(f"{name}={value}\n" for name, value, unset in LINE.findall(render()) if not unset), encoding="utf-8"
    )
    monkeypatch.chdir(tmp_path)  # relative folders resolve from the same place for both
    from_file = Settings(_env_file=env_file)  # type: ignore[call-arg]
    defaults = Settings(_env_file=None)  # type: ignore[call-arg]
    assert from_file == defaults
