"""Loading a plugin's code: import its entry from inside its folder, and build its own Flask app.

The entry module is imported under a private package `sv_plugins.<name>_<hash of folder>` whose path is the plugin
folder, so relative imports work inside a plugin, two hosts loading two folders of the same plugin name never share
modules, and a hot reload drops exactly the plugin's modules. The entry file must resolve inside the plugin folder.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import re
import sys
import traceback
import types
from collections.abc import Callable
from typing import Any

import pluggy
from flask import Flask, g, jsonify
from jinja2 import ChoiceLoader, FileSystemLoader
from werkzeug.wrappers import Response

from exthost.errors import CapabilityDenied, ManifestError, PluginLoadError, did_you_mean
from exthost.hookspecs import HOOK_NAMES, PluginHooks
from exthost.manifest import Manifest, resolve_inside
from exthost.mounts import rule_within_mount
from exthost.records import PluginRecord
from exthost.sdk import TENANT_KEY, PluginContext
from legacy_core.app import PACKAGE_DIR as LEGACY_DIR
from legacy_core.app import install_error_handlers, install_request_hooks
from legacy_core.requestctx import EXTENSION_KEY
from legacy_core.services import Services

NAMESPACE = "sv_plugins"


def explain_hook_error(exc: pluggy.PluginValidationError) -> str:
    """pluggy's validation error as one line: a misspelt hook name, or arguments the hook does not receive."""
    message = str(exc)
    arguments = re.search(r"for hook '(\w+)'.*Argument\(s\) (\{.*?\}) are declared", message, re.DOTALL)
    if arguments is not None:
        hook = arguments.group(1)
        spec = inspect.signature(getattr(PluginHooks, hook))
        accepted = ", ".join(name for name in spec.parameters if name != "self")
        return (
            f"hook {hook!r} declares argument(s) {arguments.group(2)} that it is never given; "
            f"its arguments are ({accepted}) - rename them to match"
        )
    unknown = re.search(r"unknown hook '(\w+)'", message)
    if unknown is not None:
        name = unknown.group(1)
        return f"unknown hook {name!r}{did_you_mean(name, HOOK_NAMES)}; hooks are {', '.join(HOOK_NAMES)}"
    return f"hook validation failed: {message}"


def import_entry(record: PluginRecord, manifest: Manifest, host_token: str) -> Any:
    """The entry object, imported from inside the plugin folder under a package private to one host."""
    module_name, attribute = manifest.sovereign.entry_module, manifest.sovereign.entry_attr
    where = f"{record.manifest_path}: sovereign.entry {manifest.sovereign.entry!r}"
    parts = module_name.split(".")
    candidates = ["/".join(parts) + ".py", "/".join(parts) + "/__init__.py"]
    # Every package on the way to the entry module runs too: each of their __init__.py must stay inside as well.
    parents = ["/".join(parts[:depth]) + "/__init__.py" for depth in range(1, len(parts))]
    try:
        paths = [resolve_inside(record.folder, candidate, "sovereign.entry") for candidate in candidates]
        for parent in parents:
            resolve_inside(record.folder, parent, "sovereign.entry")
    except ManifestError as exc:
        raise PluginLoadError(str(exc)) from exc
    if not any(path.is_file() for path in paths):
        raise PluginLoadError(f"{where}: no file {candidates[0]!r} or {candidates[1]!r} in {record.folder}")
    package = plugin_package(record, host_token)
    full_name = f"{package}.{module_name}"
    try:
        module = importlib.import_module(full_name)
    except (Exception, SystemExit) as exc:  # a plugin calling sys.exit() at import must not stop the host
        forget_modules(record)
        raise PluginLoadError(f"{where}: import failed: {type(exc).__name__}: {exc}{_origin(exc, record)}") from exc
    if not hasattr(module, attribute):
        public = [name for name in vars(module) if not name.startswith("_")]
        raise PluginLoadError(f"{where}: module {module_name!r} has no {attribute!r}{did_you_mean(attribute, public)}")
    target = getattr(module, attribute)
    if isinstance(target, type):
        try:
            return target()
        except (Exception, SystemExit) as exc:
            raise PluginLoadError(
                f"{where}: {attribute}() raised {type(exc).__name__}: {exc}{_origin(exc, record)}"
            ) from exc
    return target


