"""PaperTrail edge cases but the imports: text caps and id lengths, values at type boundaries, bodies that carry
nothing an operation expects, the body limit, uploads and their downloads, and existing and missing resources by
each role. The seeded project's paths come from `Board`; import bundles are `edges_bundles`'.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from exthost.evidence.compare import CapturedRequest, CapturedResponse
from legacy_core.papertrail.board import COMMENT_MAX
from legacy_core.papertrail.files import EXTENSION_MAX, FILENAME_MAX
from legacy_core.papertrail.items import CommentBody
from legacy_core.papertrail.normalize import (
    BOARD_TITLE_MAX,
    COLOR_MAX,
    COORD_MAX,
    COORD_MIN,
    EDGE_LABEL_MAX,
    ID_MAX,
    NODE_TEXT_CAPS,
    NODE_TYPES,
)
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
    login,
    logout,
    marked,
    model_limit,
    multipart,
    raw_request,
)
from parity_tests.edges_bundles import bundle_cases
from parity_tests.pair import Pair


@dataclass(frozen=True)
class Board:
    """The seeded PaperTrail project's paths and ids."""

    project: str
    board_id: str
    node: str
    other_node: str
    edge: str
    comment: str
    board: str
    items: str

    @classmethod
    def of(cls, pair: Pair) -> Board:
        seeded = pair.seed.projects["papertrail"]
        board = path_of("api", "projects", seeded["id"], "papertrail", "board")
        return cls(
            seeded["id"],
            seeded["board_id"],
            seeded["node_ids"][0],
            seeded["node_ids"][1],
            seeded["edge_ids"][0],
            seeded["comment_ids"][0],
            board,
            board + path_of(seeded["board_id"]),
        )

    def node_path(self, node_id: str = "") -> str:
        return self.items + path_of("nodes", node_id)

    def edge_path(self, edge_id: str = "") -> str:
        return self.items + path_of("edges", edge_id)

    def comment_path(self, comment_id: str = "") -> str:
        return self.items + path_of("comments", comment_id)


def download(index: int = 0, filename: str | None = None) -> Step:
    """GET of the attachment the upload answer `index` describes (under another file name, if given)."""

    def build(answers: list[CapturedResponse]) -> CapturedRequest | None:
        url = answered(index, "attachment", "url")(answers)
        if not isinstance(url, str):
            return None
        if filename is not None:
            url = url.rsplit("/", 1)[0] + "/" + filename
        return CapturedRequest("GET", path_of(*url.split("/")))

    return build


def papertrail_cases(cases: Cases, pair: Pair, settings: Settings) -> None:
    b = Board.of(pair)
    _text_caps(cases, b)
    _node_values(cases, b)
    _papertrail_bodies(cases, b)
    body_limit(cases, "PATCH", b.board, {"title": "Padded"}, settings.MAX_CONTENT_LENGTH, "board patch")
    _uploads(cases, b, pair, settings)
    bundle_cases(cases, b.project, b.board, b.comment_path(), pair, settings)
    _papertrail_resources(cases, b, pair)


