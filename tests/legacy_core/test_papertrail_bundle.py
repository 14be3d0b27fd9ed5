"""PaperTrail export and import: zip bundles, JSON snapshots, validation, limits, and all-or-nothing imports."""

from __future__ import annotations

import io
import json
import random
import struct
import zipfile
from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient

from legacy_core import Server
from legacy_core.papertrail.bundle import MAX_MEMBERS, BundleError, read_zip
from legacy_core.settings import Settings
from tests.legacy_core.test_papertrail_uploads import Setup, stored_state


def url(project_id: str, suffix: str = "") -> str:
    return f"/api/projects/{project_id}/papertrail/board{suffix}"


def make_zip(members: dict[str, bytes | str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            info = zipfile.ZipInfo(name)
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    return buffer.getvalue()


def board_doc(**board: Any) -> str:
    return json.dumps({"version": 1, "board": {"title": "Imported", "nodes": [], "edges": [], **board}})


def populate(setup: Setup) -> dict[str, Any]:
    """A board with nodes, edges, tags, comments and an image attachment that a node shows."""
    owner, project_id = setup.owner, setup.project_id
    attachment = setup.upload(None, b"\x89PNG fake image", "photo.png", nodeId="doc").get_json()["attachment"]
    snapshot = {
        "title": "Harbour case",
        "nodes": [
            {"id": "doc", "type": "image", "x": 5, "y": 6, "imageUrl": attachment["url"], "tags": ["#Photo"]},
            {"id": "who", "type": "note", "title": "Witness", "html": f'<img src="{attachment["url"]}">'},
            {"id": "link", "type": "link", "url": "https://example.test", "tags": ["photo", "web"]},
        ],
        "edges": [{"id": "e1", "source": "who", "target": "doc", "label": "took"}],
    }
    assert owner.post(url(project_id), json=snapshot).status_code == 200
    board_id = setup.board_id
    owner.post(url(project_id, f"/{board_id}/comments"), json={"body": "check the date", "nodeId": "doc"})
    owner.post(url(project_id, f"/{board_id}/comments"), json={"body": "general note"})
    return dict(attachment)


def export(client: FlaskClient, project_id: str) -> bytes:
    response = client.get(url(project_id, "/export"))
    assert response.status_code == 200
    assert response.mimetype == "application/zip"
    return bytes(response.data)


def board_of(client: FlaskClient, project_id: str) -> dict[str, Any]:
    return dict(client.get(url(project_id)).get_json()["board"])


def comparable(board: dict[str, Any], old_prefix: str = "", new_prefix: str = "") -> dict[str, Any]:
    text = json.dumps({key: board[key] for key in ("title", "nodes", "edges", "tags", "stats")})
    return dict(json.loads(text.replace(old_prefix, new_prefix) if old_prefix else text))


@pytest.fixture
def setup(server: Server) -> Setup:
    return Setup(server)


@pytest.fixture
def small(server_factory: Callable[..., Server], settings_factory: Callable[..., Settings]) -> Setup:
    return Setup(server_factory(settings_factory(PAPERTRAIL_IMPORT_MAX_BYTES=2000)))


def test_export_zip_holds_board_json_and_uploads(setup: Setup) -> None:
    attachment = populate(setup)
    with zipfile.ZipFile(io.BytesIO(export(setup.owner, setup.project_id))) as archive:
        names = archive.namelist()
        document = json.loads(archive.read("board.json"))
        data = archive.read(f"uploads/{attachment['id']}/photo.png")
    assert names == ["board.json", f"uploads/{attachment['id']}/photo.png"]
    assert data == b"\x89PNG fake image"
    assert document["format"] == "papertrail-board" and document["version"] == 1
    assert document["board"]["title"] == "Harbour case"
    assert [node["id"] for node in document["board"]["nodes"]] == ["doc", "who", "link"]
    assert [comment["body"] for comment in document["comments"]] == ["check the date", "general note"]
    assert document["attachments"][0]["path"] == f"uploads/{attachment['id']}/photo.png"
    assert document["project"]["id"] == setup.project_id


def test_export_access_rules(setup: Setup, client: FlaskClient) -> None:
    viewer = setup.member("viewer")
    assert viewer.get(url(setup.project_id, "/export")).status_code == 200
    assert client.get(url(setup.project_id, "/export")).status_code == 401
    assert setup.owner.get(url("p_missing", "/export")).status_code == 404


def test_export_then_import_elsewhere_gives_the_same_board(setup: Setup) -> None:
    attachment = populate(setup)
    original = board_of(setup.owner, setup.project_id)
    bundle = export(setup.owner, setup.project_id)
    target = setup.api.project(setup.owner, name="Copy")
    response = setup.owner.post(url(target, "/import"), data=bundle, content_type="application/zip")
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["ok"] is True and body["warnings"] == []
    assert body["summary"]["nodes"] == 3 and body["summary"]["attachments"] == 1 and body["summary"]["comments"] == 2
    copy = board_of(setup.owner, target)
    assert body["board"] == copy
    copied_url = copy["nodes"][0]["imageUrl"]
    assert copied_url.startswith(f"/uploads/{target}/") and copied_url.endswith("/photo.png")
    old_prefix = attachment["url"]
    assert comparable(copy) == comparable(original, old_prefix, copied_url)
    assert setup.owner.get(copied_url).data == b"\x89PNG fake image"
    comments = setup.owner.get(url(target, f"/{copy['id']}/comments")).get_json()["comments"]
    assert [(item["body"], item["nodeId"]) for item in comments] == [("check the date", "doc"), ("general note", None)]
    assert comments[0]["authorId"] == setup.owner.user["id"]  # type: ignore[attr-defined]
    # and exporting the copy gives a bundle that imports back to the same board again
    again = setup.api.project(setup.owner, name="Copy of copy")
    bundle2 = export(setup.owner, target)
    assert setup.owner.post(url(again, "/import"), data=bundle2, content_type="application/zip").status_code == 200
    third = board_of(setup.owner, again)
    assert comparable(third, third["nodes"][0]["imageUrl"], copied_url) == comparable(copy)


def test_import_replaces_existing_content_and_old_files(setup: Setup) -> None:
    old = populate(setup)
    root = setup.server.services.settings.papertrail_root
    document = board_doc(nodes=[{"id": "only"}])
    response = setup.owner.post(
        url(setup.project_id, "/import"), data=make_zip({"board.json": document}), content_type="application/zip"
    )
    assert response.status_code == 200
    board = response.get_json()["board"]
    assert [node["id"] for node in board["nodes"]] == ["only"] and board["title"] == "Imported"
    assert board["stats"] == {"nodes": 1, "edges": 0, "comments": 0, "attachments": 0, "tags": 0}
    assert not (root / setup.project_id / old["id"]).exists()
    assert setup.owner.get(old["url"]).status_code == 404


def test_import_accepts_multipart_and_json(setup: Setup) -> None:
    bundle = make_zip({"board.json": board_doc(nodes=[{"id": "z"}])})
    multipart = setup.owner.post(url(setup.project_id, "/import"), data={"file": (io.BytesIO(bundle), "b.zip")})
    assert multipart.status_code == 200
    assert [node["id"] for node in multipart.get_json()["board"]["nodes"]] == ["z"]
    snapshot = {"title": "From JSON", "nodes": [{"id": "j", "x": 2.5}], "edges": [{"source": "j", "target": "gone"}]}
    as_json = setup.owner.post(url(setup.project_id, "/import"), json=snapshot)
    assert as_json.status_code == 200
    body = as_json.get_json()
    assert body["board"]["title"] == "From JSON" and body["board"]["nodes"][0]["x"] == 2
    assert body["summary"]["droppedEdges"] == 1 and body["warnings"]
    json_file = setup.owner.post(
        url(setup.project_id, "/import"), data={"file": (io.BytesIO(json.dumps(snapshot).encode()), "board.json")}
    )
    assert json_file.status_code == 200


def test_import_validate_reports_and_changes_nothing(setup: Setup) -> None:
    populate(setup)
    bundle = export(setup.owner, setup.project_id)
    before = stored_state(setup.server)
    response = setup.owner.post(url(setup.project_id, "/import/validate"), data=bundle, content_type="application/zip")
    assert response.status_code == 200
    body = response.get_json()
    assert body["ok"] is True and body["warnings"] == []
    assert body["summary"] | {"title": None} == {
        "title": None,
        "nodes": 3,
        "edges": 1,
        "comments": 2,
        "attachments": 1,
        "tags": 2,
        "uploadBytes": len(b"\x89PNG fake image"),
        "droppedEdges": 0,
    }
    warned = setup.owner.post(
        url(setup.project_id, "/import/validate"),
        json={"nodes": [{"id": "a", "type": "odd"}], "edges": [{"source": "a", "target": "b"}], "attachments": [{}]},
    ).get_json()
    assert len(warned["warnings"]) == 3
    bad = setup.owner.post(url(setup.project_id, "/import/validate"), data=b"junk", content_type="application/zip")
    assert bad.status_code == 400
    assert stored_state(setup.server) == before


BAD_BUNDLES = {
    "not-a-zip": b"this is not a zip",
    "empty-body": b"",
    "no-board-json": make_zip({"uploads/a/x.txt": b"x"}),
    "nested-board-json": make_zip({"folder/board.json": board_doc()}),
    "bad-json": make_zip({"board.json": "{nodes: ["}),
    "json-list": make_zip({"board.json": "[1, 2]"}),
    "no-nodes": make_zip({"board.json": json.dumps({"board": {"title": "x"}})}),
    "dotdot-member": make_zip({"board.json": board_doc(), "../evil.txt": b"x"}),
    "nested-dotdot": make_zip({"board.json": board_doc(), "uploads/../../evil.txt": b"x"}),
    "absolute-member": make_zip({"board.json": board_doc(), "/etc/evil": b"x"}),
    "backslash-member": make_zip({"board.json": board_doc(), "uploads\\..\\evil": b"x"}),
    "drive-member": make_zip({"board.json": board_doc(), "C:/evil": b"x"}),
    "duplicate-nodes": make_zip({"board.json": board_doc(nodes=[{"id": "a"}, {"id": "a"}])}),
    "bad-coordinate": make_zip({"board.json": board_doc(nodes=[{"id": "a", "x": "far"}])}),
    "version-2": make_zip({"board.json": json.dumps({"version": 2, "board": {"nodes": []}})}),
    "missing-upload": make_zip(
        {"board.json": json.dumps({"board": {"nodes": []}, "attachments": [{"id": "a1", "filename": "x.png"}]})}
    ),
    "blank-comment": make_zip({"board.json": json.dumps({"board": {"nodes": []}, "comments": [{"body": " "}]})}),
}


@pytest.mark.parametrize("bundle", list(BAD_BUNDLES.values()), ids=list(BAD_BUNDLES))
def test_import_bad_bundle_is_400_and_changes_nothing(setup: Setup, bundle: bytes) -> None:
    populate(setup)
    before = stored_state(setup.server)
    for suffix in ("/import", "/import/validate"):
        response = setup.owner.post(url(setup.project_id, suffix), data=bundle, content_type="application/zip")
        assert response.status_code == 400, response.get_json()
        assert response.get_json()["error"]
    assert stored_state(setup.server) == before


@pytest.mark.parametrize("bad_id", ["a/b", "a\\b", "..", "tab\there"], ids=repr)
def test_import_refuses_ids_that_cannot_be_in_a_url(setup: Setup, bad_id: str) -> None:
    """Such ids are refused, never rewritten: comments, attachments and node links refer to them by id."""
    populate(setup)
    before = stored_state(setup.server)
    node_bundle = make_zip({"board.json": board_doc(nodes=[{"id": "ok"}, {"id": bad_id}])})
    edges = [{"id": bad_id, "source": "a", "target": "a"}]
    edge_doc = {"version": 1, "board": {"nodes": [{"id": "a"}], "edges": edges}}
    attempts: list[tuple[dict[str, Any], str]] = [
        ({"data": node_bundle, "content_type": "application/zip"}, "board.nodes.1.id"),
        ({"json": edge_doc}, "board.edges.0.id"),
        ({"json": {"nodes": [{"id": bad_id}]}}, "nodes.0.id"),
    ]
    for suffix in ("/import", "/import/validate"):
        for request, field in attempts:
            response = setup.owner.post(url(setup.project_id, suffix), **request)
            assert response.status_code == 400, (suffix, field)
            body = response.get_json()
            assert body["error"] == "Invalid board data"
            assert [detail["field"] for detail in body["details"]] == [field]
            assert "URL" in body["details"][0]["message"]
    assert stored_state(setup.server) == before


def test_import_bad_json_is_400(setup: Setup) -> None:
    before = stored_state(setup.server)
    for payload in ("{broken", "[]", '{"title": "no nodes"}', '{"nodes": [{"id": "a", "x": NaN}]}'):
        response = setup.owner.post(url(setup.project_id, "/import"), data=payload, content_type="application/json")
        assert response.status_code == 400, payload
    assert stored_state(setup.server) == before


def test_import_over_the_limit_is_413(small: Setup) -> None:
    before = stored_state(small.server)
    padded = make_zip({"board.json": board_doc(), "uploads/pad.bin": random.Random(7).randbytes(3000)})
    assert len(padded) > 2000
    response = small.owner.post(url(small.project_id, "/import"), data=padded, content_type="application/zip")
    assert response.status_code == 413
    multipart = small.owner.post(url(small.project_id, "/import"), data={"file": (io.BytesIO(padded), "b.zip")})
    assert multipart.status_code == 413
    bomb = make_zip({"board.json": board_doc(), "uploads/zeros.bin": b"\0" * 100_000})
    assert len(bomb) < 2000
    response = small.owner.post(url(small.project_id, "/import"), data=bomb, content_type="application/zip")
    assert response.status_code == 413
    assert stored_state(small.server) == before


def test_import_failure_midway_leaves_rows_and_files(setup: Setup, monkeypatch: pytest.MonkeyPatch) -> None:
    populate(setup)
    bundle = export(setup.owner, setup.project_id)
    before = stored_state(setup.server)

    def broken(*_args: Any, **_kwargs: Any) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr("legacy_core.papertrail.routes.replace_edges", broken)
    response = setup.owner.post(url(setup.project_id, "/import"), data=bundle, content_type="application/zip")
    assert response.status_code == 500
    assert stored_state(setup.server) == before


def test_import_access_rules(setup: Setup, client: FlaskClient) -> None:
    bundle = make_zip({"board.json": board_doc()})
    viewer = setup.member("viewer")
    before = stored_state(setup.server)
    for suffix in ("/import", "/import/validate"):
        assert (
            viewer.post(url(setup.project_id, suffix), data=bundle, content_type="application/zip").status_code == 403
        )
        assert (
            client.post(url(setup.project_id, suffix), data=bundle, content_type="application/zip").status_code == 401
        )
        assert setup.owner.post(url("p_nope", suffix), data=bundle, content_type="application/zip").status_code == 404
    assert stored_state(setup.server) == before
    editor = setup.member("editor")
    assert editor.post(url(setup.project_id, "/import"), data=bundle, content_type="application/zip").status_code == 200


def test_import_keeps_known_authors_and_signs_unknown_ones(setup: Setup) -> None:
    author = setup.owner.user["id"]  # type: ignore[attr-defined]
    document = {
        "board": {"nodes": [{"id": "a"}]},
        "comments": [
            {"body": "kept", "authorId": author, "nodeId": "a", "createdAt": "2025-05-01T10:00:00.000Z"},
            {"body": "orphan", "authorId": "u_gone", "nodeId": "deleted-node"},
        ],
    }
    editor = setup.member("editor")
    response = editor.post(url(setup.project_id, "/import"), json=document)
    assert response.status_code == 200
    assert any("missing node" in warning for warning in response.get_json()["warnings"])
    board_id = response.get_json()["board"]["id"]
    comments = editor.get(url(setup.project_id, f"/{board_id}/comments")).get_json()["comments"]
    assert [(item["body"], item["authorId"], item["nodeId"]) for item in comments] == [
        ("kept", author, "a"),
        ("orphan", editor.user["id"], None),  # type: ignore[attr-defined]
    ]
    assert comments[0]["createdAt"] == "2025-05-01T10:00:00.000Z"


EOCD = struct.Struct("<4s4H2LH")


def end_record(data: bytes) -> tuple[bytes, tuple[Any, ...]]:
    """A comment-less zip split into everything before its end record, and that record's fields."""
    return data[: -EOCD.size], EOCD.unpack(data[-EOCD.size :])


def with_counts(data: bytes, on_disk: int, total: int, size: int | None = None) -> bytes:
    """The zip with its end record's entry counts (and central directory size) replaced."""
    body, (sig, disk, cd_disk, _, _, cd_size, offset, comment) = end_record(data)
    return body + EOCD.pack(sig, disk, cd_disk, on_disk, total, cd_size if size is None else size, offset, comment)


def as_zip64(data: bytes, entries: int | None = None) -> bytes:
    """The zip with a Zip64 end record and locator, the classic record saturated as Zip64 writers leave it."""
    body, (_, _, _, count, _, cd_size, cd_offset, _) = end_record(data)
    record = struct.pack("<4sQ2H2L4Q", b"PK\x06\x06", 44, 45, 45, 0, 0, *(2 * [entries or count]), cd_size, cd_offset)
    locator = struct.pack("<4sLQL", b"PK\x06\x07", 0, len(body), 1)
    return body + record + locator + EOCD.pack(b"PK\x05\x06", 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)


def central_directory_only(entries: int, declared: int) -> bytes:
    """A zip of `entries` empty central directory entries (no data) whose end record declares `declared`."""
    header = struct.Struct("<4s6H3L5H2L")
    directory = b"".join(
        header.pack(b"PK\x01\x02", 20, 20, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0) + b"x" for _ in range(entries)
    )
    return directory + EOCD.pack(b"PK\x05\x06", 0, 0, declared, declared, len(directory), 0, 0)


def refuse_zipfile(monkeypatch: pytest.MonkeyPatch) -> None:
    def parse(*_args: Any, **_kwargs: Any) -> Any:
        raise AssertionError("zipfile.ZipFile must not parse a bundle refused by its end record")

    monkeypatch.setattr(zipfile, "ZipFile", parse)  # the module bundle.py uses


GOOD: dict[str, bytes | str] = {"board.json": board_doc(nodes=[{"id": "n1"}]), "uploads/a/f.txt": b"hi"}


@pytest.mark.parametrize("zip64", [False, True], ids=["classic", "zip64"])
def test_zip_end_records_are_read_both_ways(zip64: bool) -> None:
    data = make_zip(GOOD)
    document, files = read_zip(as_zip64(data) if zip64 else data, 10**6)
    assert document["board"]["nodes"] == [{"id": "n1"}]
    assert files == {"uploads/a/f.txt": b"hi"}


@pytest.mark.parametrize(
    "shape",
    [
        lambda data: with_counts(data, MAX_MEMBERS + 1, MAX_MEMBERS + 1),
        lambda data: with_counts(data, 2, 60000),
        lambda data: as_zip64(data, 530_000),
    ],
    ids=["classic", "classic-total", "zip64"],
)
def test_zip_declaring_too_many_members_is_refused_before_parsing(
    monkeypatch: pytest.MonkeyPatch, shape: Callable[[bytes], bytes]
) -> None:
    data = shape(make_zip(GOOD))
    refuse_zipfile(monkeypatch)
    with pytest.raises(BundleError, match=r"^Bundle has \d+ members; at most 10000 are allowed$") as caught:
        read_zip(data, 10**6)
    assert caught.value.status == 400


def test_zip_with_too_many_central_entries_is_refused_whatever_it_declares(monkeypatch: pytest.MonkeyPatch) -> None:
    data = central_directory_only(MAX_MEMBERS + 1, declared=1)
    refuse_zipfile(monkeypatch)
    with pytest.raises(BundleError, match="more than 10000 members; at most 10000 are allowed"):
        read_zip(data, 10**6)


def test_zip_with_an_absurd_central_directory_size_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    data = with_counts(make_zip(GOOD), 2, 2, size=0xFFFFFFF0)
    refuse_zipfile(monkeypatch)
    with pytest.raises(BundleError, match="central directory is 4294967280 bytes; at most"):
        read_zip(data, 10**6)


def test_import_of_a_zip_declaring_a_huge_member_count_is_400(setup: Setup) -> None:
    before = stored_state(setup.server)
    response = setup.owner.post(
        url(setup.project_id, "/import"), data=as_zip64(make_zip(GOOD), 530_000), content_type="application/zip"
    )
    assert response.status_code == 400
    assert response.get_json()["error"] == "Bundle has 530000 members; at most 10000 are allowed"
    assert stored_state(setup.server) == before


def test_import_of_a_zip_with_duplicate_member_names_is_400(setup: Setup) -> None:
    buffer = io.BytesIO()
    with pytest.warns(UserWarning, match="Duplicate name"), zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("board.json", board_doc(title="First"))
        archive.writestr("board.json", board_doc(title="Second"))
    before = stored_state(setup.server)
    response = setup.owner.post(
        url(setup.project_id, "/import"), data=buffer.getvalue(), content_type="application/zip"
    )
    assert response.status_code == 400
    assert response.get_json()["error"] == "Bundle has more than one member named 'board.json'"
    assert stored_state(setup.server) == before
