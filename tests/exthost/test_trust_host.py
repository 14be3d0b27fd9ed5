"""Signed plugins in a running host: enforce, warn and off at start, the dependents of a refused plugin, hot reload of
a tampered plugin, and bytecode caches planted beside signed sources."""

from __future__ import annotations

import importlib.util
import py_compile
import queue
import sys
import textwrap

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from exthost.errors import PluginLoadError
from exthost.host import INVALID, REGISTERED
from exthost.trust import key_id, sign_folder
from exthost.trust.keys import public_key_text
from exthost.watch import PluginWatcher
from tests.exthost.test_discovery import PACKAGE, acme_package, install_distribution
from tests.fixtures.plugins import HELLO_CODE, manifest_for, write_plugin

WAIT = 20  # seconds to wait for a file event; a bound for a loaded machine, not a speed claim


@pytest.fixture
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def enforcing(settings_factory, key):
    """Settings under enforce that trust `key` and allow `hello` and `other`."""

    def factory(**overrides):
        values = {
            "PLUGIN_ENTRY_POINTS": False,
            "PLUGIN_SIGNATURES": "enforce",
            "PLUGIN_TRUSTED_KEYS": [public_key_text(key.public_key())],
            "PLUGIN_ALLOWLIST": ["hello", "other"],
        }
        return settings_factory(**(values | overrides))

    return factory


def greeting(platform) -> object:
    response = platform.test_client().get("/api/hello/greet")
    return response.get_json()["greeting"] if response.status_code == 200 else response.status_code


def test_enforce_loads_the_signed_plugin_and_refuses_the_unsigned_one_while_serving(enforcing, platform_factory, key):
    settings = enforcing()
    sign_folder("hello", write_plugin(settings.PLUGINS_DIR, "hello"), key)
    write_plugin(settings.PLUGINS_DIR, "other")
    platform = platform_factory(settings)
    hello, other = platform.host.plugins["hello"], platform.host.plugins["other"]
    assert hello.state == REGISTERED, hello.reason
    assert other.state == INVALID
    assert "refused by PLUGIN_SIGNATURES=enforce: signature unsigned" in (other.reason or "")
    assert "sv plugins:sign other --key FILE" in (other.reason or "")
    assert other.app is None and other.manager is None  # its code never ran
    platform.host.enable("hello")
    assert greeting(platform) == "hello"
    report = platform.host.diagnostics()
    assert report["signaturePolicy"] == "enforce"
    shown = {plugin["name"]: plugin["signature"] for plugin in report["plugins"]}
    assert shown["hello"]["status"] == "valid" and shown["hello"]["keyId"] == key_id(public_key_text(key.public_key()))
    assert shown["other"]["status"] == "unsigned"


def test_enforce_never_loads_a_plugin_modified_after_signing_even_allow_listed(enforcing, platform_factory, key):
    settings = enforcing()
    folder = write_plugin(settings.PLUGINS_DIR, "hello")
    sign_folder("hello", folder, key)
    (folder / "plugin.py").write_text(textwrap.dedent(HELLO_CODE) + "\nIMPORTED = True\n")
    platform = platform_factory(settings)
    record = platform.host.plugins["hello"]
    assert record.state == INVALID
    assert "signature modified: plugin.py: content changed" in (record.reason or "")
    assert platform.test_client().get("/health").status_code == 200


def test_enforce_refuses_a_valid_plugin_missing_from_the_allow_list_or_pinned_to_another_key(
    enforcing, platform_factory, key
):
    settings = enforcing(PLUGIN_ALLOWLIST=["other@0123456789abcdef"])
    sign_folder("hello", write_plugin(settings.PLUGINS_DIR, "hello"), key)
    sign_folder("other", write_plugin(settings.PLUGINS_DIR, "other"), key)
    host = platform_factory(settings).host
    assert "not in PLUGIN_ALLOWLIST; add 'hello'" in (host.plugins["hello"].reason or "")
    assert "pins 'other' to key 0123456789abcdef" in (host.plugins["other"].reason or "")
    assert host.plugins["hello"].trust.status == host.plugins["other"].trust.status == "valid"


def test_enforce_a_plugin_requiring_a_refused_one_is_invalid_too(enforcing, platform_factory, key):
    settings = enforcing(PLUGIN_ALLOWLIST=["hello", "other"])
    write_plugin(settings.PLUGINS_DIR, "hello")  # unsigned
    needs = manifest_for("other", requires={"hard": {"hello": ">=1.0.0"}})
    sign_folder("other", write_plugin(settings.PLUGINS_DIR, "other", manifest=needs), key)
    host = platform_factory(settings).host
    assert host.plugins["other"].state == INVALID
    assert "requires.hard.hello: that plugin is invalid (" in (host.plugins["other"].reason or "")


