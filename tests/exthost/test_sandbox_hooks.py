"""A sandboxed plugin's code never runs in the host: its module, its `register` hook and its lifecycle hooks
(on_enable, on_disable, health, on_shutdown) run in its workers, so a plugin that exits, hangs or raises there
fails only itself, with the reason, and the host keeps serving legacy and the other plugins."""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from exthost.errors import ExtHostError
from exthost.platform import Platform
from legacy_core.settings import Settings
from tests.fixtures.plugins import manifest_for, write_plugin

LIFECYCLE_CODE = """
import os
import time

from exthost.sdk import hookimpl

# Module-level code: it notes which process imported it.
_here = os.environ.get("HOME", ".")
with open(os.path.join(_here, "imported-by"), "a", encoding="utf-8") as f:
    f.write(str(os.getpid()) + "\\n")
MODE = open(os.path.join(_here, "mode"), encoding="utf-8").read().strip() if os.path.exists(
    os.path.join(_here, "mode")) else "fine"


class Plugin:
    @hookimpl
    def register(self, ctx):
        @ctx.router.get("/api/lifecycle/ok")
        def ok():
            return {"pid": os.getpid()}

    @hookimpl
    def on_enable(self, ctx, tenant):
        if MODE == "raise":
            raise RuntimeError("on_enable refuses " + tenant)
        if MODE == "exit":
            os._exit(4)
        if MODE == "hang":
            while True:
                pass
        (ctx.data_dir / ("enabled-" + tenant)).write_text(str(os.getpid()), encoding="utf-8")

    @hookimpl
    def on_tenant_created(self, ctx, tenant):
        (ctx.data_dir / ("created-" + tenant)).write_text(str(os.getpid()), encoding="utf-8")

    @hookimpl
    def on_disable(self, ctx, tenant):
        (ctx.data_dir / ("disabled-" + tenant)).write_text(str(os.getpid()), encoding="utf-8")

    @hookimpl
    def health(self, ctx):
        return {"ok": True, "pid": os.getpid()}
"""

EXIT_ON_IMPORT_CODE = """
import os

os._exit(9)
"""


@pytest.fixture
def lifecycle(
    settings_factory: Callable[..., Settings], platform_factory: Callable[..., Platform]
) -> Callable[..., tuple[Platform, Any, Path]]:
    """A platform with hello and the `lifecycle` plugin sandboxed; `mode` makes its on_enable raise, exit or hang.
    Its data folder (the workers' HOME) is returned too."""

    def build(mode: str = "fine", **limits: Any) -> tuple[Platform, Any, Path]:
        settings = settings_factory(PLUGIN_ENTRY_POINTS=False, PLUGIN_POLL_SECONDS=0)
        write_plugin(settings.PLUGINS_DIR, "hello")
        write_plugin(
            settings.PLUGINS_DIR, "lifecycle", LIFECYCLE_CODE, manifest=manifest_for("lifecycle", limits=limits)
        )
        data = settings.DATA_DIR / "plugins" / "lifecycle"
        data.mkdir(parents=True, exist_ok=True)
        (data / "mode").write_text(mode, encoding="utf-8")
        database = Path(settings.DATABASE_URL.removeprefix("sqlite:///"))
        (database.parent / "db").mkdir()
        moved = database.rename(database.parent / "db" / database.name)
        values = {**settings.model_dump(), "PLUGIN_ISOLATION": "process", "DATABASE_URL": f"sqlite:///{moved}"}
        platform = platform_factory(Settings(_env_file=None, **values))  # type: ignore[call-arg]
        platform.host.enable("hello")
        return platform, platform.test_client(), data

    return build


def _still_serving(client: Any) -> None:
    """Legacy and another plugin answer (/health may say 503 meanwhile: it reports the failed plugin)."""
    assert client.get("/login").status_code == 200
    assert client.get("/api/hello/greet").status_code == 200


def test_sandbox_the_host_never_imports_a_sandboxed_plugin(lifecycle):
    platform, client, data = lifecycle()
    platform.host.enable("lifecycle")
    answer = client.get("/api/lifecycle/ok")
    assert answer.status_code == 200
    importers = {int(pid) for pid in (data / "imported-by").read_text(encoding="utf-8").split()}
    assert importers and os.getpid() not in importers
    assert answer.get_json()["pid"] in importers
    assert not [name for name in sys.modules if name.startswith("sv_plugins") and name.endswith(".lifecycle")]
    assert platform.host.get("lifecycle").manager is None  # no plugin manager, no hook of it, in the host


