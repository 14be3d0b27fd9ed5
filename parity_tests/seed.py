"""The harness's template state: migrated, both plugins enabled, and a small world seeded through the API.

The world: four users (alice owns a PaperTrail project and a Blog project; bob edits and carol views both; dave
is a stranger to them), a board with nodes, an edge and a comment, and a blog configured on the shared remote URL
with the demo posts. Each user has a session in the template, so a generated case can act as anyone without a
login request; a recorded session brings its own login (its redacted password is replaced by `SEED_PASSWORD`).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher
from sqlalchemy import column as sa_column
from sqlalchemy import select
from sqlalchemy import table as sa_table
from sqlalchemy import update as sa_update

from exthost.deploy import features_missing_tables, migrate_plugins, upgrade_feature_plugins
from exthost.evidence.compare import CapturedRequest
from exthost.evidence.snapshot import Snapshot, copy_rows, copy_sqlite
from exthost.platform import Platform, create_platform
from legacy_core.clock import FixedClock, SequentialIds
from legacy_core.db import make_engine
from legacy_core.features import feature_set, load_object
from legacy_core.migrate import upgrade
from legacy_core.models import Tenant
from legacy_core.settings import Settings
from parity_tests import postgres
from parity_tests.client import send
from parity_tests.state import T0, Layout, commit_dates

SEED_PASSWORD = "parity-harness-password"
# argon2 work per hash: the harness's passwords guard nothing, and every recorded login verifies one on each side.
HARNESS_ARGON2_KIB = 1024
SEED_FILE = "seed.json"
# The empty repository that stands for every remote a snapshot could not copy (`template_from_snapshot`).
UNCAPTURED = "uncaptured.git"
USERS = {"alice": "owner", "bob": "editor", "carol": "viewer", "dave": None}
REPO_PLUGINS = Path(__file__).resolve().parent.parent / "plugins"


@dataclass(frozen=True)
class SeedUser:
    name: str
    id: str
    email: str
    token: str
    role: str | None


@dataclass(frozen=True)
class Seed:
    """What the template holds, by name: users with their session tokens, and each feature's project and items."""

    cookie: str
    password: str
    remote_url: str
    users: dict[str, SeedUser]
    projects: dict[str, dict[str, Any]]
    # A template made from a snapshot (`template_from_snapshot`): its folder, and each recorded remote URL mapped to
    # the URL of its copy in the workspace.
    snapshot: str | None = None
    remotes: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Seed:
        users = {name: SeedUser(**user) for name, user in data["users"].items()}
        return cls(
            data["cookie"],
            data["password"],
            data["remote_url"],
            users,
            data["projects"],
            data.get("snapshot"),
            dict(data.get("remotes") or {}),
        )

    def email_of(self, name: str) -> str:
        return self.users[name].email


# Size limits the harness runs with unless the settings it is given set them: the edge cases probe each limit at
# limit-1, limit and limit+1 bytes, and every request body stays in the run's results, so the defaults (10 MB
# uploads, 50 MB imports) would make a run hold hundreds of megabytes. Both sides read the same values.
HARNESS_SIZE_LIMITS = {
    "PAPERTRAIL_UPLOAD_MAX_BYTES": 1024 * 1024,
    "PAPERTRAIL_IMPORT_MAX_BYTES": 4 * 1024 * 1024,
    "MAX_CONTENT_LENGTH": 4 * 1024 * 1024,
}


def side_settings(
    layout: Layout,
    name: str,
    *,
    base: Settings | None = None,
    plugins_dir: Path | None = None,
    rules_file: Path | None = None,
    flags: dict[str, str] | None = None,
) -> Settings:
    """Settings of one side (or "template"): its own database and data folder, the shared remotes root, the
    given plugins folder and noise rules, and flags fixed in FEATURE_FLAGS (no flag table read decides a case)."""
    values: dict[str, Any] = {} if base is None else base.model_dump()
    side = layout.side(name)
    values.update(
        DATABASE_URL=layout.database_url(name),
        DATA_DIR=side / "data",
        PAPERTRAIL_DATA_ROOT=None,
        BLOG_DATA_ROOT=None,
        PLUGINS_DIR=(plugins_dir or (base.PLUGINS_DIR if base is not None else REPO_PLUGINS)).resolve(),
        PLUGIN_ENTRY_POINTS=False,
        BLOG_NETWORK_REMOTES=False,
        BLOG_LOCAL_REMOTES_ROOT=layout.root,
        FEATURE_FLAGS=flags or {},
        SHADOW_RUNNER="thread",
        SHADOW_RULES_FILE=rules_file.resolve() if rules_file is not None else values.get("SHADOW_RULES_FILE"),
        # The flags of a side never change during a run: no poll needed.
        FLAGS_POLL_SECONDS=3600.0,
        # A plugin that keeps failing must show as failing answers, not be disabled (legacy would answer instead).
        PLUGIN_ERROR_BUDGET=0,
    )
    for feature in feature_set(values.get("EXTRA_FEATURES") or ()):
        if feature.project_type is not None:
            values[f"FT_PROJECT_TYPE_{feature.project_type.upper()}"] = True
    chosen = base.model_fields_set if base is not None else set()
    for name, limit in HARNESS_SIZE_LIMITS.items():
        if name not in chosen:
            values[name] = limit
    return Settings(_env_file=None, **{key: value for key, value in values.items() if key in Settings.model_fields})  # type: ignore[call-arg]


