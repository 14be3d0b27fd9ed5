"""Plugin signatures, without a host: the folder walk, the signature file, and the pure decision (exthost.trust)."""

from __future__ import annotations

import base64
import json
import os
import string
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from exthost.errors import SignatureError
from exthost.trust import (
    INVALID_SIGNATURE,
    MODIFIED,
    REVOKED,
    SIGNATURE_FILENAME,
    UNCHECKED,
    UNSIGNED,
    UNTRUSTED,
    VALID,
    TrustConfig,
    check_folder,
    decide,
    key_id,
    scan,
    sign_folder,
)
from exthost.trust.keys import public_key_text
from exthost.trust.policy import Verification
from legacy_core.settings import Settings


def public(key: Ed25519PrivateKey) -> str:
    return public_key_text(key.public_key())


def config_for(*keys: Ed25519PrivateKey, policy: str = "enforce", allow=(), revoked=()) -> TrustConfig:
    allowed = {entry.partition("@")[0]: entry.partition("@")[2] or None for entry in allow}
    return TrustConfig(
        policy=policy,  # type: ignore[arg-type]
        trusted={key_id(public(k)): public(k) for k in keys},
        allowed=allowed,
        revoked=frozenset(revoked),
    )


def make_plugin(root: Path, files: dict[str, str] | None = None) -> Path:
    folder = root / "hello"
    for relative, content in (files or {"plugin.json": "{}", "plugin.py": "X = 1\n", "lib/util.py": "Y = 2\n"}).items():
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")
    return folder


@pytest.fixture
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def signed(tmp_path: Path, key: Ed25519PrivateKey) -> Path:
    folder = make_plugin(tmp_path)
    sign_folder("hello", folder, key)
    return folder


def status(folder: Path, config: TrustConfig, name: str = "hello") -> Verification:
    return check_folder(name, folder, config)


def test_trust_a_freshly_signed_folder_is_valid_and_names_its_key(signed, key):
    found = status(signed, config_for(key))
    assert (found.status, found.key_id) == (VALID, key_id(public(key)))
    document = json.loads((signed / SIGNATURE_FILENAME).read_text())
    assert sorted(document["files"]) == ["lib/util.py", "plugin.json", "plugin.py"]


def test_trust_a_folder_without_signature_is_unsigned(tmp_path, key):
    assert status(make_plugin(tmp_path), config_for(key)).status == UNSIGNED


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda f: (f / "plugin.py").write_text("X = 2\n"), "plugin.py: content changed"),
        (lambda f: (f / "lib" / "extra.py").write_text("import os\n"), "lib/extra.py: file added"),
        (lambda f: (f / "lib" / "util.py").unlink(), "lib/util.py: file removed"),
        (lambda f: (f / ".hidden").write_text(""), ".hidden: file added"),
    ],
    ids=["tampered", "added", "removed", "hidden-file-added"],
)
def test_trust_any_change_after_signing_is_modified_and_named(signed, key, change, expected):
    change(signed)
    found = status(signed, config_for(key))
    assert found.status == MODIFIED
    assert expected in found.detail


def test_trust_bytecode_caches_are_left_out_of_the_manifest(signed, key):
    cache = signed / "lib" / "__pycache__"
    cache.mkdir()
    (cache / "util.cpython-311.pyc").write_bytes(b"anything")
    assert status(signed, config_for(key)).status == VALID
    # A stray .pyc outside __pycache__ is loadable code (sourceless import): it is signed content like any file.
    (signed / "stray.pyc").write_bytes(b"anything")
    assert status(signed, config_for(key)).status == MODIFIED


def test_trust_a_key_not_trusted_is_untrusted_even_when_the_files_match(signed):
    other = Ed25519PrivateKey.generate()
    found = status(signed, config_for(other))
    assert found.status == UNTRUSTED and "not in PLUGIN_TRUSTED_KEYS" in found.detail


def test_trust_a_folder_re_signed_by_an_untrusted_key_is_untrusted(signed, key):
    intruder = Ed25519PrivateKey.generate()
    (signed / "plugin.py").write_text("X = 'evil'\n")
    sign_folder("hello", signed, intruder)
    assert status(signed, config_for(key)).status == UNTRUSTED


def test_trust_signature_bytes_that_do_not_verify_are_invalid(signed, key):
    path = signed / SIGNATURE_FILENAME
    document = json.loads(path.read_text())
    raw = bytearray(base64.b64decode(document["signature"]))
    raw[0] ^= 1
    document["signature"] = base64.b64encode(bytes(raw)).decode()
    path.write_text(json.dumps(document))
    found = status(signed, config_for(key))
    assert found.status == INVALID_SIGNATURE and "does not match" in found.detail


def test_trust_an_edited_manifest_with_the_old_signature_is_invalid(signed, key):
    """Re-hashing a tampered file into the manifest without the private key breaks the signature."""
    (signed / "plugin.py").write_text("X = 'evil'\n")
    path = signed / SIGNATURE_FILENAME
    document = json.loads(path.read_text())
    document["files"]["plugin.py"] = scan(signed).files["plugin.py"]
    path.write_text(json.dumps(document))
    assert status(signed, config_for(key)).status == INVALID_SIGNATURE


