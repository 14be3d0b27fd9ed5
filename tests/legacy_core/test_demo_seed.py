"""The demo seed gives the PaperTrail board its content the first time, and never again over what a user did."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from exthost.cli import main
from legacy_core import Settings, create_server
from legacy_core.papertrail import demo
from legacy_core.seed import DEMO_EMAIL, DEMO_PASSWORD


def _board(env: dict[str, str], replace: dict | None = None) -> dict:
    server = create_server(Settings(_env_file=None, **env))  # type: ignore[call-arg]
    try:
        client = server.app.test_client()
        assert client.post("/login", json={"email": DEMO_EMAIL, "password": DEMO_PASSWORD}).status_code == 200
        [project] = [p for p in client.get("/api/projects").get_json()["projects"] if p["type"] == "papertrail"]
        url = f"/api/projects/{project['id']}/papertrail/board"
        if replace is not None:
            assert client.post(url, json=replace).status_code == 200
        return client.get(url).get_json()["board"]
    finally:
        server.services.engine.dispose()


def test_demo_seed_fills_the_board_once(tmp_path: Path) -> None:
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'demo.db'}", "DATA_DIR": str(tmp_path / "data")}
    runner = CliRunner()
    assert runner.invoke(main, ["migrate:deploy"], env=env).exit_code == 0
    seeded = runner.invoke(main, ["seed"], env=env)
    assert seeded.exit_code == 0, seeded.output

    board = _board(env)
    assert sorted(node["id"] for node in board["nodes"]) == sorted(node["id"] for node in demo.NODES)
    assert sorted(edge["id"] for edge in board["edges"]) == sorted(edge["id"] for edge in demo.EDGES)
    assert {"claim", "evidence"} <= {tag for node in board["nodes"] for tag in node["tags"]}

    # A second seed adds nothing, and never refills a board its user emptied.
    assert runner.invoke(main, ["seed"], env=env).exit_code == 0
    assert len(_board(env)["nodes"]) == len(demo.NODES)
    _board(env, replace={"nodes": [], "edges": []})
    assert runner.invoke(main, ["seed"], env=env).exit_code == 0
    assert _board(env)["nodes"] == []
