"""Blog posts API: list, create, read and edit posts in the working clone (nothing is committed here)."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.fixtures.gitremote import git

BAD_NAMES = ["..%2Fsecret", "../secret", "..", "a%2Fb.md", "a/b.md", "%2Fetc%2Fpasswd", "/etc/passwd", "a%00b",
             "a%0Ab", "a%5Cb.md", ".git", "x..md"]  # fmt: skip


def _local_head(blog):
    return git("rev-parse", "HEAD", cwd=blog.workdir).strip()


def _create(blog, **fields):
    body = {"title": "Hello", "body": "Some text"}
    body.update(fields)
    response = blog.owner.post(blog.post_url(), json=body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()["post"]


def _statuses(blog):
    posts = blog.owner.get(blog.post_url("all")).get_json()["posts"]
    return {post["file"]: post["status"] for post in posts}


# -- before configuration ------------------------------------------------------------------------------------


def test_post_routes_answer_409_before_the_blog_is_configured(api):
    owner = api.user()
    base = f"/api/projects/{api.project(owner, type='blog')}/blog/post"
    for method, url, body in [
        ("GET", f"{base}/all", None),
        ("POST", base, {"title": "x", "body": ""}),
        ("GET", f"{base}/a.md", None),
        ("PATCH", f"{base}/a.md", {"title": "y"}),
        ("POST", f"{base}/a.md", None),
        ("DELETE", f"{base}/a.md", None),
    ]:
        response = owner.open(url, method=method, json=body)
        assert (response.status_code, response.get_json()) == (409, {"error": "Blog not configured"}), (method, url)


# -- listing -------------------------------------------------------------------------------------------------


def test_list_shows_committed_posts_newest_first_with_excerpts(blog):
    response = blog.owner.get(blog.post_url("all"))
    assert response.status_code == 200
    posts = response.get_json()["posts"]
    assert [post["file"] for post in posts] == ["second-post.md", "first-post.md"]
    assert posts[1] == {
        "file": "first-post.md",
        "title": "First post",
        "description": "Where it all starts",
        "tags": ["intro"],
        "status": "Published",
        "pubDate": "2024-01-15",
        "excerpt": "Hello world. This is the *first* post.",
    }
    assert posts[0]["tags"] == ["news", "c#"]
    assert len(posts[0]["excerpt"]) == 141 and posts[0]["excerpt"].endswith("…")


def test_list_marks_new_modified_and_draft_posts_as_draft(blog):
    _create(blog, title="Brand new", pubDate="2025-01-01")
    (blog.workdir / "src/content/blog/first-post.md").write_text("---\ntitle: Edited\n---\nchanged\n")
    draft = "---\ntitle: Flagged\ndraft: true\npubDate: 2023-01-01\n---\n"
    (blog.workdir / "src/content/blog/flagged.md").write_text(draft)
    git("add", "--", "src/content/blog/flagged.md", cwd=blog.workdir)
    git("commit", "-q", "-m", "flagged", cwd=blog.workdir)
    assert _statuses(blog) == {
        "brand-new.md": "Draft",  # untracked
        "first-post.md": "Draft",  # modified
        "flagged.md": "Draft",  # committed, but draft: true
        "second-post.md": "Published",
    }


def test_list_orders_same_dates_by_file_and_undated_posts_last(blog):
    _create(blog, file="b-same", pubDate="2024-03-02")
    _create(blog, file="a-same", pubDate="2024-03-02")
    (blog.workdir / "src/content/blog/undated.md").write_text("---\ntitle: No date\n---\n")
    files = [post["file"] for post in blog.owner.get(blog.post_url("all")).get_json()["posts"]]
    assert files == ["a-same.md", "b-same.md", "second-post.md", "first-post.md", "undated.md"]


def test_list_skips_other_files_and_shows_unreadable_front_matter_by_file_name(blog):
    folder = blog.workdir / "src/content/blog"
    (folder / "notes.txt").write_text("not a post")
    (folder / "broken.md").write_text("---\ntitle: [unclosed\n---\nbody\n")
    (folder / "link.md").symlink_to("/etc/hostname")
    posts = {post["file"]: post for post in blog.owner.get(blog.post_url("all")).get_json()["posts"]}
    assert sorted(posts) == ["broken.md", "first-post.md", "second-post.md"]
    assert posts["broken.md"]["title"] == "broken"


def test_list_of_a_missing_content_folder_is_empty(blog_factory):
    blog = blog_factory(contentDir="content/none")
    assert blog.owner.get(blog.post_url("all")).get_json() == {"posts": []}


def test_list_clones_again_when_the_working_copy_went_missing(blog):
    import shutil

    shutil.rmtree(blog.workdir)
    files = [post["file"] for post in blog.owner.get(blog.post_url("all")).get_json()["posts"]]
    assert files == ["second-post.md", "first-post.md"]


# -- create --------------------------------------------------------------------------------------------------


def test_create_writes_the_file_without_committing(blog):
    head = _local_head(blog)
    response = blog.owner.post(
        blog.post_url(),
        json={"title": "Hello: World", "description": "d", "tags": ["a", "b"], "pubDate": "2025-02-03",
              "draft": False, "body": "# Hi\n"},
    )  # fmt: skip
    assert response.status_code == 201
    assert response.get_json() == {
        "ok": True,
        "post": {
            "file": "hello-world.md",
            "title": "Hello: World",
            "description": "d",
            "tags": ["a", "b"],
            "pubDate": "2025-02-03",
            "draft": False,
            "status": "Draft",
            "body": "# Hi\n",
            "frontMatter": {
                "title": "Hello: World",
                "description": "d",
                "pubDate": "2025-02-03",
                "tags": ["a", "b"],
                "draft": False,
            },
        },
    }
    text = (blog.workdir / "src/content/blog/hello-world.md").read_text()
    assert text == (
        "---\ntitle: 'Hello: World'\ndescription: d\npubDate: 2025-02-03\ntags:\n- a\n- b\ndraft: false\n---\n# Hi\n"
    )
    assert _local_head(blog) == head
    assert blog.remote.log() == ["Initial commit"]


def test_create_defaults_pub_date_to_today_and_uses_the_given_file_name(blog, server):
    today = server.services.clock.now().date().isoformat()
    post = _create(blog, file="custom-name")
    assert (post["file"], post["pubDate"], post["tags"], post["description"]) == ("custom-name.md", today, [], "")
    assert _create(blog, file="explicit.md")["file"] == "explicit.md"


def test_create_existing_file_is_409_and_keeps_the_old_content(blog):
    before = (blog.workdir / "src/content/blog/first-post.md").read_text()
    response = blog.owner.post(blog.post_url(), json={"title": "First post", "body": "other"})
    assert response.status_code == 409
    assert response.get_json() == {"error": "A post named 'first-post.md' already exists"}
    assert (blog.workdir / "src/content/blog/first-post.md").read_text() == before


@pytest.mark.parametrize(
    "body",
    [
        {"body": "no title"},
        {"title": "   ", "body": ""},
        {"title": "t"},
        {"title": "t", "body": "", "tags": "not-a-list"},
        {"title": "t", "body": "", "tags": [""]},
        {"title": "t", "body": "", "pubDate": "yesterday"},
        {"title": "t", "body": "", "pubDate": "2024-02-30"},
        {"title": "t", "body": "", "draft": "maybe"},
        {"title": "t", "body": "", "file": "../escape"},
        {"title": "t", "body": "", "file": "a/b"},
        {"title": "t", "body": "", "file": ".git"},
    ],
    ids=["no-title", "blank-title", "no-body", "tags-type", "empty-tag", "bad-date", "impossible-date",
         "draft-type", "traversal", "slash", "hidden"],
)  # fmt: skip
def test_create_rejects_invalid_bodies_and_writes_nothing(blog, body):
    response = blog.owner.post(blog.post_url(), json=body)
    assert response.status_code == 400
    assert response.get_json()["error"] in ("Invalid request", "Invalid file name")
    assert sorted(path.name for path in (blog.workdir / "src/content/blog").iterdir()) == [
        "first-post.md",
        "second-post.md",
    ]


_counter = itertools.count()
# The API strips titles, tags and descriptions, so generated values have no whitespace at either end.
API_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1).filter(lambda text: text == text.strip())
API_SPECIAL = st.sampled_from(
    ["a: b", "'q'", '"dq"', "#hash", "- dash", "[x]", "{y}", "yes", "null", "2024-01-01", "é ü 日本 🙂", "&anchor",
     "*ref", "!tag", "|", ">", "%", "@", "x\ny", "a\u2028b", "c\x85d", "---"]
)  # fmt: skip
API_VALUE = st.one_of(API_SPECIAL, API_TEXT, st.tuples(API_SPECIAL, API_TEXT).map("".join))


@given(title=API_VALUE, tags=st.lists(API_VALUE, max_size=4), description=API_VALUE, body=st.text())
def test_create_then_get_round_trips_yaml_special_text(blog, title, tags, description, body):
    file = f"round-{next(_counter)}"
    created = blog.owner.post(
        blog.post_url(), json={"file": file, "title": title, "tags": tags, "description": description, "body": body}
    )
    assert created.status_code == 201, created.get_json()
    post = blog.owner.get(blog.post_url(file)).get_json()["post"]
    assert (post["title"], post["tags"], post["description"], post["body"]) == (title, tags, description, body)


# -- read ----------------------------------------------------------------------------------------------------


def test_get_returns_the_post_with_all_its_front_matter(blog):
    response = blog.owner.get(blog.post_url("second-post"))
    assert response.status_code == 200
    post = response.get_json()["post"]
    assert post["file"] == "second-post.md"
    assert post["status"] == "Published"
    assert post["draft"] is False
    assert post["frontMatter"]["heroImage"] == "/images/second.png"
    assert post["body"].startswith("# A longer post\n\nLorem ipsum")
    assert blog.owner.get(blog.post_url("second-post.md")).get_json() == response.get_json()


def test_get_unknown_post_is_404(blog):
    response = blog.owner.get(blog.post_url("nope.md"))
    assert (response.status_code, response.get_json()) == (404, {"error": "Post not found"})


def test_get_symlinked_post_is_404(blog):
    (blog.workdir / "src/content/blog/link.md").symlink_to("/etc/hostname")
    assert blog.owner.get(blog.post_url("link.md")).status_code == 404


def test_get_unreadable_front_matter_is_422(blog):
    (blog.workdir / "src/content/blog/broken.md").write_text("---\n- a list\n---\n")
    response = blog.owner.get(blog.post_url("broken.md"))
    assert response.status_code == 422
    assert "must be a YAML mapping" in response.get_json()["error"]


def test_post_routes_reject_unsafe_file_names_with_400(blog):
    for name in BAD_NAMES:
        for method in ("GET", "PATCH", "POST", "DELETE"):
            response = blog.owner.open(blog.post_url(name), method=method, json={"title": "x"})
            assert response.status_code == 400, (method, name, response.get_data())
            # a NUL byte is refused by the app for every route, before the blog sees the name
            expected = "The path contains a NUL character" if "%00" in name else "Invalid file name"
            assert response.get_json()["error"] == expected
    assert blog.remote.log() == ["Initial commit"]


# -- edit ----------------------------------------------------------------------------------------------------


def test_patch_changes_given_fields_and_keeps_the_rest(blog):
    head = _local_head(blog)
    response = blog.owner.patch(blog.post_url("second-post.md"), json={"title": "Renamed title", "tags": ["x"]})
    assert response.status_code == 200
    post = response.get_json()["post"]
    assert (post["title"], post["tags"], post["status"]) == ("Renamed title", ["x"], "Draft")
    assert post["frontMatter"]["heroImage"] == "/images/second.png"
    assert post["description"] == "More of it"
    assert post["body"].startswith("# A longer post")
    text = (blog.workdir / "src/content/blog/second-post.md").read_text()
    assert text.startswith("---\ntitle: Renamed title\ndescription: More of it\npubDate: 2024-03-02\n")
    assert _local_head(blog) == head


def test_patch_body_and_draft(blog):
    response = blog.owner.patch(blog.post_url("first-post"), json={"body": "\nNew body\r\n", "draft": True})
    post = response.get_json()["post"]
    assert (post["body"], post["draft"], post["title"], post["status"]) == (
        "\nNew body\r\n",
        True,
        "First post",
        "Draft",
    )


def test_patch_rename_moves_the_file(blog):
    response = blog.owner.patch(blog.post_url("first-post.md"), json={"file": "moved"})
    assert response.status_code == 200
    assert response.get_json()["post"]["file"] == "moved.md"
    folder = blog.workdir / "src/content/blog"
    assert not (folder / "first-post.md").exists()
    assert (folder / "moved.md").exists()
    assert blog.owner.get(blog.post_url("first-post.md")).status_code == 404


def test_patch_rename_onto_an_existing_post_is_409_and_changes_nothing(blog):
    before = (blog.workdir / "src/content/blog/first-post.md").read_text()
    response = blog.owner.patch(blog.post_url("first-post.md"), json={"file": "second-post", "title": "t"})
    assert response.status_code == 409
    assert response.get_json() == {"error": "A post named 'second-post.md' already exists"}
    assert (blog.workdir / "src/content/blog/first-post.md").read_text() == before


@pytest.mark.parametrize(
    ("body", "status"),
    [({}, 400), ({"title": None}, 400), ({"file": "../x"}, 400), ({"pubDate": "soon"}, 400), ({"tags": [1]}, 400)],
    ids=["empty", "only-null", "bad-rename", "bad-date", "bad-tags"],
)
def test_patch_rejects_invalid_bodies(blog, body, status):
    before = (blog.workdir / "src/content/blog/first-post.md").read_text()
    assert blog.owner.patch(blog.post_url("first-post.md"), json=body).status_code == status
    assert (blog.workdir / "src/content/blog/first-post.md").read_text() == before


def test_patch_unknown_post_is_404(blog):
    response = blog.owner.patch(blog.post_url("nope.md"), json={"title": "x"})
    assert (response.status_code, response.get_json()) == (404, {"error": "Post not found"})


# -- who may do what -----------------------------------------------------------------------------------------


def test_viewers_read_editors_write(api, blog):
    viewer, editor, stranger = api.user(), api.user(), api.user()
    api.share(blog.owner, blog.project_id, viewer, "viewer")
    api.share(blog.owner, blog.project_id, editor, "editor")
    assert viewer.get(blog.post_url("all")).status_code == 200
    assert viewer.get(blog.post_url("first-post.md")).status_code == 200
    assert viewer.post(blog.post_url(), json={"title": "v", "body": ""}).status_code == 403
    assert viewer.patch(blog.post_url("first-post.md"), json={"title": "v"}).status_code == 403
    assert viewer.post(blog.post_url("first-post.md")).status_code == 403
    assert viewer.delete(blog.post_url("first-post.md")).status_code == 403
    assert stranger.get(blog.post_url("all")).status_code == 403
    assert api.server.app.test_client().get(blog.post_url("all")).status_code == 401
    assert editor.post(blog.post_url(), json={"title": "by editor", "body": ""}).status_code == 201
    assert editor.patch(blog.post_url("by-editor.md"), json={"title": "e"}).status_code == 200
