"""Writers racing on one board (snapshot saves, imports, items with one id) lose with 409, never 500, on both DBs.

Every write path locks the board first (`lock_board`), so the end state is always one writer's whole work: one
snapshot's nodes, one import's attachments, and exactly one folder on disk per attachment row.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from threading import Barrier
from typing import Any

import pytest
from sqlalchemy import select
from werkzeug.test import TestResponse

from exthost.deploy import upgrade_schema
from legacy_core import Server, Settings, create_server
from legacy_core.models import PtAttachment, PtComment, PtNode
from tests.fixtures.app import BUNDLED_PLUGINS, PASSWORD, TEST_ARGON2_KIB

THREADS = 6
ROUNDS = 2
NAMES = [f"n{n}" for n in range(20)]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def racing_server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Server]:
    sqlite_url = f"sqlite:///{tmp_path / 'race.db'}"
    url = sqlite_url if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    server = create_server(
        Settings(_env_file=None, DATABASE_URL=url, DATA_DIR=tmp_path / "data"), argon2_memory_kib=TEST_ARGON2_KIB
    )
    upgrade_schema(server.services.engine, BUNDLED_PLUGINS)
    yield server
    server.services.engine.dispose()


class Board:
    """A signed-in owner of a PaperTrail project whose board exists."""

    def __init__(self, server: Server):
        self.server = server
        self.owner = server.app.test_client()
        body = {"email": "owner@example.test", "password": PASSWORD}
        assert self.owner.post("/register", json=body).status_code == 201
        created = self.owner.post("/api/projects", json={"name": "Race", "type": "papertrail"})
        self.project_id = created.get_json()["id"]
        self.url = f"/api/projects/{self.project_id}/papertrail/board"
        self.id = self.owner.get(self.url).get_json()["board"]["id"]

    def items(self, suffix: str) -> str:
        return f"{self.url}/{self.id}/{suffix}"

    def board(self) -> dict[str, Any]:
        response = self.owner.get(self.url)
        assert response.status_code == 200
        return dict(response.get_json()["board"])

    def folders(self) -> set[str]:
        root = self.server.services.settings.papertrail_root / self.project_id
        return {path.name for path in root.iterdir()} if root.exists() else set()

    def attachment_ids(self) -> set[str]:
        with self.server.services.session_factory() as db:
            return set(db.scalars(select(PtAttachment.id).where(PtAttachment.board_id == self.id)))


@pytest.fixture
def board(racing_server: Server) -> Board:
    return Board(racing_server)


def race(calls: list[Callable[[], TestResponse]]) -> list[TestResponse]:
    barrier = Barrier(len(calls))

    def run(call: Callable[[], TestResponse]) -> TestResponse:
        barrier.wait()
        return call()

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


def statuses(responses: list[TestResponse]) -> Counter[int]:
    return Counter(response.status_code for response in responses)


def snapshot(version: int) -> dict[str, Any]:
    """Nodes a, b, c and 20 more (titled after `version`) with edges a->b->c; every version uses the same ids.

    No board title: setting one would update the board row first, which serialises writers by luck.
    """
    return {
        "nodes": [{"id": name, "title": f"{name}{version}"} for name in ["a", "b", "c", *NAMES]],
        "edges": [{"id": "ab", "source": "a", "target": "b"}, {"id": "bc", "source": "b", "target": "c"}],
    }


def bundle(version: int, attachments: int = 2) -> bytes:
    """An export-like zip: snapshot `version` and `attachments` files, each linked to node a."""
    items = [{"id": f"x{n}", "filename": f"v{version}-{n}.txt", "nodeId": "a"} for n in range(attachments)]
    document = {"version": 1, "board": snapshot(version), "attachments": items}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("board.json", json.dumps(document))
        for item in items:
            archive.writestr(f"uploads/{item['id']}/{item['filename']}", f"file of v{version}")
    return buffer.getvalue()


def assert_one_snapshot(board: dict[str, Any]) -> int:
    """The board holds exactly one version's nodes and edges; that version."""
    version = int(board["nodes"][0]["title"][1:])
    assert board["nodes"] == [
        {**node, "title": f"{name}{version}"}
        for node, name in zip(board["nodes"], ["a", "b", "c", *NAMES], strict=True)
    ]
    assert [edge["id"] for edge in board["edges"]] == ["ab", "bc"]
    return version