def _text_caps(cases: Cases, b: Board) -> None:
    """Every text cap and id length at limit-1, limit and limit+1, on each path that saves it."""
    cases.around(
        "board title length",
        "BOARD_TITLE_MAX",
        BOARD_TITLE_MAX,
        lambda n: [json_request("PATCH", b.board, {"title": marked(n)})],
    )
    cases.around(
        "snapshot board title length",
        "BOARD_TITLE_MAX@snapshot",
        BOARD_TITLE_MAX,
        lambda n: [json_request("POST", b.board, {"title": marked(n), "nodes": []})],
    )

    def node_text(key: str) -> Callable[[int], list[Step]]:
        return lambda n: [json_request("POST", b.node_path(), {"id": "edge-node", key: marked(n)})]

    for key, cap in NODE_TEXT_CAPS.items():
        cases.around(f"node {key} length", f"NODE_TEXT_CAPS[{key}]", cap, node_text(key))
    cases.around(
        "patched node title length",
        "NODE_TEXT_CAPS[title]@patch",
        NODE_TEXT_CAPS["title"],
        lambda n: [json_request("PATCH", b.node_path(b.node), {"title": marked(n)})],
    )
    edge = {"id": "edge-edge", "source": b.node, "target": b.other_node}
    cases.around(
        "edge label length",
        "EDGE_LABEL_MAX",
        EDGE_LABEL_MAX,
        lambda n: [json_request("POST", b.edge_path(), {**edge, "label": marked(n)})],
    )
    cases.around(
        "edge color length",
        "COLOR_MAX@edge",
        COLOR_MAX,
        lambda n: [json_request("POST", b.edge_path(), {**edge, "color": marked(n)})],
    )
    cases.around(
        "patched edge label length",
        "EDGE_LABEL_MAX@patch",
        EDGE_LABEL_MAX,
        lambda n: [json_request("PATCH", b.edge_path(b.edge), {"label": marked(n)})],
    )
    cases.around(
        "node id length",
        "ID_MAX",
        ID_MAX,
        lambda n: [
            json_request("POST", b.node_path(), {"id": marked(n, "n")}),
            CapturedRequest("GET", b.node_path(marked(n, "n"))),
        ],
    )
    cases.around(
        "edge id length",
        "ID_MAX@edge",
        ID_MAX,
        lambda n: [
            json_request("POST", b.edge_path(), {**edge, "id": marked(n, "e")}),
            CapturedRequest("GET", b.edge_path(marked(n, "e"))),
        ],
    )
    cases.around(
        "snapshot node id length",
        "ID_MAX@snapshot",
        ID_MAX,
        lambda n: [json_request("POST", b.board, {"nodes": [{"id": marked(n, "n")}]})],
    )
    cases.add("node id empty", "alice", json_request("POST", b.node_path(), {"id": ""}))
    cases.around(
        "comment body length",
        "COMMENT_MAX",
        COMMENT_MAX,
        lambda n: [json_request("POST", b.comment_path(), {"body": marked(n)})],
    )
    cases.around(
        "edited comment body length",
        "COMMENT_MAX@edit",
        COMMENT_MAX,
        lambda n: [json_request("PATCH", b.comment_path(b.comment), {"body": marked(n)})],
    )
    cases.add(
        "comment body over the cap before stripping",
        "alice",
        json_request("POST", b.comment_path(), {"body": "  " + marked(COMMENT_MAX) + "\n"}),
    )
    node_id_max = model_limit(CommentBody, "nodeId")
    cases.around(
        "comment nodeId length",
        "CommentBody.nodeId",
        node_id_max,
        lambda n: [
            json_request("POST", b.node_path(), {"id": marked(n, "n")}),
            json_request("POST", b.comment_path(), {"body": "On a long id", "nodeId": marked(n, "n")}),
        ],
    )
    batch = Batch(cases, "comment values")
    for label, body in (("blank", "   "), ("empty", ""), ("NUL only", "\x00"), ("null", None), ("a number", 5)):
        batch.add(f"body {label}", "alice", json_request("POST", b.comment_path(), {"body": body}))
    for label, node in (("missing node", "nowhere"), ("empty nodeId", ""), ("nodeId a number", 5)):
        batch.add(f"on {label}", "alice", json_request("POST", b.comment_path(), {"body": "x", "nodeId": node}))
    batch.flush()


