"""Blog edge cases: new-project helpers, the caps of legacy's post models (read off its pydantic models) at
limit-1, limit and limit+1, post values at type boundaries and every body shape, PATCH /configure of a new
project, and existing and missing posts and projects by each role.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

from exthost.evidence.compare import CapturedRequest, CapturedResponse
from legacy_core.blog.posts import EXCERPT_LENGTH, FILE_NAME_MAX, SLUG_MAX, SUFFIX
from legacy_core.blog.schemas import ConfigureBody, CreatePostBody
from legacy_core.settings import Settings
from parity_tests.client import path_of
from parity_tests.edge_kit import (
    JSON,
    WRONG_BODIES,
    Batch,
    Cases,
    Step,
    answered,
    body_limit,
    json_request,
    later,
    marked,
    model_limit,
    path_of_length,
    raw_request,
    remotes_root,
)
from parity_tests.pair import Pair


def _new_blog_project(name: str = "Edge blog") -> CapturedRequest:
    return json_request("POST", "/api/projects", {"name": name, "type": "blog"})


def _in_new_project(
    method: str, tail: Sequence[str], body: Any = None, raw: bytes | None = None, content_type: str | None = JSON
) -> Step:
    """A request to the project the case's first answer created (raw bytes, or `body` as JSON)."""

    def build(answers: list[CapturedResponse]) -> CapturedRequest | None:
        project = answered(0, "id")(answers)
        if not isinstance(project, str):
            return None
        path = path_of("api", "projects", project, *tail)
        if raw is not None:
            return raw_request(method, path, raw, content_type)
        return json_request(method, path, body) if body is not None else CapturedRequest(method, path)

    return build


def blog_cases(cases: Cases, pair: Pair, settings: Settings) -> None:
    blog = pair.seed.projects["blog"]
    posts = path_of("api", "projects", blog["id"], "blog", "post")
    existing = blog["files"][0]
    _post_caps(cases, posts, existing, settings)
    _post_values(cases, posts, existing)
    patch = posts + path_of(existing)
    body_limit(cases, "PATCH", patch, {"title": "Padded"}, settings.MAX_CONTENT_LENGTH, "post patch")
    _configure_cases(cases, pair)
    _blog_resources(cases, pair, posts, existing)


def _post_caps(cases: Cases, posts: str, existing: str, settings: Settings) -> None:
    """The caps of CreatePostBody (read off legacy's model), file names, slugs and the excerpt."""
    post = {"title": "Edge post", "body": "Edge body"}

    def create(**fields: Any) -> list[Step]:
        return [json_request("POST", posts, {**post, **fields})]

    title_max = model_limit(CreatePostBody, "title")
    cases.around("post title length", "CreatePostBody.title", title_max, lambda n: create(title=marked(n)))
    cases.around(
        "patched post title length",
        "CreatePostBody.title@patch",
        title_max,
        lambda n: [json_request("PATCH", posts + path_of(existing), {"title": marked(n)})],
    )
    cases.around(
        "post title blank length",
        "CreatePostBody.title@min",
        model_limit(CreatePostBody, "title", "min_length"),
        lambda n: create(title=" " + "t" * n + " "),
        lower=True,
    )
    cases.around(
        "post description length",
        "CreatePostBody.description",
        model_limit(CreatePostBody, "description"),
        lambda n: create(description=marked(n)),
    )
    cases.around(
        "post tag length",
        "CreatePostBody.tags[]",
        model_limit(CreatePostBody, "tags", item=True),
        lambda n: create(tags=[marked(n)]),
    )
    cases.around(
        "post tag count",
        "CreatePostBody.tags",
        model_limit(CreatePostBody, "tags"),
        lambda n: create(tags=[f"tag{index}" for index in range(n)]),
    )
    # A valid date-time of any length from 10 characters up: more digits of a second's fraction.
    cases.around(
        "post pubDate length",
        "CreatePostBody.pubDate",
        model_limit(CreatePostBody, "pub_date"),
        lambda n: create(pubDate="2026-01-31T09:30:00." + "0" * (n - 26) + "+00:00"),
    )
    cases.around(
        "post pubDate short",
        "CreatePostBody.pubDate@min",
        model_limit(CreatePostBody, "pub_date", "min_length"),
        lambda n: create(pubDate="2026-01-31"[:n] if n <= 10 else "2026-01-31Z"),
        lower=True,
    )
    body_max = model_limit(CreatePostBody, "body")
    if body_max + 1000 < settings.MAX_CONTENT_LENGTH:  # else the body limit answers first: nothing to straddle
        cases.around(
            "post body length",
            "CreatePostBody.body",
            body_max,
            lambda n: [later(lambda: json_request("POST", posts, {**post, "body": marked(n)}))],
        )
    cases.around(
        "post file name length",
        "FILE_NAME_MAX",
        FILE_NAME_MAX,
        lambda n: create(file=marked(n - len(SUFFIX), "f") + SUFFIX),
    )
    cases.around(
        "post file name length before the suffix",
        "FILE_NAME_MAX@suffixed",
        FILE_NAME_MAX - len(SUFFIX),
        lambda n: create(file=marked(n, "f")),
    )
    cases.around(
        "post file field length",
        "CreatePostBody.file",
        model_limit(CreatePostBody, "file"),
        lambda n: create(file=marked(n - len(SUFFIX), "f") + SUFFIX),
    )
    cases.around(
        "post read name length",
        "FILE_NAME_MAX@path",
        FILE_NAME_MAX,
        lambda n: [CapturedRequest("GET", posts + path_of(marked(n - len(SUFFIX), "f") + SUFFIX))],
    )
    cases.around("post slug length", "SLUG_MAX", SLUG_MAX, lambda n: create(title=marked(n, "s", "z")))
    cases.add("post slug cut at a dash", "alice", *create(title="s" * (SLUG_MAX - 1) + " tail"))
    # Punctuation and blank runs shorten the slug: a title longer than SLUG_MAX whose words, joined, still are.
    cases.add("post slug of a punctuated long title", "alice", *create(title="Hello,  world! " * 8))
    cases.add("post slug of a long title without words", "alice", *create(title="!" * (SLUG_MAX + 5)))
    cases.around(
        "post excerpt length",
        "EXCERPT_LENGTH",
        EXCERPT_LENGTH,
        lambda n: [*create(body=marked(n, "w", "Q")), CapturedRequest("GET", posts + "/all")],
    )


