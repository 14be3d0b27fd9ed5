"""Blog plugin parity for the pages: the post list, the new-post and edit-post editors, and their refusals.

The HTML must be byte-identical, and so must the redirect target and the pages' security headers.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.fixtures.twins import Twins
from tests.plugins.test_blog_pair import BlogPair, pair_maker

XSS = "<script>alert('x')</script> & \"quotes\""


@pytest.fixture
def make_pair(
    twins_factory: Callable[..., Twins],
    gitremote_template: Path,
    no_global_git_identity: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Callable[..., BlogPair]:
    return pair_maker(twins_factory, gitremote_template, tmp_path, monkeypatch)


def pages(project_id: str) -> list[str]:
    base = f"/projects/{project_id}/blog"
    return [
        base,
        f"{base}/new",
        f"{base}/edit/first-post.md",
        f"{base}/edit/{quote(XSS)}.md",
        f"{base}/edit/a/b/c.md",
        f"{base}/edit/%C3%A9t%C3%A9.md",
        f"{base}?tab=posts&x=%20y",  # the login redirect keeps the query
    ]


def test_blog_pages_for_each_role(make_pair: Callable[..., BlogPair]) -> None:
    pair = make_pair()
    configured = pair.blog()
    fresh = pair.project("alice", name=XSS)  # not configured yet; its name must be escaped
    for name, role in [("vic", "viewer"), ("eddie", "editor")]:
        pair.user(name)
        for project_id in (configured, fresh):
            pair.share("alice", project_id, name, role)
    pair.user("stranger")
    for project_id in (configured, fresh):
        for user in (None, "alice", "vic", "eddie", "stranger"):
            for url in pages(project_id):
                response, _ = pair.both(user, "GET", url)
                assert response.status_code in (200, 302, 403), (user, url, response.status_code)
    owner_page = pair.both("alice", "GET", f"/projects/{fresh}/blog")[0].get_data(as_text=True)
    assert 'id="configure"' in owner_page and "&lt;script&gt;" in owner_page and "<script>alert" not in owner_page
    pair.assert_same_state()


def test_blog_pages_of_other_projects_and_odd_paths(make_pair: Callable[..., BlogPair]) -> None:
    pair = make_pair()
    board = pair.project("alice", kind="papertrail", name="Board")
    blog = pair.project("alice")
    for url in [
        *pages(board),  # not a blog: 404 page
        *pages("p_missing"),
        f"/projects/{blog}/blog/",
        f"/projects/{blog}/blog/edit/",
        f"/projects/{blog}/blog/edit//double.md",
        f"/projects/{blog}/blog/other",
        f"/projects/{blog}/blog/new/extra",
    ]:
        for user in (None, "alice"):
            pair.both(user, "GET", url)
    for method in ("HEAD", "OPTIONS", "POST"):
        pair.both("alice", method, f"/projects/{blog}/blog")
    pair.both("alice", "GET", f"/projects/{blog}/blog", headers={"Content-Type": "application/json"})
    pair.assert_same_state()


def test_blog_pages_when_blogs_are_switched_off(make_pair: Callable[..., BlogPair]) -> None:
    # Signed out: the login redirect comes first, as on the legacy pages. Signed in: a bare 404.
    pair = make_pair(FT_PROJECT_TYPE_BLOG=False)
    board = pair.project("alice", kind="papertrail", name="Board")
    for project_id in (board, "p_missing"):
        for url in pages(project_id):
            assert pair.both(None, "GET", url)[0].status_code == 302
            response, _ = pair.both("alice", "GET", url)
            assert (response.status_code, response.get_data()) == (404, b"")
    pair.assert_same_state()
