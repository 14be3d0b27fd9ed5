"""`sv plugins:new NAME`: a working plugin skeleton written into a plugins folder.

The skeleton is a manifest, an entry module with one route that reads the plugin's own table, the alembic revision
that creates that table (in the plugin's `migrations` folder, run by the host's per-plugin runner), a test that
migrates, enables and serves the plugin with `sv` over loopback HTTP, and a README. Everything is checked before
anything is written: an existing folder or a bad name is refused and nothing is left behind.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from exthost.errors import ManifestError
from exthost.manifest import parse_manifest
from exthost.mounts import core_conflicts
from exthost.version import host_version
from legacy_core.features import RouteInfo, routes
from legacy_core.settings import Settings


class ScaffoldError(ValueError):
    """The skeleton cannot be written; the message says why and how to fix it."""


@dataclass(frozen=True)
class Skeleton:
    """A plugin skeleton as relative paths and their text."""

    name: str
    files: dict[str, str]

    @property
    def route(self) -> str:
        return f"/api/{self.name}/items"


def engine_range(version: str) -> str:
    """The engine range a new plugin declares: from the running minor version up to the next major."""
    major, minor = (int(part) for part in version.split(".")[:2])
    return f">={major}.{minor} <{major + 1}"


def skeleton(name: str, *, version: str | None = None) -> Skeleton:
    """The files of plugin `name`; ScaffoldError when the name cannot be a plugin's."""
    manifest = {
        "name": name,
        "version": "0.1.0",
        "description": f"The {name} plugin.",
        "author": "",
        "license": "MIT",
        "sovereign": {"engine": engine_range(version or host_version()), "entry": "plugin:Plugin", "api": 1},
        "mounts": {"api": f"/api/{name}"},
        "migrations": "migrations",
        # ctx.db reaches only these: the plugin's own tables, and no platform view until one is added here.
        "access": {"tables": [f"{name}_*"], "platform": []},
    }
    text = json.dumps(manifest, indent=2) + "\n"
    source = f"{name}/plugin.json"
    try:
        parse_manifest(manifest, source)
    except ManifestError as exc:
        raise ScaffoldError(f"cannot make a plugin named {name!r}: {str(exc).replace(source + ': ', '')}") from exc
    values = {"name": name, "revision": f"{name}_0001", "table": f"{name}_items"}
    return Skeleton(
        name,
        {
            "plugin.json": text,
            "plugin.py": PLUGIN_PY.format(**values),
            f"migrations/0001_{name}_items.py": MIGRATION_PY.format(**values),
            f"tests/test_{name}.py": TEST_PY.format(**values),
            "README.md": README_MD.format(**values),
        },
    )


def check_mount(made: Skeleton, legacy_routes: Iterable[RouteInfo]) -> None:
    """Refuse a name whose mount `/api/<name>` would hide legacy routes (the host would refuse to load it)."""
    hidden = core_conflicts(f"/api/{made.name}", legacy_routes, None)
    if hidden:
        rules = ", ".join(sorted({route.rule for route in hidden})[:3])
        raise ScaffoldError(
            f"cannot make a plugin named {made.name!r}: its mount /api/{made.name} would cover legacy routes "
            f"({rules}); choose another name, e.g. '{made.name}_ext'"
        )


def legacy_routes(settings: Settings) -> list[RouteInfo]:
    """The legacy app's routes under these settings, built on a scratch database so nothing is left behind."""
    from legacy_core.app import create_server

    with tempfile.TemporaryDirectory(prefix="sv-scaffold-") as scratch:
        folder = Path(scratch)
        server = create_server(
            settings.model_copy(update={"DATABASE_URL": f"sqlite:///{folder / 'routes.db'}", "DATA_DIR": folder})
        )
        try:
            return list(routes(server.app, server.services.features))
        finally:
            server.services.engine.dispose()


def write(made: Skeleton, plugins_dir: Path) -> Path:
    """Write the skeleton as `plugins_dir/<name>/`; refuse an existing folder. All files appear at once (written
    beside, then moved in), so a failure leaves no half-made plugin for the host to find."""
    target = plugins_dir / made.name
    if target.exists() or target.is_symlink():
        raise ScaffoldError(
            f"{str(target)!r} already exists; choose another name, or remove the folder to start afresh"
        )
    plugins_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{made.name}-", dir=plugins_dir))
    try:
        for relative, content in made.files.items():
            path = staging / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content, encoding="utf-8")
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


