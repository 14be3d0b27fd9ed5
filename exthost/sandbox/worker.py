"""The worker side of the sandbox: one plugin's app served by gunicorn on a Unix socket, in processes that limit and
confine themselves. Started by the host's supervisor as `python -m exthost.sandbox.worker`, its spec on stdin.

gunicorn does the process management: sync workers (one request per process at a time), `timeout` as the
per-request deadline (the arbiter kills a worker past it and starts another), `max_requests`, and respawning
workers that die. Each worker applies the limits (setrlimit) right after the fork, loads the plugin, then confines
its files (Landlock) before it accepts a request. The arbiter stops itself when the host that started it is gone.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hmac
import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gunicorn.app.base import BaseApplication

from exthost.sandbox.confine import (
    apply_rlimits,
    confine_files,
    confine_network,
    confine_sockets,
    runtime_paths,
    runtime_writable,
    user_only_umask,
)
from exthost.sandbox.limits import SandboxLimits
from exthost.sandbox.wire import (
    CONTENDED_ANSWER,
    ERROR_ANSWER,
    HOOK_PATH,
    PING_PATH,
    PINS_HEADER,
    REMOTE_HEADER,
    REMOTE_HOOKS,
    RUN_HEADER,
    SCHEME_HEADER,
    SCRIPT_HEADER,
    TENANT_HOOKS,
    TOKEN_HEADER,
    USER_HEADER,
    status_line,
)

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

log = logging.getLogger("sovereign.sandbox.worker")

ERROR_KEY = "sovereign.sandbox.plugin_error"


def spec_limits(spec: dict[str, Any]) -> SandboxLimits:
    return SandboxLimits(**spec["limits"])


class SandboxedApp:
    """The worker's WSGI app: admits only the host (the pool's token), takes the caller the host resolved, and runs
    the plugin app plainly, as a guarded write (committed only when it answers below 500) or as a throw-away replay
    (rolled back, with the time and ids the host pinned)."""

    def __init__(
        self,
        app: WSGIApplication,
        token: str,
        services: Any,
        lock_timeout_ms: int,
        run_hook: Callable[[str, str | None], Any] | None = None,
    ):
        self.app = app
        self.token = token
        self.services = services
        self.lock_timeout_ms = lock_timeout_ms
        self.run_hook = run_hook

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        from legacy_core.app import RESOLVED_USER_KEY

        token = str(environ.pop(TOKEN_HEADER, ""))
        if not hmac.compare_digest(token.encode(), self.token.encode()):
            start_response("403 Forbidden", [("Content-Type", "application/json")])
            return [b'{"error":"Forbidden"}']
        if environ.get("PATH_INFO") == PING_PATH:
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"ok"]
        if environ.get("PATH_INFO") == HOOK_PATH and self.run_hook is not None:
            return self._hook(environ, start_response)
        user = environ.pop(USER_HEADER, None)
        if user is not None:
            environ[RESOLVED_USER_KEY] = _user(str(user))
        environ["wsgi.url_scheme"] = str(environ.pop(SCHEME_HEADER, "http"))
        environ["REMOTE_ADDR"] = str(environ.pop(REMOTE_HEADER, ""))
        script = str(environ.pop(SCRIPT_HEADER, ""))
        if script:
            from urllib.parse import unquote_to_bytes

            name = unquote_to_bytes(script).decode("latin-1")
            path = str(environ.get("PATH_INFO", ""))
            if path.startswith(name):
                environ["SCRIPT_NAME"], environ["PATH_INFO"] = name, path[len(name) :]
        run = str(environ.pop(RUN_HEADER, ""))
        pins = environ.pop(PINS_HEADER, None)
        for key in [k for k in environ if k.startswith("HTTP_X_SV_")]:
            del environ[key]
        # The plugin app's error handler notes its unhandled errors here (shared by the copies call_wsgi makes).
        errors: list[str] = []
        environ[ERROR_KEY] = errors
        if not run:
            return self.app(environ, self._marking(errors, start_response))
        return self._isolated(run, pins, environ, start_response, errors)

    def _hook(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        """Run one lifecycle hook the host asks for; its result, or the error it raised, as JSON."""
        assert self.run_hook is not None
        asked = json.loads(environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0) or -1) or b"{}")
        hook, tenant = asked.get("hook"), asked.get("tenant")
        if hook not in REMOTE_HOOKS:
            start_response("400 Bad Request", [("Content-Type", "application/json")])
            return [json.dumps({"ok": False, "error": f"no hook {hook!r} runs here"}).encode()]
        try:
            result = self.run_hook(str(hook), None if tenant is None else str(tenant))
            try:
                answer = json.dumps({"ok": True, "result": result})
            except (TypeError, ValueError):
                # health's report must be a JSON object; the host says so from what it gets instead.
                answer = json.dumps({"ok": True, "result": f"<{type(result).__name__} that is not JSON>"})
        except (Exception, SystemExit) as exc:  # a hook calling sys.exit() fails the hook, not the worker
            log.error("hook %s raised", hook, exc_info=True)
            answer = json.dumps({"ok": False, "error": f"{type(exc).__name__}: {exc}"})
        start_response("200 OK", [("Content-Type", "application/json")])
        return [answer.encode()]

    def _marking(self, errors: list[str], start_response: StartResponse) -> StartResponse:
        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            if errors:
                headers = [*headers, (ERROR_ANSWER, errors[-1])]
            return start_response(status, headers, exc_info) if exc_info else start_response(status, headers)

        return start

    def _isolated(
        self, run: str, pins: Any, environ: WSGIEnvironment, start_response: StartResponse, errors: list[str]
    ) -> Iterable[bytes]:
        from exthost.evidence.capture import call_wsgi
        from exthost.rollout.isolation import ReplayClock, contention, isolated, pinned
        from legacy_core.clock import SequentialIds

        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0) or -1)
        engine = self.services.engine
        answer: list[Any] = []
        lost: list[str] = []
        if run == "guarded":
            with isolated(engine, immediate=True, keep=lambda: bool(answer) and answer[0].status < 500):
                answer.append(call_wsgi(self.app, environ, body))
        else:
            data = json.loads(str(pins)) if pins else {}
            from datetime import datetime

            instants = tuple(datetime.fromisoformat(moment) for moment in data.get("instants", ()))
            clock = ReplayClock(instants) if instants else None
            ids = SequentialIds(str(data["seed"])) if data.get("seed") is not None else None
            try:
                with (
                    contention() as lost,
                    isolated(engine, immediate=run == "throwaway-write", lock_timeout_ms=self.lock_timeout_ms),
                    pinned(clock=clock, ids=ids),
                ):
                    answer.append(call_wsgi(self.app, environ, body))
            except Exception:
                if not lost:
                    raise
                # The replay lost a lock to other traffic (on SQLite: the host's own replay of the write holds the
                # write lock) before it could answer: the host counts contention, never the plugin's failure.
                headers = [("Content-Type", "application/json"), (CONTENDED_ANSWER, lost[0])]
                start_response("503 Service Unavailable", headers)
                return [b'{"error":"Replay lost a lock"}']
        response = answer[0]
        headers = list(response.headers)
        if errors:
            headers.append((ERROR_ANSWER, errors[-1]))
        if lost:
            headers.append((CONTENDED_ANSWER, lost[0]))
        start_response(status_line(response.status), headers)
        return [response.body]


def _user(value: str) -> Any:
    from legacy_core.auth import CurrentUser

    data = json.loads(value)
    if data is None:
        return None
    return CurrentUser(
        id=data["id"], email=data["email"], name=data["name"], tenant_id=data["tenant"], roles=frozenset(data["roles"])
    )


def build_app(spec: dict[str, Any]) -> WSGIApplication:
    """Load the plugin as the host does (manifest, config, entry, hooks, register) and wrap its Flask app."""
    import pluggy
    from flask import request

    from exthost.access import AccessPolicy
    from exthost.hookspecs import PROJECT, PluginHooks
    from exthost.loader import build_plugin_app, import_entry, raised_in_plugin
    from exthost.manifest import load_manifest
    from exthost.plugin_db import PluginSessionFactory
    from exthost.records import PluginRecord
    from exthost.rollout.isolation import IsolatingSessionFactory, SwitchableClock, SwitchableIds
    from exthost.sandbox.fetchgate import RemoteFetcher
    from exthost.sdk import PluginContext, request_tenant
    from exthost.tenant_config import ConfigSnapshot, TenantConfigStore, deployment_config
    from exthost.trust.sources import install_source_finders
    from legacy_core.app import build_services
    from legacy_core.clock import RandomIds, SystemClock
    from legacy_core.settings import Settings

    settings = Settings(_env_file=None, **spec["settings"])  # type: ignore[call-arg]
    name, folder = spec["plugin"], Path(spec["folder"])
    services = build_services(
        settings, clock=SwitchableClock(SystemClock()), ids=SwitchableIds(RandomIds()), name=f"sandbox.{name}"
    )
    services = dataclasses.replace(
        services, session_factory=IsolatingSessionFactory(bind=services.engine, expire_on_commit=False)
    )
    record = PluginRecord(name=name, folder=folder, source="sandbox")
    record.manifest = manifest = load_manifest(record.manifest_path, services.features.names)
    # The tenant layer of ctx.config comes from the shared table, read here as the host reads it (the worker reaches
    # the database anyway), limited to this plugin's rows and re-read when its counter moves.
    store = TenantConfigStore(
        services.session_factory,
        initial=ConfigSnapshot(0),
        poll_seconds=settings.PLUGIN_POLL_SECONDS,
        plugin=name,
        # Logged in as the plugin's role (PostgreSQL), the worker reads its own rows through the role's view.
        own_view=spec.get("databaseRole") is not None,
    )
    config = deployment_config(manifest, settings, store, lambda: request_tenant(settings.TENANT_DEFAULT))
    if spec.get("sourceOnly"):
        install_source_finders(folder, spec.get("signedFiles"))
    implementation = import_entry(record, manifest, f"sandbox{os.getpid()}")
    manager = pluggy.PluginManager(PROJECT)
    manager.add_hookspecs(PluginHooks)
    manager.register(implementation, name=name)
    # The worker's engine already connects as the plugin's role on PostgreSQL (the supervisor's spec); ctx.db is
    # confined the same way as in the host, so refusals read alike.
    plugin_db = PluginSessionFactory(
        AccessPolicy.of(manifest, str(record.manifest_path)), services.engine, spec.get("databaseRole")
    )
    context = PluginContext(
        manifest=manifest,
        folder=folder,
        config=config,
        services=services,
        session_factory=plugin_db,
        logger=logging.getLogger(f"sovereign.plugin.{name}"),
        fetcher=RemoteFetcher(spec["fetchSocket"], spec["fetchToken"], float(spec["fetchTimeout"])),
    )
    record.manager, record.context = manager, context
    manager.hook.register(ctx=context)

    def on_error(failed: PluginRecord, error: BaseException) -> None:
        if raised_in_plugin(error, failed):
            noted = request.environ.get(ERROR_KEY)
            if isinstance(noted, list):
                noted.append(type(error).__name__)

    def run_hook(hook: str, tenant: str | None) -> Any:
        caller = getattr(manager.hook, hook)
        return caller(ctx=context, tenant=tenant) if hook in TENANT_HOOKS else caller(ctx=context)

    app = build_plugin_app(record, context, services, on_error)
    return SandboxedApp(app, spec["token"], services, int(spec.get("lockTimeoutMs", 200)), run_hook)


class PluginServer(BaseApplication):  # type: ignore[misc]
    """gunicorn, configured in code from the spec (no config file, no command line of its own)."""

    def __init__(self, spec: dict[str, Any]):
        self.spec = spec
        self.limits = spec_limits(spec)
        super().__init__()

    def load_config(self) -> None:
        limits, spec = self.limits, self.spec
        options = {
            "bind": [f"unix:{spec['socket']}"],
            "workers": limits.workers,
            "worker_class": "sync",
            "timeout": limits.deadline_seconds,
            "graceful_timeout": 3,
            "max_requests": limits.max_requests,
            "max_requests_jitter": max(limits.max_requests // 10, 0),
            "umask": 0o077,
            "proc_name": f"sv-plugin-{spec['plugin']}",
            "loglevel": "warning",
            "accesslog": None,
            "post_fork": self._post_fork,
            "child_exit": self._child_exit,
            "worker_abort": self._worker_abort,
            "when_ready": self._when_ready,
            "control_socket_disable": True,
        }
        for key, value in options.items():
            self.cfg.set(key, value)

    def load(self) -> WSGIApplication:
        try:
            return build_app(self.spec)
        except BaseException as exc:
            # The host shows why no worker came up (the plugin's own error, with its file and line), not only
            # gunicorn's exit status; the traceback goes to the log as before.
            from exthost.errors import ExtHostError

            error = str(exc) if isinstance(exc, ExtHostError) else f"{type(exc).__name__}: {exc}"
            # In the plugin's own folder: a confined worker may write nowhere else (the plugin could write this
            # file itself, so it says only what the plugin's workers claim, shown as such).
            with contextlib.suppress(OSError):
                Path(self.spec["bootError"]).write_text(error[:2000], encoding="utf-8")
            raise

    def _post_fork(self, server: Any, worker: Any) -> None:
        # Limits and file confinement before the plugin's code is even imported (its module-level code included).
        apply_rlimits(self.limits)
        spec = self.spec
        read = [*runtime_paths(), *(Path(p) for p in spec["read"])]
        write = [*runtime_writable(), *(Path(p) for p in spec["write"])]
        outcome = confine_files(read, write)
        if outcome.startswith("none"):
            log.warning("plugin %s: %s", spec["plugin"], outcome)
        # TCP: the database's port only; ctx.fetch goes through the host (its gate's Unix socket).
        network = confine_network((int(port) for port in spec.get("connectPorts", ())), movable=write)
        if network.startswith("none"):
            log.warning("plugin %s: %s", spec["plugin"], network)
        # UDP (and so DNS, QUIC), raw and packet sockets: the database's address comes resolved in the spec.
        sockets = confine_sockets(udp=bool(spec.get("udp")))
        if sockets.startswith("none"):
            log.warning("plugin %s: UDP and raw sockets not confined: %s", spec["plugin"], sockets)

    def _worker_abort(self, worker: Any) -> None:
        # In the worker, on gunicorn's timeout signal: end at once. gunicorn would raise SystemExit into the
        # handler (which a plugin could catch) and answer a 500 of its own; the host answers 504 instead.
        os._exit(1)

    def _child_exit(self, server: Any, worker: Any) -> None:
        # In the arbiter: a worker is gone. gunicorn marks the ones it killed past the timeout (`aborted`); the host
        # reads these lines to tell a deadline kill (504) from any other death (502).
        kind = "deadline" if getattr(worker, "aborted", False) else "exited"
        line = json.dumps({"pid": worker.pid, "kind": kind, "at": time.time()})
        with open(self.spec["events"], "a", encoding="utf-8") as events:
            events.write(line + "\n")

    def _when_ready(self, server: Any) -> None:
        parent = int(self.spec["parent"])

        def watch() -> None:
            # The host that started this pool is gone (killed without stopping it): stop with it.
            while os.getppid() == parent:
                time.sleep(1.0)
            os.kill(os.getpid(), signal.SIGTERM)

        threading.Thread(target=watch, name="sv-sandbox-parent-watch", daemon=True).start()


def main() -> None:
    """Read the spec from stdin and run the plugin's gunicorn until the host stops it."""
    user_only_umask()
    spec = json.loads(sys.stdin.read())
    logging.basicConfig(level=logging.WARNING, format=f"[sv-plugin {spec['plugin']}] %(levelname)s %(message)s")
    PluginServer(spec).run()


if __name__ == "__main__":
    main()
