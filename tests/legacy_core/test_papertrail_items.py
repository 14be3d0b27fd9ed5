"""PaperTrail item API: node, edge and comment CRUD under /board/<boardId>/..., with access rules and 404s."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import pytest
from flask.testing import FlaskClient
from hypothesis import assume, example, given
from hypothesis import strategies as st

from legacy_core import Server
from legacy_core.clock import FixedClock
from legacy_core.papertrail.normalize import ID_MAX, ID_PATTERN, storable
from tests.fixtures.app import Api


class Board:
    """An owner's project with a board holding nodes a, b, c and edges a->b, b->c."""

    def __init__(self, api: Api):
        self.api = api
        self.owner = api.user()
        self.project_id = api.project(self.owner)
        snapshot = {
            "nodes": [{"id": "a", "title": "A"}, {"id": "b"}, {"id": "c"}],
            "edges": [{"id": "ab", "source": "a", "target": "b"}, {"id": "bc", "source": "b", "target": "c"}],
        }
        response = self.owner.post(f"/api/projects/{self.project_id}/papertrail/board", json=snapshot)
        assert response.status_code == 200
        self.id = response.get_json()["board"]["id"]

    def url(self, suffix: str) -> str:
        return f"/api/projects/{self.project_id}/papertrail/board/{self.id}/{suffix}"

    def member(self, role: str) -> FlaskClient:
        client = self.api.user()
        self.api.share(self.owner, self.project_id, client, role)
        return client

    def snapshot(self) -> dict[str, Any]:
        return dict(self.owner.get(f"/api/projects/{self.project_id}/papertrail/board").get_json()["board"])


@pytest.fixture
def pt(api: Api) -> Board:
    return Board(api)


def test_nodes_list_get_create_in_order(pt: Board) -> None:
    listed = pt.owner.get(pt.url("nodes"))
    assert listed.status_code == 200
    assert [node["id"] for node in listed.get_json()["nodes"]] == ["a", "b", "c"]
    created = pt.owner.post(pt.url("nodes"), json={"type": "quote", "x": -1.5, "tags": ["#Key"], "text": "q" * 4100})
    assert created.status_code == 201
    node = created.get_json()["node"]
    assert created.get_json()["ok"] is True
    assert node["id"].startswith("n_") and node["x"] == -1 and node["tags"] == ["key"] and len(node["text"]) == 4000
    assert pt.owner.get(pt.url(f"nodes/{node['id']}")).get_json() == {"node": node}
    assert [item["id"] for item in pt.snapshot()["nodes"]] == ["a", "b", "c", node["id"]]


def test_nodes_create_with_existing_id_is_409(pt: Board) -> None:
    response = pt.owner.post(pt.url("nodes"), json={"id": "a"})
    assert response.status_code == 409
    assert pt.snapshot()["nodes"][0]["title"] == "A"


def test_nodes_create_rejects_bad_fields(pt: Board) -> None:
    for payload in ({"x": "10"}, {"id": ""}, {"title": ["x"]}, {"w": float("1e20")}):
        response = pt.owner.post(pt.url("nodes"), json=payload)
        assert response.status_code == 400, payload
        assert response.get_json()["error"] == "Invalid request"
    assert len(pt.snapshot()["nodes"]) == 3


def test_nodes_patch_merges_and_normalises(pt: Board) -> None:
    response = pt.owner.patch(pt.url("nodes/a"), json={"x": 99.99, "type": "nonsense", "tags": ["#A", "a"]})
    assert response.status_code == 200
    node = response.get_json()["node"]
    assert (node["x"], node["type"], node["tags"], node["title"]) == (99, "text", ["a"], "A")
    assert pt.snapshot()["nodes"][0] == node


def test_nodes_patch_errors(pt: Board) -> None:
    assert pt.owner.patch(pt.url("nodes/zzz"), json={"x": 1}).status_code == 404
    assert pt.owner.patch(pt.url("nodes/a"), json={}).status_code == 400
    assert pt.owner.patch(pt.url("nodes/a"), json={"id": "renamed"}).status_code == 400
    assert pt.owner.patch(pt.url("nodes/a"), json={"y": True}).status_code == 400
    assert pt.snapshot()["nodes"][0]["y"] == 0