PLUGIN_PY = '''"""The {name} plugin: GET /api/{name}/items lists the caller's tenant's items."""

from sqlalchemy import text

from exthost.sdk import hookimpl


class Plugin:
    @hookimpl
    def register(self, ctx):
        @ctx.router.get("/api/{name}/items")
        def items():
            with ctx.transaction() as db:
                rows = db.execute(
                    text("SELECT id, title FROM {table} WHERE tenant_id = :tenant ORDER BY id"),
                    {{"tenant": ctx.tenant}},
                )
                found = [{{"id": row.id, "title": row.title}} for row in rows]
            return {{"items": found, "tenant": ctx.tenant}}

    @hookimpl
    def health(self, ctx):
        return {{"ok": True}}
'''

MIGRATION_PY = '''"""Create {table}: the items of the {name} plugin, per tenant."""

import sqlalchemy as sa
from alembic import op

revision = "{revision}"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    # Every row names its tenant: one database serves every tenant, and a plugin reads only the caller's.
    op.create_table(
        "{table}",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("tenant_id", sa.String(64), nullable=False, index=True),
        sa.Column("title", sa.Text, nullable=False),
    )


def downgrade():
    op.drop_table("{table}")
'''

TEST_PY = '''"""The {name} plugin as it runs: migrated, enabled and served by `sv serve` over loopback HTTP.

Run with `python -m pytest tests/` in the plugin folder. Each test copies the plugin into a fresh plugins folder
with a fresh SQLite database, so it never touches yours.
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

PLUGIN = Path(__file__).resolve().parents[1]
NAME = "{name}"


def sv(env, cwd, *args):
    command = [sys.executable, "-c", "from exthost.cli import main; main()", *args]
    # From a neutral folder: run from the plugin folder, its `migrations` would shadow Sovereign's own package.
    done = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def get(url):
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, None


@pytest.fixture
def server(tmp_path):
    """`sv serve` on a free port, over a copy of this plugin, migrated and enabled for the default tenant."""
    shutil.copytree(PLUGIN, tmp_path / "plugins" / NAME, ignore=shutil.ignore_patterns("tests", "__pycache__"))
    env = os.environ | {{
        "DATABASE_URL": f"sqlite:///{{tmp_path / 'sovereign.db'}}",
        "DATA_DIR": str(tmp_path / "data"),
        "PLUGINS_DIR": str(tmp_path / "plugins"),
        "PLUGIN_ENTRY_POINTS": "false",
        # A plugin being written is not signed yet: the development policy loads it with a warning.
        "ENVIRONMENT": "development",
    }}
    sv(env, tmp_path, "migrate:deploy")
    sv(env, tmp_path, "plugins:enable", NAME)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-c", "from exthost.cli import main; main()", "serve", "--port", str(port)]
    process = subprocess.Popen(command, env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{{port}}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if get(f"{{base}}/health")[0] in (200, 503):  # up (whether healthy is for the test to say)
                    break
            except OSError:
                pass
            assert process.poll() is None and time.monotonic() < deadline, "sv serve did not start"
            time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        process.wait(30)


def test_{name}_lists_the_default_tenants_items(server):
    status, body = get(f"{{server}}/api/{name}/items")
    assert status == 200
    assert body == {{"items": [], "tenant": "tenant-0"}}
'''

README_MD = '''# {name}

A Sovereign plugin. `GET /api/{name}/items` lists the items of the caller's tenant from the table `{table}`.

| file | what it is |
|---|---|
| `plugin.json` | the manifest: name, version, engine, entry, mounts, migrations, `access` (what `ctx.db` reaches) |
| `plugin.py` | the entry: the `register` hook adds the route; `health` reports for `/health` and `/diagnostics` |
| `migrations/0001_{name}_items.py` | the alembic revision creating `{table}` (version table `alembic_version_{name}`) |
| `tests/test_{name}.py` | migrates, enables and serves the plugin with `sv` on a fresh database, then calls the route |

Import only `exthost.sdk` of Sovereign's packages (third-party libraries are fine).

```
sv migrate:deploy --plugin {name}      # create {table}
sv plugins:enable {name}               # serve it for the default tenant
sv serve --watch-plugins               # reload on every save
python -m pytest tests/                # from this folder
```

The plugin SDK reference is docs/plugin-sdk.md in the Sovereign repository.
'''
