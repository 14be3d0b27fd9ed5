"""Noise rules: the TOML file, its one-line errors, the shipped rules and which rules apply to a route."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exthost.errors import ExtHostError, NoiseRulesError
from exthost.evidence.noise import RuleSet, load_rules, parse_rules
from exthost.evidence.rules import DEFAULT_IGNORED_HEADERS, join_pointer, split_pointer

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "parity_tests" / "noise_rules.toml"
ROUTE = "/api/projects/<project_id>/papertrail/board"

GOOD = f"""
ignore_headers = ["date", "server", "x-request-id"]

[[rule]]
feature = "papertrail"
route = "{ROUTE}"
method = "GET"
action = "ignore"
pointer = "/body/board/updatedAt"
reason = "A/A run 2026-11-25 (sv parity replay, board.har): the legacy stamps render time"
"""


def rule_block(**fields: str) -> str:
    values = {
        "feature": "papertrail",
        "route": ROUTE,
        "method": "GET",
        "action": "ignore",
        "pointer": "/body/x",
        "reason": "A/A run 2026-11-25 showed it",
    } | fields
    return "[[rule]]\n" + "".join(f"{key} = {value!r}\n" for key, value in values.items() if value is not None)


def problems(text: str) -> list[str]:
    with pytest.raises(NoiseRulesError) as caught:
        parse_rules(text, "parity_tests/noise_rules.toml")
    assert caught.value.path == "parity_tests/noise_rules.toml"
    assert str(caught.value).startswith("parity_tests/noise_rules.toml: ")
    return caught.value.problems


def test_noise_shipped_rules_file_loads_with_a_justified_rule_and_the_default_headers():
    ruleset = load_rules(SHIPPED)
    assert [rule.id for rule in ruleset.rules] == [
        "papertrail:GET:/uploads/<project_id>/<attachment_id>/<filename>:/headers/etag"
    ]
    assert all(rule.reason.startswith("A/A run ") for rule in ruleset.rules)
    assert ruleset.ignored_headers == DEFAULT_IGNORED_HEADERS
    assert ruleset.source == str(SHIPPED)


def test_noise_shipped_rules_file_explains_the_format_and_the_aa_justification():
    header = SHIPPED.read_text(encoding="utf-8")
    for word in ("A/A run", "reason", "ignore", "unordered", "pattern", "pointer", '"*"'):
        assert word in header


def test_noise_parse_rules_builds_frozen_rules_with_ids():
    ruleset = parse_rules(GOOD, "rules.toml")
    assert ruleset.ignored_headers == ("date", "server", "x-request-id")
    [rule] = ruleset.rules
    assert rule.id == f"papertrail:GET:{ROUTE}:/body/board/updatedAt"
    assert rule.tokens == ("body", "board", "updatedAt")
    with pytest.raises(AttributeError):
        rule.action = "unordered"  # type: ignore[misc]


def test_noise_empty_file_is_no_rules_and_the_default_headers():
    assert parse_rules("", "rules.toml") == RuleSet(source="rules.toml")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            rule_block(action="ignroe"),
            "[[rule]] #1 (line 1) action: unknown action, got 'ignroe' (did you mean 'ignore'?); "
            "one of 'ignore', 'unordered', 'pattern'",
        ),
        (
            rule_block() + "reson = 'x'\n",
            "[[rule]] #1 (line 1) reson: unknown field (did you mean 'reason'?); "
            "allowed: feature, route, method, action, pointer, reason, regex",
        ),
        (
            rule_block(reason=None),
            "[[rule]] #1 (line 1) reason: required field missing; "
            'e.g. reason = "<why, and the A/A run that showed it>"',
        ),
        (
            rule_block(reason="   "),
            "[[rule]] #1 (line 1) reason: must say why this is noise and which A/A run showed it, got '   '",
        ),
        (
            rule_block(method="GTE"),
            "[[rule]] #1 (line 1) method: unknown HTTP method, got 'GTE' (did you mean 'GET'?); "
            "one of GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS, or '*'",
        ),
        (rule_block(method="get"), "[[rule]] #1 (line 1) method: methods are written upper case, got 'get'; use 'GET'"),
        (
            rule_block(feature="PaperTrail"),
            "[[rule]] #1 (line 1) feature: must be a feature name (a-z, 0-9, '_') or '*', got 'PaperTrail'; "
            "use 'papertrail'",
        ),
        (
            rule_block(route="api/board"),
            "[[rule]] #1 (line 1) route: must be a URL rule as Flask writes it, or '*', got 'api/board'; "
            "e.g. '/api/projects/<project_id>/papertrail/board'",
        ),
        (
            rule_block(pointer="body/x"),
            "[[rule]] #1 (line 1) pointer: a JSON pointer starts with '/', got 'body/x'; e.g. '/body/board/updatedAt'",
        ),
        (
            rule_block(pointer="/bdy/x"),
            "[[rule]] #1 (line 1) pointer: must point below one of /status, /headers, /body, /bodyError, /bodyBytes, "
            "got '/bdy/x' (did you mean '/body'?); e.g. '/body/board/updatedAt' or '/headers/cache-control'",
        ),
        (
            rule_block(pointer="/body/a~2b"),
            "[[rule]] #1 (line 1) pointer: '~' must be written '~0' and '/' inside a key '~1', got '/body/a~2b'",
        ),
        (
            rule_block(pointer="/status/x"),
            "[[rule]] #1 (line 1) pointer: /status has nothing below it, got '/status/x'; use '/status'",
        ),
        (
            rule_block(pointer="/headers/Cache-Control"),
            "[[rule]] #1 (line 1) pointer: header names are lower case in the canonical form, "
            "got '/headers/Cache-Control'; use '/headers/cache-control'",
        ),
        (
            rule_block(pointer="/headers/date"),
            "[[rule]] #1 (line 1) pointer: header 'date' is never compared (ignore_headers lists it), got "
            "'/headers/date'; remove the rule, or remove the header from ignore_headers",
        ),
        (
            rule_block(action="pattern"),
            "[[rule]] #1 (line 1) regex: required by action = 'pattern'; "
            r'e.g. regex = "\\d{4}-\\d{2}-\\d{2}T.*"',
        ),
        (
            rule_block(regex="x+"),
            "[[rule]] #1 (line 1) regex: only action = 'pattern' uses it, got 'x+' with action = 'ignore'; "
            "remove it or set action = 'pattern'",
        ),
        (
            rule_block(action="pattern", regex="(a"),
            "[[rule]] #1 (line 1) regex: invalid regular expression (missing ), unterminated subpattern at "
            "position 0), got '(a'; fix the expression",
        ),
        (
            "# two rules\n\n" + rule_block() + "\n" + rule_block(),
            "[[rule]] #2 (line 11): same feature, method, route and pointer as [[rule]] #1 (line 3); "
            "merge the two rules",
        ),
        (
            rule_block().replace("[[rule]]", "[[rules]]"),
            "rules: unknown field (did you mean 'rule'?); allowed: ignore_headers, rule",
        ),
        (
            'ignore_headers = ["Content-Type"]',
            "ignore_headers: must be header names written lower case, got 'Content-Type'; use 'content-type'",
        ),
        ('ignore_headers = ["etag", "etag"]', "ignore_headers: lists 'etag' twice; remove the duplicate"),
        (
            'ignore_headers = "etag"',
            'ignore_headers: must be an array, got \'etag\'; e.g. ignore_headers = ["date", "server"]',
        ),
        (
            'headers = ["content-type"]',
            "headers: no longer read: every response header is compared now, except those in ignore_headers; "
            'replace it with ignore_headers = ["date", "server"]',
        ),
        (
            rule_block(pointer="/bodyBytes/board.json/x"),
            "[[rule]] #1 (line 1) pointer: /bodyBytes has at most a zip member below it, got '/bodyBytes/board.json/x';"
            " use '/bodyBytes' or '/bodyBytes/<member>' (a '/' inside the member's name written '~1')",
        ),
        ('rule = "x"', "rule: must be a table, got 'x'; write each rule as a [[rule]] table"),
        ('rule = ["x"]', "[[rule]] #1: must be a table, got 'x'; write each rule as a [[rule]] table"),
        (
            rule_block(method=None) + "method = 3\n",
            '[[rule]] #1 (line 1) method: must be a string, got 3; e.g. method = "GET"',
        ),
        (
            "[[rule]\n",
            "invalid TOML: Expected ']]' at the end of an array declaration (at line 1, column 7); "
            "check quotes and brackets on that line",
        ),
    ],
    ids=[
        "unknown-action",
        "unknown-field",
        "missing-reason",
        "blank-reason",
        "unknown-method",
        "lower-case-method",
        "feature-case",
        "relative-route",
        "pointer-without-slash",
        "pointer-outside-the-form",
        "pointer-bad-escape",
        "pointer-below-status",
        "pointer-header-case",
        "pointer-ignored-header",
        "pattern-without-regex",
        "regex-without-pattern",
        "invalid-regex",
        "duplicate-rule",
        "rules-misspelt",
        "header-case",
        "header-twice",
        "headers-not-array",
        "old-headers-key",
        "pointer-below-body-bytes",
        "rule-not-table",
        "rule-item-not-table",
        "wrong-type",
        "toml-syntax",
    ],
)
def test_noise_bad_file_gives_its_precise_error(text, expected):
    assert problems(text) == [expected]


def test_noise_every_problem_of_a_file_is_reported_at_once():
    text = rule_block(action="ignroe") + "\n" + rule_block(pointer="/body/y", method="GTE")
    found = problems(text)
    assert [line.split(":")[0] for line in found] == ["[[rule]] #1 (line 1) action", "[[rule]] #2 (line 9) method"]


def test_noise_load_rules_names_a_missing_file(tmp_path):
    with pytest.raises(NoiseRulesError) as caught:
        load_rules(tmp_path / "nope.toml")
    assert caught.value.problems == ["(file): not found; check the path, or create it with ignore_headers = [...]"]
    assert isinstance(caught.value, ExtHostError)


def test_noise_load_rules_reads_a_file(tmp_path):
    path = tmp_path / "rules.toml"
    path.write_text(GOOD, encoding="utf-8")
    assert len(load_rules(path).rules) == 1


def test_noise_for_route_picks_rules_by_feature_method_and_route():
    text = "\n".join(
        [
            rule_block(pointer="/body/a"),
            rule_block(pointer="/body/b", method="*"),
            rule_block(pointer="/body/c", route="*"),
            rule_block(pointer="/body/d", feature="*", route="*", method="*"),
            rule_block(pointer="/body/e", feature="blog"),
            rule_block(pointer="/body/f", method="POST"),
            rule_block(pointer="/body/g", route="/api/projects/<int:project_id>/files/<path:name>"),
        ]
    )
    ruleset = parse_rules(text)

    def pointers(feature: str, method: str, route: str) -> list[str]:
        return [rule.pointer for rule in ruleset.for_route(feature, method, route)]

    assert pointers("papertrail", "GET", ROUTE) == ["/body/a", "/body/b", "/body/c", "/body/d"]
    assert pointers("papertrail", "get", "/api/projects/p1/papertrail/board") == [
        "/body/a",
        "/body/b",
        "/body/c",
        "/body/d",
    ]
    assert pointers("papertrail", "POST", ROUTE) == ["/body/b", "/body/d", "/body/f"]
    assert pointers("blog", "GET", ROUTE) == ["/body/d", "/body/e"]
    assert pointers("blog", "GET", "/api/blog") == ["/body/d"]
    assert pointers("papertrail", "GET", "/api/projects/7/files/a/b.png") == ["/body/c", "/body/d", "/body/g"]
    assert pointers("papertrail", "GET", "/api/projects/p1/papertrail/board/x") == ["/body/c", "/body/d"]
    assert ruleset.for_route("papertrail", "GET", ROUTE).ignored_headers == DEFAULT_IGNORED_HEADERS


@given(st.lists(st.text(), max_size=5))
def test_noise_pointer_split_is_the_inverse_of_join(tokens):
    assert split_pointer(join_pointer(tokens)) == tuple(tokens)


@pytest.mark.parametrize(
    ("text", "tokens"),
    [("", ()), ("/", ("",)), ("/a~1b/m~0n", ("a/b", "m~n")), ("/~01", ("~1",)), ("/a/*/0", ("a", "*", "0"))],
    ids=["whole", "empty-key", "escapes", "escape-order", "wildcard"],
)
def test_noise_split_pointer_follows_rfc_6901(text, tokens):
    assert split_pointer(text) == tokens