def test_racing_snapshot_saves_and_patches_leave_one_snapshot(board: Board) -> None:
    for round_ in range(ROUNDS):
        calls: list[Callable[[], TestResponse]] = []
        for n in range(THREADS):
            version = round_ * THREADS + n
            method = board.owner.post if n % 2 else board.owner.patch
            calls.append(partial(method, board.url, json=snapshot(version)))
        responses = race(calls)
        assert statuses(responses) == Counter({200: THREADS})
        final = board.board()
        assert assert_one_snapshot(final) in range(round_ * THREADS, (round_ + 1) * THREADS)
        assert final["stats"]["nodes"] == 3 + len(NAMES)


def test_racing_imports_leave_one_import_and_a_folder_per_attachment(board: Board) -> None:
    for round_ in range(ROUNDS):
        versions = [round_ * THREADS + n for n in range(THREADS)]
        post = partial(board.owner.post, f"{board.url}/import", content_type="application/zip")
        responses = race([partial(post, data=bundle(version)) for version in versions])
        assert statuses(responses) == Counter({200: THREADS})
        final = board.board()
        version = assert_one_snapshot(final)
        assert version in versions
        assert final["stats"]["attachments"] == 2
        ids = board.attachment_ids()
        assert board.folders() == ids
        with board.server.services.session_factory() as db:
            names = set(db.scalars(select(PtAttachment.filename).where(PtAttachment.board_id == board.id)))
        assert names == {f"v{version}-0.txt", f"v{version}-1.txt"}
        root = board.server.services.settings.papertrail_root / board.project_id
        assert {path.read_text() for path in root.rglob("*.txt")} == {f"file of v{version}"}


def test_racing_imports_and_uploads_keep_rows_and_folders_in_step(board: Board) -> None:
    def upload(n: int) -> TestResponse:
        data = {"file": (io.BytesIO(b"uploaded"), f"up{n}.txt")}
        return board.owner.post(board.items("attachments/upload"), data=data)

    def import_(version: int) -> TestResponse:
        return board.owner.post(f"{board.url}/import", data=bundle(version, 1), content_type="application/zip")

    responses = race([partial(upload if n % 2 else import_, n) for n in range(THREADS)])
    assert sorted(statuses(responses).elements()) == sorted([200] * (THREADS // 2) + [201] * (THREADS // 2))
    assert board.folders() == board.attachment_ids()


@pytest.mark.parametrize("kind", ["nodes", "edges"])
def test_racing_creations_of_one_item_id_give_one_201_and_409s(board: Board, kind: str) -> None:
    assert board.owner.post(board.url, json={"nodes": [{"id": "a"}, {"id": "b"}]}).status_code == 200
    for round_ in range(ROUNDS):
        item_id = f"same{round_}"
        body = {"id": item_id, "source": "a", "target": "b"} if kind == "edges" else {"id": item_id}
        responses = race([partial(board.owner.post, board.items(kind), json=body) for _ in range(THREADS)])
        assert statuses(responses) == Counter({201: 1, 409: THREADS - 1})
        listed = board.owner.get(board.items(kind)).get_json()[kind]
        assert [item["id"] for item in listed].count(item_id) == 1


def test_racing_node_deletes_and_comments_leave_no_dangling_node_id(board: Board) -> None:
    assert board.owner.post(board.url, json=snapshot(0)).status_code == 200

    def comment(n: int) -> TestResponse:
        return board.owner.post(board.items("comments"), json={"body": f"c{n}", "nodeId": "a"})

    def delete() -> TestResponse:
        return board.owner.delete(board.items("nodes/a"))

    responses = race([delete, *(partial(comment, n) for n in range(1, THREADS))])
    # A comment that came after the delete names a node that is gone: 400, never a comment left on it.
    assert set(statuses(responses)) <= {201, 204, 400}
    with board.server.services.session_factory() as db:
        dangling = db.scalars(
            select(PtComment.id).where(PtComment.node_id.is_not(None), PtComment.node_id.not_in(select(PtNode.id)))
        )
        assert list(dangling) == []
