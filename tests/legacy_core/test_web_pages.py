"""The server-rendered pages: sign-in, projects, PaperTrail board, blog list and editor; Flask client and chromium."""

from __future__ import annotations

import itertools
import struct
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest
from flask.testing import FlaskClient
from hypothesis import given
from hypothesis import strategies as st
from markupsafe import escape

from legacy_core import Server
from tests.fixtures.app import PASSWORD, Api
from tests.fixtures.browser import Browser, Page, dump_dom
from tests.fixtures.gitremote import GitRemote

COOKIE = "svg_session"
XSS = '<script>alert("pwned")</script>'
PAGE_PATHS = [
    "/projects",
    "/projects/p_any",
    "/projects/p_any/board",
    "/projects/p_any/blog",
    "/projects/p_any/blog/new",
    "/projects/p_any/blog/edit/hello.md",
]


def html(response) -> str:
    return response.get_data(as_text=True)


def form_login(client: FlaskClient, email: str, password: str = PASSWORD, return_to: str | None = None):
    data = {"email": email, "password": password}
    if return_to is not None:
        data["return_to"] = return_to
    return client.post("/login", data=data)


def signed_in(server: Server, email: str) -> FlaskClient:
    """A client signed in as `email`, registering the account on first use (hypothesis reuses one server)."""
    client = server.app.test_client()
    response = client.post("/register", json={"email": email, "password": PASSWORD})
    if response.status_code == 409:
        response = client.post("/login", json={"email": email, "password": PASSWORD})
    assert response.status_code in (200, 201), response.get_json()
    return client


def board_of(client: FlaskClient, project_id: str) -> str:
    response = client.get(f"/api/projects/{project_id}/papertrail/board")
    assert response.status_code == 200, response.get_json()
    return str(response.get_json()["board"]["id"])


def add_node(client: FlaskClient, project_id: str, **fields) -> dict:
    board_id = board_of(client, project_id)
    response = client.post(f"/api/projects/{project_id}/papertrail/board/{board_id}/nodes", json=fields)
    assert response.status_code == 201, response.get_json()
    return response.get_json()["node"]


def add_edge(client: FlaskClient, project_id: str, **fields) -> dict:
    board_id = board_of(client, project_id)
    response = client.post(f"/api/projects/{project_id}/papertrail/board/{board_id}/edges", json=fields)
    assert response.status_code == 201, response.get_json()
    return response.get_json()["edge"]


# --- entry points and sign-in -------------------------------------------------------------------------------------


def test_home_redirects_signed_out_visitor_to_login(client: FlaskClient):
    response = client.get("/")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login"


def test_home_redirects_signed_in_user_to_projects(api: Api):
    response = api.user().get("/")
    assert response.status_code == 302
    assert response.headers["Location"] == "/projects"


@pytest.mark.parametrize("path", PAGE_PATHS, ids=lambda path: path.replace("/", "_"))
def test_pages_redirect_signed_out_visitor_to_login_with_return_to(client: FlaskClient, path: str):
    response = client.get(path)
    assert response.status_code == 302
    assert response.headers["Location"] == f"/login?return_to={quote(path, safe='/')}"


def test_pages_redirect_keeps_query_string_in_return_to(client: FlaskClient):
    response = client.get("/projects?sort=name")
    assert response.headers["Location"] == "/login?return_to=/projects%3Fsort%3Dname"


def test_login_page_renders_sign_in_form_with_return_to(client: FlaskClient):
    response = client.get("/login?return_to=/projects/p_1/board")
    body = html(response)
    assert response.status_code == 200
    assert '<form method="post" action="/login"' in body
    assert 'name="email"' in body and 'name="password"' in body
    assert '<input type="hidden" name="return_to" value="/projects/p_1/board">' in body
    assert 'href="/register?return_to=/projects/p_1/board"' in body


def test_register_page_posts_to_register_with_return_to_in_query(client: FlaskClient):
    response = client.get("/register?return_to=/projects%3Fa%3D1")
    body = html(response)
    assert response.status_code == 200
    assert 'action="/register?return_to=/projects%3Fa%3D1"' in body
    assert 'name="name"' in body and 'name="email"' in body and 'name="password"' in body
    assert "Create an account" in body