def test_sandbox_lifecycle_hooks_run_in_a_worker(lifecycle):
    platform, _, data = lifecycle()
    platform.host.enable("lifecycle")
    enabled_in = int((data / f"enabled-{platform.services.settings.TENANT_DEFAULT}").read_text(encoding="utf-8"))
    assert enabled_in != os.getpid()
    health = platform.host.describe(platform.host.get("lifecycle"), with_health=True)["health"]
    assert health["ok"] is True and health["pid"] != os.getpid()
    platform.host.disable("lifecycle")
    disabled_in = int((data / f"disabled-{platform.services.settings.TENANT_DEFAULT}").read_text(encoding="utf-8"))
    assert disabled_in != os.getpid()
    assert platform.host.tenant_created("acme") == []
    assert int((data / "created-acme").read_text(encoding="utf-8")) != os.getpid()
    timings = platform.host.describe(platform.host.get("lifecycle"))["hooks"]
    assert timings["on_enable"]["calls"] == 1 and timings["on_disable"]["calls"] == 1


def test_sandbox_a_raising_on_enable_refuses_the_tenant_with_its_error(lifecycle):
    platform, client, _ = lifecycle("raise")
    with pytest.raises(ExtHostError, match=r"on_enable.*RuntimeError: on_enable refuses"):
        platform.host.enable("lifecycle")
    assert client.get("/api/lifecycle/ok").status_code == 404  # not mounted: legacy answers, it has no such route
    _still_serving(client)


@pytest.mark.parametrize("mode", ["exit", "hang"])
def test_sandbox_an_on_enable_that_kills_or_hangs_its_worker_fails_only_itself(lifecycle, mode):
    platform, client, _ = lifecycle(mode, deadlineSeconds=2)
    with pytest.raises(ExtHostError, match=r"on_enable") as raised:
        platform.host.enable("lifecycle")
    assert ("died" if mode == "exit" else "deadline") in str(raised.value)
    _still_serving(client)
    info = platform.host.describe(platform.host.get("lifecycle"))
    assert info["hooks"]["on_enable"]["errors"] == 1
    assert info["sandbox"]["events"].get(f"hook:{'exited' if mode == 'exit' else 'deadline'}") == 1


def test_sandbox_a_plugin_that_exits_on_import_is_failed_and_the_host_serves_on(
    settings_factory: Callable[..., Settings], platform_factory: Callable[..., Platform]
) -> None:
    settings = settings_factory(PLUGIN_ENTRY_POINTS=False, PLUGIN_POLL_SECONDS=0)
    write_plugin(settings.PLUGINS_DIR, "hello")
    write_plugin(settings.PLUGINS_DIR, "exiter", EXIT_ON_IMPORT_CODE)
    database = Path(settings.DATABASE_URL.removeprefix("sqlite:///"))
    (database.parent / "db").mkdir()
    moved = database.rename(database.parent / "db" / database.name)
    values = {**settings.model_dump(), "PLUGIN_ISOLATION": "process", "DATABASE_URL": f"sqlite:///{moved}"}
    platform = platform_factory(Settings(_env_file=None, **values))  # type: ignore[call-arg]
    platform.host.enable("hello")
    record = platform.host.get("exiter")
    assert record.state == "failed"
    assert "plugin.json" in (record.reason or "") and "sandbox workers did not start" in (record.reason or "")
    with pytest.raises(ExtHostError, match="exiter"):
        platform.host.enable("exiter")
    client = platform.test_client()
    _still_serving(client)
    (found,) = [plugin for plugin in platform.host.diagnostics()["plugins"] if plugin["name"] == "exiter"]
    assert found["state"] == "failed" and "did not start" in found["reason"]


def test_sandbox_a_pool_whose_gunicorn_dies_backs_off_and_starts_again(lifecycle):
    platform, client, _ = lifecycle()
    platform.host.enable("lifecycle")
    assert client.get("/api/lifecycle/ok").status_code == 200
    pool = platform.host.sandbox.pools["lifecycle"]
    assert pool.process is not None
    os.killpg(pool.process.pid, signal.SIGKILL)
    pool.process.wait(10)
    answer = client.get("/api/lifecycle/ok", headers={"X-Request-Id": "req_down"})
    assert answer.status_code == 503
    assert answer.get_json() == {"error": "Plugin unavailable", "requestId": "req_down"}
    _still_serving(client)
    sandbox = platform.host.describe(platform.host.get("lifecycle"))["sandbox"]
    assert sandbox["state"] == "backoff" and "exited with status" in sandbox["reason"]
    assert sandbox["events"]["poolExits"] == 1
    deadline = time.monotonic() + 60
    while client.get("/api/lifecycle/ok").status_code != 200:
        assert time.monotonic() < deadline, platform.host.describe(platform.host.get("lifecycle"))["sandbox"]
        time.sleep(0.2)
    assert platform.host.describe(platform.host.get("lifecycle"))["sandbox"]["starts"] == 2
