"""The comparison engine: canonical forms, differences at JSON pointers, noise rules applied, and no Flask."""

from __future__ import annotations

import ast
import copy
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from exthost.evidence.compare import (
    MISSING,
    CapturedResponse,
    Comparison,
    Difference,
    canonical,
    canonical_body,
    compare,
)
from exthost.evidence.noise import RouteRules, RuleSet, parse_rules

ROOT = Path(__file__).resolve().parents[2]
ROUTE = "/api/projects/<project_id>/papertrail/board"
NO_RULES = RuleSet()

scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8)
keys = st.text(max_size=5) | st.sampled_from(["a/b", "~", "~1", "m~n/", "*", "0", "10"])
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
    max_leaves=25,
)


def escape(token: str) -> str:
    """RFC 6901, written out here so the test does not trust the engine's own escaping."""
    return token.replace("~", "~0").replace("/", "~1")


def pointer(*tokens: Any) -> str:
    return "".join("/" + escape(str(token)) for token in tokens)


def json_response(value: Any, status: int = 200, headers: tuple[tuple[str, str], ...] = ()) -> CapturedResponse:
    return CapturedResponse(status, (("Content-Type", "application/json"), *headers), json.dumps(value).encode())


def leaves(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[tuple[Any, ...], Any]]:
    if isinstance(value, dict):
        return [leaf for key, item in value.items() for leaf in leaves(item, (*path, key))]
    if isinstance(value, list):
        return [leaf for index, item in enumerate(value) for leaf in leaves(item, (*path, index))]
    return [(path, value)]


