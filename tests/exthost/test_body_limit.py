"""MAX_CONTENT_LENGTH: every body but the uploads' and imports' is refused past the limit with a clear 413, before it
is read, and stores nothing; legacy and the PaperTrail plugin answer alike, with a Content-Length or chunked."""

from __future__ import annotations

import io
import json

import pytest

from tests.exthost.test_platform import sign_up
from tests.fixtures.twins import REPO_PLUGINS, stored_rows

LIMIT = 2048


@pytest.fixture(params=["legacy", "plugin"])
def platform(request, settings_factory, platform_factory):
    settings = settings_factory(
        PLUGINS_DIR=REPO_PLUGINS, PLUGIN_ENTRY_POINTS=False, FLAGS_POLL_SECONDS=0, MAX_CONTENT_LENGTH=LIMIT
    )
    platform = platform_factory(settings)
    platform.host.enable("papertrail")
    platform.set_mode("papertrail", request.param)
    return platform


def board_of(platform, client):
    project = client.post("/api/projects", json={"name": "Limits", "type": "papertrail"}).get_json()["id"]
    base = f"/api/projects/{project}/papertrail/board"
    board = client.post(base, json={"title": "Limits", "nodes": [], "edges": []}).get_json()["board"]["id"]
    return base, board


def test_body_limit_a_json_body_past_the_limit_is_413_and_stores_nothing(platform):
    alice = sign_up(platform, "alice@example.test")
    base, board = board_of(platform, alice)
    before = stored_rows(platform)
    big = {"id": "n1", "type": "claim", "title": "x" * (LIMIT + 10), "x": 1, "y": 1}
    response = alice.post(f"{base}/{board}/nodes", json=big)
    assert response.status_code == 413
    assert response.get_json() == {"error": "Payload too large"}
    assert stored_rows(platform) == before
    small = {"id": "n1", "type": "claim", "title": "fits", "x": 1, "y": 1}
    assert alice.post(f"{base}/{board}/nodes", json=small).status_code == 201


def test_body_limit_a_chunked_body_is_counted_as_it_is_read(platform):
    alice = sign_up(platform, "alice@example.test")
    base, board = board_of(platform, alice)
    before = stored_rows(platform)
    body = json.dumps({"id": "n1", "type": "claim", "title": "y" * (LIMIT + 10), "x": 1, "y": 1}).encode()
    response = alice.post(
        f"{base}/{board}/nodes",
        input_stream=io.BytesIO(body),
        headers={"Content-Type": "application/json", "Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert response.status_code == 413, response.get_data()
    assert stored_rows(platform) == before


def test_body_limit_uploads_keep_their_own_larger_limit(platform):
    alice = sign_up(platform, "alice@example.test")
    base, board = board_of(platform, alice)
    data = b"%PDF-1.4 " + b"z" * (LIMIT * 3)
    response = alice.post(f"{base}/{board}/attachments/upload", data={"file": (io.BytesIO(data), "big.pdf")})
    assert response.status_code == 201, response.get_json()


def test_body_limit_pages_get_the_error_page(platform):
    response = platform.test_client().post(
        "/login", data={"email": "a@example.test", "password": "p" * (LIMIT + 10)}, headers={"Accept": "text/html"}
    )
    assert response.status_code == 413
    assert b"Payload too large" in response.get_data()