def test_warn_loads_an_unsigned_plugin_with_a_note(settings_factory, platform_factory):
    settings = settings_factory(PLUGIN_ENTRY_POINTS=False, PLUGIN_SIGNATURES="warn")
    write_plugin(settings.PLUGINS_DIR, "hello")
    platform = platform_factory(settings)
    record = platform.host.plugins["hello"]
    assert record.state == REGISTERED
    assert [note for note in record.notes if note.startswith("PLUGIN_SIGNATURES=warn: signature unsigned")]
    platform.host.enable("hello")
    assert greeting(platform) == "hello"
    assert platform.host.describe(record)["signature"]["status"] == "unsigned"


def test_development_defaults_to_warn(settings_factory, platform_factory):
    settings = settings_factory(PLUGIN_ENTRY_POINTS=False, PLUGIN_SIGNATURES=None, ENVIRONMENT="development")
    write_plugin(settings.PLUGINS_DIR, "hello")
    host = platform_factory(settings).host
    assert host.trust.policy == "warn" and host.plugins["hello"].state == REGISTERED


def test_production_defaults_to_enforce(settings_factory, platform_factory):
    settings = settings_factory(PLUGIN_ENTRY_POINTS=False, PLUGIN_SIGNATURES=None)
    write_plugin(settings.PLUGINS_DIR, "hello")
    host = platform_factory(settings).host
    assert host.trust.policy == "enforce" and host.plugins["hello"].state == INVALID


def test_off_checks_nothing_and_notes_nothing(settings_factory, platform_factory):
    settings = settings_factory(PLUGIN_ENTRY_POINTS=False, PLUGIN_SIGNATURES="off")
    write_plugin(settings.PLUGINS_DIR, "hello")
    host = platform_factory(settings).host
    record = host.plugins["hello"]
    assert record.state == REGISTERED and record.notes == []
    assert host.describe(record)["signature"]["status"] == "unchecked"


# -- hot reload -----------------------------------------------------------------------------------------------------


def edited(text: str) -> str:
    return textwrap.dedent(HELLO_CODE).replace('ctx.config["GREETING"]', repr(text))


def test_reload_of_a_tampered_plugin_is_refused_and_the_signed_version_keeps_serving(enforcing, platform_factory, key):
    settings = enforcing()
    folder = write_plugin(settings.PLUGINS_DIR, "hello")
    sign_folder("hello", folder, key)
    platform = platform_factory(settings)
    platform.host.enable("hello")
    (folder / "plugin.py").write_text(edited("tampered"))
    with pytest.raises(
        PluginLoadError,
        match=r"reload of 'hello' refused, the running version keeps serving: .*"
        r"signature modified: plugin\.py: content changed",
    ):
        platform.host.reload("hello")
    assert greeting(platform) == "hello"
    sign_folder("hello", folder, key)  # reviewed and signed again: the new code may run
    platform.host.reload("hello")
    assert greeting(platform) == "tampered"


def test_the_watcher_refuses_a_tampered_save_and_loads_it_once_signed(enforcing, platform_factory, key):
    settings = enforcing()
    folder = write_plugin(settings.PLUGINS_DIR, "hello")
    sign_folder("hello", folder, key)
    platform = platform_factory(settings)
    platform.host.enable("hello")
    results: queue.Queue[tuple[str, str | None]] = queue.Queue()
    watcher = PluginWatcher(platform.host, debounce=0.2, on_result=lambda f, e: results.put((f, e))).start()
    try:
        (folder / "plugin.py").write_text(edited("unsigned edit"))
        name, error = results.get(timeout=WAIT)
        assert name == "hello" and error is not None and "signature modified" in error and "keeps serving" in error
        assert greeting(platform) == "hello"
        sign_folder("hello", folder, key)
        while True:  # signing writes a temporary file and then the signature: one or two reloads
            name, error = results.get(timeout=WAIT)
            if error is None:
                break
        assert greeting(platform) == "unsigned edit"
    finally:
        watcher.stop()


# -- bytecode caches --------------------------------------------------------------------------------------------------


