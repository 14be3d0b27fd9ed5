"""Property tests of PaperTrail parity: generated board snapshots, patches, items, comments and bundles, valid and not.

Each test builds one twin pair and sends every generated example to both sides; the answers must be identical
byte for byte and so must the stored state afterwards (see test_papertrail_parity). Examples share the pair, so
later examples also run against what earlier ones left behind, as real traffic would.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.fixtures.twins import Twins
from tests.plugins.test_papertrail_parity import Pair, board_url, make_pair

EXAMPLES = 25


def mostly(valid: st.SearchStrategy[Any], wild: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """`valid` three times in four, else `wild`: success paths and refusals both get exercised.

    (`st.one_of(valid, valid, valid, wild)` would not do: repeated branches collapse into one.)
    """
    return st.integers(0, 3).flatmap(lambda draw: wild if draw == 0 else valid)


# Wild values: every JSON type, numbers no coordinate takes, strings no id may be.
WILD_IDS = ["", ".", "..", "a/b", "a\\b", "tab\t", "x" * 81, "nul\x00", "c1\x85"]
numbers = st.one_of(
    st.integers(-(2**33), 2**33),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([2**31 - 1, -(2**31), 2**31, 0.5, -0.5, 1e300]),
)
scalars = st.one_of(st.none(), st.booleans(), numbers, st.text(max_size=8))
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3), max_leaves=5)
# Well-formed ids, with the characters the URL rules must let through.
NODE_IDS = ["a", "b", "c", "d", "n1", "\u00e9t\u00e9 \U0001f600", "\u0130x", "?q=1#f", "%2F", " sp "]
TEXT_KEYS = ("title", "text", "html", "descHtml", "url", "imageUrl", "color")
TYPES = ["text", "note", "link", "image", "file", "quote", "video"]


def _item_key(item: dict[str, Any]) -> object:
    # Missing ids are generated, so they never repeat; given ones must be unique in a well-formed list.
    return item.get("id") if item.get("id") is not None else object()


@dataclass(frozen=True)
class Family:
    """Strategies for board data: well-formed throughout (`wild` False), or with bad values anywhere."""

    wild: bool

    def pick(self, valid: st.SearchStrategy[Any], bad: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        return mostly(valid, bad) if self.wild else valid

    @property
    def ids(self) -> st.SearchStrategy[Any]:
        return self.pick(st.one_of(st.none(), st.sampled_from(NODE_IDS)), st.one_of(st.sampled_from(WILD_IDS), scalars))

    @property
    def texts(self) -> st.SearchStrategy[Any]:
        # Long runs of '#', '<' and NUL exercise the caps and the NUL scrubbing.
        valid = st.one_of(st.none(), st.text(max_size=12), st.text(alphabet="#<>&\x00 aZ", max_size=300))
        return self.pick(valid, scalars)

    @property
    def nodes(self) -> st.SearchStrategy[dict[str, Any]]:
        coordinates = self.pick(
            st.one_of(st.none(), st.integers(-(10**6), 10**6), st.floats(-1e6, 1e6, allow_nan=False)), numbers
        )
        tags = self.pick(
            st.lists(st.text(alphabet="#Aa \u0130\u00df ", max_size=5), max_size=5),
            st.one_of(scalars, st.lists(scalars)),
        )
        return st.fixed_dictionaries(
            {},
            optional={
                "id": self.ids,
                "type": self.pick(st.sampled_from(TYPES), scalars),
                **{axis: coordinates for axis in ("x", "y", "w", "h")},
                **{key: self.texts for key in TEXT_KEYS},
                "tags": tags,
                "extra": json_values,
            },
        )

    @property
    def edges(self) -> st.SearchStrategy[dict[str, Any]]:
        ends = self.pick(st.sampled_from(NODE_IDS), scalars)
        return st.fixed_dictionaries(
            {},
            optional={"id": self.ids, "source": ends, "target": ends, "label": self.texts, "color": self.texts},
        )

    def items(self, item: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[Any]:
        unique = st.lists(item, max_size=5, unique_by=_item_key)
        return self.pick(unique, st.one_of(st.lists(st.one_of(item, scalars), max_size=4), scalars))

    @property
    def extras(self) -> dict[str, st.SearchStrategy[Any]]:
        # A board title may be any string, but not null (unlike node texts).
        title = self.pick(st.text(alphabet="T #\x00\u00e9", max_size=200), st.one_of(st.none(), scalars))
        return {"title": title, "edges": self.items(self.edges), "tags": json_values}

    @property
    def boards(self) -> st.SearchStrategy[dict[str, Any]]:
        """A save or a bundle's board: nodes, and maybe a title and edges."""
        return st.fixed_dictionaries({"nodes": self.items(self.nodes)}, optional=self.extras)

    @property
    def patches(self) -> st.SearchStrategy[dict[str, Any]]:
        """A patch: any of title, nodes, edges."""
        return st.fixed_dictionaries({}, optional={"nodes": self.items(self.nodes), **self.extras})