def plugin_package(record: PluginRecord, host_token: str) -> str:
    """A package `sv_plugins.h<host>.<name>_<hash>` whose path is the plugin folder (relative imports work inside).

    The host token keeps two hosts that load the same folder from sharing module state, and one host's shutdown
    or reload from dropping the other's modules.
    """
    host_namespace = f"{NAMESPACE}.h{host_token}"
    for name in (NAMESPACE, host_namespace):
        if name not in sys.modules:
            namespace = types.ModuleType(name, "Private namespace of imported Sovereign plugins.")
            namespace.__path__ = []
            sys.modules[name] = namespace
    digest = hashlib.sha256(str(record.folder.resolve()).encode()).hexdigest()[:10]
    package_name = f"{host_namespace}.{record.name}_{digest}"
    record.module_prefix = package_name
    if package_name not in sys.modules:
        package = types.ModuleType(package_name, f"Plugin {record.name!r} from {record.folder}")
        package.__path__ = [str(record.folder.resolve())]
        package.__package__ = package_name
        sys.modules[package_name] = package
    return package_name


def forget_modules(record: PluginRecord) -> None:
    """Drop the plugin's modules, so the next load (or a hot reload) imports its code afresh."""
    if not record.module_prefix:
        return
    for name in [m for m in sys.modules if m == record.module_prefix or m.startswith(record.module_prefix + ".")]:
        del sys.modules[name]


def build_plugin_app(
    record: PluginRecord,
    context: PluginContext,
    services: Services,
    on_error: Callable[[PluginRecord, BaseException], None],
) -> Flask:
    """The plugin's own Flask app: its blueprint plus the platform's request hooks and error answers."""
    manifest = record.manifest
    assert manifest is not None
    # The legacy static folder is declared (never served: the dispatcher sends /static to the legacy app) so the
    # legacy layout and error page the plugin's pages extend can build their `url_for('static', ...)` links.
    app = Flask(f"sv_plugin_{record.name}", static_folder=str(LEGACY_DIR / "static"), static_url_path="/static")
    app.config.update(SECRET_KEY=services.settings.SECRET_KEY, MAX_CONTENT_LENGTH=None)
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions[EXTENSION_KEY] = services
    app.jinja_loader = ChoiceLoader(
        [FileSystemLoader(str(record.folder / "templates")), FileSystemLoader(str(LEGACY_DIR / "templates"))]
    )
    install_request_hooks(app, services)
    install_error_handlers(app, services)
    default_tenant = services.settings.TENANT_DEFAULT
    plugin_logger = context.log

    @app.before_request
    def _tenant() -> None:
        user = g.get("sv_user")
        g.setdefault(TENANT_KEY, user.tenant_id if user is not None else default_tenant)

    @app.errorhandler(CapabilityDenied)
    def _denied(error: CapabilityDenied) -> Response:
        response = jsonify({"error": "Forbidden" if error.status == 403 else "Unauthorized"})
        response.status_code = error.status
        return response

    @app.errorhandler(Exception)
    def _unexpected(error: Exception) -> Response:
        plugin_logger.error(
            "unhandled error in plugin %s on %s (request %s): %s",
            record.name,
            _request_line(),
            g.get("request_id"),
            "".join(traceback.format_exception(error)),
        )
        on_error(record, error)
        response = jsonify({"error": "Internal server error", "requestId": g.get("request_id")})
        response.status_code = 500
        return response

    try:
        app.register_blueprint(context.router)
    except Exception as exc:
        raise PluginLoadError(f"{record.manifest_path}: its router cannot be mounted: {exc}") from exc
    prefixes = manifest.mounts.prefixes()
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        if not any(rule_within_mount(rule.rule, prefix) for prefix in prefixes):
            raise PluginLoadError(
                f"{record.manifest_path}: route {rule.rule!r} ({rule.endpoint}) lies outside the declared "
                f"mounts {prefixes}; move the route under a mount or declare the mount in plugin.json"
            )
    return app


def raised_in_plugin(exc: BaseException, record: PluginRecord) -> bool:
    """Whether the exception passed through the plugin's own code (any traceback frame inside its folder)."""
    folder = str(record.folder.resolve())
    return any(frame.filename.startswith(folder) for frame in traceback.extract_tb(exc.__traceback__))


def _origin(exc: BaseException, record: PluginRecord) -> str:
    """' (at plugin/file.py:12)' for the innermost traceback frame inside the plugin's folder."""
    folder = str(record.folder.resolve())
    found = ""
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename.startswith(folder):
            found = f" (at {frame.filename}:{frame.lineno})"
    if not found and isinstance(exc, SyntaxError) and exc.filename:
        found = f" (at {exc.filename}:{exc.lineno})"
    return found


def _request_line() -> str:
    from flask import request

    return f"{request.method} {request.path}"
