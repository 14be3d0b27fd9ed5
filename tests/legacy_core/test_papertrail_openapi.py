"""PaperTrail against its OpenAPI fragment: schemathesis cases aimed at a real board, its nodes, edges and comments."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from legacy_core.papertrail.openapi_spec import PATHS
from tests.fixtures.app import Api
from tests.fixtures.openapi import CHECKS, COOKIE, openapi_schema

schema = openapi_schema().include(path_regex="/papertrail/|^/uploads/")


@dataclass
class Board:
    project_id: str
    board_id: str
    node_ids: list[str]
    edge_ids: list[str]
    comment_ids: list[str]
    tokens: dict[str, str]

    def aim(self, case: schemathesis.Case, data: st.DataObject) -> dict[str, str]:
        """Point path parameters at real items most of the time and pick the caller; returns the cookies."""
        path = case.path_parameters or {}
        choices = {
            "projectId": [self.project_id],
            "boardId": [self.board_id],
            "nodeId": self.node_ids,
            "edgeId": self.edge_ids,
            "commentId": self.comment_ids,
        }
        for name, known in choices.items():
            if name in path:
                picked = data.draw(st.sampled_from([*known, None]), label=name)
                if picked is not None:
                    path[name] = picked
        who = data.draw(st.sampled_from(["owner", "owner", "editor", "viewer", "anonymous"]), label="caller")
        return {COOKIE: self.tokens[who]} if who in self.tokens else {}


@pytest.fixture
def board(api: Api) -> Board:
    owner, editor, viewer = api.user(), api.user(), api.user()
    project_id = api.project(owner)
    api.share(owner, project_id, editor, "editor")
    api.share(owner, project_id, viewer, "viewer")
    base = f"/api/projects/{project_id}/papertrail/board"
    snapshot = {
        "nodes": [{"id": "a", "tags": ["x"]}, {"id": "b"}, {"id": "c"}],
        "edges": [{"id": "ab", "source": "a", "target": "b"}],
    }
    board_id = owner.post(base, json=snapshot).get_json()["board"]["id"]
    comment = owner.post(f"{base}/{board_id}/comments", json={"body": "hello", "nodeId": "a"}).get_json()["comment"]
    tokens = {}
    for who, client in (("owner", owner), ("editor", editor), ("viewer", viewer)):
        cookie = client.get_cookie(COOKIE)
        assert cookie is not None
        tokens[who] = cookie.value
    return Board(project_id, board_id, ["a", "b", "c"], ["ab"], [comment["id"]], tokens)


def test_papertrail_openapi_fragment_covers_every_route(board: Board, api: Api) -> None:
    rules = {rule.rule for rule in api.server.app.url_map.iter_rules() if rule.endpoint.startswith("papertrail.")}
    documented = {path.replace("{", "<").replace("}", ">") for path in PATHS}
    as_flask = {
        rule.replace("<project_id>", "<projectId>")
        .replace("<board_id>", "<boardId>")
        .replace("<node_id>", "<nodeId>")
        .replace("<edge_id>", "<edgeId>")
        .replace("<comment_id>", "<commentId>")
        .replace("<attachment_id>", "<attachmentId>")
        for rule in rules
    }
    assert as_flask == documented


@schema.parametrize()
@schema.given(data=st.data())
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_papertrail_openapi_app_conforms(case: schemathesis.Case, data: st.DataObject, board: Board, api: Api) -> None:
    cookies = board.aim(case, data)
    case.call_and_validate(app=api.server.app, cookies=cookies, checks=CHECKS)
