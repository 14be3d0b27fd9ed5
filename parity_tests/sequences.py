"""Edge cases that need a sequence or a page: what `parity_tests.boundaries` does not build from a single limit.

- pages of each feature (the board page, the blog's pages) by every kind of caller, on existing, missing and
  wrong-type projects, and on missing posts;
- PaperTrail: a board deleted after an upload (its files must go too), a read of the upload afterwards; an export
  of a board whose text is not ASCII (how the bundle's JSON writes it);
- Blog: remotes the legacy parser refuses for each reason it has; a post renamed onto another; a second blog on
  the same remote that publishes first, so the seeded blog's pull fast-forwards, or its own publish is rejected by
  the remote and the pull after it finds the histories diverged.

Each case is an `EdgeCase` like the others, added by `boundaries.edge_cases`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from exthost.evidence.compare import CapturedRequest, CapturedResponse
from parity_tests.client import path_of
from parity_tests.edge_kit import answered, json_request
from parity_tests.pair import Pair

JSON = (("Content-Type", "application/json"),)
CALLERS: tuple[str | None, ...] = ("alice", "carol", "dave", None)
# Remotes legacy's parser refuses, one per reason it has (legacy_core/blog/config.py).
REFUSED_REMOTES = (
    ("scp-like", "git@example.test:owner/repo.git"),
    ("scheme", "ftp://example.test/repo.git"),
    ("no host", "https:///repo.git"),
    ("file on a host", "file://example.test/srv/repo.git"),
    ("file with a query", "file:///srv/repo.git?x=1"),
    ("relative file", "file:srv/repo.git"),
)
REFUSED_FIELDS = (
    ("branch with a space", {"branch": "a b"}),
    ("branch with a tilde", {"branch": "a~1"}),
    ("absolute contentDir", {"contentDir": "/src/content"}),
    ("contentDir with a backslash", {"contentDir": "src\\content"}),
    ("contentDir with a control character", {"contentDir": "src/\x01content"}),
    ("token with a space", {"gitAuthToken": "tok en"}),
)

Add = Callable[..., None]


def page_cases(add: Add, pair: Pair, feature: str) -> None:
    """Every page of `feature` by every kind of caller, and on a missing and a wrong-type project."""
    papertrail, blog = pair.seed.projects["papertrail"]["id"], pair.seed.projects["blog"]["id"]
    pages: dict[str, Callable[[str], str]]
    if feature == "papertrail":
        pages = {"board page": lambda project: path_of("projects", project, "board")}
        own, other = papertrail, blog
    else:
        post = pair.seed.projects["blog"]["files"][0]
        pages = {
            "blog page": lambda project: path_of("projects", project, "blog"),
            "new post page": lambda project: path_of("projects", project, "blog", "new"),
            "edit page": lambda project: path_of("projects", project, "blog", "edit", post),
        }
        own, other = blog, papertrail
    for name, path in pages.items():
        for user in CALLERS:
            add(f"{name} by {user or 'nobody'}", user, CapturedRequest("GET", path(own)))
        add(
            f"{name} of a missing and a wrong-type project",
            "alice",
            CapturedRequest("GET", path("p_missing")),
            CapturedRequest("GET", path(other)),
        )
    if feature == "blog":
        missing = path_of("projects", blog, "blog", "edit", "gone.md")
        add("edit page of a missing post", "alice", CapturedRequest("GET", missing))


def papertrail_sequences(add: Add, pair: Pair, upload: Callable[[], CapturedRequest], download: Any) -> None:
    """A board deleted after an upload: its files go with it, and the upload's URL answers accordingly."""
    seeded = pair.seed.projects["papertrail"]
    board = path_of("api", "projects", seeded["id"], "papertrail", "board")
    add(
        "export of a board with non-ASCII text",
        "alice",
        CapturedRequest(
            "PATCH", board, headers=JSON, body=json.dumps({"title": "Überblick — café ✓"}, ensure_ascii=False).encode()
        ),
        CapturedRequest("GET", board + "/export"),
    )
    add(
        "board deleted after an upload",
        "alice",
        upload(),
        CapturedRequest("DELETE", board),
        download(0),
        CapturedRequest("GET", board),
    )


def blog_sequences(add: Add, pair: Pair) -> None:
    """Refused remotes, a rename onto another post, and a blog whose remote moved ahead of its clone."""
    blog = pair.seed.projects["blog"]
    seeded = path_of("api", "projects", blog["id"])
    posts = seeded + "/blog/post"
    first, second = blog["files"][0], blog["files"][1]
    config = {
        "repoUrl": pair.seed.remote_url,
        "branch": "main",
        "contentDir": "src/content/blog",
        "gitUserName": "Edge Bot",
        "gitUserEmail": "edge@example.test",
    }

    def in_new(method: str, *tail: str, body: Any = None) -> Callable[[list[CapturedResponse]], Any]:
        def build(answers: list[CapturedResponse]) -> CapturedRequest | None:
            project = answered(0, "id")(answers)
            if not isinstance(project, str):
                return None
            path = path_of("api", "projects", project, *tail)
            return json_request(method, path, body) if body is not None else CapturedRequest(method, path)

        return build

    def publish_new(answers: list[CapturedResponse]) -> CapturedRequest | None:
        project, file = answered(0, "id")(answers), answered(len(answers) - 1, "post", "file")(answers)
        if not isinstance(project, str) or not isinstance(file, str):
            return None
        return CapturedRequest("POST", path_of("api", "projects", project, "blog", "post", file))

    new_project = json_request("POST", "/api/projects", {"name": "Second blog", "type": "blog"})
    refusals = [(label, {"repoUrl": url}) for label, url in REFUSED_REMOTES] + list(REFUSED_FIELDS)
    for start in range(0, len(refusals), 3):
        chunk = refusals[start : start + 3]
        add(
            "remote refused: " + "; ".join(label for label, _ in chunk),
            "alice",
            new_project,
            *(in_new("PATCH", "configure", body={**config, **change}) for _, change in chunk),
        )
    add(
        "post renamed onto another",
        "bob",
        json_request("PATCH", posts + path_of(first), {"file": second}),
        CapturedRequest("GET", posts + path_of(second)),
        CapturedRequest("GET", posts + "/all"),
    )
    ahead = [
        new_project,
        in_new("PATCH", "configure", body=config),
        in_new("POST", "blog", "post", body={"title": "Ahead of you", "body": "Pushed from elsewhere."}),
        publish_new,
    ]
    add("pull after another blog published", "alice", *ahead, CapturedRequest("POST", seeded + "/blog/pull"))
    # The remote refuses the publish (it moved ahead); the commit stays in the clone, so the pull that follows
    # finds the two histories diverged.
    add(
        "publish and pull after another blog published",
        "alice",
        *ahead,
        json_request("PATCH", posts + path_of(first), {"body": "Changed here too."}),
        CapturedRequest("POST", posts + path_of(first)),
        CapturedRequest("POST", seeded + "/blog/pull"),
    )
