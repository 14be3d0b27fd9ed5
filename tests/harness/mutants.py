"""Injected divergences: a copy of the plugins with one precise edit, and the scripted sessions that must expose it.

A mutation names one edit (an anchor text that must occur exactly once in one plugin file, so a refactor of the
plugin fails the test loudly instead of letting it pass on an edit that was never made) and what the harness has
to report for it: the first mismatching request's method and URL rule, and differences at given pointers.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from exthost.evidence.compare import MISSING, CapturedRequest, CapturedResponse, Difference
from exthost.evidence.rules import WILDCARD, split_pointer
from parity_tests.outcome import CaseResult, Exchange
from parity_tests.pair import body_json
from parity_tests.recordings import RecordedSession
from parity_tests.seed import REPO_PLUGINS, Seed

KINDS = (
    "changed status code",
    "changed field",
    "reordered list",
    "missing normalisation rule",
    "extra row written",
    "file not written",
    "commit message changed",
)
JSON_HEADERS = (("Content-Type", "application/json"),)
PAPERTRAIL_API = "/api/projects/<project_id>/papertrail/board"
ITEMS = f"{PAPERTRAIL_API}/<board_id>"
BLOG_API = "/api/projects/<project_id>/blog"
BLOG_POST = f"{BLOG_API}/post/<blogpost:file>"
# What the scripted sessions send, named so the expectations below can quote it.
NEW_NODE = "witness"
RAW_TAGS = [" Evidence ", "#Key", "evidence"]
RAW_TAGS_KEPT = ["Evidence", "Key", "evidence"]  # trimmed and de-duplicated, but not lower-cased
ATTACHMENT_NAME = "notes.txt"
ATTACHMENT_BYTES = b"Witness statement, page 2\n"
BOUNDARY = "parity-injected-boundary"
# The upload's recorded answer carries this made-up id; the replay maps it to the id the legacy side drew, so the
# later download asks for the attachment that was really stored (the way a recorded session's ids travel).
RECORDED_ATTACHMENT = "a_recorded0001"
NEW_POST = "parity-notes.md"
RENAMED_POST = "parity-renamed.md"
TAGS = ["parity", "harness"]
BLOG_ORDER = ("evidence-boards-in-practice.md", "shadow-traffic-explained.md", "welcome-to-the-team-blog.md")
COMMIT_ID = re.compile(r"[0-9a-f]{40}")


class MutationError(AssertionError):
    """A mutation cannot be applied: its anchor is gone from, or repeated in, the plugin file."""


# --- matching reported values ---


@dataclass(frozen=True)
class Like:
    """A string value that fully matches `regex`."""

    regex: str

    def matches(self, value: Any) -> bool:
        return isinstance(value, str) and re.fullmatch(self.regex, value, re.DOTALL) is not None


@dataclass(frozen=True)
class Has:
    """A mapping value holding at least these items."""

    items: Mapping[str, Any]

    def matches(self, value: Any) -> bool:
        return isinstance(value, dict) and all(value.get(key, MISSING) == item for key, item in self.items.items())


# A remote history entry ("<hash> <tree> <parent>|<author>|<committer>|<message>") of the publish commit, as legacy
# writes it and as the commit-message mutation does.
PUBLISH_MESSAGES = (f"Publish {NEW_POST}", f"Published {NEW_POST}")


def value_matches(wanted: Any, value: Any) -> bool:
    """Whether a reported value is the expected one: equal, or accepted by a `Like`/`Has` matcher."""
    if isinstance(wanted, Like | Has):
        return wanted.matches(value)
    if wanted is MISSING or value is MISSING:
        return wanted is value
    return type(wanted) is type(value) and bool(wanted == value)


# --- mutations ---


@dataclass(frozen=True)
class Edit:
    """Replace `anchor`, which must occur exactly once in `file` (relative to the plugins folder)."""

    file: str
    anchor: str
    replacement: str


@dataclass(frozen=True)
class Expected:
    """A difference the harness must report: `pointer` may name `{placeholders}` of `case_names`, and a `*` segment
    stands for any one key or index (as in noise rules)."""

    pointer: str
    legacy: Any
    plugin: Any


@dataclass(frozen=True)
class Mutation:
    """One injected divergence, of one of `KINDS`, and where the harness must first report it."""

    name: str
    kind: str
    feature: str
    edit: Edit
    method: str
    route: str
    differences: tuple[Expected, ...]


def copy_plugins(target: Path, source: Path = REPO_PLUGINS) -> Path:
    """A copy of the plugins folder at `target` (caches left behind), ready to be edited."""
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return target


def apply_edit(plugins: Path, edit: Edit) -> None:
    """Make `edit` in the copy at `plugins`; MutationError unless its anchor occurs exactly once."""
    path = plugins / edit.file
    text = path.read_text(encoding="utf-8")
    found = text.count(edit.anchor)
    if found != 1:
        raise MutationError(
            f"{edit.file}: the anchor {edit.anchor!r} occurs {found} times, not once; the plugin changed, so "
            "update the mutation's anchor to the code that now does the same thing"
        )
    path.write_text(text.replace(edit.anchor, edit.replacement), encoding="utf-8")


def mutated_plugins(target: Path, edit: Edit) -> Path:
    """A copy of the plugins at `target` with `edit` made."""
    copy_plugins(target)
    apply_edit(target, edit)
    return target


MUTATIONS: tuple[Mutation, ...] = (
    Mutation(
        "papertrail-node-created-200",
        "changed status code",
        "papertrail",
        Edit(
            "papertrail/item_routes.py",
            'return answer({"ok": True, kind.singular: kind.show(row)}, 201)',
            'return answer({"ok": True, kind.singular: kind.show(row)}, 200)',
        ),
        "POST",
        f"{ITEMS}/nodes",
        (Expected("/status", 201, 200),),
    ),
    Mutation(
        "blog-post-created-200",
        "changed status code",
        "blog",
        Edit(
            "blog/routes.py",
            'return answer({"ok": True, "post": post.detail()}, 201)',
            'return answer({"ok": True, "post": post.detail()}, 200)',
        ),
        "POST",
        f"{BLOG_API}/post",
        (Expected("/status", 201, 200),),
    ),
    Mutation(
        "papertrail-comment-author-key-renamed",
        "changed field",
        "papertrail",
        Edit("papertrail/shapes.py", '"authorId": row.author_id,', '"author": row.author_id,'),
        "POST",
        f"{ITEMS}/comments",
        (
            Expected("/body/comment/authorId", "{alice}", MISSING),
            Expected("/body/comment/author", MISSING, "{alice}"),
        ),
    ),
    Mutation(
        "blog-published-status-renamed",
        "changed field",
        "blog",
        Edit("blog/posts.py", 'return "Published"', 'return "Public"'),
        "GET",
        f"{BLOG_API}/post/all",
        (Expected("/body/posts/0/status", "Published", "Public"),),
    ),
    Mutation(
        "papertrail-nodes-reversed",
        "reordered list",
        "papertrail",
        Edit("papertrail/store.py", "order=(Node.position, Node.id)", "order=(Node.position.desc(), Node.id)"),
        "GET",
        PAPERTRAIL_API,
        (
            Expected("/body/board/nodes/0/id", "claim", "rebuttal"),
            Expected("/body/board/nodes/2/id", "rebuttal", "claim"),
        ),
    ),
    Mutation(
        "blog-listing-reversed",
        "reordered list",
        "blog",
        Edit(
            "blog/workspace.py",
            "return sorted(summaries, key=listing_order)",
            "return sorted(summaries, key=listing_order, reverse=True)",
        ),
        "GET",
        f"{BLOG_API}/post/all",
        (
            Expected("/body/posts/0/file", BLOG_ORDER[0], BLOG_ORDER[2]),
            Expected("/body/posts/2/file", BLOG_ORDER[2], BLOG_ORDER[0]),
        ),
    ),
    Mutation(
        "papertrail-tags-not-lower-cased",
        "missing normalisation rule",
        "papertrail",
        Edit("papertrail/rules.py", "return scrub(raw).lower().strip()", "return scrub(raw).strip()"),
        "POST",
        f"{ITEMS}/nodes",
        (
            Expected("/body/node/tags/0", "evidence", "Evidence"),
            Expected("/body/node/tags/1", "key", "Key"),
            Expected("/body/node/tags/2", MISSING, "evidence"),
            # The column is JSON, read back as its stored text.
            Expected(
                f"/state/rows/pt_nodes/{{board}}|{NEW_NODE}/tags", '["evidence", "key"]', json.dumps(RAW_TAGS_KEPT)
            ),
        ),
    ),
    Mutation(
        "papertrail-comment-written-twice",
        "extra row written",
        "papertrail",
        Edit(
            "papertrail/comment_routes.py",
            "            db.add(comment)\n",
            "            db.add(comment)\n"
            "            db.add(Comment(id=f'{comment.id}-dup', board_id=board.id, node_id=node_id, author_id=user.id,"
            " body=text, created_at=now, updated_at=now))\n",
        ),
        "POST",
        f"{ITEMS}/comments",
        (
            Expected(
                "/state/rows/pt_comments/{comment}-dup",
                MISSING,
                Has({"board_id": "{board}", "node_id": NEW_NODE, "author_id": "{alice}", "body": "Check the date"}),
            ),
        ),
    ),
    Mutation(
        "papertrail-upload-not-stored",
        "file not written",
        "papertrail",
        Edit("papertrail/upload_routes.py", "os.replace(staged, final / filename)", "staged.unlink()"),
        "POST",
        f"{ITEMS}/attachments/upload",
        (
            Expected(
                # A file's path is one key of /state/files, so its slashes are escaped ("~1").
                f"/state/files/papertrail~1{{papertrail}}~1{{attachment}}~1{ATTACHMENT_NAME}",
                hashlib.sha256(ATTACHMENT_BYTES).hexdigest(),
                MISSING,
            ),
        ),
    ),
    Mutation(
        "blog-publish-message-changed",
        "commit message changed",
        "blog",
        Edit("blog/workspace.py", 'f"Publish {file}"', 'f"Published {file}"'),
        "POST",
        BLOG_POST,
        (
            Expected("/body/commit", Like(COMMIT_ID.pattern), Like(COMMIT_ID.pattern)),
            # Which entry of the history is not the point (newest first today, and oldest first would do as well).
            Expected("/state/remote/*/message", *PUBLISH_MESSAGES),
            Expected("/state/clones/{blog}/head", Like(COMMIT_ID.pattern), Like(COMMIT_ID.pattern)),
        ),
    ),
)

# Divergences the harness misplaces or misses (see each test in test_injected.py for the cause).
BOARD_READ_WRITES_ROW = Mutation(
    "papertrail-board-read-writes-row",
    "extra row written",
    "papertrail",
    Edit(
        "papertrail/board_routes.py",
        '            return answer({"board": store.board_document(db, board, project)})\n',
        "            document = store.board_document(db, board, project)\n"
        "            if db.get(store.Comment, 'c_readreceipt') is None:\n"
        "                db.add(store.Comment(id='c_readreceipt', board_id=board.id, node_id=None,"
        " author_id=feature.user().id, body='seen', created_at=board.created_at, updated_at=board.created_at))\n"
        '            return answer({"board": document})\n',
    ),
    "GET",
    PAPERTRAIL_API,
    (Expected("/state/rows/pt_comments/c_readreceipt", MISSING, Has({"author_id": "{alice}", "body": "seen"})),),
)
RENAMES_NOT_KEPT = Edit(
    "blog/workspace.py", "        self._keep_renames(renames)\n        return new_file\n", "        return new_file\n"
)
TAGS_IN_FLOW_STYLE = Edit("blog/frontmatter.py", '"default_flow_style": False,', '"default_flow_style": None,')


# --- the scripted sessions ---


def json_request(method: str, path: str, body: Any = None) -> CapturedRequest:
    if body is None:
        return CapturedRequest(method, path)
    return CapturedRequest(method, path, headers=JSON_HEADERS, body=json.dumps(body).encode())


def login(seed: Seed, user: str) -> CapturedRequest:
    return json_request("POST", "/login", {"email": seed.email_of(user), "password": seed.password})


def multipart_upload(path: str, fields: Mapping[str, str], filename: str, data: bytes) -> CapturedRequest:
    """A browser-like multipart/form-data upload of one file plus plain fields."""
    parts = [
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n{value}\r\n'
        for key, value in fields.items()
    ]
    head = f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
    body = "".join(parts).encode() + head.encode() + b"Content-Type: text/plain\r\n\r\n" + data
    body += f"\r\n--{BOUNDARY}--\r\n".encode()
    headers = (("Content-Type", f"multipart/form-data; boundary={BOUNDARY}"),)
    return CapturedRequest("POST", path, headers=headers, body=body)


def papertrail_session(seed: Seed) -> RecordedSession:
    """Alice reads the board, adds and edits a node, comments on it, attaches a file and downloads it."""
    project = seed.projects["papertrail"]
    board = f"/api/projects/{project['id']}/papertrail/board"
    items = f"{board}/{project['board_id']}"
    recorded_upload = CapturedResponse(
        201, JSON_HEADERS, json.dumps({"ok": True, "attachment": {"id": RECORDED_ATTACHMENT}}).encode()
    )
    exchanges: list[tuple[CapturedRequest, CapturedResponse | None]] = [
        (login(seed, "alice"), None),
        (json_request("GET", board), None),
        (json_request("POST", f"{items}/nodes", {"id": NEW_NODE, "title": "Witness", "tags": RAW_TAGS}), None),
        (json_request("PATCH", f"{items}/nodes/{NEW_NODE}", {"x": 40, "title": "Witness statement"}), None),
        (json_request("POST", f"{items}/comments", {"body": "  Check the date  ", "nodeId": NEW_NODE}), None),
        (
            multipart_upload(f"{items}/attachments/upload", {"nodeId": NEW_NODE}, ATTACHMENT_NAME, ATTACHMENT_BYTES),
            recorded_upload,
        ),
        (json_request("GET", f"/uploads/{project['id']}/{RECORDED_ATTACHMENT}/{ATTACHMENT_NAME}"), None),
        (json_request("GET", board), None),
    ]
    return RecordedSession("injected/papertrail.har", "papertrail", Path("injected/papertrail.har"), tuple(exchanges))


def blog_session(seed: Seed, *more: CapturedRequest) -> RecordedSession:
    """Alice lists the posts, writes one with front matter, edits it, publishes it and lists the posts again (then
    sends `more`)."""
    api = blog_api(seed)
    post = {
        "title": "Parity notes",
        "description": "What the harness saw",
        "tags": TAGS,
        "pubDate": "2026-03-02",
        "body": "First draft.\n",
    }
    requests = [
        login(seed, "alice"),
        json_request("GET", f"{api}/post/all"),
        json_request("POST", f"{api}/post", post),
        json_request("PATCH", f"{api}/post/{NEW_POST}", {"body": "Second draft.\n", "tags": ["parity"]}),
        json_request("POST", f"{api}/post/{NEW_POST}"),
        json_request("GET", f"{api}/post/all"),
        *more,
    ]
    return scripted("blog", requests)


def scripted(feature: str, requests: list[CapturedRequest]) -> RecordedSession:
    """A session of `requests` with no recorded answers (nothing to learn ids from)."""
    name = f"injected/{feature}.har"
    return RecordedSession(name, feature, Path(name), tuple((request, None) for request in requests))


def blog_api(seed: Seed) -> str:
    return f"/api/projects/{seed.projects['blog']['id']}/blog"


def tags_round_trip_session(seed: Seed) -> RecordedSession:
    """Alice writes a tagged post, removes its tags, then puts the same tags back: the file is as first written."""
    post = f"{blog_api(seed)}/post/{NEW_POST}"
    requests = [
        login(seed, "alice"),
        json_request("POST", f"{blog_api(seed)}/post", {"title": "Parity notes", "tags": TAGS, "body": "Draft.\n"}),
        json_request("PATCH", post, {"tags": []}),
        json_request("PATCH", post, {"tags": TAGS}),
    ]
    return scripted("blog", requests)


def blog_delete_session(seed: Seed) -> RecordedSession:
    """The blog session, then the published post is deleted (a second commit on top of the first)."""
    return blog_session(seed, json_request("DELETE", f"{blog_api(seed)}/post/{NEW_POST}"))


def blog_rename_session(seed: Seed) -> RecordedSession:
    """The blog session, then the published post is renamed and published under its new name."""
    post = f"{blog_api(seed)}/post"
    rename = json_request("PATCH", f"{post}/{NEW_POST}", {"file": RENAMED_POST.removesuffix(".md")})
    return blog_session(seed, rename, json_request("POST", f"{post}/{RENAMED_POST}"))


# The session each feature's mutations run, and every scripted session (all must match on unmodified plugins).
SESSIONS = {"papertrail": papertrail_session, "blog": blog_session}
SCRIPTS = {
    "papertrail": papertrail_session,
    "blog": blog_session,
    "blog-delete": blog_delete_session,
    "blog-rename": blog_rename_session,
    "blog-tags-round-trip": tags_round_trip_session,
}


# --- reading a case ---


def legacy_answer(case: CaseResult, method: str, route: str) -> Any:
    """The legacy side's JSON answer to the case's first request on `method` and `route`."""
    found = next(exchange for exchange in case.exchanges if (exchange.method, exchange.route) == (method, route))
    return body_json(found.legacy)


def case_names(seed: Seed, case: CaseResult) -> dict[str, str]:
    """Values the expected pointers and values name: seeded ids, and ids the legacy side drew during the case."""
    names = {
        "alice": seed.users["alice"].id,
        "papertrail": seed.projects["papertrail"]["id"],
        "board": seed.projects["papertrail"]["board_id"],
        "blog": seed.projects["blog"]["id"],
    }
    if case.feature == "papertrail":
        names["comment"] = legacy_answer(case, "POST", f"{ITEMS}/comments")["comment"]["id"]
        names["attachment"] = legacy_answer(case, "POST", f"{ITEMS}/attachments/upload")["attachment"]["id"]
    return names


def filled(value: Any, names: Mapping[str, str]) -> Any:
    """`value` with `{name}` placeholders of its strings (in matchers too) filled from `names`."""
    if isinstance(value, str):
        return value.format_map(names)
    if isinstance(value, Has):
        return Has({key: filled(item, names) for key, item in value.items.items()})
    return value


def pointer_matches(pattern: str, pointer: str) -> bool:
    """Whether `pointer` is `pattern`, a `*` segment of which matches any one key or index."""
    wanted, found = split_pointer(pattern), split_pointer(pointer)
    return len(wanted) == len(found) and all(want in (WILDCARD, got) for want, got in zip(wanted, found, strict=True))


def reported(exchange: Exchange, expected: Expected, names: Mapping[str, str]) -> Difference | None:
    """The exchange's difference at the expected pointer when both its values are the expected ones, else None."""
    pattern = expected.pointer.format_map(names)
    for difference in exchange.differences:
        if not pointer_matches(pattern, difference.pointer):
            continue
        legacy, plugin = filled(expected.legacy, names), filled(expected.plugin, names)
        if value_matches(legacy, difference.legacy) and value_matches(plugin, difference.plugin):
            return difference
    return None


def describe(case: CaseResult) -> str:
    """Every exchange of a case, one line each with its differences: what an assertion message shows."""
    lines = []
    for exchange in case.exchanges:
        mark = "ok " if exchange.match else "DIFF"
        lines.append(f"{mark} #{exchange.index} {exchange.method} {exchange.route} -> {exchange.legacy.status}")
        lines.extend(f"      {difference!r}"[:300] for difference in exchange.differences)
    lines.extend(f"END  {difference!r}"[:300] for difference in case.end_state)
    return "\n".join(lines)
