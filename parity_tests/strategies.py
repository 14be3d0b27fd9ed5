"""Hypothesis strategies for what the OpenAPI schema cannot say: consistent board snapshots (with one subtle flaw
now and then) and blog posts whose front matter is awkward for YAML."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

# Text YAML and Markdown treat specially, and characters that need escaping somewhere on the way.
# fmt: off
_AWKWARD = (
    "#", "# not a comment", "'", '"', "a: b", "- item", "yes", "null", "~", "@at", "`tick`", "{x}", "[y]", "ü",
    "日本", "  padded  ", "%41", "?", "&", "*star", "!tag", "|", ">", "---", "\\",
)
# fmt: on
_PLAIN = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=8)


def awkward_text(max_pieces: int = 4) -> st.SearchStrategy[str]:
    return st.lists(st.one_of(st.sampled_from(_AWKWARD), _PLAIN), max_size=max_pieces).map("".join)


_NODE_ID = st.one_of(
    st.sampled_from(["a", "b", "c", "n 1", "#1", "n?x", "%41", "Ünï", "a.b", "x" * 80]),
    st.text(st.characters(exclude_characters="/\\", exclude_categories=["Cc", "Cs"]), min_size=1, max_size=10),
).filter(lambda value: value not in (".", ".."))
_TAG = st.one_of(st.sampled_from(["Evidence", "#evidence", " evidence ", "EVIDENCE", "", "##x", "primary"]), _PLAIN)
_FLAWS = (None, None, None, "dangling-edge", "duplicate-node", "duplicate-edge", "node-without-id", "self-loop")
_NODE_FIELDS = {
    "title": awkward_text(),
    "tags": st.lists(_TAG, max_size=4),
    "type": st.sampled_from(["text", "note", "link", "image", "file", "quote", "Note", ""]),
    "x": st.integers(-10, 10),
    "y": st.floats(-5.5, 5.5),
}
_EDGE_FIELDS = {"label": awkward_text(2)}


def _edge(edge_id: str, source: str, target: str) -> st.SearchStrategy[dict[str, Any]]:
    required = {"id": st.just(edge_id), "source": st.just(source), "target": st.just(target)}
    return st.fixed_dictionaries(required, optional=_EDGE_FIELDS)


@st.composite
def board_snapshots(draw: st.DrawFn) -> tuple[str | None, dict[str, Any]]:
    """(flaw, snapshot): nodes with unique ids and odd tags, edges between them, and sometimes one subtle flaw."""
    ids = draw(st.lists(_NODE_ID, max_size=5, unique=True), label="node ids")
    nodes = [draw(st.fixed_dictionaries({"id": st.just(node_id)}, optional=_NODE_FIELDS)) for node_id in ids]
    ends = draw(st.lists(st.tuples(st.sampled_from(ids), st.sampled_from(ids)), max_size=4)) if ids else []
    edges = [draw(_edge(f"e{number}", source, target)) for number, (source, target) in enumerate(ends)]
    flaw = draw(st.sampled_from(_FLAWS), label="flaw")
    if flaw == "dangling-edge":
        edges.append({"id": "dangling", "source": ids[0] if ids else "ghost", "target": "ghost"})
    elif flaw == "duplicate-node" and nodes:
        nodes.append({"id": nodes[0]["id"], "title": "twin"})
    elif flaw == "duplicate-edge" and edges:
        edges.append(dict(edges[0]))
    elif flaw == "node-without-id":
        nodes.append({"title": "anonymous"})
    elif flaw == "self-loop" and ids:
        edges.append({"id": "loop", "source": ids[0], "target": ids[0]})
    snapshot: dict[str, Any] = {"nodes": nodes, "edges": edges}
    if draw(st.booleans()):
        snapshot["title"] = draw(awkward_text())
    return flaw, snapshot


_PUB_DATES = ["2026-02-30", "2026-3-1", "2026-03-02T10:00:00Z", "2026-03-02 10:00", "2026-03-02T10:00:00+02:00"]
_POST_FIELDS = {
    "description": awkward_text(),
    "tags": st.lists(st.one_of(_TAG.filter(str.strip), st.just(" ")), max_size=4),
    "pubDate": st.one_of(st.dates().map(lambda day: day.isoformat()), st.sampled_from(_PUB_DATES)),
    "draft": st.booleans(),
}
_POST_TEXT = {
    "title": st.one_of(awkward_text().filter(str.strip), st.sampled_from(["  ", "Hello # there"])),
    "body": st.one_of(awkward_text(6), st.just("---\ntitle: inner\n---\ntext")),
}
_POST_FILE = {"file": st.sampled_from(["renamed", "renamed.md", "Odd Name", ".hidden", "a..b", "all"])}


def post_fields(*, create: bool) -> st.SearchStrategy[dict[str, Any]]:
    """A post's fields as a client sends them, front matter awkward for YAML: title and body and some of the rest
    for `create`, else at least one field (a new file name among them)."""
    if create:
        return st.fixed_dictionaries(_POST_TEXT, optional=_POST_FIELDS)
    return st.fixed_dictionaries({}, optional={**_POST_TEXT, **_POST_FIELDS, **_POST_FILE}).filter(bool)
