"""PaperTrail board API: GET/POST/PATCH/DELETE /api/projects/<id>/papertrail/board, access rules and normalisation."""

from __future__ import annotations

import io
import itertools
from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient

from legacy_core import Server
from legacy_core.clock import FixedClock
from legacy_core.settings import Settings
from tests.fixtures.app import Api


def board_url(project_id: str, suffix: str = "") -> str:
    return f"/api/projects/{project_id}/papertrail/board{suffix}"


def owner_project(api: Api, **extra: Any) -> tuple[FlaskClient, str]:
    owner = api.user()
    return owner, api.project(owner, **extra)


def member(api: Api, owner: FlaskClient, project_id: str, role: str) -> FlaskClient:
    client = api.user()
    api.share(owner, project_id, client, role)
    return client


def board(client: FlaskClient, project_id: str) -> dict[str, Any]:
    response = client.get(board_url(project_id))
    assert response.status_code == 200, response.get_json()
    return dict(response.get_json()["board"])


SNAPSHOT = {
    "title": "Case file",
    "nodes": [
        {"id": "n1", "type": "note", "x": 10.9, "y": -3.7, "w": 200, "h": 120.5, "title": "Lead", "tags": ["#Money"]},
        {"id": "n2", "type": "video", "text": "t" * 5000, "tags": ["money", "#Witness", " "]},
        {"id": "n3", "type": "image", "imageUrl": "https://example.test/a.png", "color": "#ff0000"},
    ],
    "edges": [
        {"id": "e1", "source": "n1", "target": "n2", "label": "pays"},
        {"id": "e2", "source": "n2", "target": "ghost"},
        {"source": "n3", "target": "n1", "label": "L" * 300},
    ],
}


def test_board_get_creates_board_titled_after_project(api: Api) -> None:
    owner, project_id = owner_project(api, name="Harbour Fraud")
    body = board(owner, project_id)
    assert body["title"] == "Harbour Fraud"
    assert body["projectId"] == project_id
    assert body["nodes"] == [] and body["edges"] == [] and body["tags"] == []
    assert body["stats"] == {"nodes": 0, "edges": 0, "comments": 0, "attachments": 0, "tags": 0}
    assert body["project"] == {"id": project_id, "name": "Harbour Fraud", "slug": "harbour-fraud", "type": "papertrail"}
    assert board(owner, project_id)["id"] == body["id"]  # created once, then found


def test_board_post_saves_normalised_snapshot_in_order(api: Api) -> None:
    owner, project_id = owner_project(api)
    response = owner.post(board_url(project_id), json=SNAPSHOT)
    assert response.status_code == 200, response.get_json()
    saved = response.get_json()["board"]
    assert response.get_json()["ok"] is True
    assert saved == board(owner, project_id)
    n1, n2, n3 = saved["nodes"]
    assert (n1["x"], n1["y"], n1["w"], n1["h"]) == (10, -3, 200, 120)
    assert n1["type"] == "note" and n2["type"] == "text" and n3["type"] == "image"
    assert len(n2["text"]) == 4000
    assert n1["tags"] == ["money"] and n2["tags"] == ["money", "witness"]
    assert [edge["id"] for edge in saved["edges"]][:1] == ["e1"]
    assert len(saved["edges"]) == 2  # the edge to "ghost" is dropped
    assert len(saved["edges"][1]["label"]) == 240
    assert saved["edges"][1]["id"]  # generated
    assert saved["tags"] == [{"tag": "money", "count": 2}, {"tag": "witness", "count": 1}]
    assert saved["stats"] == {"nodes": 3, "edges": 2, "comments": 0, "attachments": 0, "tags": 2}
    assert saved["title"] == "Case file"


