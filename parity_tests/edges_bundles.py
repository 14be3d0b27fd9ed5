"""PaperTrail import edge cases: bundles that hit each check of `legacy_core/papertrail/bundle.py`, mostly on
/import/validate (nothing written) and a few on /import, and body and unpacked sizes around
PAPERTRAIL_IMPORT_MAX_BYTES. Called from `edges_papertrail.papertrail_cases` with the seeded board's paths.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable
from typing import Any

from exthost.evidence.compare import CapturedRequest, CapturedResponse
from legacy_core.papertrail.board import COMMENT_MAX
from legacy_core.papertrail.bundle import BOARD_JSON, MAX_CENTRAL_DIRECTORY, MAX_MEMBERS, member_path
from legacy_core.papertrail.normalize import BOARD_TITLE_MAX
from legacy_core.settings import Settings
from parity_tests.client import path_of
from parity_tests.edge_kit import (
    ATTACHMENT_BYTES,
    ATTACHMENT_ID,
    ATTACHMENT_NAME,
    JSON,
    Batch,
    Cases,
    Step,
    answered,
    bundle,
    bundle_document,
    later,
    marked,
    multipart,
    padded_json,
    patched_end_record,
    raw_request,
    sized_zip,
    zip_bytes,
)
from parity_tests.pair import Pair


def bundle_cases(cases: Cases, project: str, board_path: str, comments: str, pair: Pair, settings: Settings) -> None:
    """Import bundles hitting each check of legacy's bundle reader, on /import/validate (nothing written) and a few
    on /import; sizes around PAPERTRAIL_IMPORT_MAX_BYTES."""
    validate, do_import = board_path + "/import/validate", board_path + "/import"
    v = Batch(cases, "import validate")

    def check(body: bytes, content_type: str | None = "application/zip") -> list[Step]:
        return [raw_request("POST", validate, body, content_type)]

    document = bundle_document(project)
    valid = bundle(document)
    cases.add(
        "import valid bundle",
        "alice",
        raw_request("POST", do_import, valid, "application/zip"),
        CapturedRequest("GET", comments),
        lambda answers: _restored(answers),
    )
    v.add("valid bundle", "alice", *check(valid))
    cases.add("import valid bundle by the editor", "bob", raw_request("POST", do_import, valid, "application/zip"))
    for user in ("carol", "dave", None):
        cases.add(f"import by {user or 'nobody'}", user, raw_request("POST", do_import, valid, "application/zip"))
    v.add("bundle sent as text/plain", "alice", *check(valid, "text/plain"))
    v.add("empty body", "alice", *check(b"", None))
    v.add("not a zip", "alice", *check(b"this is not a zip file at all, just text"))
    v.add("shorter than an end record", "alice", *check(b"PK\x05\x06"))
    v.add("truncated zip", "alice", *check(valid[: len(valid) // 2]))
    v.add("zip without its end record", "alice", *check(valid[:-22]))
    v.add("bytes after the end record", "alice", *check(valid + b"trailing bytes"))
    end = valid.rfind(b"PK\x05\x06")
    locator = struct.pack("<4sLQL", b"PK\x06\x07", 0, 0, 1)
    v.add("Zip64 locator without its record", "alice", *check(valid[:end] + locator + valid[end:]))
    first_entry = valid.find(b"PK\x01\x02")
    v.add(
        "damaged central directory entry",
        "alice",
        *check(valid[:first_entry] + b"PK\x09\x09" + valid[first_entry + 4 :]),
    )
    cases.around(
        "import validate declared directory size",
        "MAX_CENTRAL_DIRECTORY",
        MAX_CENTRAL_DIRECTORY,
        lambda n: check(patched_end_record(valid, size=n)),
    )
    v.add(
        f"declared {MAX_MEMBERS + 1} entries",
        "alice",
        *check(patched_end_record(valid, entries=MAX_MEMBERS + 1)),
    )

    def members(count: int, declared: int | None = None) -> Callable[[], CapturedRequest]:
        def build() -> CapturedRequest:
            extra = [(f"m/{index}", b"") for index in range(count - 1)]
            data = zip_bytes([(BOARD_JSON, json.dumps({"nodes": []}).encode()), *extra])
            data = patched_end_record(data, entries=declared) if declared is not None else data
            return raw_request("POST", validate, data, "application/zip")

        return build

    cases.around("import validate member count", "MAX_MEMBERS", MAX_MEMBERS, lambda n: [later(members(n))])
    v.add(f"{MAX_MEMBERS + 1} members declaring 1", "alice", later(members(MAX_MEMBERS + 1, 1)))
    stored = zip_bytes([(BOARD_JSON, json.dumps(document).encode())])
    data_at = stored.find(b"{", stored.find(BOARD_JSON.encode()))
    v.add("member failing its CRC", "alice", *check(stored[:data_at] + b"[" + stored[data_at + 1 :]))
    method_at = [stored.find(b"PK\x03\x04") + 8, stored.find(b"PK\x01\x02") + 10]
    unknown_method = bytearray(stored)
    for at in method_at:
        unknown_method[at : at + 2] = struct.pack("<H", 99)
    v.add("member of an unknown compression", "alice", *check(bytes(unknown_method)))
    for label, name in (
        ("parent step", "../board.json"),
        ("inner parent step", "uploads/../../x"),
        ("absolute", "/board.json"),
        ("leading backslash", "\\board.json"),
        ("backslash", "uploads\\x.txt"),
        ("drive letter", "C:board.json"),
        ("empty name", ""),
    ):
        v.add(f"member name {label}", "alice", *check(bundle(document, (name, b"x"))))
    v.add(
        "duplicate board.json",
        "alice",
        *check(bundle(document, (BOARD_JSON, json.dumps(document).encode()))),
    )
    v.add(
        "duplicate upload member",
        "alice",
        *check(bundle(document, (member_path(ATTACHMENT_ID, ATTACHMENT_NAME), b"again"))),
    )
    v.add("folder member", "alice", *check(bundle(document, ("uploads/", b""))))
    v.add(
        "without board.json",
        "alice",
        *check(zip_bytes([(member_path(ATTACHMENT_ID, ATTACHMENT_NAME), ATTACHMENT_BYTES)])),
    )
    v.add(
        "board.json in a folder",
        "alice",
        *check(zip_bytes([("export/" + BOARD_JSON, json.dumps(document).encode())])),
    )
    for label, raw in (
        ("not JSON", b"{not json"),
        ("not UTF-8", b"\xff\xfe{}"),
        ("nested too deeply", b"[" * 100_000 + b"]" * 100_000),
        ("a list", b"[]"),
    ):
        v.add(f"board.json {label}", "alice", *check(zip_bytes([(BOARD_JSON, raw)])))
    for label, version in (("2", 2), ("'1'", "1"), ("1.0", 1.0), ("true", True), ("null", None), ("0", 0)):
        v.add(f"version {label}", "alice", *check(bundle({**document, "version": version})))
    no_version = {key: value for key, value in document.items() if key != "version"}
    v.add("version missing", "alice", *check(bundle(no_version)))
    v.add("another format", "alice", *check(bundle({**document, "format": "other-board"})))
    board = document["board"]
    for label, changed in (
        ("no board", {key: value for key, value in document.items() if key != "board"}),
        ("board a list", {**document, "board": []}),
        ("board without nodes", {**document, "board": {"title": "x"}}),
        ("bare snapshot", {"title": "Bare", "nodes": [{"id": "x", "x": 1.5}], "edges": []}),
        ("bare snapshot bad node", {"nodes": [{"id": "x", "x": "1"}]}),
        ("title a number", {**document, "board": {**board, "title": 5}}),
        ("title null", {**document, "board": {**board, "title": None}}),
        ("node x a string", {**document, "board": {**board, "nodes": [{"id": "n1", "x": "1"}]}}),
        ("node id a slash", {**document, "board": {**board, "nodes": [{"id": "n/1"}]}}),
        (
            "dangling edge and unknown type",
            {
                **document,
                "board": {
                    **board,
                    "nodes": [{"id": "n1", "type": "diagram"}, {"id": "n2"}],
                    "edges": [{"id": "e", "source": "n1", "target": "zz"}],
                },
            },
        ),
        ("comments not a list", {**document, "comments": "x"}),
        ("comment not an object", {**document, "comments": [5]}),
        ("comment body empty", {**document, "comments": [{"body": "  "}]}),
        ("comment on a missing node", {**document, "comments": [{"body": "x", "nodeId": "zz"}]}),
        ("attachments not a list", {**document, "attachments": {}}),
        ("attachment not an object", {**document, "attachments": ["x"]}),
        ("attachment without id", {**document, "attachments": [{"filename": ATTACHMENT_NAME}]}),
        ("attachment on a missing node", {**document, "attachments": [{**document["attachments"][0], "nodeId": "zz"}]}),
        (
            "attachment unsafe file name",
            {
                **document,
                "attachments": [
                    {
                        **document["attachments"][0],
                        "filename": "../../" + ATTACHMENT_NAME,
                        "path": member_path(ATTACHMENT_ID, ATTACHMENT_NAME),
                    }
                ],
            },
        ),
    ):
        v.add(f"{label}", "alice", *check(bundle(changed)))
    cases.around(
        "import validate board title length",
        "BOARD_TITLE_MAX@import",
        BOARD_TITLE_MAX,
        lambda n: check(bundle({**document, "board": {**board, "title": marked(n)}})),
    )
    cases.around(
        "import validate comment body length",
        "COMMENT_MAX@import",
        COMMENT_MAX,
        lambda n: check(bundle({**document, "comments": [{"body": marked(n)}]})),
    )
    v.add("referenced upload missing", "alice", *check(bundle(document, attachment=False)))
    v.add(
        "upload nobody references",
        "alice",
        *check(bundle(document, ("uploads/a_other/extra.txt", b"extra"))),
    )
    author = pair.seed.users["bob"].id
    authored = {**document, "comments": [{"body": "By bob", "authorId": author}, {"body": "By ?", "authorId": "u_x"}]}
    cases.add(
        "import comment authors",
        "alice",
        raw_request("POST", do_import, bundle(authored), "application/zip"),
        CapturedRequest("GET", comments),
    )
    snapshot = {"title": "From JSON", "nodes": [{"id": "j1"}], "attachments": document["attachments"]}
    v.add("JSON body", "alice", *check(json.dumps(snapshot).encode(), JSON))
    v.add("JSON body not an object", "alice", *check(b"[1, 2]", JSON))
    form = multipart(validate, {}, ("board.zip", valid, "application/zip"))
    v.add("multipart zip", "alice", form)
    v.add(
        "multipart JSON by name",
        "alice",
        multipart(validate, {}, ("board.json", json.dumps(snapshot).encode(), "application/octet-stream")),
    )
    v.add("multipart without a file", "alice", multipart(validate, {"x": "y"}, None))
    v.flush()
    _import_sizes(cases, validate, document, settings.PAPERTRAIL_IMPORT_MAX_BYTES)


def _import_sizes(cases: Cases, validate: str, document: dict[str, Any], limit: int) -> None:
    """The import limit on the body (zip, JSON, multipart file) and on what a zip unpacks to."""
    members = [
        (BOARD_JSON, json.dumps(document).encode()),
        (member_path(ATTACHMENT_ID, ATTACHMENT_NAME), ATTACHMENT_BYTES),
    ]
    cases.around(
        "import body size",
        "PAPERTRAIL_IMPORT_MAX_BYTES",
        limit,
        lambda n: [later(lambda: raw_request("POST", validate, sized_zip(members, n), "application/zip"))],
    )

    def unpacking(n: int) -> CapturedRequest:
        # One deflated member of zeros makes the archive unpack to exactly n bytes while it stays small.
        filler = n - sum(len(data) for _, data in members)
        return raw_request(
            "POST", validate, zip_bytes([*members, ("zeros.bin", b"\0" * filler)], deflate=True), "application/zip"
        )

    cases.around(
        "import unpacked size", "PAPERTRAIL_IMPORT_MAX_BYTES@unpacked", limit, lambda n: [later(lambda: unpacking(n))]
    )

    cases.around(
        "import JSON body size",
        "PAPERTRAIL_IMPORT_MAX_BYTES@json",
        limit,
        lambda n: [later(lambda: padded_json("POST", validate, {"nodes": [{"id": "padded"}]}, n))],
    )
    cases.add(
        f"import multipart file {limit + 1} (PAPERTRAIL_IMPORT_MAX_BYTES+1)",
        "alice",
        later(lambda: multipart(validate, {}, ("big.zip", sized_zip(members, limit + 1), "application/zip"))),
    )


def _restored(answers: list[CapturedResponse]) -> CapturedRequest | None:
    """GET of the first imported node's link, which the import rewrote to the restored attachment's URL."""
    nodes = answered(0, "board", "nodes")(answers)
    url = nodes[0].get("url") if isinstance(nodes, list) and nodes and isinstance(nodes[0], dict) else None
    return CapturedRequest("GET", path_of(*url.split("/"))) if isinstance(url, str) and url else None
