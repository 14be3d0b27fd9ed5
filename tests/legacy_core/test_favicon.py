"""The site icon: every page links it and `/favicon.ico`, which browsers ask for on their own, answers it (a missing
one logged a 404 on every page load)."""

from __future__ import annotations

from flask.testing import FlaskClient

from legacy_core import Server


def test_favicon_is_served_at_the_path_browsers_ask_for(client: FlaskClient) -> None:
    for path in ("/favicon.ico", "/static/favicon.svg"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert response.mimetype == "image/svg+xml"
        assert response.get_data().startswith(b"<svg")


def test_favicon_is_linked_by_every_page(server: Server) -> None:
    page = server.app.test_client().get("/login").get_data(as_text=True)
    assert '<link rel="icon" type="image/svg+xml" href="/static/favicon.svg">' in page
