"""The harness's template state: migrated, both plugins enabled, and a small world seeded through the API.

The world: four users (alice owns a PaperTrail project and a Blog project; bob edits and carol views both; dave
is a stranger to them), a board with nodes, an edge and a comment, and a blog configured on the shared remote URL
with the demo posts. Each user has a session in the template, so a generated case can act as anyone without a
login request; a recorded session brings its own login (its redacted password is replaced by `SEED_PASSWORD`).
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher
from sqlalchemy import select

from exthost.deploy import migrate_plugins
from exthost.evidence.compare import CapturedRequest
from exthost.evidence.snapshot import Snapshot, copy_sqlite
from exthost.platform import Platform, create_platform
from legacy_core.blog.demo import BRANCH, CONTENT_DIR, ensure_demo_remote
from legacy_core.blog.git import GitIdentity
from legacy_core.clock import FixedClock, SequentialIds
from legacy_core.db import make_engine
from legacy_core.features import FEATURES
from legacy_core.migrate import upgrade
from legacy_core.models import Tenant
from legacy_core.settings import Settings
from parity_tests.client import send
from parity_tests.state import DATABASE, T0, Layout, commit_dates

SEED_PASSWORD = "parity-harness-password"
# argon2 work per hash: the harness's passwords guard nothing, and every recorded login verifies one on each side.
HARNESS_ARGON2_KIB = 1024
SEED_FILE = "seed.json"
# The empty repository that stands for every remote a snapshot could not copy (`template_from_snapshot`).
UNCAPTURED = "uncaptured.git"
USERS = {"alice": "owner", "bob": "editor", "carol": "viewer", "dave": None}
REPO_PLUGINS = Path(__file__).resolve().parent.parent / "plugins"
BOARD: dict[str, list[dict[str, Any]]] = {
    "nodes": [
        {"id": "claim", "label": "Claim", "tags": ["thesis"]},
        {"id": "source", "label": "Source A", "tags": ["evidence", "primary"]},
        {"id": "rebuttal", "label": "Rebuttal"},
    ],
    "edges": [
        {"id": "supports", "source": "source", "target": "claim", "label": "supports"},
        {"id": "counters", "source": "rebuttal", "target": "claim", "label": "counters"},
    ],
}


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
        DATABASE_URL=f"sqlite:///{side / DATABASE}",
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
    for project_type in FEATURES:
        values[f"FT_PROJECT_TYPE_{project_type.upper()}"] = True
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
    settings = platform.services.settings
    cookie = settings.AUTH_SESSION_COOKIE_NAME
    seeder = _Seeder(platform)
    users: dict[str, SeedUser] = {}
    for name, role in USERS.items():
        email = f"{name}@example.test"
        answer = seeder.call(name, "POST", "/register", {"email": email, "password": SEED_PASSWORD, "name": name})
        users[name] = SeedUser(name, str(answer["user"]["id"]), email, seeder.jars[name][cookie], role)
    projects: dict[str, dict[str, Any]] = {}
    for feature, title in (("papertrail", "Evidence board"), ("blog", "Team blog")):
        created = seeder.call("alice", "POST", "/api/projects", {"name": title, "type": feature})
        project_id = str(created["id"])
        for name, role in USERS.items():
            if role not in (None, "owner"):
                seeder.call(
                    "alice", "POST", f"/api/projects/{project_id}/shares", {"email": users[name].email, "role": role}
                )
        projects[feature] = {"id": project_id}
    board_path = f"/api/projects/{projects['papertrail']['id']}/papertrail/board"
    board = seeder.call("alice", "POST", board_path, BOARD)["board"]
    comment = seeder.call(
        "bob", "POST", f"{board_path}/{board['id']}/comments", {"body": "Needs a second source", "nodeId": "claim"}
    )
    projects["papertrail"].update(
        board_id=board["id"],
        node_ids=[node["id"] for node in BOARD["nodes"]],
        edge_ids=[edge["id"] for edge in BOARD["edges"]],
        comment_ids=[comment["comment"]["id"]],
    )
    blog_id = projects["blog"]["id"]
    layout.point("template")
    seeder.call(
        "alice",
        "PATCH",
        f"/api/projects/{blog_id}/configure",
        {
            "repoUrl": layout.remote_url,
            "branch": BRANCH,
            "contentDir": CONTENT_DIR,
            "gitUserName": "Blog Bot",
            "gitUserEmail": "blog-bot@example.test",
        },
    )
    posts = seeder.call("alice", "GET", f"/api/projects/{blog_id}/blog/post/all")["posts"]
    projects["blog"]["files"] = sorted(post["file"] for post in posts)
    return Seed(cookie, SEED_PASSWORD, layout.remote_url, users, projects)


def build_template(
    layout: Layout, *, base: Settings | None = None, plugins_dir: Path | None = None, rules_file: Path | None = None
) -> Seed:
    """The workspace's template (built unless `seed.json` says it is done) and what it holds."""
    seed_file = layout.template / SEED_FILE
    if seed_file.exists():
        return Seed.from_json(json.loads(seed_file.read_text(encoding="utf-8")))
    layout.template.mkdir(parents=True, exist_ok=True)
    settings = side_settings(layout, "template", base=base, plugins_dir=plugins_dir, rules_file=rules_file)
    engine = make_engine(settings.DATABASE_URL)
    try:
        upgrade(engine)
        migrate_plugins(settings, engine, ())
    finally:
        engine.dispose()
    ensure_demo_remote(layout.remote("template"), GitIdentity("Blog Bot", "blog-bot@example.test"), T0)
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
    if seed_file.exists():
        return Seed.from_json(json.loads(seed_file.read_text(encoding="utf-8")))
    layout.template.mkdir(parents=True, exist_ok=True)
    settings = side_settings(layout, "template", base=base, plugins_dir=plugins_dir, rules_file=rules_file)
    copy_sqlite(snapshot.database, layout.database("template"))
    engine = make_engine(settings.DATABASE_URL)
    try:
        upgrade(engine)
        migrate_plugins(settings, engine, ())
    finally:
        engine.dispose()
    folders = {"papertrail": settings.papertrail_root, "blog": settings.blog_root}
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
    database = sqlite3.connect(layout.database("template"))
    try:
        with database:
            hashed = PasswordHasher(memory_cost=HARNESS_ARGON2_KIB).hash(SEED_PASSWORD)
            database.execute("UPDATE users SET password_hash = ?", (hashed,))
            database.execute("UPDATE sv_recording SET enabled = 0")
            for old, new in remotes.items():
                database.execute("UPDATE blog_configs SET repo_url = ? WHERE repo_url = ?", (new, old))
            kept = sorted(remotes.values())
            database.execute(
                f"UPDATE blog_configs SET repo_url = ? WHERE repo_url NOT IN ({', '.join('?' for _ in kept)})",
                (nowhere, *kept),
            )
    finally:
        database.close()
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
    cookie = settings.AUTH_SESSION_COOKIE_NAME
    seed = Seed(cookie, SEED_PASSWORD, layout.remote_url, {}, {}, str(snapshot.path), remotes)
    seed_file.write_text(json.dumps(seed.to_json(), indent=2, sort_keys=True), encoding="utf-8")
    return seed


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