class _Seeder:
    """Drives the template platform through its API, as a user would, failing loudly on any unexpected answer."""

    def __init__(self, platform: Platform):
        self.platform = platform
        self.jars: dict[str, dict[str, str]] = {}  # each user's cookies, as their browser would keep them

    def call(self, user: str, method: str, path: str, body: Any = None) -> Any:
        data = json.dumps(body).encode() if body is not None else b""
        request = CapturedRequest(method, path, headers=(("Content-Type", "application/json"),), body=data)
        response = send(self.platform, request, self.jars.setdefault(user, {}))
        if response.status >= 400:
            raise RuntimeError(
                f"seeding the parity template: {method} {path} answered {response.status}: {response.body[:300]!r}"
            )
        return json.loads(response.body) if response.body else None


def _seed(platform: Platform, layout: Layout) -> Seed:
    """The seed users, then each feature's project and declared seed calls (`Feature.seed`), through the API."""
    settings = platform.services.settings
    cookie = settings.AUTH_SESSION_COOKIE_NAME
    seeder = _Seeder(platform)
    users: dict[str, SeedUser] = {}
    for name, role in USERS.items():
        email = f"{name}@example.test"
        answer = seeder.call(name, "POST", "/register", {"email": email, "password": SEED_PASSWORD, "name": name})
        users[name] = SeedUser(name, str(answer["user"]["id"]), email, seeder.jars[name][cookie], role)
    projects: dict[str, dict[str, Any]] = {}
    # Every feature's project first, then every feature's seed calls: the ids they get (sequential, pinned) are
    # what the bundled recordings were recorded against.
    every: dict[str, dict[str, Any]] = {}
    for feature in platform.services.features:
        values: dict[str, Any] = every.setdefault(feature.name, {"remote_url": layout.remote_url})
        if feature.project_type is not None:
            title = feature.project_title or feature.name
            created = seeder.call("alice", "POST", "/api/projects", {"name": title, "type": feature.project_type})
            values["project"] = str(created["id"])
            for name, role in USERS.items():
                if role not in (None, "owner"):
                    path = f"/api/projects/{values['project']}/shares"
                    seeder.call("alice", "POST", path, {"email": users[name].email, "role": role})
    for feature in platform.services.features:
        values = every[feature.name]
        if feature.remote is not None:
            layout.point("template")
        for call in feature.seed:
            where = f"feature {feature.name!r}: seed call {call.method} {call.path}"
            path, body = _filled(call.path, values, where), _filled(call.body, values, where)
            answer = seeder.call(call.user, call.method, path, body)
            for name, path in call.keep.items():
                values[name] = _kept(answer, path, where)
        kept = {name: value for name, value in values.items() if name not in ("remote_url", "project")}
        projects[feature.name] = {**({"id": values["project"]} if "project" in values else {}), **kept}
    return Seed(cookie, SEED_PASSWORD, layout.remote_url, users, projects)


_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _filled(value: Any, values: dict[str, Any], where: str) -> Any:
    """`value` (a path or a JSON body) with every `{name}` in its strings replaced by the seeded value `name`."""
    if isinstance(value, str):

        def replace(match: re.Match[str]) -> str:
            if match.group(1) not in values:
                raise HarnessSeedError(
                    f"{where}: {match.group(0)!r} names no seeded value; known: {', '.join(sorted(values))}"
                )
            return str(values[match.group(1)])

        return _PLACEHOLDER.sub(replace, value)
    if isinstance(value, dict):
        return {key: _filled(item, values, where) for key, item in value.items()}
    if isinstance(value, list):
        return [_filled(item, values, where) for item in value]
    return value