def set_at(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    result = copy.deepcopy(value)
    target = result
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = new
    return result


def rules(*blocks: str, headers: str = "") -> RuleSet:
    return parse_rules(headers + "\n" + "\n".join(blocks), "test_rules.toml")


def toml_string(text: str) -> str:
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")  # TOML wants DEL escaped, JSON does not


def rule(action: str, at: str, *, route: str = ROUTE, extra: str = "") -> str:
    return (
        f'[[rule]]\nfeature = "papertrail"\nroute = "{route}"\nmethod = "GET"\naction = "{action}"\n'
        f'pointer = {toml_string(at)}\nreason = "A/A run 2026-11-25: differs legacy against legacy"\n{extra}\n'
    )


def run(legacy: CapturedResponse, plugin: CapturedResponse, ruleset: RuleSet = NO_RULES) -> Comparison:
    return compare(legacy, plugin, ruleset, feature="papertrail", method="GET", route=ROUTE)


def zip_bytes(members: dict[str, bytes], reverse: bool = False) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in sorted(members, reverse=reverse):
            archive.writestr(zipfile.ZipInfo(name, (2020 + reverse, 1, 1, 0, 0, 0)), members[name])
    return buffer.getvalue()


# --- JSON bodies ---


@given(json_values)
def test_compare_identical_responses_match(value):
    comparison = run(json_response(value), json_response(value))
    assert comparison.match
    assert comparison.differences == ()
    assert comparison.rules_applied == ()


@given(json_values, st.data())
def test_compare_one_changed_leaf_gives_one_difference_at_its_pointer(value, data):
    assume(leaves(value))  # an empty object or array has no leaf
    path, old = data.draw(st.sampled_from(leaves(value)))
    new = data.draw(scalars)
    assume(json.dumps(new) != json.dumps(old))  # 1, 1.0, true and -0.0, 0.0 are all different JSON
    comparison = run(json_response(value), json_response(set_at(value, path, new)))
    assert comparison.differences == (Difference(pointer("body", *path), old, new),)
    assert not comparison.match


def shuffled(value: Any, random: Any) -> Any:
    if isinstance(value, dict):
        items = list(value.items())
        random.shuffle(items)
        return {key: shuffled(item, random) for key, item in items}
    if isinstance(value, list):
        return [shuffled(item, random) for item in value]
    return value


@given(json_values, st.randoms(use_true_random=False))
def test_compare_key_order_shows_only_as_a_bytes_difference(value, random):
    reordered = json.dumps(shuffled(value, random))
    plugin = CapturedResponse(200, (("content-type", "application/json"),), reordered.encode())
    legacy = json_response(value)
    expected = [] if legacy.body == plugin.body else ["/bodyBytes"]
    assert [d.pointer for d in run(legacy, plugin).differences] == expected  # never a /body difference


def test_compare_values_of_different_json_types_differ():
    comparison = run(json_response({"a": 1, "b": 1, "c": 0}), json_response({"a": 1.0, "b": True, "c": -0}))
    assert [d.pointer for d in comparison.differences] == ["/body/a", "/body/b"]


def test_compare_reports_every_difference_sorted_by_pointer_with_numeric_indexes():
    legacy = {"nodes": list(range(12)), "z": 1, "a": 1}
    plugin = {"nodes": [*range(2), -2, *range(3, 10), -10, -11], "z": 2, "a": 2}
    comparison = run(json_response(legacy), json_response(plugin))
    assert [d.pointer for d in comparison.differences] == [
        "/body/a",
        "/body/nodes/2",
        "/body/nodes/10",
        "/body/nodes/11",
        "/body/z",
    ]


def test_compare_a_value_missing_on_one_side_is_missing():
    comparison = run(json_response({"a": 1, "list": [1]}), json_response({"b": 2, "list": [1, 2]}))
    assert comparison.differences == (
        Difference("/body/a", 1, MISSING),
        Difference("/body/b", MISSING, 2),
        Difference("/body/list/1", MISSING, 2),
    )
    assert comparison.differences[0].to_json() == {
        "pointer": "/body/a",
        "legacy": 1,
        "plugin": "<missing>",
        "missing": "plugin",
    }
    assert repr(MISSING) == str(MISSING) == "<missing>"


def test_comparison_to_json_is_plain_json():
    comparison = run(json_response({"a": [1]}), json_response({"a": []}))
    data = json.loads(json.dumps(comparison.to_json()))
    assert data == {
        "feature": "papertrail",
        "method": "GET",
        "route": ROUTE,
        "match": False,
        "differences": [{"pointer": "/body/a/0", "legacy": 1, "plugin": "<missing>", "missing": "plugin"}],
        "rulesApplied": [],
    }


def test_compare_pointer_escapes_tilde_and_slash():
    comparison = run(json_response({"a/b": {"m~n": 1}}), json_response({"a/b": {"m~n": 2}}))
    assert [d.pointer for d in comparison.differences] == ["/body/a~1b/m~0n"]
    ignored = rules(rule("ignore", "/body/a~1b/m~0n"))
    assert run(json_response({"a/b": {"m~n": 1}}), json_response({"a/b": {"m~n": 2}}), ignored).match


def test_compare_invalid_json_is_compared_as_text_and_flagged():
    bad = CapturedResponse(200, (("Content-Type", "application/json"),), b"{'a': 1}")
    comparison = run(json_response({"a": 1}), bad)
    assert [d.pointer for d in comparison.differences] == ["/body", "/bodyError"]
    assert comparison.differences[0].plugin == "{'a': 1}"
    assert comparison.differences[1].legacy is MISSING
    assert comparison.differences[1].plugin.startswith("invalid JSON: ")


# --- status and headers ---


def test_compare_status_difference():
    comparison = run(json_response({}, status=200), json_response({}, status=201))
    assert comparison.differences == (Difference("/status", 200, 201),)


def test_compare_header_difference_with_names_case_insensitive():
    legacy = json_response({}, headers=(("Cache-Control", "no-store"), ("LOCATION", "/a")))
    plugin = json_response({}, headers=(("cache-control", "no-cache"), ("Location", "/a")))
    assert run(legacy, plugin).differences == (Difference("/headers/cache-control", "no-store", "no-cache"),)


def test_compare_every_header_is_compared_but_the_ignored_ones():
    legacy = json_response({}, headers=(("Date", "Mon"), ("X-Content-Type-Options", "nosniff"), ("Server", "a")))
    plugin = json_response({}, headers=(("Date", "Tue"), ("Server", "b")))
    assert run(legacy, plugin).differences == (
        Difference("/headers/x-content-type-options", "nosniff", MISSING),
    )  # a security header the plugin forgot; Date and Server are set by the server, not the implementation
    also_date = rules(headers='ignore_headers = ["server", "x-content-type-options"]')
    assert run(legacy, plugin, also_date).differences == (Difference("/headers/date", "Mon", "Tue"),)


def test_canonical_repeated_header_is_a_list_in_order():
    response = CapturedResponse(
        200, (("Set-Cookie", "a=1"), ("set-cookie", "b=2"), ("Location", "/x"), ("Date", "Mon")), b""
    )
    form = canonical(response, RouteRules(ignored_headers=("date",)))
    assert form == {"status": 200, "headers": {"location": "/x", "set-cookie": ["a=1", "b=2"]}, "body": ""}


def test_compare_bodies_that_parse_alike_but_differ_in_bytes_are_a_difference():
    legacy = CapturedResponse(200, (("Content-Type", "application/json"),), b'{"a":1,"b":2}\n')
    plugin = CapturedResponse(200, (("Content-Type", "application/json"),), b'{"b":2,"a":1}\n')
    [difference] = run(legacy, plugin).differences
    assert difference.pointer == "/bodyBytes"
    assert difference.legacy["firstChange"] == 2 and difference.legacy["around"] == '{"a":1,"b":2}\n'
    assert difference.plugin["around"] == '{"b":2,"a":1}\n'
    spaced = CapturedResponse(200, (("Content-Type", "application/json"),), b'{"a": 1, "b": 2}\n')
    assert [d.pointer for d in run(legacy, spaced).differences] == ["/bodyBytes"]
    allowed = rules(rule("ignore", "/bodyBytes"))
    comparison = run(legacy, plugin, allowed)
    assert comparison.match and comparison.rules_applied == (f"papertrail:GET:{ROUTE}:/bodyBytes",)


def test_compare_a_body_difference_is_named_once_not_again_as_bytes():
    comparison = run(json_response({"a": 1}), json_response({"a": 2}))
    assert [d.pointer for d in comparison.differences] == ["/body/a"]


def test_compare_a_rule_that_lets_a_body_difference_pass_lets_its_bytes_pass_too():
    allowed = rules(rule("ignore", "/body/updatedAt"))
    comparison = run(json_response({"updatedAt": "1"}), json_response({"updatedAt": "2"}), allowed)
    assert comparison.match


# --- noise rules ---


def test_compare_list_order_matters_without_an_unordered_rule():
    comparison = run(json_response({"tags": ["a", "b"]}), json_response({"tags": ["b", "a"]}))
    assert [d.pointer for d in comparison.differences] == ["/body/tags/0", "/body/tags/1"]


@given(st.lists(json_values, max_size=6), st.randoms(use_true_random=False))
def test_compare_unordered_rule_compares_a_list_as_a_multiset(items, random):
    permuted = list(items)
    random.shuffle(permuted)
    ruleset = rules(rule("unordered", "/body/tags"))
    comparison = run(json_response({"tags": items}), json_response({"tags": permuted}), ruleset)
    assert comparison.match
    reordered = json.dumps(items) != json.dumps(permuted)
    assert comparison.rules_applied == ((f"papertrail:GET:{ROUTE}:/body/tags",) if reordered else ())


def test_compare_unordered_rule_still_reports_a_changed_element():
    ruleset = rules(rule("unordered", "/body/tags"))
    comparison = run(json_response({"tags": ["a", "b", "c"]}), json_response({"tags": ["c", "a", "x"]}), ruleset)
    assert comparison.differences == (Difference("/body/tags/1", "b", "c"), Difference("/body/tags/2", "c", "x"))


def test_compare_unordered_rule_sorts_with_ignored_values_blanked_and_inner_lists_sorted():
    ruleset = rules(
        rule("unordered", "/body/nodes"),
        rule("unordered", "/body/nodes/*/tags"),
        rule("ignore", "/body/nodes/*/seen"),
    )
    legacy = {"nodes": [{"id": 1, "tags": ["x", "y"], "seen": 5}, {"id": 2, "tags": [], "seen": 1}]}
    plugin = {"nodes": [{"id": 2, "tags": [], "seen": 9}, {"id": 1, "tags": ["y", "x"], "seen": 0}]}
    comparison = run(json_response(legacy), json_response(plugin), ruleset)
    assert comparison.match
    assert len(comparison.rules_applied) == 3


@given(json_values, st.data())
def test_compare_ignore_rule_suppresses_exactly_the_pointed_value(value, data):
    found = leaves(value)
    assume(len(found) >= 2)
    (ignored_path, ignored_old), (kept_path, kept_old) = data.draw(st.permutations(found))[:2]
    ignored_new, kept_new = data.draw(scalars), data.draw(scalars)
    assume(json.dumps(ignored_new) != json.dumps(ignored_old) and json.dumps(kept_new) != json.dumps(kept_old))
    plugin = set_at(set_at(value, ignored_path, ignored_new), kept_path, kept_new)
    at = pointer("body", *ignored_path)
    assume("*" not in at.split("/"))  # a key spelled '*' is a wildcard in a rule
    comparison = run(json_response(value), json_response(plugin), rules(rule("ignore", at)))
    assert comparison.differences == (Difference(pointer("body", *kept_path), kept_old, kept_new),)
    assert comparison.rules_applied == (f"papertrail:GET:{ROUTE}:{at}",)


def test_compare_ignore_rule_is_not_reported_when_nothing_differed_there():
    ruleset = rules(rule("ignore", "/body/updatedAt"))
    comparison = run(json_response({"updatedAt": 1, "a": 1}), json_response({"updatedAt": 1, "a": 2}), ruleset)
    assert comparison.differences == (Difference("/body/a", 1, 2),)
    assert comparison.rules_applied == ()


def test_compare_ignore_rule_covers_a_value_missing_on_one_side_but_not_its_parent():
    ruleset = rules(rule("ignore", "/body/board/updatedAt"))
    assert run(json_response({"board": {"updatedAt": 1}}), json_response({"board": {}}), ruleset).match
    comparison = run(json_response({"board": {"updatedAt": 1}}), json_response({}), ruleset)
    assert [d.pointer for d in comparison.differences] == ["/body/board"]
    assert comparison.differences[0].legacy == {"updatedAt": 1}  # reported as sent, not as marked


def test_compare_wildcard_segment_matches_any_key_or_index():
    ruleset = rules(rule("ignore", "/body/*/nodes/*/updatedAt"))
    legacy = {"b1": {"nodes": [{"updatedAt": 1, "t": "a"}, {"updatedAt": 2, "t": "b"}]}, "b2": {"nodes": []}}
    plugin = {"b1": {"nodes": [{"updatedAt": 3, "t": "a"}, {"updatedAt": 4, "t": "c"}]}, "b2": {"nodes": []}}
    comparison = run(json_response(legacy), json_response(plugin), ruleset)
    assert comparison.differences == (Difference("/body/b1/nodes/1/t", "b", "c"),)
    assert comparison.rules_applied == (f"papertrail:GET:{ROUTE}:/body/*/nodes/*/updatedAt",)


def test_compare_pattern_rule_allows_values_that_both_fullmatch():
    ruleset = rules(rule("pattern", "/body/*/id", extra="regex = '[0-9a-f]{8}'"))
    legacy = {"a": {"id": "0000abcd"}, "b": {"id": "0000abcd"}, "c": {"id": 7}}
    plugin = {"a": {"id": "1234beef"}, "b": {"id": "not-an-id"}, "c": {"id": 8}}
    comparison = run(json_response(legacy), json_response(plugin), ruleset)
    assert comparison.differences == (
        Difference("/body/b/id", "0000abcd", "not-an-id"),
        Difference("/body/c/id", 7, 8),
    )
    assert comparison.rules_applied == (f"papertrail:GET:{ROUTE}:/body/*/id",)


def test_compare_rules_of_another_route_feature_or_method_do_not_apply():
    ruleset = rules(rule("ignore", "/body/a", route="/api/projects/<project_id>/papertrail/board/nodes"))
    assert not run(json_response({"a": 1}), json_response({"a": 2}), ruleset).match
    ruleset = rules(rule("ignore", "/body/a"))
    other = compare(
        json_response({"a": 1}), json_response({"a": 2}), ruleset, feature="blog", method="GET", route=ROUTE
    )
    assert not other.match
    post = compare(
        json_response({"a": 1}), json_response({"a": 2}), ruleset, feature="papertrail", method="POST", route=ROUTE
    )
    assert not post.match


def test_compare_rules_match_a_concrete_path_as_well_as_the_url_rule():
    ruleset = rules(rule("ignore", "/body/a"))
    comparison = compare(
        json_response({"a": 1}),
        json_response({"a": 2}),
        ruleset,
        feature="papertrail",
        method="get",
        route="/api/projects/p-17/papertrail/board",
    )
    assert comparison.match
    assert comparison.method == "GET"


# --- HTML, text, zip and other bodies ---

HTML = (
    b"<!DOCTYPE html><html><head><title>Board</title></head><body>"
    b"<div class='card' id=n1>Hello   world<br/></div><!-- built 10:00 --><pre>  a\n b</pre>"
    b"<input disabled><p>Tom &amp; Jerry</p></body></html>"
)
HTML_REFORMATTED = b"""<!doctype html>
<html>
  <head>
    <title>Board</title>
  </head>
  <body>
    <div id="n1" class="card">
      Hello world
      <br>
    </div>
    <!-- built 10:01 -->
    <pre>  a\n b</pre>
    <input disabled="">
    <p>Tom &#38; Jerry</p>
  </body>
</html>
"""


def html_response(body: bytes) -> CapturedResponse:
    return CapturedResponse(200, (("Content-Type", "text/html; charset=utf-8"),), body)


def test_compare_html_whitespace_attribute_order_and_comments_do_not_matter():
    assert run(html_response(HTML), html_response(HTML_REFORMATTED)).match


def test_canonical_html_is_a_tree_of_tags_sorted_attributes_and_text():
    body = canonical(html_response(HTML))["body"]
    assert body[0] == {"declaration": "doctype html"}
    html_body = body[1]["children"][1]
    assert html_body["children"][0] == {
        "tag": "div",
        "attrs": {"class": "card", "id": "n1"},
        "children": ["Hello world", {"tag": "br", "attrs": {}, "children": []}],
    }
    assert html_body["children"][1]["children"] == ["  a\n b"]  # whitespace in <pre> is content


def test_compare_html_text_change_is_reported_at_the_text():
    plugin = html_response(HTML_REFORMATTED.replace(b"Hello world", b"Hello there"))
    comparison = run(html_response(HTML), plugin)
    assert comparison.differences == (
        Difference("/body/1/children/1/children/0/children/0", "Hello world", "Hello there"),
    )


def test_compare_html_element_and_attribute_changes_are_reported():
    plugin = html_response(HTML.replace(b"class='card'", b"class='card done'").replace(b"<p>", b"<span>"))
    pointers = [d.pointer for d in run(html_response(HTML), plugin).differences]
    assert pointers == ["/body/1/children/1/children/0/attrs/class", "/body/1/children/1/children/3/tag"]


def test_compare_pre_whitespace_change_is_reported():
    plugin = html_response(HTML.replace(b"<pre>  a", b"<pre> a"))
    assert [d.pointer for d in run(html_response(HTML), plugin).differences] == [
        "/body/1/children/1/children/1/children/0"
    ]


def test_compare_text_bodies_as_text():
    legacy = CapturedResponse(200, (("Content-Type", "text/markdown"),), b"# Title\n")
    plugin = CapturedResponse(200, (("Content-Type", "text/markdown"),), b"# Title!\n")
    assert run(legacy, plugin).differences == (Difference("/body", "# Title\n", "# Title!\n"),)


def test_compare_zip_member_change_is_reported_at_the_member():
    board = {"board": {"nodes": [{"title": "Claim"}]}}
    members = {"board.json": json.dumps(board).encode(), "uploads/a1/photo.png": b"\x89PNG1"}
    changed = {
        "board.json": json.dumps({"board": {"nodes": [{"title": "Claim!"}]}}).encode(),
        "uploads/a1/photo.png": b"\x89PNG2",
    }
    legacy = CapturedResponse(200, (("Content-Type", "application/zip"),), zip_bytes(members))
    plugin = CapturedResponse(200, (("Content-Type", "application/zip"),), zip_bytes(changed))
    comparison = run(legacy, plugin)
    assert [d.pointer for d in comparison.differences] == [
        "/body/board.json/board/nodes/0/title",
        "/body/uploads~1a1~1photo.png/sha256",
    ]
    assert comparison.differences[0].plugin == "Claim!"


def test_compare_zip_member_order_and_timestamps_do_not_matter():
    members = {"board.json": b'{"a": 1}', "uploads/x/f.txt": b"x"}
    legacy = CapturedResponse(200, (("Content-Type", "application/zip"),), zip_bytes(members))
    plugin = CapturedResponse(200, (("Content-Type", "application/zip"),), zip_bytes(members, reverse=True))
    assert legacy.body != plugin.body
    assert run(legacy, plugin).match


def test_compare_zip_json_member_bytes_that_parse_alike_still_differ():
    # An export whose board.json escapes non-ASCII text (or orders keys otherwise) parses to the same tree: the
    # member's bytes still differ, and that is reported at /bodyBytes/<member>.
    board = {"board": {"title": "Überblick", "nodes": []}}
    legacy = CapturedResponse(
        200,
        (("Content-Type", "application/zip"),),
        zip_bytes({"board.json": json.dumps(board, ensure_ascii=False).encode()}),
    )
    plugin = CapturedResponse(
        200, (("Content-Type", "application/zip"),), zip_bytes({"board.json": json.dumps(board).encode()})
    )
    comparison = run(legacy, plugin)
    assert [d.pointer for d in comparison.differences] == ["/bodyBytes/board.json"]
    assert comparison.differences[0].legacy["firstChange"] == comparison.differences[0].plugin["firstChange"] == 21


def test_canonical_body_damaged_zip_is_a_digest_with_an_error():
    body, error = canonical_body(b"PK\x03\x04 not really", "application/zip")
    assert set(body) == {"length", "sha256"}
    assert error is not None and error.startswith("not a readable zip archive")


def test_compare_other_binary_bodies_by_length_and_digest():
    legacy = CapturedResponse(200, (("Content-Type", "image/png"),), b"\x89PNG-a")
    plugin = CapturedResponse(200, (("Content-Type", "image/png"),), b"\x89PNG-b")
    comparison = run(legacy, plugin)
    assert [d.pointer for d in comparison.differences] == ["/body/sha256"]
    assert set(canonical(legacy)["body"]) == {"length", "sha256"}


def test_canonical_body_empty_is_empty_text_whatever_the_type():
    assert canonical_body(b"", "application/json") == ("", None)


def test_canonical_body_undecodable_text_is_flagged():
    body, error = canonical_body(b"caf\xe9", "text/plain; charset=utf-8")
    assert body == "caf\ufffd"
    assert error is not None and error.startswith("not valid utf-8")


# --- architecture ---

ENGINE_MODULES = ("compare", "rules", "noise", "har", "redact", "capture")
FORBIDDEN_TOPS = {"flask", "werkzeug", "legacy_core"}


def engine_imports(source: str) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("module", ENGINE_MODULES)
def test_compare_engine_modules_import_no_flask_werkzeug_or_legacy_core(module):
    source = (ROOT / "exthost" / "evidence" / f"{module}.py").read_text(encoding="utf-8")
    forbidden = {name for name in engine_imports(source) if name.split(".")[0] in FORBIDDEN_TOPS}
    assert forbidden == set()


def test_compare_import_check_catches_a_forbidden_import():
    source = "import json\nfrom werkzeug.http import parse_cookie\nimport flask\nfrom legacy_core import app\n"
    found = {name for name in engine_imports(source) if name.split(".")[0] in FORBIDDEN_TOPS}
    assert found == {"werkzeug.http", "flask", "legacy_core"}


def test_compare_zip_member_bytes_follow_the_rules_that_let_a_member_pass():
    # A rule that lets a field of board.json pass lets the bytes it changes pass too; a rule on the member's bytes
    # lets exactly that member's bytes pass.
    board = {"board": {"title": "Überblick", "exportedAt": "2026-01-01T00:00:00Z"}}
    other = {"board": {**board["board"], "exportedAt": "2026-01-01T00:00:01Z"}}

    def archive(document: Any, **dump: Any) -> CapturedResponse:
        body = zip_bytes({"board.json": json.dumps(document, **dump).encode()})
        return CapturedResponse(200, (("Content-Type", "application/zip"),), body)

    legacy = archive(board)
    assert not run(legacy, archive(other)).match
    assert run(legacy, archive(other), rules(rule("ignore", "/body/board.json/board/exportedAt"))).match
    escaped = archive(board, ensure_ascii=False)
    assert [d.pointer for d in run(legacy, escaped).differences] == ["/bodyBytes/board.json"]
    comparison = run(legacy, escaped, rules(rule("ignore", "/bodyBytes/board.json")))
    assert comparison.match and comparison.rules_applied
    assert not run(legacy, escaped, rules(rule("ignore", "/bodyBytes/other.json"))).match