@pytest.mark.parametrize("path", ["/login", "/register"])
def test_login_page_sends_signed_in_user_to_projects(api: Api, path: str):
    response = api.user().get(path)
    assert response.status_code == 302
    assert response.headers["Location"] == "/projects"


def test_login_form_round_trip_sets_session_cookie_and_returns(api: Api, server: Server):
    owner = api.user("round@example.test")
    project_id = api.project(owner, name="Round trip")
    visitor = server.app.test_client()

    response = form_login(visitor, "round@example.test", return_to=f"/projects/{project_id}/board")

    assert response.status_code == 302
    assert response.headers["Location"] == f"/projects/{project_id}/board"
    set_cookie = response.headers["Set-Cookie"]
    assert set_cookie.startswith(f"{COOKIE}=")
    assert "HttpOnly" in set_cookie
    assert "SameSite=Lax" in set_cookie
    page = visitor.get(f"/projects/{project_id}/board")
    assert page.status_code == 200
    assert "round@example.test" in html(page)


def test_register_form_round_trip_signs_the_new_user_in(client: FlaskClient):
    response = client.post(
        "/register?return_to=/projects%3Fwelcome%3D1",
        data={"email": "New@Example.test", "password": PASSWORD, "name": "New person"},
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/projects?welcome=1"
    assert "HttpOnly" in response.headers["Set-Cookie"]
    assert "SameSite=Lax" in response.headers["Set-Cookie"]
    page = client.get("/projects")
    assert page.status_code == 200
    assert "new@example.test" in html(page)


def test_register_form_with_short_password_rerenders_with_error(client: FlaskClient):
    response = client.post(
        "/register?return_to=/projects", data={"email": "short@example.test", "password": "short", "name": ""}
    )
    body = html(response)
    assert response.status_code == 400
    assert 'class="alert error"' in body and "password" in body
    assert 'action="/register?return_to=/projects"' in body
    assert 'value="short@example.test"' in body
    assert "Set-Cookie" not in response.headers


def test_login_form_wrong_password_rerenders_form_with_error(api: Api, server: Server):
    api.user("wrong@example.test")
    visitor = server.app.test_client()

    response = form_login(visitor, "wrong@example.test", "not the password", return_to="/projects/p_9/blog")

    body = html(response)
    assert response.status_code == 401
    assert "Invalid email or password" in body
    assert '<form method="post" action="/login"' in body
    assert '<input type="hidden" name="return_to" value="/projects/p_9/blog">' in body
    assert 'value="wrong@example.test"' in body
    assert "Set-Cookie" not in response.headers
    assert visitor.get("/projects").status_code == 302


@pytest.mark.parametrize(
    "target",
    ["//evil.example", "//evil.example/projects", "https://evil.example/", "/\\evil.example", "javascript:alert(1)"],
    ids=["protocol-relative", "protocol-relative-path", "absolute", "backslash", "javascript"],
)
def test_login_form_refuses_open_redirect(api: Api, server: Server, target: str):
    api.user("redirect@example.test")
    response = form_login(server.app.test_client(), "redirect@example.test", return_to=target)
    assert response.status_code == 302
    assert response.headers["Location"] == "/projects"


@given(target=st.text(max_size=40) | st.from_regex(r"\A[/\\]{1,3}[a-z.:@]{0,12}(/[a-z]*)?\Z"))
def test_login_form_return_to_never_leaves_the_site(server: Server, target: str):
    signed_in(server, "anywhere@example.test")
    response = form_login(server.app.test_client(), "anywhere@example.test", return_to=target)
    location = response.headers["Location"]
    assert response.status_code == 302
    assert location.startswith("/") and not location.startswith("//") and "\\" not in location
    assert urlsplit(location).netloc == ""


def test_logout_link_ends_the_session(api: Api):
    user = api.user()
    assert 'href="/logout"' in html(user.get("/projects"))
    response = user.get("/logout")
    assert response.headers["Location"] == "/login"
    assert user.get("/projects").status_code == 302


# --- project list -----------------------------------------------------------------------------------------------


def test_projects_page_lists_visible_projects_with_links(api: Api):
    owner = api.user("lister@example.test")
    board = api.project(owner, name="Evidence wall", desc="Who knew what")
    blog = api.project(owner, type="blog", name="Team blog")
    other = api.user()
    hidden = api.project(other, name="Someone else's secret")
    shared_org = api.project(other, name="Open to the org", scope="org")

    response = owner.get("/projects")
    body = html(response)

    assert response.status_code == 200
    assert f'href="/projects/{board}/board">Evidence wall</a>' in body
    assert f'href="/projects/{blog}/blog">Team blog</a>' in body
    assert f'href="/projects/{shared_org}/board">Open to the org</a>' in body
    assert "Who knew what" in body
    assert hidden not in body and "secret" not in body
    assert "lister@example.test" in body
    assert 'id="new-project"' in body and 'data-endpoint="/api/projects"' in body


def test_projects_page_shows_empty_state(api: Api):
    body = html(api.user().get("/projects"))
    assert "No projects yet" in body


def test_projects_page_offers_only_enabled_project_types(server_factory, settings_factory):
    server = server_factory(settings_factory(FT_PROJECT_TYPE_BLOG=False))
    client = Api(server, itertools.count(1)).user()
    body = html(client.get("/projects"))
    assert '<option value="papertrail">' in body
    assert '<option value="blog">' not in body


def test_project_page_redirects_to_the_page_of_its_type(api: Api):
    owner = api.user()
    board = api.project(owner)
    blog = api.project(owner, type="blog", name="Blog")
    assert owner.get(f"/projects/{board}").headers["Location"] == f"/projects/{board}/board"
    assert owner.get(f"/projects/{blog}").headers["Location"] == f"/projects/{blog}/blog"


def test_project_page_of_unknown_project_is_a_404_page(api: Api):
    response = api.user().get("/projects/p_missing")
    assert response.status_code == 404
    assert "Project not found" in html(response)


# --- PaperTrail board page --------------------------------------------------------------------------------------


def test_board_page_renders_for_owner_with_add_node_form(api: Api):
    owner = api.user("boarder@example.test")
    project_id = api.project(owner, name="Case file")
    response = owner.get(f"/projects/{project_id}/board")
    body = html(response)
    assert response.status_code == 200
    assert f'data-project-id="{project_id}"' in body
    assert "Case file" in body
    assert 'id="board-canvas"' in body and 'id="board-tags"' in body and 'id="board-stats"' in body
    assert 'id="add-node"' in body
    assert '<script src="/static/board.js"></script>' in body
    assert "boarder@example.test" in body


def test_board_page_renders_read_only_for_viewer(api: Api):
    owner = api.user()
    viewer = api.user()
    project_id = api.project(owner, name="Shared case")
    api.share(owner, project_id, viewer, "viewer")
    response = viewer.get(f"/projects/{project_id}/board")
    body = html(response)
    assert response.status_code == 200
    assert "Shared case" in body
    assert 'data-can-edit="false"' in body
    assert 'id="add-node"' not in body


def test_board_page_shows_add_node_form_to_editor(api: Api):
    owner = api.user()
    editor = api.user()
    project_id = api.project(owner)
    api.share(owner, project_id, editor, "editor")
    body = html(editor.get(f"/projects/{project_id}/board"))
    assert 'data-can-edit="true"' in body and 'id="add-node"' in body


def test_board_page_is_forbidden_for_outsider(api: Api):
    project_id = api.project(api.user(), name="Private case")
    response = api.user().get(f"/projects/{project_id}/board")
    body = html(response)
    assert response.status_code == 403
    assert "Forbidden" in body and "Private case" not in body
    assert response.mimetype == "text/html"


@pytest.mark.parametrize("which", ["unknown", "blog-project"])
def test_board_page_is_a_404_page_for_missing_or_other_type(api: Api, which: str):
    owner = api.user()
    project_id = "p_missing" if which == "unknown" else api.project(owner, type="blog", name="Not a board")
    response = owner.get(f"/projects/{project_id}/board")
    assert response.status_code == 404
    assert "Project not found" in html(response)


@pytest.mark.parametrize(
    ("toggle", "kind", "path"),
    [
        ("FT_PROJECT_TYPE_PAPERTRAIL", "papertrail", "board"),
        ("FT_PROJECT_TYPE_BLOG", "blog", "blog"),
        ("FT_PROJECT_TYPE_BLOG", "blog", "blog/new"),
        ("FT_PROJECT_TYPE_BLOG", "blog", "blog/edit/a.md"),
    ],
    ids=["board", "blog", "blog-new", "blog-edit"],
)
def test_pages_of_a_disabled_project_type_are_a_bare_404(
    api: Api, server: Server, server_factory, settings_factory, toggle: str, kind: str, path: str
):
    owner = api.user()
    project_id = api.project(owner, type=kind)
    disabled = server_factory(
        settings_factory(DATABASE_URL=server.services.settings.DATABASE_URL, **{toggle: False})
    ).app.test_client()
    disabled.set_cookie(COOKIE, owner.get_cookie(COOKIE).value)
    response = disabled.get(f"/projects/{project_id}/{path}")
    assert response.status_code == 404
    assert response.get_data() == b""


# --- blog pages -------------------------------------------------------------------------------------------------


def test_blog_page_renders_with_configuration_form_for_owner(api: Api):
    owner = api.user()
    project_id = api.project(owner, type="blog", name="Engineering notes")
    response = owner.get(f"/projects/{project_id}/blog")
    body = html(response)
    assert response.status_code == 200
    assert "Engineering notes" in body
    assert f'data-project-id="{project_id}"' in body
    assert 'id="post-rows"' in body
    assert 'id="configure"' in body
    for field in ("repoUrl", "branch", "contentDir", "gitUserName", "gitUserEmail", "gitAuthToken"):
        assert f'name="{field}"' in body
    assert f'href="/projects/{project_id}/blog/new"' in body
    assert '<script src="/static/blog.js"></script>' in body


def test_blog_page_for_viewer_has_no_forms(api: Api):
    owner = api.user()
    viewer = api.user()
    project_id = api.project(owner, type="blog")
    api.share(owner, project_id, viewer, "viewer")
    response = viewer.get(f"/projects/{project_id}/blog")
    body = html(response)
    assert response.status_code == 200
    assert 'id="configure"' not in body
    assert "/blog/new" not in body
    assert "Ask a project owner" in body


def test_blog_page_is_forbidden_for_outsider_and_404_for_a_board(api: Api):
    owner = api.user()
    blog = api.project(owner, type="blog")
    board = api.project(owner)
    assert api.user().get(f"/projects/{blog}/blog").status_code == 403
    assert owner.get(f"/projects/{board}/blog").status_code == 404


def test_post_editor_renders_for_editor(api: Api):
    owner = api.user()
    editor = api.user()
    project_id = api.project(owner, type="blog", name="Notes")
    api.share(owner, project_id, editor, "editor")
    response = editor.get(f"/projects/{project_id}/blog/edit/first-post.md")
    body = html(response)
    assert response.status_code == 200
    assert 'data-file="first-post.md"' in body
    for field in ("title", "description", "tags", "pubDate", "draft", "body"):
        assert f'name="{field}"' in body
    assert 'id="publish-post"' in body and 'id="delete-post"' in body
    assert '<script src="/static/editor.js"></script>' in body


def test_new_post_editor_has_no_publish_or_delete(api: Api):
    owner = api.user()
    project_id = api.project(owner, type="blog")
    response = owner.get(f"/projects/{project_id}/blog/new")
    body = html(response)
    assert response.status_code == 200
    assert 'data-file=""' in body and 'name="file"' in body
    assert 'id="publish-post"' not in body and 'id="delete-post"' not in body


@pytest.mark.parametrize("path", ["blog/new", "blog/edit/first-post.md"])
def test_post_editor_is_forbidden_for_viewer(api: Api, path: str):
    owner = api.user()
    viewer = api.user()
    project_id = api.project(owner, type="blog")
    api.share(owner, project_id, viewer, "viewer")
    response = viewer.get(f"/projects/{project_id}/{path}")
    assert response.status_code == 403
    assert "Forbidden" in html(response)


# --- escaping, headers, assets ----------------------------------------------------------------------------------


def test_pages_escape_user_supplied_text(api: Api):
    owner = api.user()
    board = api.project(owner, name=XSS, desc=f"desc {XSS}")
    blog = api.project(owner, type="blog", name=XSS)
    pages = [
        owner.get("/projects"),
        owner.get(f"/projects/{board}/board"),
        owner.get(f"/projects/{blog}/blog"),
        owner.get(f"/projects/{blog}/blog/edit/{quote(XSS)}.md"),
    ]
    for page in pages:
        body = html(page)
        assert page.status_code == 200
        assert XSS not in body
        assert str(escape(XSS)) in body


def test_login_page_escapes_return_to(client: FlaskClient):
    attack = quote('/x"><script>alert(1)</script>')
    for path in ("/login", "/register"):
        body = html(client.get(f"{path}?return_to={attack}"))
        assert "<script>alert(1)</script>" not in body
        assert '"><script>' not in body


@given(name=st.text(min_size=1, max_size=60).filter(lambda text: text.strip() and "\x00" not in text))
def test_projects_page_escapes_any_project_name(server: Server, name: str):
    owner = signed_in(server, "names@example.test")
    response = owner.post("/api/projects", json={"name": name, "type": "papertrail"})
    if response.status_code != 201:  # names pydantic refuses (e.g. only whitespace after stripping) are not pages
        return
    body = html(owner.get("/projects"))
    assert str(escape(name.strip())) in body


def test_pages_send_security_headers(api: Api, client: FlaskClient):
    owner = api.user()
    project_id = api.project(owner)
    for response in (client.get("/login"), owner.get("/projects"), owner.get(f"/projects/{project_id}/board")):
        policy = response.headers["Content-Security-Policy"]
        assert "script-src 'self'" in policy and "object-src 'none'" in policy
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize(
    ("asset", "mimetype"),
    [
        ("app.css", "text/css"),
        ("app.js", "text/javascript"),
        ("projects.js", "text/javascript"),
        ("board.js", "text/javascript"),
        ("blog.js", "text/javascript"),
        ("editor.js", "text/javascript"),
    ],
)
def test_static_assets_are_served(client: FlaskClient, asset: str, mimetype: str):
    response = client.get(f"/static/{asset}")
    assert response.status_code == 200
    # Python's own table says application/javascript, /etc/mime.types says text/javascript: both run.
    assert response.mimetype == mimetype or (mimetype, response.mimetype) == (
        "text/javascript",
        "application/javascript",
    )
    assert response.get_data()
    response.close()


def test_static_scripts_never_write_html(client: FlaskClient):
    # User data reaches the DOM only through textContent and properties; a stray innerHTML would be an XSS hole.
    for asset in ("app.js", "projects.js", "board.js", "blog.js", "editor.js"):
        response = client.get(f"/static/{asset}")
        source = response.get_data(as_text=True)
        response.close()
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
            assert sink not in source, f"{asset} uses {sink}"


# --- real browser -----------------------------------------------------------------------------------------------


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG file"
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def sign_in(page: Page, email: str) -> None:
    """Fill and send the login form of the page the browser is on."""
    page.submit_and_wait(
        f"document.querySelector('input[name=email]').value = {email!r};"
        f"document.querySelector('input[name=password]').value = {PASSWORD!r};"
        "document.querySelector('form').requestSubmit();"
    )


def wait_settled(page: Page, element_id: str) -> str:
    """Wait until the page's script has finished loading (its root element leaves data-state "loading")."""
    return str(
        page.wait_for(
            f"document.getElementById({element_id!r}).dataset.state !== 'loading' && "
            f"document.getElementById({element_id!r}).dataset.state"
        )
    )


@pytest.mark.browser
def test_browser_signs_in_lists_projects_and_draws_the_board(
    api: Api, live_server: str, browser: Browser, tmp_path: Path
):
    owner = api.user("browser@example.test")
    project_id = api.project(owner, name="Harbour inquiry")
    api.project(owner, type="blog", name="Inquiry blog")
    first = add_node(
        owner,
        project_id,
        type="note",
        title="Witness statement",
        text="Saw the boat at 21:40",
        x=40,
        y=60,
        tags=["witness", "timeline"],
    )
    second = add_node(
        owner,
        project_id,
        type="link",
        title="Harbour log",
        url="https://example.org/log",
        x=420,
        y=260,
        tags=["timeline"],
    )
    hostile = add_node(owner, project_id, title='<img src=x onerror="window.__pwned=1">', text=XSS, x=800, y=40)
    add_edge(owner, project_id, source=first["id"], target=second["id"], label="corroborated by")

    page = browser.page()
    page.goto(f"{live_server}/projects")
    assert page.path() == "/login?return_to=/projects"

    sign_in(page, "browser@example.test")
    assert page.path() == "/projects"
    names = page.evaluate("[...document.querySelectorAll('.project-link')].map(a => a.textContent)")
    assert sorted(names) == ["Harbour inquiry", "Inquiry blog"]
    assert page.evaluate("document.querySelector('.who').textContent") == "browser@example.test"
    session = [cookie for cookie in page.cookies() if cookie["name"] == COOKIE]
    assert len(session) == 1 and session[0]["httpOnly"] is True and session[0]["sameSite"] == "Lax"
    assert COOKIE not in page.evaluate("document.cookie")

    page.submit_and_wait(f"document.querySelector('a[href=\"/projects/{project_id}/board\"]').click()")
    assert page.path() == f"/projects/{project_id}/board"
    assert (
        page.wait_for(
            "document.getElementById('board-app').dataset.state !== 'loading' && "
            "document.getElementById('board-app').dataset.state"
        )
        == "ready"
    )

    drawn = page.evaluate(
        "[...document.querySelectorAll('.node')].map(n => ({id: n.dataset.nodeId, title: "
        "n.querySelector('.node-title').textContent, left: n.style.left, top: n.style.top, "
        "tags: [...n.querySelectorAll('.tag')].map(t => t.textContent)}))"
    )
    by_id = {node["id"]: node for node in drawn}
    assert set(by_id) == {first["id"], second["id"], hostile["id"]}
    assert by_id[first["id"]]["title"] == "Witness statement"
    assert by_id[first["id"]]["tags"] == ["#witness", "#timeline"]
    # Stored coordinates are kept relative to each other (the canvas only adds a margin).
    left = {key: float(node["left"].removesuffix("px")) for key, node in by_id.items()}
    top = {key: float(node["top"].removesuffix("px")) for key, node in by_id.items()}
    assert left[second["id"]] - left[first["id"]] == 380 and top[second["id"]] - top[first["id"]] == 200
    # Hostile text is shown as text, and its markup never runs.
    assert by_id[hostile["id"]]["title"] == '<img src=x onerror="window.__pwned=1">'
    assert page.evaluate("document.querySelectorAll('.node img, script:not([src])').length") == 0
    assert page.evaluate("window.__pwned === undefined")
    assert page.evaluate("document.querySelector('.node-url').href") == "https://example.org/log"

    edges = page.evaluate(
        "[...document.querySelectorAll('#board-edges .edge')].map(g => ({label: g.textContent, "
        "length: Math.hypot(g.querySelector('line').x2.baseVal.value - g.querySelector('line').x1.baseVal.value, "
        "g.querySelector('line').y2.baseVal.value - g.querySelector('line').y1.baseVal.value)}))"
    )
    assert len(edges) == 1 and edges[0]["label"] == "corroborated by" and edges[0]["length"] > 0
    tags = page.evaluate("[...document.querySelectorAll('#board-tags .tag-filter')].map(b => b.textContent)")
    assert sorted(tags) == ["#timeline2", "#witness1"]
    assert page.evaluate("document.querySelector('[data-stat=nodes]').textContent") == "3"
    assert page.evaluate("document.querySelector('[data-stat=edges]').textContent") == "1"

    # Adding a node through the page's form stores it through the API and draws it.
    page.evaluate(
        "const f = document.getElementById('add-node'); f.elements.title.value = 'Added in the browser';"
        "f.elements.text.value = 'typed by a person'; f.elements.tags.value = 'new, timeline'; f.requestSubmit();"
    )
    assert page.wait_for("document.getElementById('board-app').dataset.nodeCount === '4'")
    titles = page.evaluate("[...document.querySelectorAll('.node-title')].map(t => t.textContent)")
    assert "Added in the browser" in titles
    stored = owner.get(f"/api/projects/{project_id}/papertrail/board").get_json()["board"]
    added = [node for node in stored["nodes"] if node["title"] == "Added in the browser"]
    assert len(added) == 1 and added[0]["tags"] == ["new", "timeline"] and added[0]["text"] == "typed by a person"
    assert page.exceptions() == []

    shot = page.screenshot(tmp_path / "board.png")
    width, height = png_size(shot.read_bytes())
    assert width >= 1000 and height >= 600


@pytest.mark.browser
def test_browser_signed_out_board_lands_on_the_login_page(api: Api, live_server: str, chromium: Path, tmp_path: Path):
    project_id = api.project(api.user())
    dom = dump_dom(chromium, tmp_path, f"{live_server}/projects/{project_id}/board")
    assert '<form method="post" action="/login"' in dom
    assert f'name="return_to" value="/projects/{project_id}/board"' in dom
    assert "Harbour" not in dom and 'id="board-app"' not in dom


@pytest.mark.browser
def test_browser_configures_the_blog_and_edits_publishes_and_deletes_posts(
    api: Api, server: Server, live_server: str, browser: Browser, gitremote: GitRemote
):
    owner = api.user("blogger@example.test")
    project_id = api.project(owner, type="blog", name="Team blog")
    page = browser.page()
    page.goto(f"{live_server}/projects/{project_id}/blog")
    sign_in(page, "blogger@example.test")
    assert page.path() == f"/projects/{project_id}/blog"

    # Not configured yet: the page offers the repository form, and sending it lists the remote's posts.
    assert wait_settled(page, "blog-app") == "unconfigured"
    page.evaluate(
        "const f = document.getElementById('configure');"
        f"f.elements.repoUrl.value = {gitremote.url!r}; f.elements.gitUserName.value = 'Blog Bot';"
        "f.elements.gitUserEmail.value = 'blog-bot@example.test'; f.requestSubmit();"
    )
    page.wait_for("document.getElementById('blog-app').dataset.state === 'ready'")
    rows = page.evaluate(
        "[...document.querySelectorAll('#post-rows tr')].map(r => [r.dataset.file,"
        " r.querySelector('.post-title').textContent, r.querySelector('.badge').textContent])"
    )
    assert sorted(rows) == [
        ["first-post.md", "First post", "Published"],
        ["second-post.md", "Second: the sequel", "Published"],
    ]

    # Edit a post: the form is filled from the API, Save stores the change, Publish pushes it.
    page.submit_and_wait("document.querySelector('tr[data-file=\"first-post.md\"] a').click()")
    assert page.path() == f"/projects/{project_id}/blog/edit/first-post.md"
    assert wait_settled(page, "post-editor") == "ready"
    fields = page.evaluate(
        "(() => { const f = document.getElementById('post-editor').elements; return {title: f.title.value,"
        " tags: f.tags.value, pubDate: f.pubDate.value, body: f.body.value}; })()"
    )
    assert fields["title"] == "First post" and fields["tags"] == "intro" and fields["pubDate"] == "2024-01-15"
    assert "This is the *first* post." in fields["body"]
    page.evaluate(
        "const f = document.getElementById('post-editor'); f.elements.title.value = 'First post, revised';"
        "f.elements.tags.value = 'intro, update'; f.requestSubmit();"
    )
    page.wait_for("document.getElementById('editor-status').textContent.startsWith('Saved')")
    post = owner.get(f"/api/projects/{project_id}/blog/post/first-post.md").get_json()["post"]
    assert post["title"] == "First post, revised" and post["tags"] == ["intro", "update"]
    assert post["pubDate"].startswith("2024-01-15")
    page.evaluate("document.getElementById('publish-post').click()")
    page.wait_for("document.getElementById('editor-status').textContent.startsWith('Published')")
    assert "title: First post, revised" in gitremote.show("first-post.md")

    # A new post: Save creates it and opens its editor; Delete removes it and returns to the list.
    page.goto(f"{live_server}/projects/{project_id}/blog/new")
    page.submit_and_wait(
        "const n = document.getElementById('post-editor'); n.elements.title.value = 'Hello from the browser';"
        "n.elements.body.value = 'Written in chromium.'; n.elements.pubDate.value = '2025-02-03'; n.requestSubmit();"
    )
    assert page.path().startswith(f"/projects/{project_id}/blog/edit/")
    new_file = page.evaluate("document.getElementById('post-editor').dataset.file")
    assert wait_settled(page, "post-editor") == "ready"
    assert page.evaluate("document.getElementById('post-editor').elements.title.value") == "Hello from the browser"
    assert owner.get(f"/api/projects/{project_id}/blog/post/{new_file}").status_code == 200
    page.submit_and_wait("window.confirm = () => true; document.getElementById('delete-post').click()")
    assert page.path() == f"/projects/{project_id}/blog"
    assert owner.get(f"/api/projects/{project_id}/blog/post/{new_file}").status_code == 404
    assert page.exceptions() == []