def _post_values(cases: Cases, posts: str, existing: str) -> None:
    """Type boundaries, normalised names and every body shape of the post operations."""
    post = {"title": "Edge post", "body": "Edge body"}

    def create(**fields: Any) -> list[Step]:
        return [json_request("POST", posts, {**post, **fields})]

    batch = Batch(cases, "post values")
    checks: tuple[tuple[str, dict[str, Any]], ...] = (
        ("title a number", {"title": 5}),
        ("title null", {"title": None}),
        ("title true", {"title": True}),
        ("title without ASCII", {"title": "日本語"}),
        ("title with accents", {"title": "Déjà vu"}),
        ("body missing", {"body": None}),
        ("body a number", {"body": 5}),
        ("body lone surrogate", {"body": "\ud800"}),
        ("draft yes", {"draft": "yes"}),
        ("draft 1", {"draft": 1}),
        ("draft 2", {"draft": 2}),
        ("draft 'true'", {"draft": "true"}),
        ("draft null", {"draft": None}),
        ("draft true", {"draft": True}),
        ("tags a string", {"tags": "news"}),
        ("tags with a number", {"tags": ["a", 1]}),
        ("tags with null", {"tags": ["a", None]}),
        ("tags blank", {"tags": ["  "]}),
        ("pubDate a number", {"pubDate": 20260131}),
        ("pubDate not a day", {"pubDate": "2026-02-30"}),
        ("pubDate date-time", {"pubDate": "2026-01-31T09:30:00Z"}),
        ("pubDate padded", {"pubDate": "  2026-01-31  "}),
        ("description null", {"description": None}),
        ("description a list", {"description": ["x"]}),
        ("file empty", {"file": ""}),
        ("file blank", {"file": "   "}),
        ("file a number", {"file": 5}),
        ("file with a slash", {"file": "a/b.md"}),
        ("file hidden", {"file": ".hidden"}),
        ("file with dot dot", {"file": "a..b"}),
        ("file upper-case suffix", {"file": "Upper.MD"}),
        ("file double suffix", {"file": "twice.md.md"}),
        ("file taken", {"file": existing}),
    )
    for index, (label, fields) in enumerate(checks):
        # Each its own title: a check that creates its post must not make the next one a 409.
        batch.add(label, "alice", *create(**{"title": f"Edge post {index}", **fields}))
    batch.flush()
    cases.add("post title taken twice", "alice", *create(title="Twice"), *create(title="Twice"))
    update = posts + path_of(existing)
    for label, fields in (
        ("renamed", {"file": "renamed-edge"}),
        ("renamed onto another post", {"file": existing}),
        ("draft", {"draft": True}),
        ("description null only", {"description": None}),
    ):
        cases.add(
            f"post patched {label}",
            "alice",
            json_request("PATCH", update, fields),
            CapturedRequest("GET", posts + "/all"),
        )
    for method, path, kind in (("POST", posts, "new post"), ("PATCH", update, "post")):
        batch = Batch(cases, f"{method} {kind} body")
        for label, content_type, body in WRONG_BODIES:
            batch.add(label, "alice", raw_request(method, path, body, content_type))
        batch.flush()
    cases.add("POST new post: JSON null", "alice", raw_request("POST", posts, b"null", JSON))
    cases.add("PATCH post: invalid JSON", "alice", raw_request("PATCH", update, b"{", JSON))


