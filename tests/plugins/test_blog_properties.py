"""Blog plugin parity over generated inputs: post names, front matter fields, bodies and configurations.

Each test configures one pair and reuses it across its examples (cloning and git are slow): every example sends the
same request to both sides and the answers must agree byte for byte; the stored state is compared as the examples
go. Inputs mix valid and invalid values so both the happy paths and the 400s are exercised.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import UTC
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.fixtures.twins import Twins
from tests.plugins.test_blog_pair import BlogPair, configure_body, pair_maker, post_url

EXAMPLES = settings(max_examples=20, deadline=None)  # git makes every example cost tens of milliseconds
UNICODE = st.characters(blacklist_categories=("Cs",))  # a URL cannot carry a lone surrogate
YAML_SPECIAL = st.sampled_from(
    ["a: b", "'q'", '"dq"', "#hash", "- dash", "[x]", "{y}", "yes", "null", "~", "2024-01-01", "é ü 日本 🙂", "&anchor",
     "*ref", "!tag", "|", ">", "%", "@", "x\ny", "a\u2028b", "c\x85d", "e\rf", "---", "...", "  padded  ", "\t"]
)  # fmt: skip
TEXT = st.one_of(YAML_SPECIAL, st.text(UNICODE, max_size=40), st.tuples(YAML_SPECIAL, st.text(max_size=8)).map("".join))
NAME_PARTS = st.sampled_from(["a", "post", ".", "..", "/", "\\", " ", "\t", "\n", "\x00", "\x7f", ".md", "é", "%", "?"])
NAMES = st.one_of(
    st.lists(NAME_PARTS, min_size=1, max_size=6).map("".join),
    st.text(UNICODE, min_size=1, max_size=30),
    st.sampled_from(["first-post", "first-post.md", "second-post.md", "all", "all.md", "x" * 196, "x" * 197]),
)
PUB_DATES = st.one_of(
    st.dates().map(lambda day: day.isoformat()),
    st.datetimes(timezones=st.sampled_from([None, UTC])).map(lambda moment: moment.isoformat()),
    st.sampled_from(["2024-02-30", "yesterday", "2024-1-5", " 2024-01-05 ", "2024-01-05T25:00", ""]),
    st.text(max_size=12),
)


@pytest.fixture
def pair(
    twins_factory: Callable[..., Twins],
    gitremote_template: Path,
    no_global_git_identity: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> BlogPair:
    return pair_maker(twins_factory, gitremote_template, tmp_path, monkeypatch)()


def maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """A field that may be left out (None drops it from the body below)."""
    return st.one_of(st.none(), strategy)


def present(fields: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in fields.items() if value is not None}


def test_blog_any_post_name_gets_the_same_answer(pair: BlogPair) -> None:
    project_id = pair.blog()

    @EXAMPLES
    @given(name=NAMES, method=st.sampled_from(["GET", "PATCH", "POST", "DELETE", "CREATE"]))
    def check(name: str, method: str) -> None:
        if method == "CREATE":  # the name in a new post's body rather than in the URL
            pair.both("alice", "POST", post_url(project_id), json={"title": "Named", "body": "", "file": name})
        else:
            pair.both("alice", method, post_url(project_id, quote(name, safe="")), json={"title": "Renamed"})

    check()
    pair.json("alice", "GET", post_url(project_id, "all"))
    pair.assert_same_state()


def test_blog_new_posts_with_any_fields_read_back_the_same(pair: BlogPair) -> None:
    project_id = pair.blog()
    numbers = itertools.count()

    @EXAMPLES
    @given(
        title=TEXT,
        description=maybe(TEXT),
        tags=maybe(st.lists(TEXT, max_size=4)),
        pub_date=maybe(PUB_DATES),
        draft=maybe(st.one_of(st.booleans(), st.just("maybe"))),
        body=st.text(max_size=300),
        named=st.booleans(),
    )
    def check(title: str, description: Any, tags: Any, pub_date: Any, draft: Any, body: str, named: bool) -> None:
        fields = present({"description": description, "tags": tags, "pubDate": pub_date, "draft": draft})
        # An explicit unique name, or the title's slug (which may well collide: a 409, compared like the rest).
        file = {"file": f"generated-{next(numbers)}"} if named else {}
        created, _ = pair.both(
            "alice", "POST", post_url(project_id), json={"title": title, "body": body, **fields, **file}
        )
        if created.status_code == 201:
            name = created.get_json()["post"]["file"]
            pair.both("alice", "GET", post_url(project_id, quote(name, safe="")))
        pair.assert_same_state()

    check()
    pair.json("alice", "GET", post_url(project_id, "all"))


def test_blog_post_changes_of_any_kind_apply_the_same(pair: BlogPair) -> None:
    project_id = pair.blog()
    numbers = itertools.count()

    @EXAMPLES
    @given(
        title=maybe(TEXT),
        description=maybe(TEXT),
        tags=maybe(st.lists(TEXT, max_size=3)),
        pub_date=maybe(PUB_DATES),
        draft=maybe(st.booleans()),
        body=maybe(st.text(max_size=200)),
        rename=st.booleans(),
        publish=st.booleans(),
    )
    def check(
        title: Any, description: Any, tags: Any, pub_date: Any, draft: Any, body: Any, rename: bool, publish: bool
    ) -> None:
        number = next(numbers)
        file = f"edit-{number}.md"
        pair.json("alice", "POST", post_url(project_id), json={"title": "Start", "body": "start\n", "file": file})
        if publish:  # so that a rename has a committed name to remove
            pair.json("alice", "POST", post_url(project_id, file))
        changes = present(
            {"title": title, "description": description, "tags": tags, "pubDate": pub_date, "draft": draft}
        )
        if body is not None:
            changes["body"] = body
        if rename:
            changes["file"] = f"renamed-{number}"
        edited, _ = pair.both("alice", "PATCH", post_url(project_id, file), json=changes)
        if edited.status_code == 200:
            name = edited.get_json()["post"]["file"]
            pair.both("alice", "POST", post_url(project_id, name))  # publish the result, rename included
        pair.assert_same_state()

    check()


def test_blog_any_configuration_is_judged_the_same(pair: BlogPair) -> None:
    project_id = pair.project("alice")
    remotes = pair.link.parent
    urls = st.one_of(
        st.sampled_from(
            [f"{remotes}/missing.git", (remotes / "missing.git").as_uri(), f"{remotes}/../outside.git", "/etc",
             "https://example.test/x.git", "git@example.test:x.git", "ftp://example.test/x", "file:///", "-x", ""]
        ),
        st.text(UNICODE, max_size=30),
    )  # fmt: skip

    @EXAMPLES
    @given(
        url=urls,
        branch=maybe(st.one_of(st.sampled_from(["main", "mian", "a/b", "-x", "x.lock", "a..b"]), st.text(max_size=10))),
        content_dir=maybe(st.one_of(st.sampled_from(["docs", "/docs/", "a/../b", ".git"]), st.text(max_size=10))),
        user_name=maybe(st.text(max_size=12)),
        email=maybe(st.one_of(st.emails(), st.text(max_size=12))),
        token=maybe(st.text(max_size=8)),
    )
    def check(url: str, branch: Any, content_dir: Any, user_name: Any, email: Any, token: Any) -> None:
        body = configure_body(url)
        body.update(
            present({"branch": branch, "contentDir": content_dir, "gitUserName": user_name, "gitUserEmail": email})
        )
        if token is not None:
            body["gitAuthToken"] = token
        response, _ = pair.both("alice", "PATCH", f"/api/projects/{project_id}/configure", json=body)
        assert response.status_code == 400  # none of these remotes can be cloned

    check()
    pair.assert_same_state()
