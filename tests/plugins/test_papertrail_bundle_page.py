"""The board page's export and import controls in headless chromium, on legacy and on the PaperTrail plugin: the
export link downloads the board's zip bundle, the import form checks a bundle, then replaces the board with it (a
refused bundle changes nothing), and a viewer gets the export without the import."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from exthost.platform import Platform
from legacy_core import Settings
from tests.fixtures.app import PASSWORD
from tests.fixtures.browser import Browser, Page
from tests.legacy_core.test_web_pages import sign_in, wait_settled

REPO = Path(__file__).resolve().parents[2]
BUNDLE = {
    "board": {
        "title": "Imported in the browser",
        "nodes": [
            {"id": "a", "type": "note", "title": "First", "x": 0, "y": 0, "tags": ["imported"]},
            {"id": "b", "type": "text", "title": "Second", "x": 300, "y": 0},
            {"id": "c", "type": "quote", "title": "Third", "x": 0, "y": 200},
        ],
        "edges": [{"id": "ab", "source": "a", "target": "b", "label": "leads to"}],
    }
}


@contextmanager
def served(platform: Platform) -> Iterator[str]:
    http = make_server("127.0.0.1", 0, platform, threaded=True)
    thread = threading.Thread(target=http.serve_forever, name="live-platform", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{http.server_port}"
    finally:
        http.shutdown()
        thread.join()
        http.server_close()


def _choose_file(page: Page, name: str, text: str) -> None:
    """Put a file into the import form's file input, as a person picking one would."""
    page.evaluate(
        "(() => { const t = new DataTransfer();"
        f" t.items.add(new File([{json.dumps(text)}], {json.dumps(name)}, {{type: 'application/json'}}));"
        " document.querySelector('#import-board input[type=file]').files = t.files; })()"
    )


def _status(page: Page) -> str:
    return str(
        page.wait_for(
            "(() => { const s = document.querySelector('#import-board .status').textContent;"
            " return /^(Imported|Not imported)/.test(s) && s; })()"
        )
    )


@pytest.mark.browser
@pytest.mark.parametrize("side", ["legacy", "plugin"])
def test_board_page_exports_and_imports_a_bundle(
    side: str,
    settings_factory: Callable[..., Settings],
    platform_factory: Callable[..., Platform],
    browser: Browser,
    tmp_path: Path,
) -> None:
    screenshots = tmp_path
    settings = settings_factory(
        PLUGIN_ENTRY_POINTS=False, PLUGINS_DIR=REPO / "plugins", PLUGIN_POLL_SECONDS=0, FLAGS_POLL_SECONDS=0
    )
    platform = platform_factory(settings)
    platform.host.enable("papertrail")
    if side == "plugin":
        platform.set_mode("papertrail", "plugin")
    owner = platform.test_client()
    assert owner.post("/register", json={"email": "owner@example.test", "password": PASSWORD}).status_code == 201
    project = owner.post("/api/projects", json={"name": "Harbour", "type": "papertrail"}).get_json()["id"]
    board_api = f"/api/projects/{project}/papertrail/board"
    owner.post(board_api, json={"nodes": [{"id": "old", "title": "Before the import"}]})
    viewer = platform.test_client()
    assert viewer.post("/register", json={"email": "viewer@example.test", "password": PASSWORD}).status_code == 201
    shared = owner.post(f"/api/projects/{project}/shares", json={"email": "viewer@example.test", "role": "viewer"})
    assert shared.status_code == 201, shared.get_json()

    with served(platform) as base:
        page = browser.page()
        page.goto(f"{base}/projects/{project}/board")
        sign_in(page, "owner@example.test")
        assert wait_settled(page, "board-app") == "ready"

        # Export: a plain link to the bundle, which the browser downloads.
        href = page.evaluate("document.getElementById('export-board').getAttribute('href')")
        assert href == f"{board_api}/export"
        assert page.evaluate("document.getElementById('export-board').hasAttribute('download')")
        status, kind, head = page.evaluate(
            "fetch(document.getElementById('export-board').href).then(async r => "
            "[r.status, r.headers.get('content-type'), [...new Uint8Array(await r.arrayBuffer()).slice(0, 2)]])"
        )
        assert (status, kind, head) == (200, "application/zip", [0x50, 0x4B])  # "PK": a zip

        # A bundle that is not one is refused, and the board stays as it was.
        _choose_file(page, "broken.json", '{"board": "nope"}')
        page.evaluate("document.getElementById('import-board').requestSubmit()")
        assert _status(page).startswith("Not imported: ")
        assert [n["id"] for n in owner.get(board_api).get_json()["board"]["nodes"]] == ["old"]

        # A good one replaces the board, and the page draws it.
        _choose_file(page, "bundle.json", json.dumps(BUNDLE))
        page.evaluate("document.getElementById('import-board').requestSubmit()")
        assert _status(page) == "Imported: 3 nodes, 1 edge, 0 comments, 0 attachments, 1 tag."
        assert page.wait_for("document.getElementById('board-app').dataset.nodeCount === '3'")
        stored = owner.get(board_api).get_json()["board"]
        assert stored["title"] == "Imported in the browser" and len(stored["edges"]) == 1
        assert sorted(n["title"] for n in stored["nodes"]) == ["First", "Second", "Third"]
        assert page.exceptions() == []
        page.screenshot(screenshots / f"board-{side}.png")

        # A viewer can export, not import.
        other = browser.page()
        other.goto(f"{base}/logout")
        other.goto(f"{base}/projects/{project}/board")
        sign_in(other, "viewer@example.test")
        assert wait_settled(other, "board-app") == "ready"
        assert other.evaluate("!!document.getElementById('export-board') && !document.getElementById('import-board')")

    if side == "plugin":  # every answer came from the plugin: none fell back to legacy
        platform.shadow.drain()
        assert [c for c in platform.results.counts() if c["outcome"].startswith("fallback")] == []