def _configure_cases(cases: Cases, pair: Pair) -> None:
    """PATCH /configure of a new blog project: ConfigureBody's caps, with a remote that cannot be cloned (so the
    case stays on this machine and fast), and every body shape; one real configuration of the shared remote."""
    missing_remote = os.path.join(remotes_root(pair), "no-such-remote")
    config = {
        "repoUrl": missing_remote,
        "branch": "main",
        "contentDir": "src/content/blog",
        "gitUserName": "Edge Bot",
        "gitUserEmail": "edge@example.test",
    }

    def configure(**fields: Any) -> list[Step]:
        return [_new_blog_project(), _in_new_project("PATCH", ["configure"], {**config, **fields})]

    caps: dict[str, Callable[[int], str]] = {
        "repoUrl": lambda n: path_of_length(missing_remote, n),
        "branch": lambda n: marked(n, "b", "z"),
        "contentDir": lambda n: marked(n, "c", "z"),
        "gitUserName": lambda n: marked(n, "g", "z"),
        "gitUserEmail": lambda n: "e" * (n - len("@example.test")) + "@example.test",
        "gitAuthToken": lambda n: marked(n, "t", "z"),
    }
    fields = {info.alias or name: name for name, info in ConfigureBody.model_fields.items()}

    def configured(key: str) -> Callable[[int], list[Step]]:
        return lambda n: configure(**{key: caps[key](n)})

    for key in caps:
        limit = model_limit(ConfigureBody, fields[key])
        cases.around(f"configure {key} length", f"ConfigureBody.{key}", limit, configured(key))
    cases.around(
        "configure gitUserEmail short",
        "ConfigureBody.gitUserEmail@min",
        model_limit(ConfigureBody, "git_user_email", "min_length"),
        lambda n: configure(gitUserEmail=("a@b" + "c" * n)[:n]),
        lower=True,
    )
    refused: tuple[tuple[str, dict[str, Any]], ...] = (
        ("repoUrl a number", {"repoUrl": 5}),
        ("repoUrl null", {"repoUrl": None}),
        ("repoUrl with a space", {"repoUrl": missing_remote + " x"}),
        ("repoUrl option", {"repoUrl": "-uhack"}),
        ("repoUrl with credentials", {"repoUrl": "https://user:pw@example.test/r.git"}),
        ("repoUrl outside the remotes folder", {"repoUrl": "/nonexistent/remote"}),
        ("repoUrl network", {"repoUrl": "https://example.test/r.git"}),
        ("branch with dot dot", {"branch": "a..b"}),
        ("branch ending .lock", {"branch": "main.lock"}),
        ("contentDir parent", {"contentDir": "../x"}),
        ("contentDir .git", {"contentDir": ".git/x"}),
        ("gitUserEmail without at", {"gitUserEmail": "nobody"}),
        ("gitUserName with angle", {"gitUserName": "a<b"}),
        ("snake_case names", {"repo_url": missing_remote}),
        ("missing branch", {"branch": "no-such-branch"}),
    )
    for start in range(0, len(refused), 3):  # none configures the project: three tries on one new project
        chunk = refused[start : start + 3]
        steps = [_in_new_project("PATCH", ["configure"], {**config, **change}) for _, change in chunk]
        cases.add(f"configure refused: {'; '.join(label for label, _ in chunk)}", "alice", _new_blog_project(), *steps)
    for label, content_type, body in WRONG_BODIES:
        cases.add(
            f"configure: {label}",
            "alice",
            _new_blog_project(),
            _in_new_project("PATCH", ["configure"], raw=body, content_type=content_type),
        )
    real = {**config, "repoUrl": pair.seed.remote_url}
    cases.add(
        "configure the shared remote",
        "alice",
        _new_blog_project(),
        _in_new_project("PATCH", ["configure"], real),
        _in_new_project("GET", ["blog", "post", "all"]),
    )
    cases.add(
        "unconfigured blog",
        "alice",
        _new_blog_project(),
        _in_new_project("GET", ["configure"]),
        _in_new_project("GET", ["blog", "post", "all"]),
        _in_new_project("POST", ["blog", "pull"]),
    )
    seeded = path_of("api", "projects", pair.seed.projects["blog"]["id"], "configure")
    cases.add("configure twice", "alice", json_request("PATCH", seeded, real))
    cases.add("configure by the editor", "bob", json_request("PATCH", seeded, real))
    cases.add("configuration read by the viewer", "carol", CapturedRequest("GET", seeded))