def test_nodes_delete_removes_its_edges(pt: Board) -> None:
    response = pt.owner.delete(pt.url("nodes/b"))
    assert response.status_code == 204
    snapshot = pt.snapshot()
    assert [node["id"] for node in snapshot["nodes"]] == ["a", "c"]
    assert snapshot["edges"] == []
    assert pt.owner.delete(pt.url("nodes/b")).status_code == 404
    assert pt.owner.get(pt.url("nodes/b")).get_json() == {"error": "Node not found"}


def test_edges_crud(pt: Board) -> None:
    assert [edge["id"] for edge in pt.owner.get(pt.url("edges")).get_json()["edges"]] == ["ab", "bc"]
    created = pt.owner.post(pt.url("edges"), json={"source": "c", "target": "a", "label": "x" * 500})
    assert created.status_code == 201
    edge = created.get_json()["edge"]
    assert len(edge["label"]) == 240 and edge["id"].startswith("e_")
    assert pt.owner.get(pt.url(f"edges/{edge['id']}")).get_json() == {"edge": edge}
    patched = pt.owner.patch(pt.url(f"edges/{edge['id']}"), json={"label": "cites", "target": "b"})
    assert patched.status_code == 200
    assert patched.get_json()["edge"] | {"id": ""} == {
        "id": "",
        "source": "c",
        "target": "b",
        "label": "cites",
        "color": "",
    }
    assert pt.owner.delete(pt.url(f"edges/{edge['id']}")).status_code == 204
    assert pt.owner.get(pt.url(f"edges/{edge['id']}")).status_code == 404
    assert [edge["id"] for edge in pt.snapshot()["edges"]] == ["ab", "bc"]


def test_edges_need_existing_endpoints(pt: Board) -> None:
    for payload in ({"source": "a", "target": "ghost"}, {"source": 3, "target": "a"}, {"target": "a"}):
        response = pt.owner.post(pt.url("edges"), json=payload)
        assert response.status_code == 400, payload
    assert pt.owner.patch(pt.url("edges/ab"), json={"source": "ghost"}).status_code == 400
    assert pt.owner.post(pt.url("edges"), json={"id": "ab", "source": "c", "target": "a"}).status_code == 409
    assert pt.owner.patch(pt.url("edges/nope"), json={"label": "x"}).status_code == 404
    assert pt.owner.delete(pt.url("edges/nope")).status_code == 404
    assert pt.owner.patch(pt.url("edges/ab"), json={"weight": 3}).status_code == 400
    assert [(edge["source"], edge["target"]) for edge in pt.snapshot()["edges"]] == [("a", "b"), ("b", "c")]


def test_comments_crud_and_filter(pt: Board) -> None:
    general = pt.owner.post(pt.url("comments"), json={"body": "  first  "})
    assert general.status_code == 201
    comment = general.get_json()["comment"]
    assert comment["body"] == "first" and comment["nodeId"] is None
    assert comment["authorId"] == pt.owner.user["id"]  # type: ignore[attr-defined]
    on_a = pt.owner.post(pt.url("comments"), json={"body": "about a", "nodeId": "a"}).get_json()["comment"]
    assert [item["id"] for item in pt.owner.get(pt.url("comments")).get_json()["comments"]] == [
        comment["id"],
        on_a["id"],
    ]
    assert pt.owner.get(pt.url("comments?nodeId=a")).get_json()["comments"] == [on_a]
    edited = pt.owner.patch(pt.url(f"comments/{on_a['id']}"), json={"body": "edited"})
    assert edited.status_code == 200 and edited.get_json()["comment"]["body"] == "edited"
    assert pt.owner.delete(pt.url(f"comments/{on_a['id']}")).status_code == 204
    assert pt.owner.delete(pt.url(f"comments/{on_a['id']}")).status_code == 404
    assert pt.snapshot()["stats"]["comments"] == 1


