"""Blog front matter: parsing files, writing them back, and surviving YAML-special text unchanged."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from legacy_core.blog.errors import FrontMatterError
from legacy_core.blog.frontmatter import Document, dump, jsonable, parse

# Any text a UTF-8 file can hold: everything but lone surrogates.
TEXT = st.text(st.characters(blacklist_categories=("Cs",)))
YAML_SPECIAL = st.sampled_from(
    [": ", " #", "'", '"', "---", "...", "- ", "? ", "&a", "*a", "!tag", "%", "@", "`", "|", ">", "{", "}", "[",
     "]", ",", "\n", "\r\n", "\t", "yes", "null", "~", "2024-01-01", "0x1F", "1e3", "\u2028", "\x85", "\ufeff",
     "é", "日本", "🙂", "\\", "\x00"]
)  # fmt: skip
TRICKY = st.lists(st.one_of(TEXT, YAML_SPECIAL), max_size=6).map("".join)


def test_parse_splits_front_matter_and_body():
    document = parse("---\ntitle: Hi\ntags: [a, b]\n---\nBody line\n")
    assert document == Document({"title": "Hi", "tags": ["a", "b"]}, "Body line\n")


def test_parse_without_front_matter_keeps_the_whole_text_as_body():
    assert parse("# Just Markdown\n") == Document({}, "# Just Markdown\n")
    assert parse("") == Document({}, "")


def test_parse_accepts_crlf_bom_and_empty_front_matter():
    assert parse("\ufeff---\r\ntitle: Hi\r\n---\r\nBody\r\n") == Document({"title": "Hi"}, "Body\r\n")
    assert parse("---\n---\nBody") == Document({}, "Body")


def test_parse_reads_yaml_dates_as_dates_and_jsonable_shows_them_as_iso_text():
    document = parse("---\npubDate: 2024-01-15\n---\n")
    assert document.front_matter == {"pubDate": date(2024, 1, 15)}
    assert jsonable(document.front_matter) == {"pubDate": "2024-01-15"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("---\ntitle: [unclosed\n---\n", "not valid YAML"),
        ("---\n- a list\n---\n", "must be a YAML mapping"),
        ("---\ntitle: never closed\n", "never closed"),
    ],
    ids=["invalid-yaml", "not-a-mapping", "unclosed"],
)
def test_parse_rejects_unreadable_front_matter_naming_the_file(text, message):
    with pytest.raises(FrontMatterError, match=message) as caught:
        parse(text, name="broken.md")
    assert "'broken.md'" in str(caught.value)


def test_dump_writes_front_matter_between_delimiters_in_the_given_order():
    text = dump(Document({"title": "Hi: there", "pubDate": date(2024, 1, 2), "tags": ["x"]}, "Body\n"))
    assert text == "---\ntitle: 'Hi: there'\npubDate: 2024-01-02\ntags:\n- x\n---\nBody\n"


@given(
    title=TRICKY,
    description=TRICKY,
    tags=st.lists(TRICKY, max_size=5),
    extra_key=TRICKY,
    body=TRICKY,
)
def test_frontmatter_round_trip_keeps_text_with_yaml_special_characters(title, description, tags, extra_key, body):
    front_matter = {"title": title, "description": description, "tags": tags, "draft": True, extra_key: title}
    document = Document(front_matter, body)
    assert parse(dump(document)) == document


@given(body=TRICKY)
def test_frontmatter_round_trip_keeps_a_body_that_looks_like_front_matter(body):
    document = Document({"title": "t"}, "---\nnot: front matter\n---\n" + body)
    assert parse(dump(document)) == document