def _blog_resources(cases: Cases, pair: Pair, posts: str, existing: str) -> None:
    """Existing, missing and oddly named posts and projects, by the callers whose role decides."""
    post = posts + path_of(existing)
    for user in ("alice", "carol", "dave", None):
        cases.add(f"post read by {user or 'nobody'}", user, CapturedRequest("GET", post))
        cases.add(f"posts listed by {user or 'nobody'}", user, CapturedRequest("GET", posts + "/all"))
    batch = Batch(cases, "post read")
    for label, name in (
        ("missing", "no-such-post.md"),
        ("without suffix", existing.removesuffix(SUFFIX)),
        ("all.md", "all.md"),
        ("hidden", ".git"),
        ("dot dot", "a..b"),
        ("slash", "a/b"),
        ("backslash", "a\\b"),
        ("control", "a\x01b"),
        ("upper-case suffix", existing.removesuffix(SUFFIX) + ".MD"),
        ("non-ASCII", "ünï"),
        ("question mark", "what?.md"),
        ("percent", "100%.md"),
        ("spaces", " padded .md"),
    ):
        batch.add(label, "carol", CapturedRequest("GET", posts + path_of(name)))
    batch.add("with a leading slash", "carol", CapturedRequest("GET", posts + "//" + existing))
    batch.flush()
    papertrail = pair.seed.projects["papertrail"]["id"]
    for label, project in (("the PaperTrail project", papertrail), ("a missing project", "p_missing")):
        cases.add(
            f"posts of {label}",
            "alice",
            CapturedRequest("GET", path_of("api", "projects", project, "blog", "post", "all")),
        )
    for user in ("carol", "dave", None):
        who = user or "nobody"
        cases.add(f"post created by {who}", user, json_request("POST", posts, {"title": "No", "body": "x"}))
        cases.add(f"post deleted by {who}", user, CapturedRequest("DELETE", post))
        cases.add(f"post published by {who}", user, CapturedRequest("POST", post))
    cases.add("post patched by the viewer", "carol", json_request("PATCH", post, {"title": "No"}))
    cases.add(
        "pull by the viewer",
        "carol",
        CapturedRequest("POST", path_of("api", "projects", pair.seed.projects["blog"]["id"], "blog", "pull")),
    )
    cases.add(
        "pull by the editor",
        "bob",
        CapturedRequest("POST", path_of("api", "projects", pair.seed.projects["blog"]["id"], "blog", "pull")),
    )
    cases.add("unchanged post published", "bob", CapturedRequest("POST", post))
    cases.add(
        "new post published",
        "bob",
        json_request("POST", posts, {"title": "Fresh", "body": "New"}),
        CapturedRequest("POST", posts + path_of("fresh.md")),
        CapturedRequest("GET", posts + "/all"),
    )
    cases.add("missing post published", "bob", CapturedRequest("POST", posts + path_of("no-such-post.md")))
    cases.add("post deleted", "bob", CapturedRequest("DELETE", post), CapturedRequest("GET", post))
    cases.add("missing post deleted", "bob", CapturedRequest("DELETE", posts + path_of("no-such-post.md")))
    cases.add(
        "unpublished post deleted",
        "bob",
        json_request("POST", posts, {"title": "Brief", "body": "x"}),
        CapturedRequest("DELETE", posts + path_of("brief.md")),
    )
    cases.add(
        "renamed post published",
        "bob",
        json_request("PATCH", post, {"file": "moved"}),
        CapturedRequest("POST", posts + path_of("moved.md")),
        CapturedRequest("GET", post),
    )
