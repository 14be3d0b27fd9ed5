"""PaperTrail parity of export and import: zip bundles byte for byte, JSON and multipart imports, checks and limits.

How the comparison works, and why the plugin side cannot fall back to legacy code: see test_papertrail_parity.
"""

from __future__ import annotations

import io
import json
import random
import struct
import zipfile
from collections.abc import Callable
from typing import Any

import pytest

from tests.fixtures.twins import Twins
from tests.plugins.test_papertrail_parity import Case, Pair, board_url, form, make_pair, new_case

ZIP = "application/zip"


def make_zip(members: dict[str, bytes | str]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            info = zipfile.ZipInfo(name, date_time=(2025, 1, 2, 3, 4, 5))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    return out.getvalue()


def board_doc(**board: Any) -> str:
    return json.dumps({"version": 1, "board": {"title": "Imported", "nodes": [], "edges": [], **board}})


class Bundles(Case):
    """A case with a populated board: tagged nodes linking to an image attachment, an edge, two comments."""

    board_id = ""

    def populate(self) -> dict[str, Any]:
        self.pair.json("alice", "POST", board_url(self.project_id), json={"nodes": [{"id": "doc"}]})
        upload = board_url(self.project_id, f"/{self.board_id}/attachments/upload")
        image = form({"file": (b"\x89PNG fake image", "photo.png"), "nodeId": "doc"})
        attachment = self.pair.json("alice", "POST", upload, 201, **image)["attachment"]
        snapshot = {
            "title": "Harbour case",
            "nodes": [
                {"id": "doc", "type": "image", "x": 5, "imageUrl": attachment["url"], "tags": ["#Photo", "##Hash"]},
                {"id": "who", "type": "note", "title": "Witness", "html": f'<img src="{attachment["url"]}">'},
                {"id": "link", "type": "link", "url": "https://example.test", "tags": ["photo", "web"]},
            ],
            "edges": [{"id": "e1", "source": "who", "target": "doc", "label": "took"}],
        }
        self.pair.json("alice", "POST", board_url(self.project_id), json=snapshot)
        comments = board_url(self.project_id, f"/{self.board_id}/comments")
        self.pair.json("alice", "POST", comments, 201, json={"body": "check the date", "nodeId": "doc"})
        self.pair.json("alice", "POST", comments, 201, json={"body": "général note ✓"})
        return dict(attachment)

    def export(self, project_id: str | None = None) -> bytes:
        response = self.pair.exact("alice", "GET", board_url(project_id or self.project_id, "/export"))
        assert response.status_code == 200 and response.mimetype == ZIP
        return bytes(response.get_data())

    def send(self, suffix: str, status: int = 200, project_id: str | None = None, **kwargs: Any) -> Any:
        return self.pair.json("alice", "POST", board_url(project_id or self.project_id, suffix), status, **kwargs)


def new_bundles(pair: Pair) -> Bundles:
    base = new_case(pair)
    bundles = Bundles(pair, base.project_id)
    bundles.board_id = pair.json("alice", "POST", board_url(base.project_id), json={"nodes": []})["board"]["id"]
    return bundles


@pytest.fixture
def bundles(twins_factory: Callable[..., Twins]) -> Bundles:
    return new_bundles(make_pair(twins_factory))


@pytest.fixture
def small(twins_factory: Callable[..., Twins]) -> Bundles:
    return new_bundles(make_pair(twins_factory, PAPERTRAIL_IMPORT_MAX_BYTES=2000))


def test_export_is_the_same_zip(bundles: Bundles) -> None:
    bundles.populate()
    data = bundles.export()
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.namelist()[0] == "board.json"
    fresh = bundles.pair.project("alice", name="Fresh")
    bundles.export(fresh)  # creates the board on the way, on both sides alike
    bundles.pair.same_state()


def test_export_access(bundles: Bundles) -> None:
    bundles.member("vera", "viewer")
    bundles.pair.user("olga")
    url = board_url(bundles.project_id, "/export")
    bundles.pair.json("vera", "GET", url)
    bundles.pair.exact("olga", "GET", url)
    bundles.pair.exact(None, "GET", url)
    bundles.pair.exact("alice", "GET", board_url("p_missing", "/export"))
    bundles.pair.same_state()


def test_export_then_import_round_trips(bundles: Bundles) -> None:
    bundles.populate()
    bundle = bundles.export()
    copy = bundles.pair.project("alice", name="Copy")
    body = bundles.send("/import", project_id=copy, data=bundle, content_type=ZIP)
    assert body["warnings"] == [] and body["summary"]["attachments"] == 1
    # Links are rewritten to the copy, and its nodes go through the rules once more (one more "#" goes).
    assert body["board"]["nodes"][0]["imageUrl"].startswith(f"/uploads/{copy}/")
    assert body["board"]["nodes"][0]["tags"] == ["photo", "hash"]
    copied = body["board"]["nodes"][0]["imageUrl"]
    bundles.pair.exact("alice", "GET", copied)
    again = bundles.pair.project("alice", name="Copy of copy")
    bundles.send("/import", project_id=again, data=bundles.export(copy), content_type=ZIP)
    bundles.pair.same_state()


def test_import_replaces_content_and_old_files(bundles: Bundles) -> None:
    old = bundles.populate()
    bundles.send("/import", data=make_zip({"board.json": board_doc(nodes=[{"id": "only"}])}), content_type=ZIP)
    bundles.pair.exact("alice", "GET", old["url"])
    bundles.pair.same_state()


def test_import_accepts_multipart_and_json(bundles: Bundles) -> None:
    bundle = make_zip({"board.json": board_doc(nodes=[{"id": "z"}])})
    bundles.send("/import", **form({"file": (bundle, "b.zip")}))
    snapshot = {"title": "From JSON", "nodes": [{"id": "j", "x": 2.5}], "edges": [{"source": "j", "target": "gone"}]}
    bundles.send("/import", json=snapshot)
    bundles.send("/import", data=json.dumps(snapshot), content_type="text/json")
    bundles.send("/import", **form({"file": (json.dumps(snapshot).encode(), "board.JSON")}))
    bundles.send("/import", **form({"file": (json.dumps(snapshot).encode(), "upload", "application/json")}))
    bundles.send("/import", 400, **form({"file": (json.dumps(snapshot).encode(), "upload.bin")}))
    bundles.send("/import", 400, **form({"other": (bundle, "b.zip")}))
    bundles.pair.same_state()


def test_import_validate_reports_and_changes_nothing(bundles: Bundles) -> None:
    bundles.populate()
    bundle = bundles.export()
    body = bundles.send("/import/validate", data=bundle, content_type=ZIP)
    assert body["summary"]["uploadBytes"] == len(b"\x89PNG fake image")
    warned = {"nodes": [{"id": "a", "type": "odd"}, {"id": "b"}], "edges": [{"source": "a", "target": "c"}]}
    body = bundles.send(
        "/import/validate", json={**warned, "attachments": [{}], "comments": [{"body": "x", "nodeId": 1}]}
    )
    assert len(body["warnings"]) == 4
    bundles.send("/import/validate", 400, data=b"junk", content_type=ZIP)
    bundles.pair.same_state()


BAD_BUNDLES: dict[str, bytes] = {
    "not-a-zip": b"this is not a zip",
    "empty-body": b"",
    "no-board-json": make_zip({"uploads/a/x.txt": b"x"}),
    "nested-board-json": make_zip({"folder/board.json": board_doc()}),
    "bad-json": make_zip({"board.json": "{nodes: ["}),
    "not-utf8": make_zip({"board.json": b"\xff\xfe{}"}),
    "json-list": make_zip({"board.json": "[1, 2]"}),
    "no-nodes": make_zip({"board.json": json.dumps({"board": {"title": "x"}})}),
    "board-null": make_zip({"board.json": json.dumps({"board": None})}),
    "dotdot-member": make_zip({"board.json": board_doc(), "../evil.txt": b"x"}),
    "nested-dotdot": make_zip({"board.json": board_doc(), "uploads/../../evil.txt": b"x"}),
    "absolute-member": make_zip({"board.json": board_doc(), "/etc/evil": b"x"}),
    "backslash-member": make_zip({"board.json": board_doc(), "uploads\\..\\evil": b"x"}),
    "drive-member": make_zip({"board.json": board_doc(), "C:/evil": b"x"}),
    "duplicate-nodes": make_zip({"board.json": board_doc(nodes=[{"id": "a"}, {"id": "a"}])}),
    "bad-coordinate": make_zip({"board.json": board_doc(nodes=[{"id": "a", "x": "far"}])}),
    "bad-title": make_zip({"board.json": board_doc(title=["x"])}),
    "version-2": make_zip({"board.json": json.dumps({"version": 2, "board": {"nodes": []}})}),
    "version-string": make_zip({"board.json": json.dumps({"version": "1", "board": {"nodes": []}})}),
    "missing-upload": make_zip(
        {"board.json": json.dumps({"board": {"nodes": []}, "attachments": [{"id": "a1", "filename": "x.png"}]})}
    ),
    "attachment-not-object": make_zip({"board.json": json.dumps({"board": {"nodes": []}, "attachments": [1]})}),
    "attachment-no-name": make_zip({"board.json": json.dumps({"board": {"nodes": []}, "attachments": [{"id": "a"}]})}),
    "attachments-object": make_zip({"board.json": json.dumps({"board": {"nodes": []}, "attachments": {}})}),
    "blank-comment": make_zip({"board.json": json.dumps({"board": {"nodes": []}, "comments": [{"body": " "}]})}),
    "long-comment": make_zip({"board.json": json.dumps({"board": {"nodes": []}, "comments": [{"body": "x" * 10001}]})}),
    "comment-not-object": make_zip({"board.json": json.dumps({"board": {"nodes": []}, "comments": ["x"]})}),
    "comments-string": make_zip({"board.json": json.dumps({"board": {"nodes": []}, "comments": "x"})}),
    "slash-node-id": make_zip({"board.json": board_doc(nodes=[{"id": "ok"}, {"id": "a/b"}])}),
    "tab-edge-id": make_zip({"board.json": board_doc(nodes=[{"id": "a"}], edges=[{"id": "t\tb"}])}),
    "truncated": make_zip({"board.json": board_doc()})[:-30],
}


def test_import_bad_bundles_are_refused_alike_and_change_nothing(bundles: Bundles) -> None:
    bundles.populate()
    for name, data in BAD_BUNDLES.items():
        for suffix in ("/import", "/import/validate"):
            assert bundles.send(suffix, 400, data=data, content_type=ZIP)["error"], name
    bundles.pair.same_state()


def test_import_bad_json_is_refused_alike(bundles: Bundles) -> None:
    for payload in (
        "{broken",
        "[]",
        '{"title": "no nodes"}',
        '{"nodes": [{"id": "a", "x": NaN}]}',
        '{"nodes": [{"id": ".."}]}',
        '{"board": {"nodes": [], "edges": [{"id": "a\\\\b"}]}}',
        "\xff",
        "[" * 50_000,
    ):
        bundles.send("/import", 400, data=payload, content_type="application/json")
    bundles.pair.same_state()


def test_import_limits(small: Bundles) -> None:
    padded = make_zip({"board.json": board_doc(), "uploads/pad.bin": random.Random(7).randbytes(3000)})
    small.send("/import", 413, data=padded, content_type=ZIP)
    small.send("/import", 413, **form({"file": (padded, "b.zip")}))
    small.send("/import/validate", 413, data=padded, content_type=ZIP)
    bomb = make_zip({"board.json": board_doc(), "uploads/zeros.bin": b"\0" * 100_000})
    assert len(bomb) < 2000
    small.send("/import", 413, data=bomb, content_type=ZIP)
    small.send("/import", 413, data=b"{}" + b" " * 2000, content_type="application/json")
    small.pair.same_state()


def test_import_access(bundles: Bundles) -> None:
    bundle = make_zip({"board.json": board_doc()})
    bundles.member("vera", "viewer")
    bundles.member("ed", "editor")
    for suffix in ("/import", "/import/validate"):
        bundles.pair.json("vera", "POST", board_url(bundles.project_id, suffix), 403, data=bundle, content_type=ZIP)
        bundles.pair.json(None, "POST", board_url(bundles.project_id, suffix), 401, data=bundle, content_type=ZIP)
        bundles.pair.json("alice", "POST", board_url("p_nope", suffix), 404, data=bundle, content_type=ZIP)
    bundles.pair.json("ed", "POST", board_url(bundles.project_id, "/import"), data=bundle, content_type=ZIP)
    bundles.pair.same_state()


def test_import_authors_timestamps_and_references(bundles: Bundles) -> None:
    alice = bundles.pair.user("alice2")
    bundles.pair.share("alice", bundles.project_id, "alice2", "editor")
    mallory = bundles.pair.user("mallory")
    bundles.pair.twins.move_to_tenant(mallory, "tenant-1")
    document = {
        "board": {"title": "", "nodes": [{"id": "a"}]},
        "comments": [
            {"body": "kept", "authorId": alice, "nodeId": "a", "createdAt": "2025-05-01T10:00:00.000Z"},
            {"body": "zoned", "authorId": alice, "createdAt": "2025-05-01T10:00:00+02:00", "updatedAt": 5},
            {"body": "naive", "authorId": mallory, "createdAt": "2025-05-01 10:00:00", "updatedAt": "2025-06-01"},
            {"body": "orphan", "authorId": "u_gone", "nodeId": "deleted-node", "createdAt": "yesterday"},
            {"body": " \x00 spaced \x00 ", "authorId": None},
        ],
        "attachments": [{"id": "x", "filename": "f.txt"}],
    }
    bundles.pair.json("alice2", "POST", board_url(bundles.project_id, "/import"), json=document)
    board_id = bundles.pair.json("alice", "GET", board_url(bundles.project_id))["board"]["id"]
    bundles.pair.json("alice", "GET", board_url(bundles.project_id, f"/{board_id}/comments"))
    bundles.pair.same_state()


def test_import_zip_attachments_paths_types_and_leftovers(bundles: Bundles) -> None:
    attachments: list[dict[str, Any]] = [
        {"id": "a1", "filename": "Some File.txt", "nodeId": "n", "contentType": "text/csv"},
        {"id": "a2", "filename": "blob", "path": "custom/place", "contentType": "Application/X-Thing"},
        # A name that would leave its folder: the member is found by its explicit path, the stored name made safe.
        {"id": "a3", "filename": "../up.bin", "path": "uploads/a3/up.bin", "nodeId": "gone"},
    ]
    document = {
        "version": 1.0,
        "project": {"id": "p_elsewhere"},
        "board": {"nodes": [{"id": "n", "url": "/uploads/p_elsewhere/a1/Some File.txt", "tags": ["##Two"]}]},
        "attachments": attachments,
    }
    members: dict[str, bytes | str] = {
        "board.json": json.dumps(document),
        "uploads/a1/Some File.txt": b"one",
        "custom/place": b"two",
        "uploads/a3/up.bin": b"three",
        "folder/": b"",
        "stray.txt": b"nobody's",
    }
    body = bundles.send("/import", data=make_zip(members), content_type=ZIP)
    # A node sent without a type counts as "retyped" (the legacy quirk): three warnings, not two.
    assert len(body["warnings"]) == 3
    assert body["board"]["nodes"][0]["tags"] == ["two"]  # normalised twice: once read, once relinked
    bundles.pair.same_state()


def as_zip64(data: bytes, entries: int) -> bytes:
    """The zip with a Zip64 end record and locator declaring `entries` members."""
    end = struct.Struct("<4s4H2LH")
    body, (_, _, _, _, _, size, offset, _) = data[: -end.size], end.unpack(data[-end.size :])
    record = struct.pack("<4sQ2H2L4Q", b"PK\x06\x06", 44, 45, 45, 0, 0, entries, entries, size, offset)
    locator = struct.pack("<4sLQL", b"PK\x06\x07", 0, len(body), 1)
    return body + record + locator + end.pack(b"PK\x05\x06", 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)


def with_counts(data: bytes, on_disk: int, total: int, size: int | None = None) -> bytes:
    end = struct.Struct("<4s4H2LH")
    sig, disk, cd_disk, _, _, cd_size, offset, comment = end.unpack(data[-end.size :])
    return data[: -end.size] + end.pack(
        sig, disk, cd_disk, on_disk, total, cd_size if size is None else size, offset, comment
    )


def directory_only(entries: int, declared: int) -> bytes:
    header = struct.Struct("<4s6H3L5H2L")
    entry = header.pack(b"PK\x01\x02", 20, 20, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0) + b"x"
    directory = entry * entries
    return directory + struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, declared, declared, len(directory), 0, 0)