def test_board_post_keeps_client_order_and_replaces_everything(api: Api) -> None:
    owner, project_id = owner_project(api)
    owner.post(board_url(project_id), json=SNAPSHOT)
    nodes = [{"id": name} for name in ("z", "a", "m")]
    response = owner.post(board_url(project_id), json={"nodes": nodes, "edges": [{"source": "z", "target": "a"}]})
    assert response.status_code == 200
    saved = board(owner, project_id)
    assert [node["id"] for node in saved["nodes"]] == ["z", "a", "m"]
    assert [(edge["source"], edge["target"]) for edge in saved["edges"]] == [("z", "a")]
    assert saved["title"] == "Case file"  # no title given: kept


@pytest.mark.parametrize(
    "payload",
    [
        {"nodes": [{"id": "a"}, {"id": "a"}]},
        {"nodes": [{"id": "a", "x": "left"}]},
        {"nodes": [{"id": "a", "x": 1e300}]},
        {"nodes": [{"id": "x" * 81}]},
        {"nodes": [{"id": "a", "tags": "one,two"}]},
        {"nodes": "all of them"},
        {"nodes": [], "edges": {"id": "e"}},
        {"nodes": [], "title": None},
        {"edges": []},
    ],
    ids=[
        "dup-ids",
        "text-coord",
        "huge-coord",
        "long-id",
        "tags-string",
        "nodes-string",
        "edges-object",
        "null-title",
        "no-nodes",
    ],
)
def test_board_post_rejects_bad_snapshot_and_changes_nothing(api: Api, payload: dict[str, Any]) -> None:
    owner, project_id = owner_project(api)
    owner.post(board_url(project_id), json=SNAPSHOT)
    before = board(owner, project_id)
    response = owner.post(board_url(project_id), json=payload)
    assert response.status_code == 400
    assert response.get_json()["error"]
    assert board(owner, project_id) == before


@pytest.mark.parametrize("bad_id", ["a/b", "a\\b", ".", "..", "new\nline", "c1\x85"], ids=repr)
def test_board_save_and_patch_refuse_ids_that_cannot_be_in_a_url(api: Api, bad_id: str) -> None:
    owner, project_id = owner_project(api)
    owner.post(board_url(project_id), json=SNAPSHOT)
    before = board(owner, project_id)
    edge = {"id": bad_id, "source": "n1", "target": "n2"}
    attempts = [
        (owner.post, {"nodes": [{"id": "n1"}, {"id": bad_id}]}, "nodes.1.id"),
        (owner.post, {"nodes": [{"id": "n1"}, {"id": "n2"}], "edges": [edge]}, "edges.0.id"),
        (owner.patch, {"nodes": [{"id": bad_id}]}, "nodes.0.id"),
        (owner.patch, {"edges": [edge]}, "edges.0.id"),
    ]
    for send, payload, field in attempts:
        response = send(board_url(project_id), json=payload)
        assert response.status_code == 400, payload
        body = response.get_json()
        assert body["error"] == "Invalid request"
        assert [detail["field"] for detail in body["details"]] == [field]
        assert "URL" in body["details"][0]["message"]
    assert board(owner, project_id) == before


def test_board_post_rejects_non_object_and_invalid_json(api: Api) -> None:
    owner, project_id = owner_project(api)
    assert owner.post(board_url(project_id), json=[1, 2]).status_code == 400
    bad = owner.post(board_url(project_id), data="{nodes:", content_type="application/json")
    assert bad.status_code == 400
    assert bad.get_json() == {"error": "Request body is not valid JSON"}


def test_board_patch_title_only_keeps_nodes(api: Api) -> None:
    owner, project_id = owner_project(api)
    owner.post(board_url(project_id), json=SNAPSHOT)
    response = owner.patch(board_url(project_id), json={"title": "T" * 200})
    assert response.status_code == 200
    patched = response.get_json()["board"]
    assert patched["title"] == "T" * 160
    assert len(patched["nodes"]) == 3 and len(patched["edges"]) == 2