CLEAN, WILD = Family(wild=False), Family(wild=True)
words = st.text(alphabet=st.characters(categories=("L", "N", "Zs")), min_size=1, max_size=8).filter(str.strip)


class Shared:
    """One pair per test, made on first use and kept across the test's examples.

    Hypothesis calls the test body once per example with the same (function-scoped) fixture values; the pair is
    kept on the test's own `twins_factory`, which a later test never sees.
    """

    BOARD: ClassVar[dict[str, Any]] = {
        "nodes": [{"id": "a"}, {"id": "b"}, {"id": "c"}, {"id": "\u00e9t\u00e9 \U0001f600"}],
        "edges": [{"id": "ab", "source": "a", "target": "b"}, {"id": "bc", "source": "b", "target": "c"}],
    }

    @staticmethod
    def pair(twins_factory: Callable[..., Twins]) -> tuple[Pair, str, str]:
        """The pair, alice's project id and its board id (a board holding nodes a, b, c and edge ab)."""
        made: tuple[Pair, str, str] | None = getattr(twins_factory, "papertrail_pair", None)
        if made is None:
            pair = make_pair(twins_factory)
            pair.user("alice")
            project_id = pair.project("alice")
            board_id = pair.json("alice", "POST", board_url(project_id), json=Shared.BOARD)["board"]["id"]
            made = (pair, project_id, board_id)
            twins_factory.papertrail_pair = made  # type: ignore[attr-defined]
        return made


@settings(max_examples=EXAMPLES)
@given(body=mostly(CLEAN.boards, st.one_of(WILD.boards, WILD.patches)))
def test_snapshot_saves_agree(twins_factory: Callable[..., Twins], body: dict[str, Any]) -> None:
    pair, project_id, _ = Shared.pair(twins_factory)
    pair.exact("alice", "POST", board_url(project_id), json=body)
    pair.same_state()


@settings(max_examples=EXAMPLES)
@given(body=mostly(CLEAN.patches, st.one_of(WILD.patches, json_values)))
def test_board_patches_agree(twins_factory: Callable[..., Twins], body: Any) -> None:
    pair, project_id, _ = Shared.pair(twins_factory)
    pair.exact("alice", "PATCH", board_url(project_id), json=body)
    pair.same_state()


def item_bodies(kind: str) -> st.SearchStrategy[Any]:
    """Bodies for one kind of item: usually that kind's fields (a patch mostly without an id), else anything."""
    clean = CLEAN.nodes if kind == "nodes" else CLEAN.edges
    wild = WILD.nodes if kind == "nodes" else WILD.edges
    without_id = clean.map(lambda body: {key: value for key, value in body.items() if key != "id"})
    return mostly(st.one_of(clean, without_id), st.one_of(wild, json_values))


@settings(max_examples=EXAMPLES)
@given(
    kind_and_body=st.sampled_from(["nodes", "edges"]).flatmap(lambda kind: st.tuples(st.just(kind), item_bodies(kind))),
    method=st.sampled_from(["POST", "PATCH", "GET", "DELETE"]),
    target=mostly(
        st.sampled_from(["a", "b", "c", "ab", "bc", "%C3%A9t%C3%A9%20%F0%9F%98%80"]),
        st.sampled_from(["zz", "%2E", "n%00"]),
    ),
)
def test_item_writes_agree(
    twins_factory: Callable[..., Twins], kind_and_body: tuple[str, Any], method: str, target: str
) -> None:
    kind, body = kind_and_body
    pair, project_id, board_id = Shared.pair(twins_factory)
    pair.exact("alice", "POST", board_url(project_id), json=Shared.BOARD)  # every example starts from this board
    suffix = f"/{board_id}/{kind}" if method == "POST" else f"/{board_id}/{kind}/{target}"
    pair.exact("alice", method, board_url(project_id, suffix), json=body)
    pair.same_state()


comment_bodies = st.fixed_dictionaries(
    {"body": mostly(words, st.one_of(st.text(max_size=3), st.just("   "), st.just("x" * 10001), scalars))},
    optional={
        "nodeId": mostly(st.sampled_from(["a", "b", " a ", "zz"]), st.one_of(st.sampled_from(WILD_IDS), scalars))
    },
)


@settings(max_examples=EXAMPLES)
@given(body=mostly(comment_bodies, json_values), edit=mostly(comment_bodies, json_values))
def test_comments_agree(twins_factory: Callable[..., Twins], body: Any, edit: Any) -> None:
    pair, project_id, board_id = Shared.pair(twins_factory)
    url = board_url(project_id, f"/{board_id}/comments")
    created = pair.exact("alice", "POST", url, json=body)
    if created.status_code == 201:
        comment_id = created.get_json()["comment"]["id"]
        pair.exact("alice", "PATCH", f"{url}/{comment_id}", json=edit)
    pair.exact("alice", "GET", url)
    pair.same_state()


