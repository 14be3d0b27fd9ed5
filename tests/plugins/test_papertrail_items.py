"""PaperTrail parity of the item routes: nodes, edges and comments under /board/<boardId>/.

How the comparison works, and why the plugin side cannot fall back to legacy code: see test_papertrail_parity.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from threading import Barrier
from typing import Any
from urllib.parse import quote

import pytest
from werkzeug.test import Client

from tests.fixtures.twins import Twins
from tests.plugins.test_papertrail_parity import Case, Pair, board_url, form, make_pair, new_case


class Items(Case):
    """A case whose board holds nodes a, b, c and edges ab (a->b), bc (b->c)."""

    board_id = ""

    def url(self, suffix: str) -> str:
        return board_url(self.project_id, f"/{self.board_id}/{suffix}")

    def call(self, user: str | None, method: str, suffix: str, status: int = 200, **kwargs: Any) -> Any:
        return self.pair.json(user, method, self.url(suffix), status, **kwargs)


def new_items(pair: Pair) -> Items:
    base = new_case(pair)
    items = Items(pair, base.project_id)
    snapshot = {
        "nodes": [{"id": "a", "title": "A"}, {"id": "b"}, {"id": "c"}],
        "edges": [{"id": "ab", "source": "a", "target": "b"}, {"id": "bc", "source": "b", "target": "c"}],
    }
    items.board_id = pair.json("alice", "POST", board_url(items.project_id), json=snapshot)["board"]["id"]
    return items


@pytest.fixture
def items(twins_factory: Callable[..., Twins]) -> Items:
    return new_items(make_pair(twins_factory))


def test_nodes_list_create_read_patch_delete(items: Items) -> None:
    items.call("alice", "GET", "nodes")
    created = items.call("alice", "POST", "nodes", 201, json={"type": "quote", "x": -1.5, "tags": ["#Key"]})
    node_id = created["node"]["id"]
    items.call("alice", "GET", f"nodes/{node_id}")
    items.call("alice", "PATCH", "nodes/a", json={"x": 99.99, "type": "nonsense", "tags": ["#A", "a"]})
    items.call("alice", "PATCH", "nodes/a", json={"id": "a"})  # only the (unchanged) id: still an update
    items.call("alice", "DELETE", "nodes/b", 204)
    items.call("alice", "GET", "edges")
    items.call("alice", "DELETE", "nodes/b", 404)
    assert items.call("alice", "GET", "nodes/b", 404) == {"error": "Node not found"}
    items.pair.same_state()


def test_nodes_create_and_patch_refusals(items: Items) -> None:
    items.call("alice", "POST", "nodes", 409, json={"id": "a"})
    for payload in ({"x": "10"}, {"id": ""}, {"title": ["x"]}, {"w": 1e20}, {"tags": [1]}, {"id": 5}):
        items.call("alice", "POST", "nodes", 400, json=payload)
    items.call("alice", "POST", "nodes", 400, data="[]", content_type="application/json")
    items.call("alice", "PATCH", "nodes/zzz", 404, json={"x": 1})
    items.call("alice", "PATCH", "nodes/a", 400, json={})
    items.call("alice", "PATCH", "nodes/a", 400, json={"colour": "red"})
    items.call("alice", "PATCH", "nodes/a", 400, json={"id": "renamed"})
    items.call("alice", "PATCH", "nodes/a", 400, json={"y": True})
    items.call("alice", "PATCH", "nodes/a", 400, data="{", content_type="application/json")
    items.call("alice", "POST", "nodes", 201, json={})  # the generated id must agree after all those refusals
    items.pair.same_state()


def test_edges_crud_and_endpoint_checks(items: Items) -> None:
    created = items.call("alice", "POST", "edges", 201, json={"source": "c", "target": "a", "label": "x" * 500})
    edge_id = created["edge"]["id"]
    items.call("alice", "GET", f"edges/{edge_id}")
    items.call("alice", "PATCH", f"edges/{edge_id}", json={"label": "cites", "target": "b"})
    items.call("alice", "DELETE", f"edges/{edge_id}", 204)
    items.call("alice", "GET", f"edges/{edge_id}", 404)
    for payload in ({"source": "a", "target": "ghost"}, {"source": 3, "target": "a"}, {"target": "a"}, {}):
        items.call("alice", "POST", "edges", 400, json=payload)
    items.call("alice", "POST", "edges", 400, json={"source": "a\x00", "target": "b"})
    items.call("alice", "PATCH", "edges/ab", 400, json={"source": "ghost"})
    items.call("alice", "POST", "edges", 409, json={"id": "ab", "source": "c", "target": "a"})
    items.call("alice", "PATCH", "edges/nope", 404, json={"label": "x"})
    items.call("alice", "DELETE", "edges/nope", 404)
    items.call("alice", "PATCH", "edges/ab", 400, json={"weight": 3})
    items.pair.same_state()


URL_BREAKERS = ["a/b", "a\\b", ".", "..", "tab\there", "del\x7f", "c1\x85", "x" * 81]


def test_items_refuse_ids_that_cannot_be_in_a_url(items: Items) -> None:
    for bad_id in URL_BREAKERS:
        items.call("alice", "POST", "nodes", 400, json={"id": bad_id})
        items.call("alice", "POST", "edges", 400, json={"id": bad_id, "source": "a", "target": "c"})
    for path in ("nodes/a/b", "nodes/a%2Fb", "nodes/a%00", "edges/ab%00", "comments/c%00"):
        items.pair.exact("alice", "GET", items.url(path))
        items.pair.exact("alice", "DELETE", items.url(path))
    items.pair.same_state()


ODD_IDS = ["a%2Fb", "?x=1#y", "...", " spaced ", "\u00e9t\u00e9 \U0001f600", "\u0130stanbul"]


def test_items_every_storable_id_is_addressable(items: Items) -> None:
    for item_id in ODD_IDS:
        for kind, payload in (("node", {"id": item_id}), ("edge", {"id": item_id, "source": "a", "target": "c"})):
            items.call("alice", "POST", f"{kind}s", 201, json=payload)
            member = f"{kind}s/{quote(item_id, safe='')}"
            items.call("alice", "GET", member)
            items.call("alice", "PATCH", member, json={"title" if kind == "node" else "label": "second"})
        for kind in ("edge", "node"):
            items.call("alice", "DELETE", f"{kind}s/{quote(item_id, safe='')}", 204)
    items.pair.same_state()


def test_comments_crud_filter_and_refusals(items: Items) -> None:
    general = items.call("alice", "POST", "comments", 201, json={"body": "  first  "})["comment"]
    on_a = items.call("alice", "POST", "comments", 201, json={"body": "about a", "nodeId": " a "})["comment"]
    items.call("alice", "GET", "comments")
    items.call("alice", "GET", "comments?nodeId=a")
    items.call("alice", "GET", "comments?nodeId=")
    items.call("alice", "GET", "comments?nodeId=a%00")
    items.call("alice", "PATCH", f"comments/{on_a['id']}", json={"body": "edited"})
    items.call("alice", "PATCH", f"comments/{on_a['id']}", 400, json={"body": "\x00"})
    items.call("alice", "PATCH", f"comments/{on_a['id']}", 400, json={})
    items.call("alice", "DELETE", f"comments/{on_a['id']}", 204)
    items.call("alice", "DELETE", f"comments/{on_a['id']}", 404)
    items.call("alice", "PATCH", "comments/c_nope", 404, json={"body": "x"})
    for payload in (
        {},
        {"body": "   "},
        {"body": 5},
        {"body": "x" * 10001},
        {"body": "ok", "nodeId": "ghost"},
        {"body": "ok", "nodeId": ""},
        {"body": "ok", "nodeId": 3},
        {"body": "ok", "nodeId": "n" * 81},
        {"body": "\x00"},
        {"body": "ok", "nodeId": "a\x00"},
    ):
        items.call("alice", "POST", "comments", 400, json=payload)
    items.call("alice", "POST", "comments", 400, data="nope", content_type="application/json")
    items.call("alice", "GET", "comments")
    assert general["nodeId"] is None
    items.pair.same_state()


def test_comments_only_author_or_owner_change_them(items: Items) -> None:
    items.member("ed", "editor")
    items.member("eve", "editor")
    items.member("vera", "viewer")
    items.call("vera", "POST", "comments", 403, json={"body": "hi"})
    mine = items.call("ed", "POST", "comments", 201, json={"body": "mine"})["comment"]
    items.call("eve", "PATCH", f"comments/{mine['id']}", 403, json={"body": "hijack"})
    items.call("eve", "DELETE", f"comments/{mine['id']}", 403)
    items.call("vera", "DELETE", f"comments/{mine['id']}", 403)
    items.call("ed", "PATCH", f"comments/{mine['id']}", json={"body": "mine, edited"})
    items.call("alice", "PATCH", f"comments/{mine['id']}", json={"body": "moderated"})
    # A viewer keeps the right to change their own comment (written while they were an editor).
    own = items.call("alice", "POST", "comments", 201, json={"body": "owner's"})["comment"]
    items.call("vera", "PATCH", f"comments/{own['id']}", 403, json={"body": "x"})
    items.call("alice", "DELETE", f"comments/{mine['id']}", 204)
    items.pair.same_state()


def test_items_roles_sessions_and_foreign_boards(items: Items) -> None:
    items.member("vera", "viewer")
    for suffix in ("nodes", "edges/ab", "comments", "nodes/a"):
        items.call("vera", "GET", suffix)
        items.call(None, "GET", suffix, 401)
    for method, suffix, payload in (
        ("POST", "nodes", {"id": "v"}),
        ("PATCH", "nodes/a", {"x": 1}),
        ("DELETE", "nodes/a", None),
        ("POST", "edges", {"source": "a", "target": "c"}),
        ("PATCH", "edges/ab", {"label": "x"}),
        ("DELETE", "edges/ab", None),
        ("POST", "comments", {"body": "x"}),
    ):
        items.call("vera", method, suffix, 403, json=payload)
        items.call(None, method, suffix, 401, json=payload)
    wrong = board_url(items.project_id, "/b_other/nodes")
    assert items.pair.json("alice", "GET", wrong, 404) == {"error": "Board not found"}
    items.pair.json("alice", "POST", board_url(items.project_id, "/b_other/comments"), 404, json={"body": "x"})
    items.pair.user("bob")
    other_project = items.pair.project("bob", name="Other")
    foreign = items.pair.json("bob", "GET", board_url(other_project))["board"]["id"]
    items.pair.json("alice", "GET", board_url(items.project_id, f"/{foreign}/nodes"), 404)
    items.pair.json("alice", "GET", board_url(other_project, f"/{foreign}/nodes"), 403)
    items.pair.same_state()


@pytest.mark.parametrize("how", ["delete", "post", "patch"])
def test_a_node_gone_unlinks_its_comments_and_attachments(items: Items, how: str) -> None:
    url = board_url(items.project_id)
    items.pair.json("alice", "POST", url, json={"nodes": [{"id": "doc"}, {"id": "keep"}]})
    for node_id in ("doc", "keep"):
        items.call("alice", "POST", "comments", 201, json={"body": "b", "nodeId": node_id})
        items.call("alice", "POST", "attachments/upload", 201, **form({"file": (b"x", "f.txt"), "nodeId": node_id}))
    if how == "delete":
        items.call("alice", "DELETE", "nodes/doc", 204)
    else:
        items.pair.json("alice", how.upper(), url, json={"nodes": [{"id": "keep"}]})
    items.call("alice", "POST", "nodes", 201, json={"id": "doc"})
    items.call("alice", "GET", "comments?nodeId=doc")
    items.pair.same_state()


RACERS = 6


def race(items: Items, side_index: int, body: dict[str, Any]) -> Counter[int]:
    """`RACERS` simultaneous creations of one node on one side, each with its own client; their statuses."""
    side = items.pair.twins.sides()[side_index]
    cookie = side.clients["alice"].get_cookie(side.platform.services.settings.AUTH_SESSION_COOKIE_NAME)
    assert cookie is not None
    barrier = Barrier(RACERS)

    def create(_: int) -> int:
        client = Client(side.platform)
        client.set_cookie(cookie.key, cookie.value)
        barrier.wait()
        return client.post(items.url("nodes"), json=body).status_code

    with ThreadPoolExecutor(RACERS) as pool:
        return Counter(pool.map(create, range(RACERS)))


def test_racing_creations_of_one_node_give_one_201_on_both_sides(twins_factory: Callable[..., Twins]) -> None:
    # Time stands still here: every request reads the clock (its session's expiry), in whatever order the threads
    # run, so a stepping clock would stamp the winner differently on each side.
    items = new_items(make_pair(twins_factory, clock_step=timedelta(0)))
    body = {"id": "same", "title": "raced"}
    assert race(items, 0, body) == race(items, 1, body) == Counter({201: 1, 409: RACERS - 1})
    items.call("alice", "GET", "nodes")
    items.pair.same_state()
