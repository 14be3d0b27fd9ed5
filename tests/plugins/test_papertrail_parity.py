"""PaperTrail parity: the plugin answers and stores exactly what the legacy feature does (board routes, access).

Every test drives a twin pair (tests/fixtures/twins.py): one platform serves PaperTrail from legacy code, the other
from plugins/papertrail. Each request goes to both; status, the compared headers and the body bytes must be
identical (`Twins.both`), and so must every stored row and file afterwards. The plugin side's legacy app is made to
answer 418 to every PaperTrail path (`refuse_legacy_papertrail`), so a request the plugin does not serve fails the
comparison: these tests cannot pass by both sides being legacy. The helpers here are shared by the other
test_papertrail_* modules.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from werkzeug.datastructures import FileStorage
from werkzeug.test import TestResponse, encode_multipart
from werkzeug.wrappers import Response

from exthost.platform import Platform
from tests.fixtures.twins import Twins, shown

# A stepping clock: every read gives a new instant, so the plugin must read the clock exactly as often as legacy.
STEP = timedelta(milliseconds=1)
PAPERTRAIL_PATHS = re.compile(r"^(/api/projects/[^/]+/papertrail|/uploads|/projects/[^/]+/board)(/|$)")
TEAPOT = 418


def refuse_legacy_papertrail(platform: Platform) -> None:
    """Make `platform`'s legacy app answer 418 to every PaperTrail path, so only its plugin can answer them."""
    app = platform.legacy.app
    inner = app.wsgi_app

    def guarded(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        if PAPERTRAIL_PATHS.match(environ.get("PATH_INFO", "")):
            return Response("legacy code must not serve PaperTrail here", status=TEAPOT)(environ, start_response)
        return inner(environ, start_response)

    app.wsgi_app = guarded  # type: ignore[method-assign]


@dataclass
class Pair:
    """A PaperTrail twin pair with the comparisons of these tests."""

    twins: Twins

    def user(self, name: str) -> str:
        """Register `name` on both sides; their (identical) user id."""
        return self.twins.user(name)

    def project(self, owner: str, name: str = "Harbour Case", kind: str = "papertrail", **extra: Any) -> str:
        return self.twins.project(owner, name, kind, **extra)

    def share(self, owner: str, project_id: str, member: str, role: str) -> None:
        self.twins.share(owner, project_id, member, role)

    def exact(self, user: str | None, method: str, path: str, **kwargs: Any) -> TestResponse:
        """The request on both sides, answered alike (`Twins.both`) and not by the 418 guard; the legacy answer."""
        legacy, plugin = self.twins.both(user, method, path, **kwargs)
        assert plugin.status_code != TEAPOT, f"{method} {path}"
        return legacy

    def json(self, user: str | None, method: str, path: str, status: int = 200, **kwargs: Any) -> Any:
        """`exact`, checking the status too; the JSON body."""
        response = self.exact(user, method, path, **kwargs)
        assert response.status_code == status, (method, path, shown(response))
        return response.get_json()

    def same_state(self) -> None:
        """Same rows in every table and the same files under the PaperTrail folder on both sides."""
        self.twins.assert_same_state(lambda settings: settings.papertrail_root)


def make_pair(twins_factory: Callable[..., Twins], **settings: Any) -> Pair:
    """A PaperTrail pair on a stepping clock whose plugin side cannot fall back to legacy code."""
    settings.setdefault("clock_step", STEP)
    twins = twins_factory("papertrail", **settings)
    refuse_legacy_papertrail(twins.plugin.platform)
    return Pair(twins)


@pytest.fixture
def pair_factory(twins_factory: Callable[..., Twins]) -> Callable[..., Pair]:
    """`pair_factory(**settings)`: `make_pair` with these settings."""
    return lambda **settings: make_pair(twins_factory, **settings)


def form(fields: dict[str, Any]) -> dict[str, Any]:
    """A multipart body encoded once, so both sides get the same bytes (a file object would be read only once).

    A field is a string, or a file given as (bytes, filename) or (bytes, filename, content type).
    """
    values: dict[str, Any] = {}
    for name, value in fields.items():
        if isinstance(value, tuple):
            data, filename, *content_type = value
            values[name] = FileStorage(io.BytesIO(data), filename=filename, content_type=(content_type or [None])[0])
        else:
            values[name] = value
    boundary, body = encode_multipart(values, boundary="SovereignParityBoundary")
    return {"data": body, "content_type": f"multipart/form-data; boundary={boundary}"}


def board_url(project_id: str, suffix: str = "") -> str:
    return f"/api/projects/{project_id}/papertrail/board{suffix}"


SNAPSHOT: dict[str, Any] = {
    "title": "Case file",
    "nodes": [
        {"id": "n1", "type": "note", "x": 10.9, "y": -3.7, "w": 200, "h": 120.5, "title": "Lead", "tags": ["#Money"]},
        {"id": "n2", "type": "video", "text": "t" * 5000, "tags": ["money", "#Witness", " ", "##Twice"]},
        {"id": "n3", "type": "image", "imageUrl": "https://example.test/a.png", "color": "#ff0000"},
    ],
    "edges": [
        {"id": "e1", "source": "n1", "target": "n2", "label": "pays"},
        {"id": "e2", "source": "n2", "target": "ghost"},
        {"source": "n3", "target": "n1", "label": "L" * 300},
    ],
}


@dataclass
class Case:
    """An owner (alice) with a PaperTrail project; `board` saves SNAPSHOT on it."""

    pair: Pair
    project_id: str
    owner: str = "alice"

    def board(self) -> dict[str, Any]:
        return dict(self.pair.json(self.owner, "GET", board_url(self.project_id))["board"])

    def member(self, name: str, role: str) -> str:
        user_id = self.pair.user(name)
        self.pair.share(self.owner, self.project_id, name, role)
        return user_id


def new_case(pair: Pair) -> Case:
    pair.user("alice")
    return Case(pair, pair.project("alice"))


@pytest.fixture
def case(pair_factory: Callable[..., Pair]) -> Case:
    return new_case(pair_factory())


def test_board_first_read_creates_it_then_finds_it(case: Case) -> None:
    first = case.board()
    assert first["title"] == "Harbour Case" and first["nodes"] == []
    assert case.board()["id"] == first["id"]
    case.pair.same_state()


def test_board_save_normalises_and_reads_back(case: Case) -> None:
    saved = case.pair.json("alice", "POST", board_url(case.project_id), json=SNAPSHOT)["board"]
    assert saved["nodes"][1]["tags"] == ["money", "witness", "#twice"]
    assert len(saved["edges"]) == 2  # the edge to "ghost" is dropped, the third gets a generated id
    assert case.board() == saved
    # Saving what was read back loses one more "#" (the legacy quirk, kept).
    again = case.pair.json("alice", "POST", board_url(case.project_id), json={"nodes": saved["nodes"]})["board"]
    assert again["nodes"][1]["tags"] == ["money", "witness", "twice"]
    case.pair.same_state()


def test_board_save_keeps_order_creation_times_and_title(case: Case) -> None:
    url = board_url(case.project_id)
    case.pair.json("alice", "POST", url, json=SNAPSHOT)
    nodes = [{"id": name} for name in ("z", "n1", "m")]
    case.pair.json("alice", "POST", url, json={"nodes": nodes, "edges": [{"source": "z", "target": "n1"}]})
    assert [node["id"] for node in case.board()["nodes"]] == ["z", "n1", "m"]
    case.pair.same_state()


def test_board_patch_title_nodes_and_edges(case: Case) -> None:
    url = board_url(case.project_id)
    case.pair.json("alice", "POST", url, json=SNAPSHOT)
    case.pair.json("alice", "PATCH", url, json={"title": "T" * 200})
    case.pair.json("alice", "PATCH", url, json={"nodes": [{"id": "n1"}, {"id": "n3"}]})
    edges = [{"id": "x", "source": "n3", "target": "n1"}, {"id": "y", "source": "n1", "target": "nope"}]
    patched = case.pair.json("alice", "PATCH", url, json={"edges": edges})["board"]
    assert [edge["id"] for edge in patched["edges"]] == ["x"]
    case.pair.json("alice", "PATCH", url, json={"title": "both", "nodes": [{"id": "n3"}], "edges": None})
    case.pair.same_state()


BAD_SAVES: dict[str, Any] = {
    "dup-ids": {"nodes": [{"id": "a"}, {"id": "a"}]},
    "dup-ids-after-generated": {"nodes": [{}, {"id": "a"}, {"id": "a"}]},
    "text-coord": {"nodes": [{"id": "a", "x": "left"}]},
    "bool-coord": {"nodes": [{"id": "a", "y": True}]},
    "huge-coord": {"nodes": [{"id": "a", "x": 1e300}]},
    "int-overflow": {"nodes": [{"id": "a", "w": 2**31}]},
    "long-id": {"nodes": [{"id": "x" * 81}]},
    "empty-id": {"nodes": [{"id": ""}]},
    "number-id": {"nodes": [{"id": 7}]},
    "tags-string": {"nodes": [{"id": "a", "tags": "one,two"}]},
    "tag-number": {"nodes": [{"id": "a", "tags": ["ok", 3]}]},
    "title-list": {"nodes": [{"id": "a", "title": ["x"]}]},
    "node-not-object": {"nodes": [{}, "n"]},
    "nodes-string": {"nodes": "all of them"},
    "edges-object": {"nodes": [], "edges": {"id": "e"}},
    "edge-not-object": {"nodes": [{}], "edges": [[1]]},
    "edge-label-number": {"nodes": [{}], "edges": [{"label": 5}]},
    "null-title": {"nodes": [], "title": None},
    "title-number": {"nodes": [], "title": 3},
    "no-nodes": {"edges": []},
    "slash-id": {"nodes": [{"id": "n1"}, {"id": "a/b"}]},
    "backslash-edge-id": {"nodes": [{"id": "n1"}], "edges": [{"id": "a\\b", "source": "n1", "target": "n1"}]},
    "dot-id": {"nodes": [{"id": "."}]},
    "dotdot-id": {"nodes": [{"id": ".."}]},
    "newline-id": {"nodes": [{"id": "new\nline"}]},
    "c1-id": {"nodes": [{"id": "c1\x85"}]},
    "nul-id": {"nodes": [{"id": "a\x00"}]},
    "surrogate-id": {"nodes": [{"id": "a\ud800"}]},
}


@pytest.mark.parametrize("method", ["POST", "PATCH"])
def test_board_bad_saves_answer_the_same_400_and_change_nothing(case: Case, method: str) -> None:
    url = board_url(case.project_id)
    case.pair.json("alice", "POST", url, json=SNAPSHOT)
    for name, payload in BAD_SAVES.items():
        if (method, name) == ("PATCH", "no-nodes"):
            continue  # an edges-only patch is fine
        body = case.pair.json("alice", method, url, status=400, json=payload)
        assert body["error"], name
        # Ids drawn before a refusal count on both sides alike: the next generated ids must still agree.
        case.pair.json("alice", "POST", url, json={"nodes": [{}], "edges": []})
        case.pair.same_state()


NOT_OBJECTS = {
    "broken": ("{nodes:", "application/json"),
    "list": ("[1, 2]", "application/json"),
    "number": ("3", "application/json"),
    "too-deep": ("[" * 100_000 + "]" * 100_000, "application/json"),
    "form": ("nodes=1", "application/x-www-form-urlencoded"),
    "empty": ("", "application/json"),
    "json-as-text": ('{"nodes": []}', "text/plain"),
}


@pytest.mark.parametrize("method", ["POST", "PATCH"])
def test_board_bodies_that_are_not_json_objects(case: Case, method: str) -> None:
    for name, (data, content_type) in NOT_OBJECTS.items():
        response = case.pair.exact("alice", method, board_url(case.project_id), data=data, content_type=content_type)
        assert response.status_code == 400, name
    case.pair.same_state()


def test_board_roles(case: Case) -> None:
    url = board_url(case.project_id)
    case.pair.json("alice", "POST", url, json=SNAPSHOT)
    case.member("vera", "viewer")
    case.member("ed", "editor")
    case.pair.user("olga")  # signed in, not a member of the private project
    case.pair.json("vera", "GET", url)
    for method in ("POST", "PATCH", "DELETE"):
        assert case.pair.json("vera", method, url, status=403, json={"nodes": []}) == {"error": "Forbidden"}
        case.pair.json("olga", method, url, status=403, json={"nodes": []})
        assert case.pair.json(None, method, url, status=401, json={"nodes": []}) == {"error": "Unauthorized"}
    case.pair.json("olga", "GET", url, status=403)
    case.pair.json(None, "GET", url, status=401)
    case.pair.json("ed", "POST", url, json={"nodes": [{"id": "by-editor"}]})
    case.pair.json("ed", "PATCH", url, json={"title": "edited"})
    case.pair.json("ed", "DELETE", url, status=403)
    case.pair.same_state()


def test_board_org_scope_gives_tenant_members_viewing(pair_factory: Callable[..., Pair]) -> None:
    pair = pair_factory()
    pair.user("alice")
    project_id = pair.project("alice", scope="org")
    pair.user("olga")
    pair.json("olga", "GET", board_url(project_id))
    pair.json("olga", "POST", board_url(project_id), status=403, json={"nodes": []})
    pair.same_state()


def test_board_platform_admin_is_owner_in_own_tenant(case: Case) -> None:
    admin_id = case.pair.user("root")
    case.pair.twins.sql("INSERT INTO user_roles (user_id, role) VALUES (:id, 'platform:admin')", id=admin_id)
    case.pair.json("root", "POST", board_url(case.project_id), json=SNAPSHOT)
    case.pair.exact("root", "DELETE", board_url(case.project_id))
    case.pair.same_state()


def test_board_unknown_other_type_and_other_tenant_projects_are_404(case: Case) -> None:
    blog_id = case.pair.project("alice", name="Notes", kind="blog")
    for project_id, status in (("p_missing", 404), (blog_id, 404), ("%20", 400)):
        for method in ("GET", "POST", "PATCH", "DELETE"):
            case.pair.json("alice", method, board_url(project_id), status=status, json={"nodes": []})
    case.pair.json("alice", "GET", board_url(case.project_id, "/export"))
    mallory = case.pair.user("mallory")
    case.pair.twins.move_to_tenant(mallory, "tenant-1")
    for method in ("GET", "POST", "DELETE"):
        body = case.pair.json("mallory", method, board_url(case.project_id), status=404, json={"nodes": []})
        assert body == {"error": "Project not found"}
    case.pair.same_state()


def test_board_delete_removes_rows_and_files_then_a_fresh_board_comes(case: Case) -> None:
    url = board_url(case.project_id)
    board_id = case.pair.json("alice", "POST", url, json=SNAPSHOT)["board"]["id"]
    upload = form({"file": (b"evidence", "a.txt")})
    case.pair.json("alice", "POST", board_url(case.project_id, f"/{board_id}/attachments/upload"), 201, **upload)
    case.pair.json("alice", "POST", board_url(case.project_id, f"/{board_id}/comments"), 201, json={"body": "seen"})
    case.pair.same_state()
    case.pair.exact("alice", "DELETE", url)
    case.pair.same_state()
    assert case.pair.json("alice", "DELETE", url, status=404) == {"error": "Board not found"}
    case.pair.json("alice", "GET", url)
    case.pair.same_state()


def test_board_unknown_paths_and_methods_under_the_mount(case: Case) -> None:
    case.pair.exact("alice", "PUT", board_url(case.project_id), json={"nodes": []})
    case.pair.exact("alice", "GET", board_url(case.project_id, "/nothing"))
    case.pair.exact("alice", "GET", f"/api/projects/{case.project_id}/papertrail")
    case.pair.exact("alice", "GET", board_url(case.project_id, "/b_1/nodes/a%00"))
    case.pair.same_state()


FEATURE_PATHS = [
    ("GET", "{board}"),
    ("POST", "{board}"),
    ("PATCH", "{board}"),
    ("DELETE", "{board}"),
    ("GET", "{board}/export"),
    ("POST", "{board}/import"),
    ("POST", "{board}/import/validate"),
    ("GET", "{board}/b_1/nodes"),
    ("POST", "{board}/b_1/edges"),
    ("GET", "{board}/b_1/edges/e1"),
    ("GET", "{board}/b_1/comments"),
    ("DELETE", "{board}/b_1/comments/c_1"),
    ("POST", "{board}/b_1/attachments/upload"),
    ("GET", "/uploads/{project}/a_1/x.txt"),
    ("GET", "/projects/{project}/board"),
]


def test_feature_switched_off_is_a_bare_404_everywhere(pair_factory: Callable[..., Pair]) -> None:
    pair = pair_factory(FT_PROJECT_TYPE_PAPERTRAIL=False)
    pair.user("alice")
    # The toggle refuses new PaperTrail projects, so an existing one is made by retyping a blog project.
    project_id = pair.project("alice", kind="blog")
    pair.twins.sql("UPDATE projects SET type = 'papertrail' WHERE id = :id", id=project_id)
    for user in ("alice", None):
        for method, template in FEATURE_PATHS:
            path = template.format(board=board_url(project_id), project=project_id)
            response = pair.exact(user, method, path, json={"nodes": []})
            if user is None and path.startswith("/projects/"):
                assert response.status_code == 302  # pages ask for a session before anything else
            else:
                assert (response.status_code, response.get_data()) == (404, b""), (user, method, path)
    pair.same_state()
