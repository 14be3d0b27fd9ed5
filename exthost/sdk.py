"""The plugin SDK: the one module a plugin may import.

A plugin's entry object implements hooks (see `exthost.hookspecs`) marked with `hookimpl`; every hook receives a
`PluginContext`, which hands the plugin everything it may use of the platform:

    ctx.log        logger carrying the plugin's name and the current tenant
    ctx.config     the plugin's validated config for the request's tenant: manifest defaults, then the deployment's
                   PLUGIN_CONFIG, then the tenant's own values (`sv plugins:config --tenant`); read-only
    ctx.router     a Flask blueprint; its routes must lie under the manifest's mounts
    ctx.db         the database session factory, confined to the manifest's `access` block (its own tables, the
                   platform views it names); `ctx.transaction()` commits on success, rolls back on error
    ctx.tenant     the tenant of the current request, else the default tenant (`tenant-0`)
    ctx.auth       current user, role and project-access checks (the legacy rules, unchanged)
    ctx.caps       `ctx.caps.require("myplugin.thing.write", project_id=...)`
    ctx.clock      time service (pinned by the parity harness);   ctx.ids   id service
    ctx.data_dir   a folder of the plugin's own under DATA_DIR/plugins/<name>
    ctx.feature_dir  a feature plugin's files: the same folder the legacy feature uses (uploads, blog clones)
    ctx.platform   read-only platform settings a feature reimplementation needs (limits, toggles, roots)
    ctx.fetch      outbound HTTP to the hosts the manifest's `access.fetch` lists: a `FetchResponse`, or
                   `FetchDenied` (host not declared) / `FetchFailed` (no answer, too large, too slow)

`HttpError(status, message)` answers a request with that status and `{"error": message}`, like the legacy API;
`FeatureDisabled(feature)` answers the bare 404 of a switched-off project type; `AccessDenied` is what `ctx.db` raises
for a table outside the manifest's `access` block.

For a plugin's alembic revisions: `create_or_adopt(connection, tables)` creates the tables on a new database, or
adopts the same tables an older schema made (checked, never altered; `SchemaMismatch` names each difference).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any, Protocol

from flask import Blueprint, g, has_request_context
from sqlalchemy.orm import Session, sessionmaker

from exthost.adopt import create_or_adopt
from exthost.errors import AccessDenied, CapabilityDenied, ExtHostError, SchemaMismatch
from exthost.fetch import FetchDenied, Fetcher, FetchError, FetchFailed, FetchResponse
from exthost.hookspecs import hookimpl
from exthost.manifest import Manifest
from exthost.platform_data import VIEW_TABLES, ProjectView
from legacy_core import access
from legacy_core.auth import PLATFORM_ADMIN, CurrentUser
from legacy_core.clock import Clock, IdGenerator, isoformat
from legacy_core.db import transaction
from legacy_core.errors import ApiError as HttpError
from legacy_core.errors import FeatureDisabled
from legacy_core.requestctx import current_user as _current_user
from legacy_core.services import Services

__all__ = [
    "AccessDenied",
    "Auth",
    "Capabilities",
    "CurrentUser",
    "FeatureDisabled",
    "FetchDenied",
    "FetchError",
    "FetchFailed",
    "FetchResponse",
    "HttpError",
    "PluginContext",
    "ProjectAccess",
    "ProjectInfo",
    "SchemaMismatch",
    "create_or_adopt",
    "hookimpl",
    "isoformat",
]

TENANT_KEY = "sv_tenant"
# Settings a plugin never sees through ctx.platform: credentials and other plugins' config.
HIDDEN_SETTINGS = frozenset({"DATABASE_URL", "SECRET_KEY", "PLUGIN_CONFIG"})


@dataclass(frozen=True)
class ProjectInfo:
    """A project as plain data (a plugin never holds the legacy ORM object)."""

    id: str
    tenant_id: str
    owner_id: str
    name: str
    slug: str
    description: str
    type: str
    scope: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class ProjectAccess:
    """A project the caller may use, and the caller's effective role on it (viewer, editor or owner)."""

    project: ProjectInfo
    role: str


def _project_access(found: access.ProjectAccess) -> ProjectAccess:
    p = found.project
    info = ProjectInfo(
        id=p.id,
        tenant_id=p.tenant_id,
        owner_id=p.owner_id,
        name=p.name,
        slug=p.slug,
        description=p.description,
        type=p.type,
        scope=p.scope,
        created_at=p.created_at,
        updated_at=p.updated_at,
    )
    return ProjectAccess(project=info, role=found.role)


