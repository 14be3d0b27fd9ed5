"""PaperTrail parity of attachments: uploads (names, types, limits) and the access-checked file route /uploads/.

How the comparison works, and why the plugin side cannot fall back to legacy code: see test_papertrail_parity.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import pytest

from tests.fixtures.twins import Twins, assert_same_answer
from tests.plugins.test_papertrail_parity import TEAPOT, Case, Pair, board_url, form, make_pair, new_case


class Files(Case):
    """A case whose board has one node, "doc"."""

    board_id = ""

    @property
    def upload_url(self) -> str:
        return board_url(self.project_id, f"/{self.board_id}/attachments/upload")

    def upload(self, data: bytes, name: str, status: int = 201, user: str = "alice", **fields: Any) -> Any:
        return self.pair.json(user, "POST", self.upload_url, status, **form({"file": (data, name), **fields}))


def new_files(pair: Pair) -> Files:
    base = new_case(pair)
    files = Files(pair, base.project_id)
    saved = pair.json("alice", "POST", board_url(files.project_id), json={"nodes": [{"id": "doc"}]})
    files.board_id = saved["board"]["id"]
    return files


@pytest.fixture
def files(twins_factory: Callable[..., Twins]) -> Files:
    return new_files(make_pair(twins_factory))


@pytest.fixture
def small(twins_factory: Callable[..., Twins]) -> Files:
    """Upload and import limits of 100 bytes."""
    return new_files(make_pair(twins_factory, PAPERTRAIL_UPLOAD_MAX_BYTES=100, PAPERTRAIL_IMPORT_MAX_BYTES=100))


def test_upload_stores_the_same_row_and_file(files: Files) -> None:
    body = files.upload(b"%PDF-1.4 evidence", "Bank statement.pdf", nodeId="doc")
    assert body["attachment"]["filename"] == "Bank_statement.pdf"
    files.pair.json("alice", "GET", board_url(files.project_id))
    files.pair.same_state()


UNSAFE_NAMES = [
    "../../../etc/passwd",
    "..\\..\\x.sh",
    "/tmp/abs.txt",
    "..",
    "",
    "\u00dcn\u00efc\u00f6d\u00e9 na\u00efve r\u00e9sum\u00e9.txt",
    "a" * 200 + ".tar.gz",
    "b" * 200 + ".averyveryverylongextension",
    "-._weird-.",
    "x.unknownext",
]


def test_upload_names_are_made_safe_the_same_way(files: Files) -> None:
    for name in UNSAFE_NAMES:
        assert files.upload(b"data", name)["attachment"]["filename"], name
    files.pair.same_state()


def test_upload_content_types(files: Files) -> None:
    files.upload(b"{}", "data.unknownext")
    for declared in ("application/x-custom", "not a type", "Text/Plain; charset=utf-8", ""):
        files.pair.json("alice", "POST", files.upload_url, 201, **form({"file": (b"{}", "blob", declared)}))
    files.pair.same_state()


def test_upload_limits_are_counted(small: Files) -> None:
    small.upload(b"x" * 100, "exact.txt")
    small.upload(b"x" * 101, "over.txt", 413)
    small.upload(b"x" * 200_000, "way-over.txt", 413)  # refused by the form parser before anything is read
    small.pair.same_state()


def multipart_text(size: int) -> bytes:
    return (
        '--XyZ\r\nContent-Disposition: form-data; name="file"; filename="s.txt"\r\n'
        f"Content-Type: text/plain\r\n\r\n{'y' * size}\r\n--XyZ--\r\n"
    ).encode()


@pytest.mark.parametrize(
    "environ",
    [{"wsgi.input_terminated": True}, {"CONTENT_LENGTH": "60"}],
    ids=["no-length", "understated-length"],
)
def test_upload_without_or_with_a_false_content_length(small: Files, environ: dict[str, Any]) -> None:
    legacy, plugin = send_streams(small, "multipart/form-data; boundary=XyZ", environ)
    assert plugin.status_code != TEAPOT
    assert_same_answer(f"POST {small.upload_url} (streamed)", legacy, plugin)
    assert legacy.status_code in (400, 413)
    small.pair.same_state()


def send_streams(files: Files, content_type: str, environ: dict[str, Any]) -> tuple[Any, Any]:
    """The same streamed upload on both sides (a stream is consumed by one request, so each side gets its own)."""
    answers = []
    for side in files.pair.twins.sides():
        client = side.clients["alice"]
        answers.append(
            client.open(
                files.upload_url,
                method="POST",
                input_stream=io.BytesIO(multipart_text(5000)),
                content_type=content_type,
                environ_overrides=environ,
            )
        )
    return answers[0], answers[1]


def test_upload_refusals_change_nothing(files: Files) -> None:
    files.pair.user("vera")
    files.pair.share("alice", files.project_id, "vera", "viewer")
    files.pair.json("alice", "POST", files.upload_url, 400, **form({"other": (b"x", "x.txt")}))
    files.pair.json("alice", "POST", files.upload_url, 400, json={"file": "x"})
    files.upload(b"x", "x.txt", 400, nodeId="ghost")
    files.upload(b"x", "x.txt", 400, nodeId="doc\x00")
    files.upload(b"x", "x.txt", 403, user="vera")
    files.pair.json(None, "POST", files.upload_url, 401, **form({"file": (b"x", "x.txt")}))
    wrong = board_url(files.project_id, "/b_nope/attachments/upload")
    assert files.pair.json("alice", "POST", wrong, 404, **form({"file": (b"x", "x.txt")})) == {
        "error": "Board not found"
    }
    files.pair.json("alice", "POST", board_url("p_nope", f"/{files.board_id}/attachments/upload"), 404)
    files.upload(b"x", "after-refusals.txt")  # ids and clock still in step
    files.pair.same_state()


def test_files_are_served_to_viewers_only(files: Files) -> None:
    attachment = files.upload(b"hello", "note.txt")["attachment"]
    files.pair.user("vera")
    files.pair.share("alice", files.project_id, "vera", "viewer")
    files.pair.user("olga")
    for user in ("alice", "vera", "olga", None):
        files.pair.exact(user, "GET", attachment["url"])
    files.pair.exact(None, "GET", attachment["url"] + "?download=1")
    files.pair.same_state()


def test_files_wrong_paths_are_404(files: Files) -> None:
    attachment = files.upload(b"hello", "note.txt")["attachment"]
    other_project = files.pair.project("alice", name="Other")
    blog_project = files.pair.project("alice", name="Blog", kind="blog")
    for url in (
        f"/uploads/{files.project_id}/{attachment['id']}/other.txt",
        f"/uploads/{other_project}/{attachment['id']}/note.txt",
        f"/uploads/{blog_project}/{attachment['id']}/note.txt",
        f"/uploads/{files.project_id}/a_missing/note.txt",
        f"/uploads/{files.project_id}/{attachment['id']}/..%2F..%2Fsovereign.db",
        f"/uploads/{files.project_id}/../../sovereign.db",
        f"/uploads/{files.project_id}/{attachment['id']}",
        "/uploads/p_missing/a_1/x.txt",
        "/uploads/%20/a_1/x.txt",
        f"/uploads/{files.project_id}/a%00/x.txt",
    ):
        files.pair.exact("alice", "GET", url)
        files.pair.exact("alice", "GET", url, headers={"Content-Type": "application/json"})
    files.pair.exact("alice", "POST", attachment["url"])
    files.pair.same_state()


def test_files_are_inline_or_downloads_with_the_same_headers(files: Files) -> None:
    for name in ("page.html", "logo.svg", "x.js", "shot.png", "clip.mp4", "doc.pdf", "raw.bin"):
        attachment = files.upload(b"<script>alert(1)</script>", name)["attachment"]
        response = files.pair.exact("alice", "GET", attachment["url"])
        assert response.headers["X-Content-Type-Options"] == "nosniff", name


def test_files_whose_disk_copy_vanished_are_404(files: Files) -> None:
    attachment = files.upload(b"hello", "note.txt")["attachment"]
    for side in files.pair.twins.sides():
        root = side.platform.services.settings.papertrail_root
        (root / files.project_id / attachment["id"] / "note.txt").unlink()
    files.pair.exact("alice", "GET", attachment["url"])
    # The export leaves such an attachment out of the bundle altogether.
    files.pair.exact("alice", "GET", board_url(files.project_id, "/export"))
    files.pair.same_state()


def test_files_go_with_the_board(files: Files) -> None:
    attachment = files.upload(b"hello", "note.txt")["attachment"]
    files.pair.exact("alice", "DELETE", board_url(files.project_id))
    files.pair.exact("alice", "GET", attachment["url"])
    files.pair.same_state()
