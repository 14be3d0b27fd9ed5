"""PaperTrail attachments: upload limits and names, files on disk, and access-checked serving under /uploads/."""

from __future__ import annotations

import io
import itertools
from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient

from legacy_core import Server
from legacy_core.models import PtAttachment, PtBoard, PtComment, PtEdge, PtNode, row_dict
from legacy_core.settings import Settings
from tests.fixtures.app import Api


def stored_state(server: Server) -> dict[str, Any]:
    """Every PaperTrail row and every file under the uploads root: what a failed request must leave unchanged."""
    rows: dict[str, Any] = {}
    with server.services.session_factory() as db:
        for model in (PtBoard, PtNode, PtEdge, PtComment, PtAttachment):
            rows[model.__tablename__] = sorted((row_dict(row) for row in db.query(model)), key=repr)
    root = server.services.settings.papertrail_root
    files = {str(path.relative_to(root)): path.read_bytes() for path in root.rglob("*") if path.is_file()}
    return {"rows": rows, "files": files}


class Setup:
    def __init__(self, server: Server):
        self.server = server
        self.api = Api(server, itertools.count(1))
        self.owner = self.api.user()
        self.project_id = self.api.project(self.owner)
        response = self.owner.post(f"/api/projects/{self.project_id}/papertrail/board", json={"nodes": [{"id": "doc"}]})
        self.board_id = response.get_json()["board"]["id"]

    @property
    def upload_url(self) -> str:
        return f"/api/projects/{self.project_id}/papertrail/board/{self.board_id}/attachments/upload"

    def upload(self, client: FlaskClient | None, data: bytes, name: str, **form: Any) -> Any:
        return (client or self.owner).post(self.upload_url, data={"file": (io.BytesIO(data), name), **form})

    def member(self, role: str) -> FlaskClient:
        client = self.api.user()
        self.api.share(self.owner, self.project_id, client, role)
        return client


@pytest.fixture
def setup(server: Server) -> Setup:
    return Setup(server)


@pytest.fixture
def small(server_factory: Callable[..., Server], settings_factory: Callable[..., Settings]) -> Setup:
    """A server whose upload and import limits are 100 bytes."""
    settings = settings_factory(PAPERTRAIL_UPLOAD_MAX_BYTES=100, PAPERTRAIL_IMPORT_MAX_BYTES=100)
    return Setup(server_factory(settings))


def test_upload_stores_file_and_answers_201(setup: Setup) -> None:
    response = setup.upload(None, b"%PDF-1.4 evidence", "Bank statement.pdf", nodeId="doc")
    assert response.status_code == 201
    body = response.get_json()
    assert body["ok"] is True
    attachment = body["attachment"]
    assert attachment["filename"] == "Bank_statement.pdf"
    assert attachment["contentType"] == "application/pdf"
    assert attachment["size"] == len(b"%PDF-1.4 evidence")
    assert attachment["nodeId"] == "doc"
    assert attachment["url"] == f"/uploads/{setup.project_id}/{attachment['id']}/Bank_statement.pdf"
    root = setup.server.services.settings.papertrail_root
    assert (root / setup.project_id / attachment["id"] / "Bank_statement.pdf").read_bytes() == b"%PDF-1.4 evidence"
    board = setup.owner.get(f"/api/projects/{setup.project_id}/papertrail/board").get_json()["board"]
    assert board["stats"]["attachments"] == 1


@pytest.mark.parametrize(
    ("name", "stored"),
    [("../../../etc/passwd", "passwd"), ("..\\..\\x.sh", "x.sh"), ("/tmp/abs.txt", "abs.txt"), ("..", "file")],
    ids=["dotdot", "backslash", "absolute", "only-dots"],
)
def test_upload_filenames_cannot_leave_the_folder(setup: Setup, name: str, stored: str) -> None:
    response = setup.upload(None, b"data", name)
    assert response.status_code == 201
    attachment = response.get_json()["attachment"]
    assert attachment["filename"] == stored
    root = setup.server.services.settings.papertrail_root.resolve()
    files = [path.resolve() for path in root.rglob("*") if path.is_file()]
    assert files == [root / setup.project_id / attachment["id"] / stored]