def _node_values(cases: Cases, b: Board) -> None:
    """Coordinates at the 32-bit edges, values of the wrong type, ids that cannot be URL segments, tags, types."""
    create = b.node_path()

    def node(ident: str = "edge-node", **fields: Any) -> list[Step]:
        return [json_request("POST", create, {"id": ident, **fields})]

    cases.around("node x", "COORD_MAX", COORD_MAX, lambda n: node(x=n))
    cases.around("node y", "COORD_MIN", COORD_MIN, lambda n: node(y=n), lower=True)
    cases.around("node w", "COORD_MAX@w", COORD_MAX, lambda n: node(w=n))
    values: tuple[tuple[str, Any], ...] = (
        ("x COORD_MAX+0.5 (truncated)", COORD_MAX + 0.5),
        ("x COORD_MIN-0.5 (truncated toward zero)", COORD_MIN - 0.5),
        ("x COORD_MAX+1.0", COORD_MAX + 1.0),
        ("x -0.9", -0.9),
        ("x 10.9", 10.9),
        ("x as a string", "10"),
        ("x true", True),
        ("x null", None),
        ("x an object", {"value": 1}),
        ("x a list", [1]),
        ("x a huge int", 10**30),
        ("x 1e308", 1e308),
        ("w as a string", "5"),
        ("h null", None),
    )
    batch = Batch(cases, "node values")
    for index, (label, value) in enumerate(values):
        key = label.split(" ", 1)[0]
        batch.add(label, "alice", *node(f"value-{index}", **{key: value}))
    for literal in ("NaN", "Infinity", "-Infinity"):
        body = b'{"id": "edge-node", "x": ' + literal.encode() + b"}"
        batch.add(f"x {literal}", "alice", raw_request("POST", create, body, JSON))
    batch.flush()
    cases.add(
        "node title lone surrogate",
        "alice",
        raw_request("POST", create, b'{"id": "edge-node", "title": "a\\ud800b"}', JSON),
    )
    cases.add("node id lone surrogate", "alice", raw_request("POST", create, b'{"id": "a\\udfffb"}', JSON))
    cases.add("node title NUL", "alice", *node(title="a\x00b"))
    batch = Batch(cases, "node title")
    for label, value in (("a number", 5), ("true", True), ("a list", ["a"]), ("an object", {"a": 1})):
        batch.add(label, "alice", *node(title=value))
    batch.flush()
    cases.add("node title null", "alice", *node(title=None))
    batch = Batch(cases, "node id")
    for label, ident in (
        ("dot", "."),
        ("dot dot", ".."),
        ("slash", "a/b"),
        ("backslash", "a\\b"),
        ("C0 control", "a\x1fb"),
        ("DEL", "a\x7fb"),
        ("C1 control", "a\x85b"),
        ("last C1 control", "a\x9fb"),
        ("a number", 5),
    ):
        batch.add(label, "alice", json_request("POST", create, {"id": ident}))
    batch.flush()
    for label, ident in (("no-break space", "a\xa0b"), ("percent", "%2F"), ("three dots", "..."), ("question", "a?b")):
        cases.add(
            f"node id {label}",
            "alice",
            json_request("POST", create, {"id": ident}),
            CapturedRequest("GET", b.node_path(ident)),
        )
    cases.add("node id null (generated)", "alice", json_request("POST", create, {"id": None, "title": "t"}))
    cases.add("node id taken", "alice", json_request("POST", create, {"id": b.node}))
    cases.add("node tags normalised", "alice", *node(tags=["##A", " #b ", "", "a", "A", "#", "  ", "\x00C"]))
    batch = Batch(cases, "node tags")
    for index, (label, tags) in enumerate(
        (("a string", "a"), ("with a number", ["a", 1]), ("null", None), ("an object", {"a": 1}))
    ):
        batch.add(label, "alice", *node(f"tags-{index}", tags=tags))
    batch.flush()
    types = [*NODE_TYPES, "TEXT", "Note ", 5, None, ""]
    cases.add(
        "snapshot node types",
        "alice",
        json_request(
            "POST", b.board, {"nodes": [{"id": f"t{index}", "type": kind} for index, kind in enumerate(types)]}
        ),
    )
    edge = {"id": "edge-edge", "source": b.node, "target": b.other_node}
    batch = Batch(cases, "edge values")
    for label, change in (
        ("source missing", {"source": "nowhere"}),
        ("source a number", {"source": 5}),
        ("self loop", {"target": b.node}),
        ("label a number", {"label": 5}),
        ("id taken", {"id": b.edge}),
    ):
        batch.add(label, "alice", json_request("POST", b.edge_path(), {**edge, **change}))
    batch.flush()
    cases.add("patched edge source missing", "alice", json_request("PATCH", b.edge_path(b.edge), {"source": "nowhere"}))
    for label, change in (
        ("id changed", {"id": "renamed"}),
        ("id kept", {"id": b.node, "title": "Same id"}),
        ("x as a string", {"x": "1"}),
    ):
        cases.add(f"patched node {label}", "alice", json_request("PATCH", b.node_path(b.node), change))
    snapshot_cases: tuple[tuple[str, Any], ...] = (
        ("nodes missing", {"title": "No nodes"}),
        ("nodes null", {"nodes": None}),
        ("nodes an object", {"nodes": {}}),
        ("node a number", {"nodes": [5]}),
        ("edges null", {"nodes": [{"id": "a"}], "edges": None}),
        ("edges a string", {"nodes": [], "edges": "x"}),
        ("title null", {"title": None, "nodes": []}),
        ("title a number", {"title": 5, "nodes": []}),
        ("duplicate node ids", {"nodes": [{"id": "a"}, {"id": "a"}]}),
        ("duplicate edge ids", {"nodes": [{"id": "a"}], "edges": [{"id": "e", "source": "a", "target": "a"}] * 2}),
        ("dangling edge dropped", {"nodes": [{"id": "a"}], "edges": [{"id": "e", "source": "a", "target": "z"}]}),
    )
    batch = Batch(cases, "snapshot")
    for label, snapshot in snapshot_cases:
        batch.add(label, "alice", json_request("POST", b.board, snapshot))
    batch.flush()
    for label, patch in (
        ("title null", {"title": None}),
        ("edges only", {"edges": []}),
        ("nodes emptied", {"nodes": []}),
    ):
        cases.add(
            f"board patch {label}",
            "alice",
            json_request("PATCH", b.board, patch),
            CapturedRequest("GET", b.comment_path()),
        )


