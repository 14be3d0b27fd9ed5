"""PaperTrail parity of the board page /projects/<projectId>/board: the same HTML, redirects and error pages.

How the comparison works, and why the plugin side cannot fall back to legacy code: see test_papertrail_parity.
"""

from __future__ import annotations

from collections.abc import Callable

from tests.fixtures.twins import Twins
from tests.plugins.test_papertrail_parity import make_pair, new_case


def page(project_id: str) -> str:
    return f"/projects/{project_id}/board"


def test_board_page_for_each_role_is_the_same_html(twins_factory: Callable[..., Twins]) -> None:
    case = new_case(make_pair(twins_factory))
    case.member("ed", "editor")
    case.member("vera", "viewer")
    for user in ("alice", "ed", "vera"):
        response = case.pair.exact(user, "GET", page(case.project_id))
        assert response.status_code == 200 and response.mimetype == "text/html"
        assert (b'data-can-edit="true"' in response.get_data()) == (user != "vera")
    case.pair.same_state()


def test_board_page_without_access_is_the_same_answer(twins_factory: Callable[..., Twins]) -> None:
    case = new_case(make_pair(twins_factory))
    case.pair.user("olga")
    blog = case.pair.project("alice", name="Notes <b>", kind="blog")
    answers = {
        ("olga", page(case.project_id)): 403,  # someone without access: the platform's error page
        ("alice", page("p_missing")): 404,
        ("alice", page(blog)): 404,
        ("alice", page("%20")): 400,
        (None, page(case.project_id)): 302,  # no session: to the login page, and back afterwards
        (None, page(case.project_id) + "?view=compact&x=%2F"): 302,
        ("alice", page(case.project_id) + "/"): 404,
        ("alice", page(case.project_id) + "/extra"): 404,
    }
    for (user, path), status in answers.items():
        assert case.pair.exact(user, "GET", path).status_code == status, (user, path)
    assert case.pair.exact("olga", "GET", page(case.project_id), headers={"Accept": "application/json"}).status_code
    case.pair.exact("olga", "GET", page(case.project_id), json={})  # a JSON request gets the JSON error instead
    case.pair.exact("alice", "POST", page(case.project_id))
    mallory = case.pair.user("mallory")
    case.pair.twins.move_to_tenant(mallory, "tenant-1")
    assert case.pair.exact("mallory", "GET", page(case.project_id)).status_code == 404
    case.pair.same_state()


def test_board_page_escapes_the_project_name(twins_factory: Callable[..., Twins]) -> None:
    pair = make_pair(twins_factory)
    pair.user("alice")
    project_id = pair.project("alice", name='<script>alert("x")</script> & Co')
    body = pair.exact("alice", "GET", page(project_id)).get_data()
    assert b"<script>alert" not in body