def _kept(answer: Any, path: str, where: str) -> Any:
    """The value at dotted `path` of an answer: `*` walks a list (giving a list, in the answer's order, sorted with
    a `|sorted` suffix), and a path in brackets (`[comment.id]`) gives its one value as a list."""
    path, _, modifier = path.partition("|")
    wrap = path.startswith("[") and path.endswith("]")
    found, many = [answer], False
    for part in (path[1:-1] if wrap else path).split("."):
        if part == "*":
            many = True
            found = [item for value in found if isinstance(value, list) for item in value]
            continue
        missing = [value for value in found if not isinstance(value, dict) or part not in value]
        if missing:
            raise HarnessSeedError(f"{where}: keep {path!r}: the answer has no {part!r} there: {str(answer)[:200]}")
        found = [value[part] for value in found]
    if many:
        return sorted(found) if modifier == "sorted" else found
    return [found[0]] if wrap else found[0]


class HarnessSeedError(RuntimeError):
    """A feature's seed declaration does not fit the answers it gets; the message names the feature and the call."""


def build_template(
    layout: Layout, *, base: Settings | None = None, plugins_dir: Path | None = None, rules_file: Path | None = None
) -> Seed:
    """The workspace's template (built unless `seed.json` says it is done, and, on PostgreSQL, its database is
    there) and what it holds."""
    seed_file = layout.template / SEED_FILE
    if seed_file.exists() and (layout.postgres is None or layout.postgres.exists("template")):
        return Seed.from_json(json.loads(seed_file.read_text(encoding="utf-8")))
    shutil.rmtree(layout.template, ignore_errors=True)  # a half-built one, or one whose database is gone
    layout.template.mkdir(parents=True, exist_ok=True)
    if layout.postgres is not None:
        layout.postgres.create_empty("template")
    settings = side_settings(layout, "template", base=base, plugins_dir=plugins_dir, rules_file=rules_file)
    _migrate(settings, settings.DATABASE_URL)
    for feature in feature_set(settings.EXTRA_FEATURES):
        if feature.remote is not None:
            load_object(feature.remote, f"feature {feature.name!r}: remote")(layout.remote("template"), T0)
    platform = create_platform(
        settings,
        clock=FixedClock(start=T0),
        ids=SequentialIds(seed="0"),
        argon2_memory_kib=HARNESS_ARGON2_KIB,
        name="parity-template",
    )
    try:
        for plugin in sorted(platform.host.plugins):
            platform.host.enable(plugin, None)
        with commit_dates():
            seed = _seed(platform, layout)
    finally:
        platform.close()
    _finish_template(layout, settings)
    seed_file.write_text(json.dumps(seed.to_json(), indent=2, sort_keys=True), encoding="utf-8")
    return seed


def template_from_snapshot(
    layout: Layout,
    snapshot: Snapshot,
    *,
    base: Settings | None = None,
    plugins_dir: Path | None = None,
    rules_file: Path | None = None,
) -> Seed:
    """The workspace's template made from a deployment's snapshot (`sv parity:record --on --snapshot`), so recorded
    sessions replay from the state they began on. Both sides start from the same template, so the changes made
    here (the same on both) cannot hide a difference:

    - the database is brought to the current revisions, and every plugin enabled for every tenant;
    - every password becomes the harness's (a recorded login's password was redacted), hashed once;
    - the recording switch copied with the database is off (a replay must not record into the deployment's folder);
    - each captured git remote lives in the workspace, in the folder the shared remote link leads to, and the
      blogs' configurations and working clones name it there (a replay must never push to the deployment's remote).
    """
    seed_file = layout.template / SEED_FILE
    if seed_file.exists() and (layout.postgres is None or layout.postgres.exists("template")):
        return Seed.from_json(json.loads(seed_file.read_text(encoding="utf-8")))
    shutil.rmtree(layout.template, ignore_errors=True)  # a half-built one, or one whose database is gone
    layout.template.mkdir(parents=True, exist_ok=True)
    settings = side_settings(layout, "template", base=base, plugins_dir=plugins_dir, rules_file=rules_file)
    _template_database(layout, snapshot, settings)
    declared = {feature.name: feature.data_root(settings) for feature in feature_set(settings.EXTRA_FEATURES)}
    folders = {name: folder for name, folder in declared.items() if folder is not None}
    for feature, relative in snapshot.data.items():
        if feature in folders and (snapshot.path / relative).is_dir():
            shutil.copytree(snapshot.path / relative, folders[feature], symlinks=True)
    remotes: dict[str, str] = {}
    mirrors = layout.remote("template")  # a folder of the captured remotes: the shared link leads to a side's copy
    mirrors.mkdir(parents=True, exist_ok=True)
    for url, relative in sorted(snapshot.remotes.items()):
        name = Path(relative).name
        shutil.copytree(snapshot.path / relative, mirrors / name, symlinks=True)
        remotes[url] = f"{layout.remote_url}/{name}"
    # A remote the snapshot could not copy (over the network, or missing then) is replaced by an empty repository in
    # the workspace, in the configurations and the clones alike: a replay must never reach the deployment's remote.
    subprocess.run(["git", "init", "--bare", "--quiet", str(mirrors / UNCAPTURED)], check=True, timeout=60)
    nowhere = f"{layout.remote_url}/{UNCAPTURED}"
    engine = make_engine(settings.DATABASE_URL)
    try:
        with engine.begin() as database:
            hashed = PasswordHasher(memory_cost=HARNESS_ARGON2_KIB).hash(SEED_PASSWORD)
            database.execute(sa_update(sa_table("users", sa_column("password_hash"))).values(password_hash=hashed))
            database.execute(sa_update(sa_table("sv_recording", sa_column("enabled"))).values(enabled=False))
            configs = sa_table("blog_configs", sa_column("repo_url"))
            for old, new in remotes.items():
                database.execute(sa_update(configs).where(configs.c.repo_url == old).values(repo_url=new))
            kept = sorted(remotes.values())
            database.execute(sa_update(configs).where(configs.c.repo_url.not_in(kept)).values(repo_url=nowhere))
    finally:
        engine.dispose()
    _point_clones(settings.blog_root, remotes, nowhere)
    platform = create_platform(settings, argon2_memory_kib=HARNESS_ARGON2_KIB, name="parity-template")
    try:
        with platform.services.session_factory() as db:
            tenants = sorted(set(db.scalars(select(Tenant.id))) | {settings.TENANT_DEFAULT})
        for plugin in sorted(platform.host.plugins):
            for tenant in tenants:
                platform.host.enable(plugin, tenant)
    finally:
        platform.close()
    _finish_template(layout, settings)
    cookie = settings.AUTH_SESSION_COOKIE_NAME
    seed = Seed(cookie, SEED_PASSWORD, layout.remote_url, {}, {}, str(snapshot.path), remotes)
    seed_file.write_text(json.dumps(seed.to_json(), indent=2, sort_keys=True), encoding="utf-8")
    return seed


