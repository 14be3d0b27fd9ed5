"""The `sv` commands of the foundation: migrate:deploy, seed and their errors."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from exthost.cli import main
from legacy_core import Settings
from legacy_core.app import build_services
from legacy_core.migrate import current_revision, head_revision
from legacy_core.models import Project, User
from tests.fixtures.app import BUNDLED_PLUGINS


def _env(tmp_path) -> dict[str, str]:
    return {"DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}", "DATA_DIR": str(tmp_path / "data")}


def test_help_lists_commands():
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    for name in ("migrate:deploy", "seed", "serve"):
        assert name in result.output


def test_migrate_deploy_then_seed_is_idempotent(tmp_path):
    runner = CliRunner()
    env = _env(tmp_path)
    first = runner.invoke(main, ["migrate:deploy"], env=env)
    assert first.exit_code == 0, first.output
    assert "migrated <empty> ->" in first.output
    assert "plugin registry: <empty> -> exthost_0009" in first.output
    again = runner.invoke(main, ["migrate:deploy"], env=env)
    assert "already at" in again.output
    assert "plugin registry: already at exthost_0009" in again.output
    for _ in range(2):
        seeded = runner.invoke(main, ["seed"], env=env)
        assert seeded.exit_code == 0, seeded.output
    assert "already present" in seeded.output
    services = build_services(Settings(_env_file=None, **env))
    try:
        assert current_revision(services.engine) == head_revision(services.engine)
        with services.session_factory() as db:
            assert db.scalar(select(func.count()).select_from(User)) == 1
            assert sorted(db.scalars(select(Project.type))) == ["blog", "papertrail"]
    finally:
        services.engine.dispose()


def test_seeded_demo_user_can_log_in(tmp_path):
    runner = CliRunner()
    env = _env(tmp_path)
    runner.invoke(main, ["migrate:deploy"], env=env)
    runner.invoke(main, ["seed"], env=env)
    from legacy_core import create_server
    from legacy_core.seed import DEMO_EMAIL, DEMO_PASSWORD

    server = create_server(Settings(_env_file=None, **env))
    try:
        client = server.app.test_client()
        response = client.post("/login", json={"email": DEMO_EMAIL, "password": DEMO_PASSWORD})
        assert response.status_code == 200
        assert "platform:admin" in response.get_json()["user"]["roles"]
        assert len(client.get("/api/projects").get_json()["projects"]) == 2
    finally:
        server.services.engine.dispose()


def test_migrate_deploy_failure_is_a_clear_error_not_a_traceback(tmp_path):
    (tmp_path / "not-a-dir").write_text("x")
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'not-a-dir' / 'x.db'}"}
    result = CliRunner().invoke(main, ["migrate:deploy"], env=env)
    assert result.exit_code != 0
    assert "Traceback" not in result.output


def test_bad_database_url_setting_is_explained(tmp_path):
    result = CliRunner().invoke(main, ["migrate:deploy"], env={"DATABASE_URL": "just-a-file.db"})
    assert result.exit_code != 0
    assert "is not a URL" in result.output
    assert "Traceback" not in result.output


def test_seeded_demo_blog_lists_its_posts_right_away(tmp_path, no_global_git_identity):
    runner = CliRunner()
    env = _env(tmp_path)
    assert runner.invoke(main, ["migrate:deploy"], env=env).exit_code == 0
    for _ in range(2):
        seeded = runner.invoke(main, ["seed"], env=env)
        assert seeded.exit_code == 0, seeded.output
    remote = (tmp_path / "data" / "demo-remotes" / "team-blog.git").resolve()
    assert f"demo blog remote: {remote} (branch main" in seeded.output
    log = subprocess.run(
        ["git", "log", "--format=%an|%s", "main"], cwd=remote, capture_output=True, text=True, check=True
    )
    assert log.stdout.splitlines() == ["Demo Admin|Initial commit: three demo posts"]  # seeding twice made one

    from legacy_core import create_server
    from legacy_core.seed import DEMO_EMAIL, DEMO_PASSWORD

    server = create_server(Settings(_env_file=None, **env))
    try:
        client = server.app.test_client()
        assert client.post("/login", json={"email": DEMO_EMAIL, "password": DEMO_PASSWORD}).status_code == 200
        projects = client.get("/api/projects").get_json()["projects"]
        blog_id = next(project["id"] for project in projects if project["type"] == "blog")
        posts = client.get(f"/api/projects/{blog_id}/blog/post/all")
        assert posts.status_code == 200, posts.get_json()
        listed = posts.get_json()["posts"]
        assert [post["title"] for post in listed] == [
            "Evidence boards in practice",
            "Shadow traffic, explained",
            "Welcome to the team blog",
        ]
        assert {post["status"] for post in listed} == {"Published"}
        assert all(post["description"] and post["tags"] and post["pubDate"] for post in listed)
        # The demo blog is a working blog: an edit publishes to the demo remote.
        file = listed[0]["file"]
        assert client.patch(f"/api/projects/{blog_id}/blog/post/{file}", json={"title": "Boards"}).status_code == 200
        assert client.post(f"/api/projects/{blog_id}/blog/post/{file}").status_code == 200
        log = subprocess.run(["git", "log", "--format=%s", "main"], cwd=remote, capture_output=True, text=True)
        assert log.stdout.splitlines()[0] == f"Publish {file}"
    finally:
        server.services.engine.dispose()


def test_seed_without_the_blog_type_makes_no_blog_remote(tmp_path):
    runner = CliRunner()
    env = {**_env(tmp_path), "FT_PROJECT_TYPE_BLOG": "false"}
    runner.invoke(main, ["migrate:deploy"], env=env)
    seeded = runner.invoke(main, ["seed"], env=env)
    assert seeded.exit_code == 0, seeded.output
    assert "demo blog remote" not in seeded.output
    assert not (tmp_path / "data" / "demo-remotes").exists()


def test_seed_and_demo_blog_work_with_relative_folders(tmp_path, monkeypatch):
    # The zero-configuration defaults are relative ("data/..."); git runs in other working directories.
    monkeypatch.chdir(tmp_path)
    env = {"DATABASE_URL": "sqlite:///data/relative.db", "DATA_DIR": "data"}
    runner = CliRunner()
    # No plugins folder here: the feature tables' plugins are missing, which deploy warns of and seed refuses.
    deployed = runner.invoke(main, ["migrate:deploy"], env=env)
    assert deployed.exit_code == 0 and "papertrail" in deployed.output
    refused = runner.invoke(main, ["seed"], env=env)
    assert refused.exit_code == 1 and "'papertrail'" in refused.output and "sv migrate:deploy" in refused.output
    assert "Traceback" not in refused.output
    env["PLUGINS_DIR"] = str(BUNDLED_PLUGINS)
    assert runner.invoke(main, ["migrate:deploy"], env=env).exit_code == 0
    seeded = runner.invoke(main, ["seed"], env=env)
    assert seeded.exit_code == 0, seeded.output
    settings = Settings(_env_file=None, **env)
    assert settings.DATA_DIR.relative_to(tmp_path) == Path("data")
    from legacy_core import create_server
    from legacy_core.seed import DEMO_EMAIL, DEMO_PASSWORD

    server = create_server(settings)
    try:
        client = server.app.test_client()
        client.post("/login", json={"email": DEMO_EMAIL, "password": DEMO_PASSWORD})
        blog = next(p for p in client.get("/api/projects").get_json()["projects"] if p["type"] == "blog")
        posts = client.get(f"/api/projects/{blog['id']}/blog/post/all").get_json()["posts"]
        assert len(posts) == 3
    finally:
        server.services.engine.dispose()


@pytest.mark.parametrize(
    "command",
    [
        ["seed"],
        ["flags:list"],
        ["shadow:status"],
        ["phase:status"],
        ["plugins:list"],
        ["plugins:info", "papertrail"],
        ["shadow:export", "mm_1"],
        ["parity:record"],
        ["parity:run", "--generated", "0"],
        ["serve", "--port", "0"],
    ],
    ids=lambda command: command[0],
)
def test_cli_before_migrate_says_what_to_do_and_creates_no_empty_database(tmp_path, command):
    database = tmp_path / "fresh" / "sovereign.db"
    env = {"DATABASE_URL": f"sqlite:///{database}", "DATA_DIR": str(tmp_path / "data")}
    result = CliRunner().invoke(main, command, env=env)
    assert result.exit_code == 1, result.output
    assert "run `sv migrate:deploy` first" in result.output and "Traceback" not in result.output
    assert not database.exists()  # a read leaves no empty file behind for the next command to trip on
    database.parent.mkdir()
    database.touch()  # an empty file, as a read of an older version left behind
    result = CliRunner().invoke(main, command, env=env)
    assert result.exit_code == 1 and "has no schema yet; run `sv migrate:deploy` first" in result.output
