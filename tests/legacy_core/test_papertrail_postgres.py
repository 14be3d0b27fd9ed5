"""PaperTrail on PostgreSQL: 32-bit coordinates, length caps, NUL characters and a full export/import round trip."""

from __future__ import annotations

import io
import itertools
from collections.abc import Callable
from pathlib import Path

import pytest

from exthost.deploy import upgrade_schema
from legacy_core import Server
from legacy_core.db import make_engine
from legacy_core.papertrail.normalize import COORD_MAX, COORD_MIN
from tests.fixtures.app import BUNDLED_PLUGINS, Api, make_settings


@pytest.mark.postgres
def test_papertrail_on_postgres_stores_edge_values_and_round_trips(
    postgres_url: str, tmp_path: Path, server_factory: Callable[..., Server]
) -> None:
    engine = make_engine(postgres_url)
    upgrade_schema(engine, BUNDLED_PLUGINS)
    engine.dispose()
    server = server_factory(make_settings(tmp_path, DATABASE_URL=postgres_url))
    api = Api(server, itertools.count(1))
    owner = api.user()
    project_id = api.project(owner)
    base = f"/api/projects/{project_id}/papertrail/board"
    snapshot = {
        "title": "T\x00" * 200,
        "nodes": [
            {"id": "a" * 80, "x": COORD_MAX + 0.9, "y": COORD_MIN, "w": -0.5, "title": "t" * 999, "color": "c" * 99},
            {"id": "b", "text": "nul\x00here", "url": "u" * 3000, "tags": ["#A\x00"]},
        ],
        "edges": [{"id": "e" * 80, "source": "a" * 80, "target": "b", "label": "l" * 999}],
    }
    saved = owner.post(base, json=snapshot)
    assert saved.status_code == 200, saved.get_json()
    board = saved.get_json()["board"]
    first, second = board["nodes"]
    assert (first["x"], first["y"], first["w"]) == (COORD_MAX, COORD_MIN, 0)
    assert len(first["title"]) == 240 and len(first["color"]) == 32 and len(second["url"]) == 2000
    assert second["text"] == "nulhere" and second["tags"] == ["a"]
    assert len(board["title"]) == 160 and len(board["edges"][0]["label"]) == 240
    assert owner.post(base, json={"nodes": [{"id": "a", "x": COORD_MAX + 1}]}).status_code == 400
    items = f"{base}/{board['id']}"
    nul_path = owner.get(f"{items}/nodes/a%00")
    assert (nul_path.status_code, nul_path.get_json()) == (400, {"error": "The path contains a NUL character"})
    assert owner.post(f"{items}/comments", json={"body": "x", "nodeId": "b\x00"}).status_code == 400
    assert owner.post(f"{items}/comments", json={"body": "about b\x00", "nodeId": "b"}).status_code == 201
    upload = owner.post(f"{items}/attachments/upload", data={"file": (io.BytesIO(b"pg"), "p.txt"), "nodeId": "b"})
    assert upload.status_code == 201
    bundle = owner.get(f"{base}/export").data
    target = api.project(owner, name="Copy")
    imported = owner.post(
        f"/api/projects/{target}/papertrail/board/import", data=bundle, content_type="application/zip"
    )
    assert imported.status_code == 200, imported.get_json()
    copy = imported.get_json()["board"]
    assert copy["nodes"] == board["nodes"] and copy["edges"] == board["edges"] and copy["title"] == board["title"]
    assert copy["stats"] == {**board["stats"], "comments": 1, "attachments": 1}
