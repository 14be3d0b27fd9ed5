"""Blog against its OpenAPI fragment: schemathesis cases aimed at a configured blog with real posts and remote."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from legacy_core.blog.openapi_spec import PATHS
from tests.fixtures.app import Api
from tests.fixtures.gitremote import Blog
from tests.fixtures.openapi import CHECKS, COOKIE, openapi_schema

schema = openapi_schema().include(path_regex="/blog/|/configure$")


@dataclass
class Target:
    project_id: str
    files: list[str]
    tokens: dict[str, str]

    def aim(self, case: schemathesis.Case, data: st.DataObject) -> dict[str, str]:
        """Point the project and post name at real ones most of the time and pick the caller; returns the cookies."""
        path = case.path_parameters or {}
        if "projectId" in path and data.draw(st.integers(0, 4), label="real project") > 0:
            path["projectId"] = self.project_id
        if "file" in path:
            picked = data.draw(st.sampled_from([*self.files, None]), label="file")
            if picked is not None:
                path["file"] = picked
        who = data.draw(st.sampled_from(["owner", "owner", "editor", "viewer", "anonymous"]), label="caller")
        return {COOKIE: self.tokens[who]} if who in self.tokens else {}


@pytest.fixture
def target(api: Api, blog: Blog) -> Target:
    editor, viewer = api.user(), api.user()
    api.share(blog.owner, blog.project_id, editor, "editor")
    api.share(blog.owner, blog.project_id, viewer, "viewer")
    response = blog.owner.post(blog.post_url(), json={"title": "Draft one", "body": "draft"})
    assert response.status_code == 201
    (blog.workdir / blog.remote.content_dir / "broken.md").write_text("---\n- not a mapping\n---\n")
    tokens = {}
    for who, client in (("owner", blog.owner), ("editor", editor), ("viewer", viewer)):
        cookie = client.get_cookie(COOKIE)
        assert cookie is not None
        tokens[who] = cookie.value
    return Target(blog.project_id, ["first-post.md", "second-post", "draft-one.md", "broken.md"], tokens)


def test_blog_openapi_fragment_covers_every_route(api: Api) -> None:
    rules = {rule.rule for rule in api.server.app.url_map.iter_rules() if rule.endpoint.startswith("blog.")}
    as_openapi = {rule.replace("<project_id>", "{projectId}").replace("<blogpost:file>", "{file}") for rule in rules}
    assert as_openapi == set(PATHS)


@schema.parametrize()
@schema.given(data=st.data())
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_blog_openapi_app_conforms(case: schemathesis.Case, data: st.DataObject, target: Target, api: Api) -> None:
    cookies = target.aim(case, data)
    case.call_and_validate(app=api.server.app, cookies=cookies, checks=CHECKS)
