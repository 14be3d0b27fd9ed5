"""Blog posts as data: the excerpt rule, safe file names, slugs, front matter fields and the listing order."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from legacy_core.blog.errors import InvalidFileName
from legacy_core.blog.frontmatter import Document
from legacy_core.blog.posts import (
    Post,
    excerpt,
    is_post_name,
    listing_key,
    normalize_file_name,
    parse_pub_date,
    slug_file_name,
    with_fields,
)

WHITESPACE = st.text(st.sampled_from(" \t\n\r\f\v\u00a0\u2028\u3000"), min_size=1, max_size=4)
WORD = st.text(st.characters(blacklist_categories=("Cs", "Zs", "Zl", "Zp", "Cc")), min_size=1, max_size=30)


@given(words=st.lists(WORD, max_size=40), gaps=st.lists(WHITESPACE, min_size=41, max_size=41), lead=st.booleans())
def test_excerpt_collapses_whitespace_and_cuts_at_exactly_140_characters(words, gaps, lead):
    body = (gaps[0] if lead else "") + "".join(word + gap for word, gap in zip(words, gaps[1:], strict=False))
    flat = " ".join(words)
    result = excerpt(body)
    if len(flat) <= 140:
        assert result == flat  # whole, no ellipsis
    else:
        assert result == flat[:140] + "…"
        assert len(result) == 141


@given(body=st.text(st.characters(blacklist_categories=("Cs",))))
def test_excerpt_never_holds_two_spaces_or_other_whitespace(body):
    result = excerpt(body)
    text = result.removesuffix("…") if len(result) == 141 else result
    assert "  " not in text
    assert all(char == " " or not char.isspace() for char in text)
    assert text == text.lstrip()
    assert len(result) <= 141


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("a" * 140, "a" * 140),
        ("a" * 141, "a" * 140 + "…"),
        ("  Hello \n\n  world\t!  ", "Hello world !"),
        ("x" * 139 + " yz", "x" * 139 + " " + "…"),  # the legacy cut keeps a trailing space before the ellipsis
        ("", ""),
    ],
    ids=["exactly-140", "141-is-cut", "collapsed", "cut-after-space", "empty"],
)
def test_excerpt_examples(body, expected):
    assert excerpt(body) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("hello", "hello.md"), ("hello.md", "hello.md"), ("Café 2024", "Café 2024.md"), ("notes.txt", "notes.txt.md")],
)
def test_normalize_file_name_appends_md_when_missing(raw, expected):
    assert normalize_file_name(raw) == expected


@pytest.mark.parametrize(
    "raw",
    ["", "..", "../etc/passwd", "a/b.md", "a\\b.md", "/etc/passwd", "C:\\x.md", "a\x00b", "a\nb", ".git", ".hidden.md",
     "x..md", "x" * 200],
    ids=["empty", "dotdot", "traversal", "slash", "backslash", "absolute", "drive", "nul", "newline", "git",
         "hidden", "inner-dotdot", "too-long"],
)  # fmt: skip
def test_normalize_file_name_rejects_unsafe_names(raw):
    with pytest.raises(InvalidFileName):
        normalize_file_name(raw)
    assert not is_post_name(raw)


@given(title=st.text())
def test_slug_file_name_is_always_a_safe_post_name(title):
    name = slug_file_name(title)
    assert normalize_file_name(name) == name
    assert name.endswith(".md")


def test_slug_file_name_keeps_ascii_words():
    assert slug_file_name("Hello: World, Café!") == "hello-world-cafe.md"
    assert slug_file_name("日本語") == "post.md"


def test_parse_pub_date_reads_dates_and_date_times_and_refuses_the_rest():
    assert parse_pub_date("2024-01-15").isoformat() == "2024-01-15T00:00:00+00:00"
    assert parse_pub_date("2024-01-15T10:30:00+02:00").isoformat() == "2024-01-15T10:30:00+02:00"
    assert parse_pub_date("2024-02-30") is None
    assert parse_pub_date("Jan 15 2024") is None


def test_listing_key_orders_newest_first_then_by_file_and_undated_last():
    summaries = [
        {"file": "b.md", "pubDate": "2024-01-01"},
        {"file": "none.md", "pubDate": None},
        {"file": "a.md", "pubDate": "2024-01-01"},
        {"file": "new.md", "pubDate": "2024-06-01T08:00:00Z"},
        {"file": "odd.md", "pubDate": "someday"},
    ]
    ordered = [summary["file"] for summary in sorted(summaries, key=listing_key)]
    assert ordered == ["new.md", "a.md", "b.md", "none.md", "odd.md"]


def test_with_fields_changes_only_the_given_keys_and_keeps_the_others_in_place():
    front_matter = {"title": "Old", "heroImage": "/x.png", "pubDate": date(2024, 1, 1)}
    updated = with_fields(front_matter, {"title": "New", "tags": ["a"]})
    assert updated == {"title": "New", "heroImage": "/x.png", "pubDate": date(2024, 1, 1), "tags": ["a"]}
    assert list(updated) == ["title", "heroImage", "pubDate", "tags"]
    assert front_matter["title"] == "Old"


def test_post_fields_tolerate_odd_front_matter_types():
    post = Post("odd.md", Document({"title": 2024, "tags": "solo", "draft": "yes"}, "body"))
    assert post.summary(uncommitted=False) == {
        "file": "odd.md",
        "title": "2024",
        "description": "",
        "tags": ["solo"],
        "status": "Published",  # only `draft: true` makes a committed post a draft
        "pubDate": None,
        "excerpt": "body",
    }
    assert Post("t.md", Document({}, "")).title == "t"