def _papertrail_bodies(cases: Cases, b: Board) -> None:
    """Every operation with a JSON body, sent bodies that carry nothing it expects."""
    operations = (
        ("POST", b.board, "board"),
        ("PATCH", b.board, "board"),
        ("POST", b.node_path(), "node"),
        ("PATCH", b.node_path(b.node), "node"),
        ("POST", b.edge_path(), "edge"),
        ("PATCH", b.edge_path(b.edge), "edge"),
        ("POST", b.comment_path(), "comment"),
        ("PATCH", b.comment_path(b.comment), "comment"),
    )
    for method, path, kind in operations:
        batch = Batch(cases, f"{method} {kind} body")
        for label, content_type, body in WRONG_BODIES:
            batch.add(label, "alice", raw_request(method, path, body, content_type))
        batch.flush()
    cases.add("PATCH board: invalid JSON", "alice", raw_request("PATCH", b.board, b'{"title": ', JSON))
    cases.add("POST node: JSON null", "alice", raw_request("POST", b.node_path(), b"null", JSON))
    cases.add(
        "POST node: nested too deeply",
        "alice",
        raw_request("POST", b.node_path(), b"[" * 100_000 + b"]" * 100_000, JSON),
    )


def upload(
    b: Board,
    name: str,
    data: bytes = b"Edge attachment\n",
    content_type: str = "text/plain",
    fields: dict[str, str] | None = None,
) -> CapturedRequest:
    return multipart(b.items + "/attachments/upload", fields or {}, (name, data, content_type))


def _uploads(cases: Cases, b: Board, pair: Pair, settings: Settings) -> None:
    """Upload sizes and file names at their limits, odd names and content types, each followed by its download."""
    limit = settings.PAPERTRAIL_UPLOAD_MAX_BYTES
    cases.around(
        "upload size",
        "PAPERTRAIL_UPLOAD_MAX_BYTES",
        limit,
        lambda n: [later(lambda: upload(b, "size.bin", b"s" * n, "application/octet-stream"))],
    )
    cases.add("upload of an empty file", "alice", upload(b, "empty.txt", b""), download())
    cases.around(
        "upload file name length",
        "FILENAME_MAX",
        FILENAME_MAX,
        lambda n: [upload(b, marked(n - 4) + ".txt"), download()],
    )
    cases.around(
        "upload extension length",
        "EXTENSION_MAX",
        EXTENSION_MAX,
        lambda n: [upload(b, "b" * 200 + "." + marked(n - 1, "e", "X")), download()],
    )
    names = (
        ("empty", ""),
        ("folders", "../../etc/passwd"),
        ("windows path", "C:\\Users\\x\\report.pdf"),
        ("hidden", ".htaccess"),
        ("accents and spaces", "naïve café.txt"),
        ("no ASCII", "日本語"),
        ("underscores only", "___"),
        ("two extensions", "a.tar.gz"),
        ("no extension", "README"),
        ("html", "page.html"),
        ("svg", "image.svg"),
    )
    for label, name in names:
        cases.add(f"upload file name {label}", "alice", upload(b, name), download())
    for label, declared in (
        ("declared type kept", "application/x-custom"),
        ("declared type malformed", "Bad Type!"),
        ("declared type with parameters", "Text/Plain; charset=utf-8"),
    ):
        cases.add(f"upload {label}", "alice", upload(b, "data.unknownext", b"x", declared), download())
    cases.add("upload png bytes that are not an image", "alice", upload(b, "photo.png", b"not a png"), download())
    for label, node in (
        ("existing node", b.node),
        ("missing node", "nowhere"),
        ("empty nodeId", ""),
        ("long nodeId", marked(ID_MAX + 1, "n")),
    ):
        cases.add(f"upload on {label}", "alice", upload(b, "linked.txt", fields={"nodeId": node}), download())
    cases.add(
        "upload without a file part", "alice", multipart(b.items + "/attachments/upload", {"nodeId": b.node}, None)
    )
    cases.add(
        "upload in the wrong part",
        "alice",
        multipart(b.items + "/attachments/upload", {}, ("x.txt", b"x", "text/plain"), field="attachment"),
    )
    cases.add("upload as JSON", "alice", json_request("POST", b.items + "/attachments/upload", {"file": "x"}))
    cases.add("upload with an empty body", "alice", raw_request("POST", b.items + "/attachments/upload", b"", None))
    wrong_board = b.board + path_of("b_missing", "attachments", "upload")
    cases.add("upload to a missing board", "alice", multipart(wrong_board, {}, ("x.txt", b"x", "text/plain")))
    for user in ("carol", "dave", None):
        cases.add(f"upload by {user or 'nobody'}", user, upload(b, "x.txt"))
    for user in ("carol", "dave"):
        cases.add(f"download by {user}", "alice", upload(b, "shared.txt"), login(pair, user), download())
    cases.add("download by nobody", "alice", upload(b, "shared.txt"), logout(), download())
    cases.add("download under another file name", "alice", upload(b, "right.txt"), download(filename="wrong.txt"))
    cases.add(
        "download of a missing attachment",
        "alice",
        CapturedRequest("GET", path_of("uploads", b.project, "a_missing", "x.txt")),
    )
    cases.add("export after an upload", "alice", upload(b, "exported.txt"), CapturedRequest("GET", b.board + "/export"))