def test_comments_reject_bad_bodies(pt: Board) -> None:
    for payload in ({}, {"body": "   "}, {"body": 5}, {"body": "x" * 10001}, {"body": "ok", "nodeId": "ghost"}):
        response = pt.owner.post(pt.url("comments"), json=payload)
        assert response.status_code == 400, payload
        assert response.get_json()["error"] == "Invalid request"
    assert pt.snapshot()["stats"]["comments"] == 0


def test_comments_only_author_or_owner_change_them(pt: Board) -> None:
    editor = pt.member("editor")
    other_editor = pt.member("editor")
    viewer = pt.member("viewer")
    assert viewer.post(pt.url("comments"), json={"body": "hi"}).status_code == 403
    mine = editor.post(pt.url("comments"), json={"body": "mine"}).get_json()["comment"]
    assert other_editor.patch(pt.url(f"comments/{mine['id']}"), json={"body": "hijack"}).status_code == 403
    assert other_editor.delete(pt.url(f"comments/{mine['id']}")).status_code == 403
    assert viewer.delete(pt.url(f"comments/{mine['id']}")).status_code == 403
    assert editor.patch(pt.url(f"comments/{mine['id']}"), json={"body": "mine, edited"}).status_code == 200
    assert pt.owner.patch(pt.url(f"comments/{mine['id']}"), json={"body": "moderated"}).status_code == 200
    assert pt.owner.delete(pt.url(f"comments/{mine['id']}")).status_code == 204


def test_items_viewer_reads_but_cannot_write(pt: Board) -> None:
    viewer = pt.member("viewer")
    assert viewer.get(pt.url("nodes")).status_code == 200
    assert viewer.get(pt.url("edges/ab")).status_code == 200
    assert viewer.get(pt.url("comments")).status_code == 200
    for method, suffix, payload in (
        ("post", "nodes", {"id": "v"}),
        ("patch", "nodes/a", {"x": 1}),
        ("delete", "nodes/a", None),
        ("post", "edges", {"source": "a", "target": "c"}),
        ("patch", "edges/ab", {"label": "x"}),
        ("delete", "edges/ab", None),
    ):
        response = getattr(viewer, method)(pt.url(suffix), json=payload)
        assert response.status_code == 403, (method, suffix)
    assert len(pt.snapshot()["nodes"]) == 3


def test_items_unknown_board_or_session(pt: Board, api: Api, client: FlaskClient) -> None:
    wrong = f"/api/projects/{pt.project_id}/papertrail/board/b_other/nodes"
    assert pt.owner.get(wrong).get_json() == {"error": "Board not found"}
    other_owner = api.user()
    other_project = api.project(other_owner)
    foreign_board = other_owner.get(f"/api/projects/{other_project}/papertrail/board").get_json()["board"]["id"]
    cross = f"/api/projects/{pt.project_id}/papertrail/board/{foreign_board}/nodes"
    assert pt.owner.get(cross).status_code == 404
    for suffix in ("nodes", "edges", "comments", "nodes/a"):
        assert client.get(pt.url(suffix)).status_code == 401


def test_items_writes_bump_board_updated_at(server_factory: Callable[..., Server]) -> None:
    pt = Board(Api(server_factory(clock=FixedClock()), itertools.count(1)))
    stamps = [pt.snapshot()["updatedAt"]]
    pt.owner.post(pt.url("nodes"), json={"id": "d"})
    stamps.append(pt.snapshot()["updatedAt"])
    pt.owner.patch(pt.url("edges/ab"), json={"label": "x"})
    stamps.append(pt.snapshot()["updatedAt"])
    comment = pt.owner.post(pt.url("comments"), json={"body": "x"}).get_json()["comment"]
    stamps.append(pt.snapshot()["updatedAt"])
    pt.owner.delete(pt.url(f"comments/{comment['id']}"))
    stamps.append(pt.snapshot()["updatedAt"])
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)