def request_tenant(default: str) -> str:
    """The tenant of the current request (set by the host before the handler runs), else `default`."""
    if has_request_context():
        return str(g.get(TENANT_KEY) or default)
    return default


class PluginLogger(logging.LoggerAdapter):  # type: ignore[type-arg]
    """Prefixes every record with `[plugin tenant]` and attaches both as record attributes."""

    def __init__(self, logger: logging.Logger, plugin: str, default_tenant: str):
        super().__init__(logger, {"plugin": plugin})
        self.plugin = plugin
        self.default_tenant = default_tenant

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, MutableMapping[str, Any]]:
        tenant = request_tenant(self.default_tenant)
        extra = dict(kwargs.get("extra") or {})
        extra.update(plugin=self.plugin, tenant=tenant)
        kwargs["extra"] = extra
        return f"[{self.plugin} {tenant}] {msg}", kwargs


class Auth:
    """The signed-in user and access checks, with the legacy platform's rules and error answers."""

    def __init__(self, session_factory: sessionmaker[Session], services: Services):
        self._session_factory = session_factory
        self._services = services

    def current_user(self) -> CurrentUser | None:
        return _current_user() if has_request_context() else None

    def require_user(self) -> CurrentUser:
        """The signed-in user, or a 401 answer."""
        user = self.current_user()
        if user is None:
            raise HttpError(401, "Unauthorized")
        return user

    def require_role(self, role: str) -> CurrentUser:
        """The signed-in user holding a platform role (e.g. `platform:admin`), or 401/403."""
        user = self.require_user()
        if role not in user.roles and PLATFORM_ADMIN not in user.roles:
            raise HttpError(403, "Forbidden")
        return user

    def require_project(
        self, db: Session, project_id: str | None, minimum: str = "viewer", *, project_type: str | None = None
    ) -> ProjectAccess:
        """The project with the caller's access checked: 400 missing id, 404 not found, 403 below `minimum`.

        With `project_type`, a project of another type is "not found" and a switched-off type a bare 404.
        It reads the platform's views through `db`: the manifest's access.platform needs projects and project_members.
        """
        found = access.require_project(
            db,
            self.require_user(),
            project_id,
            minimum,
            project_type=project_type,
            settings=self._services.settings,
            tables=VIEW_TABLES,
        )
        return _project_access(found)

    def require_project_visible(self, db: Session, project_id: str) -> None:
        """400 missing id, 404 when no project of that id exists in the caller's tenant; no role is needed."""
        user = self.require_user()
        if not project_id or not project_id.strip():
            raise HttpError(400, "Missing project id")
        project = db.get(ProjectView, project_id)
        if project is None or project.tenant_id != user.tenant_id:
            raise HttpError(404, "Project not found")


class Capabilities:
    """`require(name)`: the capability must be declared in the manifest, and the caller must hold it.

    Platform admins hold every capability; a user holds one explicitly through a platform role of the same name;
    otherwise the manifest's `grant` decides: `platform:user` (anyone signed in), `platform:admin`, or
    `project:viewer|editor|owner` (that role or better on the project named by `project_id`).
    """

    def __init__(self, manifest: Manifest, auth: Auth, session_factory: sessionmaker[Session]):
        self._manifest = manifest
        self._auth = auth
        self._session_factory = session_factory

    def declared(self) -> frozenset[str]:
        return self._manifest.capability_names()

    def require(self, name: str, project_id: str | None = None) -> CurrentUser:
        capability = self._manifest.capability(name)
        if capability is None:
            raise ExtHostError(
                f"plugin {self._manifest.name!r} checked capability {name!r}, which its manifest does not declare; "
                f"add it to 'capabilities' in plugin.json (declared: {sorted(self.declared()) or 'none'})"
            )
        user = self._auth.require_user()
        grant = capability.grant
        held_outright = PLATFORM_ADMIN in user.roles or name in user.roles
        if grant is not None and grant.startswith("project:"):
            if project_id is None:
                raise ExtHostError(f"capability {name!r} is granted per project; pass project_id to caps.require")
            # The project is always looked up, for admins and explicit holders too: it must exist in the caller's
            # tenant (an admin is owner only in their own tenant, as in the legacy rules).
            with self._session_factory() as db:
                if held_outright and PLATFORM_ADMIN not in user.roles:
                    self._auth.require_project_visible(db, project_id)
                else:
                    self._auth.require_project(db, project_id, grant.partition(":")[2])
            return user
        if held_outright:
            return user
        if grant is None:
            raise CapabilityDenied(f"capability {name!r} is not granted", 403)
        if grant in user.roles:
            return user
        raise CapabilityDenied(f"capability {name!r} needs {grant}", 403)