def _papertrail_resources(cases: Cases, b: Board, pair: Pair) -> None:
    """Existing and missing boards, items, comments and projects, by the callers whose role decides."""
    for user in ("alice", "bob", "carol", "dave", None):
        cases.add(f"board read by {user or 'nobody'}", user, CapturedRequest("GET", b.board))
    other = pair.seed.projects["blog"]["id"]
    for label, project in (("the blog project", other), ("a missing project", "p_missing")):
        cases.add(
            f"board of {label}",
            "alice",
            CapturedRequest("GET", path_of("api", "projects", project, "papertrail", "board")),
        )
    for user in ("carol", "dave", None):
        cases.add(f"export by {user or 'nobody'}", user, CapturedRequest("GET", b.board + "/export"))
    cases.add("node read by the viewer", "carol", CapturedRequest("GET", b.node_path(b.node)))
    cases.add("node read by a stranger", "dave", CapturedRequest("GET", b.node_path(b.node)))
    cases.add("missing node read", "carol", CapturedRequest("GET", b.node_path("nowhere")))
    cases.add(
        "node on a missing board", "alice", CapturedRequest("GET", b.board + path_of("b_missing", "nodes", b.node))
    )
    cases.add(
        "edges and nodes listed", "carol", CapturedRequest("GET", b.edge_path()), CapturedRequest("GET", b.node_path())
    )
    cases.add("edge read", "carol", CapturedRequest("GET", b.edge_path(b.edge)))
    cases.add("missing edge read", "carol", CapturedRequest("GET", b.edge_path("nowhere")))
    for label, query in (
        ("of a node", f"nodeId={b.node}"),
        ("of a missing node", "nodeId=nowhere"),
        ("empty nodeId", "nodeId="),
    ):
        cases.add(f"comments {label}", "carol", CapturedRequest("GET", b.comment_path(), query=query))
    cases.add("node patched by the viewer", "carol", json_request("PATCH", b.node_path(b.node), {"title": "No"}))
    cases.add(
        "node deleted by the editor",
        "bob",
        CapturedRequest("DELETE", b.node_path(b.node)),
        CapturedRequest("GET", b.edge_path()),
        CapturedRequest("GET", b.comment_path()),
    )
    cases.add(
        "edge deleted", "bob", CapturedRequest("DELETE", b.edge_path(b.edge)), CapturedRequest("GET", b.edge_path())
    )
    for kind, path in (
        ("node", b.node_path("nowhere")),
        ("edge", b.edge_path("nowhere")),
        ("comment", b.comment_path("c_missing")),
    ):
        cases.add(f"missing {kind} deleted", "alice", CapturedRequest("DELETE", path))
    for user in ("alice", "bob", "carol", "dave"):
        cases.add(
            f"comment edited by {user}", user, json_request("PATCH", b.comment_path(b.comment), {"body": "Edited"})
        )
    cases.add(
        "comment deleted by the owner",
        "alice",
        CapturedRequest("DELETE", b.comment_path(b.comment)),
        CapturedRequest("GET", b.comment_path()),
    )
    cases.add("comment deleted by the viewer", "carol", CapturedRequest("DELETE", b.comment_path(b.comment)))
    cases.add("board deleted by the editor", "bob", CapturedRequest("DELETE", b.board))
    cases.add(
        "board deleted by the owner",
        "alice",
        CapturedRequest("DELETE", b.board),
        CapturedRequest("GET", b.node_path(b.node)),
        CapturedRequest("GET", b.board),
    )
    for label, path in (("blog project", pair.seed.projects["blog"]["id"]), ("missing project", "p_missing")):
        cases.add(
            f"download from the {label}", "alice", CapturedRequest("GET", path_of("uploads", path, "a_x", "x.txt"))
        )
    cases.add(
        "download by nobody without an upload",
        None,
        CapturedRequest("GET", path_of("uploads", b.project, "a_x", "x.txt")),
    )
