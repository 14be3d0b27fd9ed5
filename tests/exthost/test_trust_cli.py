"""Signing through the real `sv` commands: keys:generate, plugins:sign, then plugins:list/info and `sv serve` under
PLUGIN_SIGNATURES=enforce; and the commands' errors (no traceback, the fix named)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.exthost.test_cli_plugins import _env
from tests.exthost.test_serve import eventually, free_port, status_of
from tests.fixtures.plugins import manifest_for, write_plugin

SV = str(Path(sys.executable).with_name("sv"))


def sv(env: dict[str, str], *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([SV, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=120)


@pytest.fixture
def signed_setup(settings_factory, tmp_path):
    """`hello` signed through `sv` with a key `sv keys:generate` made; `other` unsigned; the environment of an
    operator who trusts that key and allows both plugins under enforce."""
    settings = settings_factory(PLUGIN_ENTRY_POINTS=False)
    write_plugin(settings.PLUGINS_DIR, "hello")
    write_plugin(settings.PLUGINS_DIR, "other")
    base = os.environ | _env(settings)
    made = sv(base, "keys:generate", "--out", str(tmp_path / "signing.key"), "--json")
    assert made.returncode == 0, made.stderr
    key = json.loads(made.stdout)
    signed = sv(base, "plugins:sign", "hello", "--key", key["privateKey"])
    assert signed.returncode == 0, signed.stderr
    assert f"with key {key['keyId']}" in signed.stdout
    env = base | {
        "PLUGIN_SIGNATURES": "enforce",
        "PLUGIN_TRUSTED_KEYS": json.dumps([Path(key["publicKeyFile"]).read_text().strip()]),
        "PLUGIN_ALLOWLIST": json.dumps([f"hello@{key['keyId']}", "other"]),
    }
    return settings, env, key


def test_sv_keys_generate_then_plugins_sign_then_plugins_list_shows_valid(signed_setup):
    settings, env, key = signed_setup
    assert stat.S_IMODE(os.stat(key["privateKey"]).st_mode) == 0o600
    assert key["publicKey"].startswith("ed25519:") and len(key["keyId"]) == 16
    listed = sv(env, "plugins:list", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = {row["name"]: row for row in json.loads(listed.stdout)}
    assert rows["hello"]["state"] == "registered"
    assert rows["hello"]["signature"]["status"] == "valid"
    assert rows["hello"]["signature"]["keyId"] == key["keyId"]
    assert rows["other"]["state"] == "invalid" and rows["other"]["signature"]["status"] == "unsigned"
    table = sv(env | {"COLUMNS": "200"}, "plugins:list")
    assert f"valid ({key['keyId']})" in table.stdout
    info = sv(env, "plugins:info", "hello")
    assert '"status": "valid"' in info.stdout
    # Tampered after signing: the list says so, and enforce refuses it.
    (settings.PLUGINS_DIR / "hello" / "plugin.py").write_text("raise SystemExit('never imported')\n")
    rows = {row["name"]: row for row in json.loads(sv(env, "plugins:list", "--json").stdout)}
    assert rows["hello"]["state"] == "invalid"
    assert rows["hello"]["signature"] == {
        "status": "modified",
        "keyId": key["keyId"],
        "detail": "plugin.py: content changed",
    }


@pytest.mark.slow
def test_sv_serve_under_enforce_serves_the_signed_plugin_and_not_the_unsigned_one(signed_setup):
    _, env, _ = signed_setup
    assert sv(env, "plugins:enable", "hello").returncode == 0
    refused = sv(env, "plugins:enable", "other")
    assert refused.returncode == 1 and "refused by PLUGIN_SIGNATURES=enforce" in refused.stderr
    port = free_port()
    server = subprocess.Popen(
        [SV, "serve", "--port", str(port)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    base = f"http://127.0.0.1:{port}"
    try:
        eventually(lambda: status_of(f"{base}/health") == 200)
        with urllib.request.urlopen(f"{base}/api/hello/greet") as response:
            assert json.load(response)["greeting"] == "hello"
        assert status_of(f"{base}/api/other/greet") == 404
    finally:
        server.terminate()
        output, _ = server.communicate(timeout=30)
    assert "plugin hello: enabled" in output
    assert "plugin other: invalid" in output and "signature unsigned" in output


def test_sv_keys_generate_never_overwrites_a_key(tmp_path):
    env = os.environ.copy()
    assert sv(env, "keys:generate", "--out", str(tmp_path / "k.key")).returncode == 0
    before = (tmp_path / "k.key").read_bytes()
    again = sv(env, "keys:generate", "--out", str(tmp_path / "k.key"))
    assert again.returncode == 1 and "already exists" in again.stderr and "Traceback" not in again.stderr
    assert (tmp_path / "k.key").read_bytes() == before


def test_sv_plugins_sign_refuses_a_key_others_can_read_and_an_unknown_plugin(signed_setup):
    _, env, key = signed_setup
    os.chmod(key["privateKey"], 0o644)
    loose = sv(env, "plugins:sign", "hello", "--key", key["privateKey"])
    assert loose.returncode == 1 and f"run `chmod 600 {key['privateKey']}`" in loose.stderr
    os.chmod(key["privateKey"], 0o600)
    unknown = sv(env, "plugins:sign", "helo", "--key", key["privateKey"])
    assert unknown.returncode == 2 and "did you mean 'hello'" in unknown.stderr
    assert "Traceback" not in loose.stderr + unknown.stderr


def test_sv_migrate_deploy_under_enforce_never_runs_a_refused_plugins_revisions(signed_setup):
    """Revision files are plugin code too: migrate:deploy checks signatures as a host start does."""
    from tests.exthost.test_plugin_migrations import NOTES_REVISION, _tables

    settings, env, key = signed_setup
    write_plugin(
        settings.PLUGINS_DIR,
        "other",
        manifest=manifest_for("other", migrations="migrations"),
        files={"migrations/0001_notes.py": NOTES_REVISION.replace("hello", "other")},
    )
    refused = sv(env, "migrate:deploy")
    assert refused.returncode == 0, refused.stderr
    assert "plugin other: skipped, invalid: " in refused.stdout and "signature unsigned" in refused.stdout
    assert "other_notes" not in _tables(settings)
    assert sv(env, "plugins:sign", "other", "--key", key["privateKey"]).returncode == 0
    migrated = sv(env, "migrate:deploy")
    assert "plugin other: <empty> -> " in migrated.stdout, migrated.stdout
    assert "other_notes" in _tables(settings)