def test_board_patch_nodes_drops_edges_whose_endpoints_vanished(api: Api) -> None:
    owner, project_id = owner_project(api)
    owner.post(board_url(project_id), json=SNAPSHOT)
    response = owner.patch(board_url(project_id), json={"nodes": [{"id": "n1"}, {"id": "n3"}]})
    assert response.status_code == 200
    patched = response.get_json()["board"]
    assert [node["id"] for node in patched["nodes"]] == ["n1", "n3"]
    assert [(edge["source"], edge["target"]) for edge in patched["edges"]] == [("n3", "n1")]


def test_board_patch_edges_only_filters_against_current_nodes(api: Api) -> None:
    owner, project_id = owner_project(api)
    owner.post(board_url(project_id), json=SNAPSHOT)
    edges = [{"id": "x", "source": "n2", "target": "n3"}, {"id": "y", "source": "n2", "target": "nope"}]
    patched = owner.patch(board_url(project_id), json={"edges": edges}).get_json()["board"]
    assert [edge["id"] for edge in patched["edges"]] == ["x"]
    assert len(patched["nodes"]) == 3


def test_board_patch_without_board_fields_is_400(api: Api) -> None:
    owner, project_id = owner_project(api)
    response = owner.patch(board_url(project_id), json={"colour": "red"})
    assert response.status_code == 400
    assert "title" in response.get_json()["error"]
    bad = owner.patch(board_url(project_id), json={"nodes": [{"id": "a", "y": []}]})
    assert bad.status_code == 400
    assert bad.get_json()["details"] == [{"field": "nodes.0.y", "message": "must be a number, not list"}]


def test_board_writes_bump_updated_at(server_factory: Callable[..., Server]) -> None:
    server = server_factory(clock=FixedClock())
    api = Api(server, itertools.count(1))
    owner, project_id = owner_project(api)
    first = board(owner, project_id)["updatedAt"]
    second = owner.post(board_url(project_id), json={"nodes": []}).get_json()["board"]["updatedAt"]
    third = owner.patch(board_url(project_id), json={"title": "x"}).get_json()["board"]["updatedAt"]
    assert first < second < third


def test_board_viewer_reads_but_cannot_write(api: Api) -> None:
    owner, project_id = owner_project(api)
    owner.post(board_url(project_id), json=SNAPSHOT)
    viewer = member(api, owner, project_id, "viewer")
    assert board(viewer, project_id)["title"] == "Case file"
    for call in (viewer.post, viewer.patch):
        response = call(board_url(project_id), json={"nodes": []})
        assert response.status_code == 403
        assert response.get_json() == {"error": "Forbidden"}
    assert viewer.delete(board_url(project_id)).status_code == 403
    assert len(board(owner, project_id)["nodes"]) == 3


def test_board_editor_writes_but_only_owner_deletes(api: Api) -> None:
    owner, project_id = owner_project(api)
    editor = member(api, owner, project_id, "editor")
    assert editor.post(board_url(project_id), json=SNAPSHOT).status_code == 200
    assert editor.delete(board_url(project_id)).status_code == 403


def test_board_requires_a_session(api: Api, client: FlaskClient) -> None:
    _, project_id = owner_project(api)
    for method in ("get", "post", "patch", "delete"):
        response = getattr(client, method)(board_url(project_id), json={"nodes": []})
        assert response.status_code == 401
        assert response.get_json() == {"error": "Unauthorized"}


def test_board_unknown_or_blog_project_is_404_and_someone_elses_is_403(api: Api) -> None:
    owner, _ = owner_project(api)
    _, private_project = owner_project(api)
    blog_project = api.project(owner, type="blog", name="Notes")
    for project_id in ("p_missing", blog_project):
        response = owner.get(board_url(project_id))
        assert response.status_code == 404
        assert response.get_json() == {"error": "Project not found"}
    response = owner.get(board_url(private_project))
    assert response.status_code == 403
    assert response.get_json() == {"error": "Forbidden"}