def test_items_ids_with_nul_are_refused(pt: Board) -> None:
    before = pt.snapshot()
    nul_in_path = {"error": "The path contains a NUL character"}
    for response in (
        pt.owner.get(pt.url("nodes/a%00")),
        pt.owner.patch(pt.url("edges/ab%00"), json={"label": "x"}),
        pt.owner.delete(pt.url("nodes/a%00")),
        pt.owner.delete(pt.url("comments/c%00")),
    ):
        assert (response.status_code, response.get_json()) == (400, nul_in_path)
    assert pt.snapshot() == before
    assert pt.owner.post(pt.url("edges"), json={"source": "a\x00", "target": "b"}).status_code == 400
    assert pt.owner.post(pt.url("comments"), json={"body": "x", "nodeId": "a\x00"}).status_code == 400
    assert pt.owner.get(pt.url("comments?nodeId=a%00")).get_json() == {"comments": []}


URL_BREAKERS = ["a/b", "a\\b", ".", "..", "tab\there", "del\x7f", "c1\x85"]


@pytest.mark.parametrize("bad_id", URL_BREAKERS, ids=repr)
def test_items_create_refuses_ids_that_cannot_be_in_a_url(pt: Board, bad_id: str) -> None:
    before = pt.snapshot()
    for kind, payload in (("node", {"id": bad_id}), ("edge", {"id": bad_id, "source": "a", "target": "c"})):
        response = pt.owner.post(pt.url(f"{kind}s"), json=payload)
        assert response.status_code == 400, (kind, bad_id)
        body = response.get_json()
        assert body["error"] == "Invalid request"
        assert [detail["field"] for detail in body["details"]] == [f"{kind}.id"]
        assert "URL" in body["details"][0]["message"]
    assert pt.snapshot() == before


def test_items_slash_ids_are_unreachable_so_never_stored(pt: Board) -> None:
    """The bug this guards against: "a/b" stored, then 404 for both /nodes/a/b and /nodes/a%2Fb."""
    assert pt.owner.post(pt.url("nodes"), json={"id": "a/b"}).status_code == 400
    for path in ("nodes/a/b", "nodes/a%2Fb"):
        assert pt.owner.get(pt.url(path)).get_json() == {"error": "Not found"}


# Any id the OpenAPI pattern allows (1..80 characters; generated from the pattern, not from the code's own check).
addressable_ids = st.from_regex(ID_PATTERN, fullmatch=True).filter(lambda value: len(value) <= ID_MAX)


@given(item_id=addressable_ids)
@example(item_id="a%2Fb")
@example(item_id="?x=1#y")
@example(item_id="...")
@example(item_id=" spaced ")
@example(item_id="\u00e9t\u00e9 \U0001f600")
def test_items_every_storable_id_is_addressable_by_its_url(pt: Board, item_id: str) -> None:
    assume(storable(item_id) and item_id not in ("a", "b", "c", "ab", "bc"))
    for kind, payload in (
        ("node", {"id": item_id, "title": "first"}),
        ("edge", {"id": item_id, "source": "a", "target": "c", "label": "first"}),
    ):
        field = "title" if kind == "node" else "label"
        created = pt.owner.post(pt.url(f"{kind}s"), json=payload)
        assert created.status_code == 201, created.get_json()
        assert created.get_json()[kind]["id"] == item_id
        item_url = pt.url(f"{kind}s/{quote(item_id, safe='')}")
        read = pt.owner.get(item_url)
        assert read.status_code == 200
        assert read.get_json() == {kind: created.get_json()[kind]}
        patched = pt.owner.patch(item_url, json={field: "second"})
        assert patched.status_code == 200
        assert patched.get_json()[kind]["id"] == item_id
        assert pt.owner.get(item_url).get_json()[kind][field] == "second"
    for kind in ("edge", "node"):
        item_url = pt.url(f"{kind}s/{quote(item_id, safe='')}")
        assert pt.owner.delete(item_url).status_code == 204
        assert pt.owner.get(item_url).get_json() == {"error": f"{kind.title()} not found"}
    snapshot = pt.snapshot()
    assert [node["id"] for node in snapshot["nodes"]] == ["a", "b", "c"]
    assert [edge["id"] for edge in snapshot["edges"]] == ["ab", "bc"]