def _template_database(layout: Layout, snapshot: Snapshot, settings: Settings) -> None:
    """The template's database from the snapshot's, at the current revisions. On SQLite, a copy of the snapshot's
    file, migrated; on PostgreSQL, the snapshot's file is copied and migrated beside the template, then its rows go
    into the template's own database, migrated alike (`copy_rows`), so the replays run on the server's engine."""
    if layout.postgres is None:
        copy_sqlite(snapshot.database, layout.database("template"))
        _migrate(settings, settings.DATABASE_URL)
        return
    staged = layout.template / "snapshot-migrated.db"
    copy_sqlite(snapshot.database, staged)
    try:
        _migrate(settings, f"sqlite:///{staged}")
        layout.postgres.create_empty("template")
        _migrate(settings, settings.DATABASE_URL)
        source, sink = make_engine(f"sqlite:///{staged}"), make_engine(settings.DATABASE_URL)
        try:
            copy_rows(source, sink)
        finally:
            source.dispose()
            sink.dispose()
    finally:
        staged.unlink(missing_ok=True)


def _finish_template(layout: Layout, settings: Settings) -> None:
    """On PostgreSQL, the template's copy of its rows and its change triggers, once nothing else will write it."""
    if layout.postgres is None:
        return
    engine = make_engine(settings.DATABASE_URL)
    try:
        postgres.install_counter(engine)
    finally:
        engine.dispose()


def _migrate(settings: Settings, url: str) -> None:
    """The database at `url` brought to the current revisions as `sv migrate:deploy` brings it: the core's, the
    host's and every plugin's. Then, for a built-in feature whose plugin the plugins folder lacks (a run over another
    feature's plugin alone), its tables from the bundled plugin's revisions: the legacy app seeds every feature, and
    the recorded sessions count on the ids that seeding gives."""
    engine = make_engine(url)
    try:
        upgrade(engine)
        migrate_plugins(settings, engine, ())
        missing = features_missing_tables(engine, feature_set(settings.EXTRA_FEATURES))
        if missing and REPO_PLUGINS.is_dir():
            upgrade_feature_plugins(engine, REPO_PLUGINS, missing)
    finally:
        engine.dispose()


def _point_clones(blog_root: Path, remotes: dict[str, str], nowhere: str) -> None:
    """Each blog working clone's origin set to the workspace's copy of the remote it was cloned from (`nowhere`, an
    empty repository in the workspace, when the snapshot has no copy of it)."""
    for clone in sorted(blog_root.glob("*/repo")) if blog_root.is_dir() else ():
        if not (clone / ".git").is_dir():
            continue
        found = subprocess.run(
            ["git", "config", "--get", "remote.origin.url"], cwd=clone, capture_output=True, text=True, check=False
        )
        url = remotes.get(found.stdout.strip(), nowhere)
        subprocess.run(["git", "remote", "set-url", "origin", url], cwd=clone, check=False, timeout=60)