def test_upload_limit_is_counted_not_declared(small: Setup) -> None:
    assert small.upload(None, b"x" * 100, "exact.txt").status_code == 201
    before = stored_state(small.server)
    for size in (101, 200_000):
        response = small.upload(None, b"x" * size, "big.txt")
        assert response.status_code == 413
        assert "error" in response.get_json()
    assert stored_state(small.server) == before


def test_upload_without_content_length_is_still_counted(small: Setup) -> None:
    before = stored_state(small.server)
    boundary = "XyZ"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="s.txt"\r\n'
        f"Content-Type: text/plain\r\n\r\n{'y' * 5000}\r\n--{boundary}--\r\n"
    ).encode()
    response = small.owner.post(
        small.upload_url,
        input_stream=io.BytesIO(body),
        content_type=f"multipart/form-data; boundary={boundary}",
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert response.status_code == 413
    assert stored_state(small.server) == before


def test_upload_with_understated_content_length_stores_nothing_extra(small: Setup) -> None:
    before = stored_state(small.server)
    boundary = "XyZ"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="s.txt"\r\n'
        f"Content-Type: text/plain\r\n\r\n{'y' * 5000}\r\n--{boundary}--\r\n"
    ).encode()
    response = small.owner.post(
        small.upload_url,
        input_stream=io.BytesIO(body),
        content_type=f"multipart/form-data; boundary={boundary}",
        # Through the environ: the test client's `content_length=` is replaced by the stream's real length.
        environ_overrides={"CONTENT_LENGTH": "60"},
    )
    # Only the declared 60 bytes are read, which end inside the part headers, so no file part arrives at all.
    assert response.status_code == 400
    assert response.get_json() == {"error": "Missing file: send multipart/form-data with the file in the field 'file'"}
    assert stored_state(small.server) == before


def test_upload_errors_change_nothing(setup: Setup, api: Api, client: FlaskClient) -> None:
    before = stored_state(setup.server)
    missing_field = setup.owner.post(setup.upload_url, data={"other": (io.BytesIO(b"x"), "x.txt")})
    assert missing_field.status_code == 400
    bad_node = setup.upload(None, b"x", "x.txt", nodeId="ghost")
    assert bad_node.status_code == 400
    assert bad_node.get_json()["details"][0]["field"] == "nodeId"
    assert setup.upload(setup.member("viewer"), b"x", "x.txt").status_code == 403
    assert setup.upload(client, b"x", "x.txt").status_code == 401
    wrong_board = setup.owner.post(
        f"/api/projects/{setup.project_id}/papertrail/board/b_nope/attachments/upload",
        data={"file": (io.BytesIO(b"x"), "x.txt")},
    )
    assert wrong_board.get_json() == {"error": "Board not found"}
    assert stored_state(setup.server) == before


def test_uploads_served_to_viewers_only(setup: Setup, client: FlaskClient) -> None:
    attachment = setup.upload(None, b"hello", "note.txt").get_json()["attachment"]
    owner_view = setup.owner.get(attachment["url"])
    assert owner_view.status_code == 200
    assert owner_view.data == b"hello"
    assert owner_view.mimetype == "text/plain"
    assert owner_view.headers["X-Content-Type-Options"] == "nosniff"
    assert setup.member("viewer").get(attachment["url"]).data == b"hello"
    outsider = setup.api.user()
    assert outsider.get(attachment["url"]).status_code == 404
    anonymous = client.get(attachment["url"])
    assert anonymous.status_code == 302
    assert anonymous.headers["Location"].startswith("/login?return_to=/uploads/")


def test_uploads_wrong_paths_are_404(setup: Setup) -> None:
    attachment = setup.upload(None, b"hello", "note.txt").get_json()["attachment"]
    other_project = setup.api.project(setup.owner, name="Other")
    for url in (
        f"/uploads/{setup.project_id}/{attachment['id']}/other.txt",
        f"/uploads/{other_project}/{attachment['id']}/note.txt",
        f"/uploads/{setup.project_id}/a_missing/note.txt",
        f"/uploads/{setup.project_id}/{attachment['id']}/..%2F..%2Fsovereign.db",
        f"/uploads/{setup.project_id}/../../sovereign.db",
        "/uploads/p_missing/a_1/x.txt",
    ):
        assert setup.owner.get(url).status_code == 404, url