@pytest.mark.parametrize(
    "text",
    ["not json", "{}", '{"format": "sovereign-plugin-signature/9"}', "[]"],
    ids=["not-json", "empty", "other-format", "a-list"],
)
def test_trust_an_unreadable_signature_file_is_invalid(tmp_path, key, text):
    folder = make_plugin(tmp_path)
    (folder / SIGNATURE_FILENAME).write_text(text)
    assert status(folder, config_for(key)).status == INVALID_SIGNATURE


def test_trust_a_signature_of_another_plugin_is_invalid(signed, key):
    found = status(signed, config_for(key), name="other")
    assert found.status == INVALID_SIGNATURE and "signs plugin 'hello'" in found.detail


def test_trust_a_revoked_key_is_revoked_even_when_trusted(signed, key):
    found = status(signed, config_for(key, revoked=[key_id(public(key))]))
    assert found.status == REVOKED


def test_trust_a_symlink_inside_the_folder_is_signed_by_its_target(tmp_path, key):
    folder = make_plugin(tmp_path)
    os.symlink("plugin.py", folder / "alias.py")
    sign_folder("hello", folder, key)
    assert status(folder, config_for(key)).status == VALID
    (folder / "alias.py").unlink()
    os.symlink("lib/util.py", folder / "alias.py")
    found = status(folder, config_for(key))
    assert found.status == MODIFIED and "alias.py: symlink now points to 'lib/util.py'" in found.detail


def test_trust_a_symlink_leading_outside_cannot_be_signed_and_makes_a_signed_folder_modified(tmp_path, key):
    outside = tmp_path / "outside.py"
    outside.write_text("SECRET = 1\n")
    folder = make_plugin(tmp_path)
    os.symlink(outside, folder / "escape.py")
    with pytest.raises(SignatureError, match=r"escape\.py: symlink to .* leads outside the plugin folder"):
        sign_folder("hello", folder, key)
    (folder / "escape.py").unlink()
    sign_folder("hello", folder, key)
    os.symlink("../outside.py", folder / "escape.py")
    found = status(folder, config_for(key))
    assert found.status == MODIFIED and "leads outside the plugin folder" in found.detail


def test_trust_a_file_swapped_for_a_symlink_to_identical_content_is_modified(tmp_path, key):
    """Same bytes reached, different kind of entry: what was signed was a file, so the link is a change."""
    folder = make_plugin(tmp_path)
    sign_folder("hello", folder, key)
    (folder / "copy.py").write_text((folder / "plugin.py").read_text())
    (folder / "plugin.py").unlink()
    os.symlink("copy.py", folder / "plugin.py")
    found = status(folder, config_for(key))
    assert found.status == MODIFIED and "plugin.py: file replaced by a symlink" in found.detail


def test_trust_a_symlinked_folder_leading_outside_is_modified(tmp_path, key):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "evil.py").write_text("")
    folder = make_plugin(tmp_path)
    sign_folder("hello", folder, key)
    os.symlink(elsewhere, folder / "lib2")
    assert status(folder, config_for(key)).status == MODIFIED


def test_trust_a_symlink_loop_cannot_be_signed(tmp_path, key):
    folder = make_plugin(tmp_path)
    os.symlink("b", folder / "a")
    os.symlink("a", folder / "b")
    with pytest.raises(SignatureError, match="a: symlink to 'b' loops"):
        sign_folder("hello", folder, key)


def test_trust_a_fifo_cannot_be_signed(tmp_path, key):
    folder = make_plugin(tmp_path)
    os.mkfifo(folder / "pipe")
    with pytest.raises(SignatureError, match="pipe: neither a file, a folder nor a symlink"):
        sign_folder("hello", folder, key)


def test_trust_policy_off_checks_nothing(tmp_path):
    assert status(make_plugin(tmp_path), TrustConfig(policy="off")).status == UNCHECKED
    assert decide("hello", Verification(UNCHECKED), TrustConfig(policy="off")).load


# -- the decision -------------------------------------------------------------------------------------------------

VALID_BY = Verification(VALID, "aaaaaaaaaaaaaaaa", "signed")


@pytest.mark.parametrize(
    ("allow", "loads", "says"),
    [
        ((), False, "not in PLUGIN_ALLOWLIST; add 'hello'"),
        (("hello",), True, None),
        (("hello@aaaaaaaaaaaaaaaa",), True, None),
        (("hello@bbbbbbbbbbbbbbbb",), False, "pins 'hello' to key bbbbbbbbbbbbbbbb, but it is signed by key aaaa"),
        (("other",), False, "not in PLUGIN_ALLOWLIST"),
    ],
    ids=["empty", "name", "pinned-to-its-key", "pinned-to-another-key", "other-name"],
)
def test_trust_enforce_loads_a_valid_signature_only_when_allow_listed(allow, loads, says):
    config = TrustConfig(policy="enforce", allowed={e.partition("@")[0]: e.partition("@")[2] or None for e in allow})
    decision = decide("hello", VALID_BY, config)
    assert decision.load is loads
    if says:
        assert decision.refusal is not None and says in decision.refusal