def test_board_delete_removes_rows_and_files(api: Api, server: Server) -> None:
    owner, project_id = owner_project(api)
    saved = owner.post(board_url(project_id), json=SNAPSHOT).get_json()["board"]
    upload = owner.post(
        board_url(project_id, f"/{saved['id']}/attachments/upload"), data={"file": (io.BytesIO(b"x"), "a.txt")}
    )
    assert upload.status_code == 201
    owner.post(board_url(project_id, f"/{saved['id']}/comments"), json={"body": "seen"})
    folder = server.services.settings.papertrail_root / project_id
    assert any(folder.rglob("a.txt"))
    response = owner.delete(board_url(project_id))
    assert response.status_code == 204 and response.data == b""
    assert not folder.exists()
    from legacy_core.models import PtAttachment, PtBoard, PtComment, PtEdge, PtNode

    with server.services.session_factory() as db:
        for model in (PtBoard, PtNode, PtEdge, PtComment, PtAttachment):
            assert db.query(model).count() == 0
    missing = owner.delete(board_url(project_id))
    assert missing.status_code == 404
    assert missing.get_json() == {"error": "Board not found"}
    assert board(owner, project_id)["nodes"] == []  # a fresh board on the next read


def test_board_disabled_feature_is_a_bare_404(
    api: Api, server: Server, server_factory: Callable[..., Server], settings_factory: Callable[..., Settings]
) -> None:
    _, project_id = owner_project(api)
    enabled = server.services.settings
    disabled = settings_factory(
        DATABASE_URL=enabled.DATABASE_URL, DATA_DIR=enabled.DATA_DIR, FT_PROJECT_TYPE_PAPERTRAIL=False
    )
    off = server_factory(disabled)
    anonymous = off.app.test_client()
    signed_in = Api(off, itertools.count(100)).user()
    for client in (anonymous, signed_in):
        for path in (board_url(project_id), board_url(project_id, "/export"), f"/uploads/{project_id}/a_1/x.txt"):
            response = client.get(path)
            assert response.status_code == 404
            assert response.data == b""
        assert client.post(board_url(project_id), json={"nodes": []}).status_code == 404


def test_ensure_board_survives_a_concurrent_first_read(api, server, monkeypatch):
    from sqlalchemy import func, select

    from legacy_core.models import Project, PtBoard
    from legacy_core.papertrail import board as board_module

    owner = api.user()
    project_id = api.project(owner, "papertrail")
    winner = owner.get(f"/api/projects/{project_id}/papertrail/board").get_json()["board"]["id"]
    # the losing request looked before the winner committed: its first lookup saw no board
    real_find = board_module.find_board
    calls = []

    def stale_first_lookup(db, pid):
        calls.append(pid)
        return None if len(calls) == 1 else real_find(db, pid)

    monkeypatch.setattr(board_module, "find_board", stale_first_lookup)
    with server.services.session_factory() as db:
        project = db.get(Project, project_id)
        board = board_module.ensure_board(db, project, lambda: "b_loser", server.services.clock.now())
        db.commit()
        assert board.id == winner
        assert db.scalar(select(func.count()).select_from(PtBoard)) == 1
    assert len(calls) == 2  # the stale lookup, then the one after the refused insert


def test_board_save_removes_exactly_one_leading_hash_per_save(api):
    owner = api.user()
    project_id = api.project(owner, "papertrail")
    url = f"/api/projects/{project_id}/papertrail/board"
    first = owner.post(url, json={"nodes": [{"id": "n", "tags": ["##Double", "#Single", "Plain"]}]})
    assert first.get_json()["board"]["nodes"][0]["tags"] == ["#double", "single", "plain"]
    # the legacy quirk: saving what was read back loses one more "#"
    again = owner.post(url, json={"nodes": first.get_json()["board"]["nodes"]})
    assert again.get_json()["board"]["nodes"][0]["tags"] == ["double", "single", "plain"]