def test_import_zip_directory_guards(bundles: Bundles) -> None:
    good = make_zip({"board.json": board_doc(nodes=[{"id": "n1"}]), "uploads/a/f.txt": b"hi"})
    with_comment = good[:-2] + struct.pack("<H", 5) + b"hello"
    shapes = {
        "zip64-ok": as_zip64(good, 2),
        "zip64-huge": as_zip64(good, 530_000),
        "classic-huge": with_counts(good, 10_001, 10_001),
        "classic-total": with_counts(good, 2, 60_000),
        "absurd-directory": with_counts(good, 2, 2, size=0xFFFFFFF0),
        "directory-bigger-than-file": with_counts(good, 2, 2, size=len(good)),
        "too-many-entries": directory_only(10_001, declared=1),
        "with-comment": with_comment,
        "broken-locator": good[:-22] + b"PK\x06\x07" + b"\0" * 16 + good[-22:],
    }
    for name, data in shapes.items():
        response = bundles.pair.exact(
            "alice", "POST", board_url(bundles.project_id, "/import"), data=data, content_type=ZIP
        )
        assert response.status_code in (200, 400), name
    bundles.pair.same_state()


def test_import_zip_with_duplicate_member_names(bundles: Bundles) -> None:
    out = io.BytesIO()
    with pytest.warns(UserWarning, match="Duplicate name"), zipfile.ZipFile(out, "w") as archive:
        archive.writestr("board.json", board_doc(title="First"))
        archive.writestr("board.json", board_doc(title="Second"))
    body = bundles.send("/import", 400, data=out.getvalue(), content_type=ZIP)
    assert body == {"error": "Bundle has more than one member named 'board.json'"}
    bundles.pair.same_state()


def test_import_stored_and_unsupported_compression(bundles: Bundles) -> None:
    stored = io.BytesIO()
    with zipfile.ZipFile(stored, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr("board.json", board_doc(nodes=[{"id": "s"}]))
    bundles.send("/import", data=stored.getvalue(), content_type=ZIP)
    lzma = io.BytesIO()
    with zipfile.ZipFile(lzma, "w", compression=zipfile.ZIP_LZMA) as archive:
        archive.writestr("board.json", board_doc())
    data = bytearray(lzma.getvalue())
    # Claim an unknown compression method (99: AES) in the directory entry: reading the member must fail.
    at = data.rfind(b"PK\x01\x02")
    data[at + 10 : at + 12] = struct.pack("<H", 99)
    bundles.send("/import", 400, data=bytes(data), content_type=ZIP)
    bundles.pair.same_state()