@pytest.mark.parametrize("found", [UNSIGNED, MODIFIED, INVALID_SIGNATURE, UNTRUSTED, REVOKED])
def test_trust_enforce_refuses_every_status_but_valid_even_allow_listed(found):
    config = TrustConfig(policy="enforce", allowed={"hello": None})
    decision = decide("hello", Verification(found, None, "why"), config)
    assert not decision.load
    assert decision.refusal is not None
    assert decision.refusal.startswith(f"refused by PLUGIN_SIGNATURES=enforce: signature {found}")


@pytest.mark.parametrize("found", [UNSIGNED, MODIFIED, INVALID_SIGNATURE, UNTRUSTED, REVOKED])
def test_trust_warn_loads_every_status_with_a_warning(found):
    decision = decide("hello", Verification(found, None, "why"), TrustConfig(policy="warn"))
    assert decision.load and decision.refusal is None
    assert decision.warning is not None and "enforce would refuse it" in decision.warning


def test_trust_warn_says_nothing_for_a_valid_allow_listed_plugin():
    assert decide("hello", VALID_BY, TrustConfig(policy="warn", allowed={"hello": None})).warning is None


# -- the settings -------------------------------------------------------------------------------------------------


def test_trust_settings_default_to_enforce_outside_development(monkeypatch):
    monkeypatch.delenv("PLUGIN_SIGNATURES", raising=False)
    monkeypatch.delenv("ENVIRONMENT", raising=False)
    assert Settings(_env_file=None).plugin_signature_policy == "enforce"  # type: ignore[call-arg]
    assert Settings(_env_file=None, ENVIRONMENT="development").plugin_signature_policy == "warn"  # type: ignore[call-arg]
    explicit = Settings(_env_file=None, ENVIRONMENT="development", PLUGIN_SIGNATURES="enforce")  # type: ignore[call-arg]
    assert explicit.plugin_signature_policy == "enforce"


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("PLUGIN_TRUSTED_KEYS", ["ed25519:AAAA"], "is not an ed25519 public key"),
        ("PLUGIN_TRUSTED_KEYS", ["rsa:" + base64.b64encode(b"x" * 32).decode()], "is not an ed25519 public key"),
        ("PLUGIN_ALLOWLIST", ["Hello"], "is not a plugin name or 'name@<key id>'"),
        ("PLUGIN_ALLOWLIST", ["hello@xyz"], "is not a plugin name or 'name@<key id>'"),
        ("PLUGIN_REVOKED_KEYS", ["ABC"], "is not a key id"),
        ("PLUGIN_SIGNATURES", "strict", "Input should be 'enforce', 'warn' or 'off'"),
    ],
)
def test_trust_settings_refuse_bad_values_quoting_them(field, value, says):
    with pytest.raises(ValueError, match=says):
        Settings(_env_file=None, **{field: value})  # type: ignore[arg-type]


# -- any file tree ------------------------------------------------------------------------------------------------

NAMES = st.text(string.ascii_lowercase + string.digits + "_.-", min_size=1, max_size=8).filter(
    lambda n: n not in (".", "..", "__pycache__", SIGNATURE_FILENAME)
)
TREES = st.dictionaries(
    st.lists(NAMES, min_size=1, max_size=3).map(tuple), st.binary(max_size=64), min_size=1, max_size=8
).filter(
    # No path may be both a file and a folder of another path.
    lambda tree: not any(a != b and b[: len(a)] == a for a in tree for b in tree)
)


def write_tree(folder: Path, tree: dict[tuple[str, ...], bytes]) -> None:
    for parts, content in tree.items():
        path = folder.joinpath(*parts)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)


@given(tree=TREES, data=st.data())
def test_trust_any_tree_signs_valid_and_any_one_change_is_modified(tmp_path_factory, tree, data):
    key = Ed25519PrivateKey.generate()
    folder = tmp_path_factory.mktemp("tree") / "hello"
    write_tree(folder, tree)
    sign_folder("hello", folder, key)
    config = config_for(key)
    assert status(folder, config).status == VALID
    target = data.draw(st.sampled_from(sorted(tree)))
    path = folder.joinpath(*target)
    change = data.draw(st.sampled_from(["edit", "remove", "add", "symlink"]))
    if change == "edit":
        path.write_bytes(tree[target] + b"\0")
    elif change == "remove":
        path.unlink()
    elif change == "add":
        path.with_name(path.name + "+added").write_bytes(b"")  # "+" is outside NAMES: a new path
    else:
        path.unlink()
        os.symlink(os.path.relpath(folder / SIGNATURE_FILENAME, path.parent), path)
    assert status(folder, config).status == MODIFIED