@pytest.mark.parametrize(
    ("name", "content_type"),
    [("page.html", "text/html"), ("logo.svg", "image/svg+xml"), ("x.js", "text/javascript")],
    ids=["html", "svg", "script"],
)
def test_uploads_active_content_is_a_download(setup: Setup, name: str, content_type: str) -> None:
    attachment = setup.upload(None, b"<script>alert(1)</script>", name).get_json()["attachment"]
    response = setup.owner.get(attachment["url"])
    assert response.status_code == 200
    assert response.mimetype == content_type
    assert response.headers["Content-Disposition"].startswith("attachment")
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_uploads_images_show_inline(setup: Setup) -> None:
    attachment = setup.upload(None, b"\x89PNG\r\n", "shot.png").get_json()["attachment"]
    response = setup.owner.get(attachment["url"])
    assert response.mimetype == "image/png"
    assert response.headers["Content-Disposition"].startswith("inline")


def test_uploads_gone_with_the_board(setup: Setup) -> None:
    attachment = setup.upload(None, b"hello", "note.txt").get_json()["attachment"]
    assert setup.owner.delete(f"/api/projects/{setup.project_id}/papertrail/board").status_code == 204
    assert setup.owner.get(attachment["url"]).status_code == 404
    assert not (setup.server.services.settings.papertrail_root / setup.project_id).exists()


def test_uploads_unknown_extension_keeps_declared_type(setup: Setup) -> None:
    response = setup.owner.post(
        setup.upload_url, data={"file": (io.BytesIO(b"{}"), "data.unknownext", "application/x-custom")}
    )
    assert response.get_json()["attachment"]["contentType"] == "application/x-custom"
    weird = setup.owner.post(setup.upload_url, data={"file": (io.BytesIO(b"{}"), "blob", "not a type")})
    assert weird.get_json()["attachment"]["contentType"] == "application/octet-stream"


def test_stored_state_sees_files(setup: Setup) -> None:
    setup.upload(None, b"abc", "a.txt")
    assert list(stored_state(setup.server)["files"].values()) == [b"abc"]


def linked_nodes(setup: Setup) -> dict[str, list[str]]:
    """The node ids that the board's comments and attachments point at."""
    with setup.server.services.session_factory() as db:
        return {
            "comments": sorted((row.node_id or "-" for row in db.query(PtComment)), key=str),
            "attachments": sorted((row.node_id or "-" for row in db.query(PtAttachment)), key=str),
        }


@pytest.mark.parametrize("how", ["delete", "post", "patch"])
def test_a_node_gone_unlinks_its_comments_and_attachments(setup: Setup, how: str) -> None:
    board_url = f"/api/projects/{setup.project_id}/papertrail/board"
    items_url = f"{board_url}/{setup.board_id}"
    assert setup.owner.post(board_url, json={"nodes": [{"id": "doc"}, {"id": "keep"}]}).status_code == 200
    for node_id in ("doc", "keep"):
        assert setup.owner.post(f"{items_url}/comments", json={"body": "b", "nodeId": node_id}).status_code == 201
        assert setup.upload(None, b"x", "f.txt", nodeId=node_id).status_code == 201
    if how == "delete":
        assert setup.owner.delete(f"{items_url}/nodes/doc").status_code == 204
    else:
        method = setup.owner.post if how == "post" else setup.owner.patch
        assert method(board_url, json={"nodes": [{"id": "keep"}]}).status_code == 200
    assert linked_nodes(setup) == {"comments": ["-", "keep"], "attachments": ["-", "keep"]}
    # A new node of the old id starts with nothing attached.
    assert setup.owner.post(f"{items_url}/nodes", json={"id": "doc"}).status_code == 201
    assert setup.owner.get(f"{items_url}/comments?nodeId=doc").get_json()["comments"] == []
    assert linked_nodes(setup) == {"comments": ["-", "keep"], "attachments": ["-", "keep"]}