AUTHORS = ["u_0000000000000001", "u_gone"]
MOMENTS = ["2025-01-02T03:04:05Z", "2025-01-02T03:04:05+05:30", "2025-01-02", "bad"]


def bundle_documents(family: Family) -> st.SearchStrategy[Any]:
    """board.json documents: a board with comments, attachments and a source project (or anything, when wild)."""
    comment = st.fixed_dictionaries(
        {"body": family.pick(words, st.one_of(st.just("  "), scalars))},
        optional={
            "nodeId": family.ids,
            "authorId": family.pick(st.sampled_from(AUTHORS), scalars),
            "createdAt": family.pick(st.sampled_from(MOMENTS), scalars),
            "updatedAt": family.pick(st.sampled_from(MOMENTS), scalars),
        },
    )
    document = st.fixed_dictionaries(
        {"board": family.boards},
        optional={
            "version": family.pick(st.sampled_from([1, 1.0, True]), scalars),
            "comments": family.pick(st.lists(comment, max_size=3), st.one_of(st.lists(scalars, max_size=2), scalars)),
            "project": family.pick(st.fixed_dictionaries({"id": st.sampled_from(["p_src", "p_other"])}), scalars),
        },
    )
    return family.pick(document, st.one_of(family.patches, json_values))


@settings(max_examples=EXAMPLES)
@given(document=mostly(bundle_documents(CLEAN), bundle_documents(WILD)), validate=st.booleans())
def test_json_imports_agree(twins_factory: Callable[..., Twins], document: Any, validate: bool) -> None:
    pair, project_id, _ = Shared.pair(twins_factory)
    suffix = "/import/validate" if validate else "/import"
    pair.exact("alice", "POST", board_url(project_id, suffix), json=document)
    pair.same_state()


# "../up.bin" is made safe on import; its member is named by an explicit, safe "path".
FILENAMES = ["f.txt", "Some File.png", "x", "page.html", "../up.bin"]
attachments = st.fixed_dictionaries(
    {"id": st.sampled_from(["a1", "a2", "a3"]), "filename": st.sampled_from(FILENAMES)},
    optional={
        "nodeId": mostly(CLEAN.ids, WILD.ids),
        "contentType": mostly(st.sampled_from(["text/csv", "Application/X-Thing", "bad type"]), scalars),
        "createdAt": mostly(st.sampled_from(MOMENTS), scalars),
    },
)
# Members besides board.json: unsafe names, folders and strays that belong to no attachment.
EXTRA_NAMES = ["../x", "a\\b", "dir/", "/abs", "C:/x", "stray.txt", "board.json"]


def zipped(document: dict[str, Any], files: list[dict[str, Any]], extra: dict[str, bytes], drop: bool) -> bytes:
    """A bundle: board.json, a member per attachment (one left out when `drop`), and `extra` members."""
    files = [dict(item) for item in files]  # "path" may be added below; the generated values stay as drawn
    out = io.BytesIO()
    written = {"board.json"}
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for index, item in enumerate(files):
            name = f"uploads/{item['id']}/{item['filename'].rsplit('/', 1)[-1]}"
            if "/" in item["filename"]:
                item["path"] = name
            if name not in written and not (drop and index == 0):
                archive.writestr(name, f"bytes of {name}")
                written.add(name)
        archive.writestr("board.json", json.dumps({**document, "attachments": files}))
        for name, data in extra.items():
            if name not in written:
                archive.writestr(name, data)
                written.add(name)
    return out.getvalue()


@settings(max_examples=EXAMPLES)
@given(
    document=bundle_documents(CLEAN),
    files=st.lists(attachments, max_size=3, unique_by=lambda item: item["id"]),
    extra=mostly(st.just({}), st.dictionaries(st.sampled_from(EXTRA_NAMES), st.binary(max_size=20), max_size=2)),
    drop=mostly(st.just(False), st.just(True)),
    cut=mostly(st.none(), st.integers(0, 400)),
)
def test_zip_imports_agree(
    twins_factory: Callable[..., Twins],
    document: dict[str, Any],
    files: list[dict[str, Any]],
    extra: dict[str, bytes],
    drop: bool,
    cut: int | None,
) -> None:
    pair, project_id, _ = Shared.pair(twins_factory)
    data = zipped(document, files, extra, drop)
    if cut is not None:
        data = data[:cut]  # a damaged archive
    pair.exact("alice", "POST", board_url(project_id, "/import"), data=data, content_type="application/zip")
    pair.same_state()