def plant_cache(folder, source: str) -> None:
    """A bytecode cache of `source` where Python looks for plugin.py's, marked to be used without checking the source
    (PEP 552 unchecked-hash): what an attacker who can write __pycache__ would leave."""
    evil = folder.parent / "evil_source.py"
    evil.write_text(source)
    cache = importlib.util.cache_from_source(str(folder / "plugin.py"))
    py_compile.compile(
        str(evil), cfile=cache, doraise=True, invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH
    )


ISOLATIONS = ["inline", pytest.param("process", marks=pytest.mark.slow)]


@pytest.mark.parametrize("isolation", ISOLATIONS)
@pytest.mark.parametrize(("policy", "served"), [("enforce", "hello"), ("off", "from the cache")])
def test_a_planted_bytecode_cache_never_runs_for_a_checked_plugin(
    enforcing, platform_factory, key, policy, served, isolation
):
    """Caches are left out of the signature; a checked plugin is compiled from its signed source instead, in the host
    and in its sandbox workers alike. With checks off, Python's own loader runs the planted cache: the test would
    fail without the source-only import."""
    settings = enforcing(PLUGIN_SIGNATURES=policy, PLUGIN_ISOLATION=isolation)
    folder = write_plugin(settings.PLUGINS_DIR, "hello")
    sign_folder("hello", folder, key)
    plant_cache(folder, edited("from the cache"))
    platform = platform_factory(settings)
    assert platform.host.plugins["hello"].state == REGISTERED
    platform.host.enable("hello")
    assert greeting(platform) == served


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_a_module_swapped_between_the_check_and_the_import_is_not_imported(
    enforcing, platform_factory, key, monkeypatch, tmp_path, isolation
):
    """The race a check-then-import leaves open: the module's bytes are hashed again as they are compiled (in a
    sandboxed plugin's workers too, which import it after the host checked it)."""
    import exthost.host

    settings = enforcing(PLUGIN_ISOLATION=isolation)
    folder = write_plugin(
        settings.PLUGINS_DIR,
        "hello",
        files={"helper.py": "VALUE = 'signed'\n"},
        code=HELLO_CODE + "\nfrom . import helper\n",
    )
    sign_folder("hello", folder, key)
    marker = tmp_path / "swapped-code-ran"
    real_check = exthost.host.check_folder

    def check_then_swap(name, checked, config):
        found = real_check(name, checked, config)
        (checked / "helper.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
        return found

    monkeypatch.setattr(exthost.host, "check_folder", check_then_swap)
    record = platform_factory(settings).host.plugins["hello"]
    assert record.trust is not None and record.trust.status == "valid"
    assert record.state == "failed"
    assert "helper.py: changed after its signature was checked" in (record.reason or "")
    assert not marker.exists()


def test_enforce_imports_a_module_reached_through_a_symlink_inside_the_folder(enforcing, platform_factory, key):
    settings = enforcing()
    folder = write_plugin(
        settings.PLUGINS_DIR, "hello", files={"helper.py": "VALUE = 1\n"}, code=HELLO_CODE + "\nfrom . import alias\n"
    )
    (folder / "alias.py").symlink_to("helper.py")
    sign_folder("hello", folder, key)
    record = platform_factory(settings).host.plugins["hello"]
    assert record.state == REGISTERED, record.reason


# -- plugins installed as distributions ------------------------------------------------------------------------------


@pytest.fixture
def site(tmp_path, monkeypatch):
    """A folder on sys.path standing in for site-packages; the acme modules imported from it are forgotten after."""
    folder = tmp_path / "site-packages"
    folder.mkdir()
    monkeypatch.syspath_prepend(str(folder))
    yield folder
    for name in [m for m in list(sys.modules) if m.split(".")[0] == PACKAGE]:
        del sys.modules[name]


def test_a_distributions_package_is_checked_before_any_of_its_code_runs(enforcing, host_factory, key, site, tmp_path):
    """Discovery finds an entry point's package folder without importing it: its __init__.py is plugin code."""
    marker = tmp_path / "init-ran"
    package = acme_package() | {"__init__.py": f"open({str(marker)!r}, 'w').close()\n"}
    install_distribution(site, {"acme": PACKAGE}, packages={PACKAGE: package})
    settings = enforcing(PLUGIN_ENTRY_POINTS=True, PLUGIN_ALLOWLIST=["acme"])
    record = host_factory(settings).get("acme")
    assert record.state == INVALID and "signature unsigned" in (record.reason or "")
    assert not marker.exists()
    sign_folder("acme", site / PACKAGE, key)
    record = host_factory(settings).get("acme")
    assert record.state == REGISTERED, record.reason
    assert record.trust is not None and record.trust.status == "valid"