class FetchTransport(Protocol):
    """Who performs a plugin's fetches: a `Fetcher` in this process (inline), or the host (process isolation)."""

    def fetch(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
        follow_redirects: bool = True,
    ) -> FetchResponse: ...


def local_fetcher(manifest: Manifest, settings: Any) -> Fetcher:
    """A fetcher for `manifest`'s plugin in this process: its `access.fetch`, its limits with PLUGIN_LIMITS on top."""
    from exthost.sandbox.limits import limits_for

    limits = limits_for(manifest, settings.PLUGIN_LIMITS)
    return Fetcher(
        manifest.name,
        manifest.access.fetch,
        timeout=limits.fetch_timeout_seconds,
        max_bytes=limits.fetch_max_bytes,
    )


class PluginContext:
    """What a plugin's hooks receive; one per plugin per host. See the module docstring."""

    def __init__(
        self,
        *,
        manifest: Manifest,
        folder: Path,
        config: Mapping[str, Any],
        services: Services,
        session_factory: sessionmaker[Session],
        logger: logging.Logger,
        fetcher: FetchTransport | None = None,
    ):
        """`fetcher`: who performs `ctx.fetch` (default: this process, under the manifest's allow-list)."""
        self.manifest = manifest
        self.name = manifest.name
        self.version = manifest.version
        self.folder = folder
        # A read-only mapping is kept as it is: the host's TenantConfig (exthost.tenant_config) resolves for the
        # request's tenant at each read. Anything writable is copied behind a read-only view.
        read_only = isinstance(config, Mapping) and not isinstance(config, MutableMapping)
        self.config: Mapping[str, Any] = config if read_only else MappingProxyType(dict(config))
        self.default_tenant = services.settings.TENANT_DEFAULT
        self.log = PluginLogger(logger, manifest.name, self.default_tenant)
        self.router = Blueprint(manifest.name, f"sv_plugins.{manifest.name}")
        self.db = session_factory
        self.auth = Auth(session_factory, services)
        self.caps = Capabilities(manifest, self.auth, session_factory)
        self.clock: Clock = services.clock
        self.ids: IdGenerator = services.ids
        self.data_dir = services.settings.DATA_DIR / "plugins" / manifest.name
        self.mounts = tuple(manifest.mounts.prefixes())
        settings = services.settings
        self.platform: Mapping[str, Any] = MappingProxyType(
            {key: getattr(settings, key) for key in type(settings).model_fields if key not in HIDDEN_SETTINGS}
        )
        self._toggles = {kind: settings.project_type_enabled(kind) for kind in access.PROJECT_TYPES}
        feature = manifest.sovereign.feature
        declared = (
            services.features[feature].data_root(settings)
            if feature is not None and feature in services.features
            else None
        )
        self.feature_dir: Path = declared if declared is not None else self.data_dir
        self._fetcher = fetcher
        self._settings = settings

    def fetch(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
        json: Any = None,
        follow_redirects: bool = True,
    ) -> FetchResponse:
        """One HTTP request to a host the manifest's `access.fetch` allows; the whole answer, body included.

        `json` sends a value as a JSON body (with its Content-Type); redirects are followed (at most 5), each checked
        like the first URL. Raises FetchDenied (scheme, host or address not allowed: names the host and the
        manifest key to add) or FetchFailed (no connection, past `limits.fetchTimeoutSeconds`, larger than
        `limits.fetchMaxBytes`, too many redirects); an error status is an answer, not an exception.
        """
        if json is not None:
            if body is not None:
                raise ValueError("pass body or json, not both")
            import json as jsonlib

            body = jsonlib.dumps(json).encode()
            headers = {"Content-Type": "application/json", **(headers or {})}
        if self._fetcher is None:
            self._fetcher = local_fetcher(self.manifest, self._settings)
        return self._fetcher.fetch(method, url, headers=headers, body=body, follow_redirects=follow_redirects)

    def feature_enabled(self, project_type: str) -> bool:
        """Whether the platform's feature toggle for a project type (`blog`, `papertrail`) is on."""
        return self._toggles.get(project_type, False)

    @property
    def tenant(self) -> str:
        return request_tenant(self.default_tenant)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session committed on success and rolled back whole on any error."""
        with transaction(self.db) as session:
            yield session
