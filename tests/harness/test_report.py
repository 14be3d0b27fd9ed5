"""The parity reports: JUnit XML, report.json, the Markdown job summary and the HTML page, read as their users would."""

from __future__ import annotations

import base64
import json
import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from exthost.evidence.compare import CapturedRequest, CapturedResponse, Difference, compare
from exthost.evidence.har import har_document, har_entry
from exthost.evidence.noise import RuleSet
from parity_tests.outcome import SESSION_END, CaseResult, Exchange, Kind, ParityRun, Reproduction
from parity_tests.report import html_report, json_report, junit_xml, markdown_summary, write_reports
from tests.fixtures.browser import Browser

NO_RULES = RuleSet()
ROUTE = "/api/projects/<project_id>/papertrail/board"
OTHER_ROUTE = "/api/projects/<project_id>/blog/posts"
STARTED = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
HOSTILE = "<script>alert('x')</script> & a|b \x00 end"


# --- factories ---


def answer(body: Any, status: int = 200) -> CapturedResponse:
    return CapturedResponse(status, (("Content-Type", "application/json"),), json.dumps(body).encode())


def exchange(
    legacy: CapturedResponse,
    plugin: CapturedResponse,
    *,
    index: int = 0,
    feature: str = "papertrail",
    method: str = "GET",
    route: str = ROUTE,
    state: tuple[Difference, ...] = (),
) -> Exchange:
    """An exchange whose differences come from the real comparison engine, with no noise rules."""
    request = CapturedRequest(method, route.replace("<project_id>", "p_1"))
    comparison = compare(legacy, plugin, NO_RULES, feature=feature, method=method, route=route)
    return Exchange(index, feature, route, request, legacy, plugin, comparison, state)


def same(index: int = 0, *, feature: str = "papertrail", route: str = ROUTE) -> Exchange:
    body = answer({"board": {"title": "Plan"}})
    return exchange(body, body, index=index, feature=feature, route=route)


def case(
    case_id: str,
    *exchanges: Exchange,
    kind: Kind = "recorded",
    feature: str = "papertrail",
    end_state: tuple[Difference, ...] = (),
    error: str | None = None,
    reproduction: Reproduction | None = None,
    seconds: float = 0.25,
) -> CaseResult:
    source = f"recordings/{feature}/{case_id}.har" if kind == "recorded" else "generated:seed=1"
    return CaseResult(case_id, kind, feature, source, exchanges, end_state, error, seconds, reproduction)


def parity_run(*cases: CaseResult, sides: str = "legacy/plugin", rules_unused: tuple[str, ...] = ()) -> ParityRun:
    return ParityRun(
        started_at="2026-01-02T03:04:05+00:00",
        finished_at="2026-01-02T03:05:00+00:00",
        sides=sides,
        features=("blog", "papertrail"),
        cases=cases,
        rules_file="parity_tests/noise_rules.toml",
        rules_unused=rules_unused,
        fingerprints={"papertrail": "sha256:abc"},
    )


def reproduction(pytest_case: str = "def test_replay():\n    assert diff(legacy, plugin) < 1\n") -> Reproduction:
    request = CapturedRequest("GET", "/api/projects/p_1/papertrail/board")
    entry = har_entry(request, answer({"board": {"title": "Ada"}}), started=STARTED, time_ms=1.0)
    return Reproduction(har_document([entry], creator_version="0.1.0"), pytest_case)


def status_and_field_changed() -> Exchange:
    """The plugin answers 404 instead of 200, its title differs, and it wrote a different node title."""
    return exchange(
        answer({"board": {"title": "Ada"}}),
        answer({"board": {"title": "Bob"}}, status=404),
        index=1,
        state=(Difference("/nodes/0/title", "stored", "lost"),),
    )


def mismatched_run() -> ParityRun:
    return parity_run(
        case("rec-ok", same(0), same(1)),
        case("rec-broken", same(0), status_and_field_changed(), reproduction=reproduction()),
        case("gen-ok", same(0, feature="blog", route=OTHER_ROUTE), kind="generated", feature="blog"),
    )


def state_and_error_run() -> ParityRun:
    """A failing run with no mismatched request: an end-of-case state difference and a harness error."""
    return parity_run(
        case("rec-ok", same(0)),
        case("rec-state", same(0), end_state=(Difference("/posts/0/slug", HOSTILE, "plain"),)),
        case("gen-error", kind="generated", feature="blog", error=f"recording unreadable: {HOSTILE}"),
    )


# --- reading the reports back ---


def junit_cases(xml: str) -> dict[str, ET.Element]:
    return {element.get("name", ""): element for element in ET.fromstring(xml).iter("testcase")}


def counts(element: ET.Element) -> tuple[int, int, int]:
    return int(element.get("tests", "")), int(element.get("failures", "")), int(element.get("errors", ""))


_VOID = frozenset({"meta", "col", "br", "hr", "img", "input", "link", "area", "base", "source", "track", "wbr"})


class _Dom(HTMLParser):
    """HTML into an ElementTree, end tags checked: a page the parser cannot nest fails the test."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.builder = ET.TreeBuilder()
        self.builder.start("document", {})

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.builder.start(tag, {name: value or "" for name, value in attrs})
        if tag in _VOID:
            self.builder.end(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag not in _VOID:
            self.builder.end(tag)

    def handle_data(self, data: str) -> None:
        self.builder.data(data)


def dom(page: str) -> ET.Element:
    parser = _Dom()
    parser.feed(page)
    parser.close()
    parser.builder.end("document")
    return parser.builder.close()


def by_class(root: ET.Element, *classes: str) -> list[ET.Element]:
    return [element for element in root.iter() if set(classes) <= set(element.get("class", "").split())]


def text(element: ET.Element) -> str:
    return "".join(element.itertext())


def markdown_row(summary: str, *cells: str) -> list[str]:
    """The cells of the first table row that contains every one of `cells`; a `\\|` stays inside its cell."""
    for line in summary.splitlines():
        if line.startswith("|") and all(cell in line for cell in cells):
            return [cell.strip() for cell in re.split(r"(?<!\\)\|", line)[1:-1]]
    raise AssertionError(f"no table row with {cells!r} in:\n{summary}")


# --- verdict ---


def test_report_of_an_all_match_run_says_pass_and_junit_has_no_failures():
    run = parity_run(case("rec-1", same(0), same(1)), case("gen-1", same(0), kind="generated"))

    root = ET.fromstring(junit_xml(run))
    assert counts(root) == (2, 0, 0)
    assert [suite.get("name") for suite in root.iter("testsuite")] == ["parity.blog", "parity.papertrail"]
    assert counts(root.find("testsuite[@name='parity.blog']")) == (0, 0, 0)  # a feature with no case shows
    assert not list(root.iter("failure")) and not list(root.iter("error"))
    assert markdown_summary(run).startswith("## Parity PASS — legacy/plugin\n")
    verdict = dom(html_report(run)).find(".//*[@id='verdict']")
    assert "PASS" in text(verdict) and "pass" in verdict.get("class", "").split()
    assert not by_class(dom(html_report(run)), "case")


def test_report_of_a_mismatch_says_fail():
    run = mismatched_run()

    assert markdown_summary(run).startswith("## Parity FAIL — legacy/plugin\n")
    assert "1 of 3 cases differ." in markdown_summary(run)
    assert "FAIL" in text(dom(html_report(run)).find(".//*[@id='verdict']"))


# --- JUnit ---


def test_junit_fails_the_mismatched_case_naming_the_route_and_every_difference():
    run = mismatched_run()
    xml = junit_xml(run)

    cases = junit_cases(xml)
    assert cases["rec-broken"].get("classname") == "parity.papertrail.recorded"
    assert cases["rec-broken"].get("time") == "0.250"
    failure = cases["rec-broken"].find("failure")
    assert failure is not None
    message = f'GET {ROUTE}: /body/board/title: legacy "Ada" != plugin "Bob" (+2 more)'
    assert failure.get("message") == message
    listed = failure.text or ""
    for expected in ("/status", "legacy: 200", "plugin: 404", "/body/board/title", '"Ada"', '"Bob"'):
        assert expected in listed
    assert "state /nodes/0/title" in listed and '"stored"' in listed and '"lost"' in listed
    assert cases["rec-ok"].find("failure") is None and cases["gen-ok"].find("failure") is None
    root = ET.fromstring(xml)
    assert counts(root) == (3, 1, 0)
    assert counts(root.find("testsuite[@name='parity.papertrail']")) == (2, 1, 0)
    assert root.get("time") == "0.750"


def test_junit_reports_a_harness_error_as_an_error_and_end_state_on_the_case():
    run = state_and_error_run()

    cases = junit_cases(junit_xml(run))
    error = cases["gen-error"].find("error")
    assert error is not None and error.get("message", "").startswith("recording unreadable")
    assert cases["gen-error"].find("failure") is None
    failure = cases["rec-state"].find("failure")
    assert failure is not None and failure.get("message", "").startswith(f"* {SESSION_END}: state /posts/0/slug")
    assert counts(ET.fromstring(junit_xml(run))) == (3, 1, 1)


# --- Markdown ---


def test_markdown_tables_count_cases_and_route_mismatches():
    summary = markdown_summary(mismatched_run())
    features = summary[summary.index("### Features") : summary.index("### Routes")]
    routes = summary[summary.index("### Routes") : summary.index("### Mismatches")]

    # Feature | recorded run | recorded matched | generated run | generated matched | recorded inconclusive |
    # requests compared
    assert markdown_row(features, "papertrail") == ["papertrail", "2", "1", "0", "0", "0", "4"]
    assert markdown_row(features, "blog") == ["blog", "0", "0", "1", "1", "0", "1"]
    # Feature | method | route | compared recorded | compared generated | mismatches
    assert markdown_row(routes, "papertrail", ROUTE) == ["papertrail", "GET", f"`{ROUTE}`", "4", "0", "**1**"]
    assert markdown_row(routes, "blog", OTHER_ROUTE) == ["blog", "GET", f"`{OTHER_ROUTE}`", "0", "1", "0"]


def test_markdown_details_show_the_first_differences_and_where_the_reproduction_is():
    summary = markdown_summary(mismatched_run())

    details = summary[summary.index("### Mismatches") :]
    assert "### `rec-broken` (recorded, papertrail)" in details
    assert f"`{ROUTE}`" in details
    assert markdown_row(details, "/status") == ["`/status`", "`200`", "`404`"]
    assert markdown_row(details, "/body/board/title") == ["`/body/board/title`", '`"Ada"`', '`"Bob"`']
    assert markdown_row(details, "state /nodes/0/title")[1:] == ['`"stored"`', '`"lost"`']
    assert (
        "Reproduction: a HAR and a pytest test in `report.json` (`cases[1]`)" in details
        and "`report.html#case-1`" in details
    )


def test_markdown_details_stop_after_ten_cases():
    broken = [case(f"rec-{n:02}", status_and_field_changed()) for n in range(12)]

    summary = markdown_summary(parity_run(*broken))

    assert len(re.findall(r"^### `rec-", summary, re.MULTILINE)) == 10
    assert "…and 2 more mismatched case(s)" in summary


def test_markdown_cells_are_cut_to_eighty_characters_with_pipes_escaped():
    long_value = "a|b " * 60
    run = parity_run(case("rec-long", exchange(answer({"v": long_value}), answer({"v": "short"}))))

    row = markdown_row(markdown_summary(run), "/body/v")
    assert len(row) == 3  # the `|` in the value did not split the cell
    assert "\\|" in row[1] and "…" in row[1]
    assert len(row[1].replace("\\|", "|")) <= 80 + 2


# --- HTML ---


def test_html_shows_each_difference_with_both_values_side_by_side():
    page = dom(html_report(mismatched_run()))

    section = page.find(".//section[@id='case-1']")
    assert section is not None and "rec-broken" in text(section)
    rows = [row for table in by_class(section, "diff", "differences") for row in table.iter("tr")]
    cells = {text(row[0]): (text(row[1]), text(row[2])) for row in rows if row[0].tag == "td"}
    assert cells == {
        "/body/board/title": ('"Ada"', '"Bob"'),
        "/status": ("200", "404"),
        "state /nodes/0/title": ('"stored"', '"lost"'),
    }
    assert [text(cell) for cell in by_class(section, "value", "legacy")] == ['"Ada"', "200", '"stored"']


def test_html_shows_both_bodies_side_by_side_with_differing_lines_marked():
    page = dom(html_report(mismatched_run()))

    bodies = by_class(page.find(".//section[@id='case-1']"), "diff", "bodies")[0]
    changed = [(text(row[1]), text(row[3])) for row in bodies.iter("tr") if "changed" in row.get("class", "")]
    assert ("HTTP 200 OK", "HTTP 404 Not Found") in changed
    assert ('    "title": "Ada"', '    "title": "Bob"') in changed  # pretty-printed JSON, line by line
    unchanged = [text(row[1]) for row in bodies.iter("tr") if row.get("class") is None and row[0].tag == "td"]
    assert '  "board": {' in unchanged


def test_html_shows_end_of_case_state_and_a_harness_error():
    page = dom(html_report(state_and_error_run()))

    state = by_class(page.find(".//section[@id='case-1']"), "end-state")[0]
    rows = [[text(cell) for cell in row] for row in state.iter("tr") if row[0].tag == "td"]
    assert rows == [["state /posts/0/slug", "\"<script>alert('x')</script> & a|b \\u0000 end\"", '"plain"']]
    error = by_class(page.find(".//section[@id='case-2']"), "error")[0]
    assert "recording unreadable" in text(error)


def test_html_folds_unchanged_lines_around_a_change():
    lines = [f"line {n}" for n in range(100)]
    run = parity_run(case("rec-long", exchange(answer(lines), answer([*lines[:50], "changed", *lines[51:]]))))

    bodies = by_class(dom(html_report(run)), "bodies")[0]

    changed = [(text(row[1]), text(row[3])) for row in bodies.iter("tr") if row.get("class") == "changed"]
    assert changed == [('  "line 50",', '  "changed",')]
    folded = [text(row) for row in bodies.iter("tr") if row.get("class") == "folded"]
    assert folded == ["⋯ 46 unchanged line(s) ⋯"] * 2  # 4 lines of context kept each side of the change


def test_html_truncates_a_huge_body_and_says_so():
    lines = [f"line {n}" for n in range(3000)]
    run = parity_run(case("rec-big", exchange(answer(lines), answer(list(reversed(lines))))))

    page = dom(html_report(run))

    rows = [row for row in by_class(page, "bodies")[0].iter("tr") if row[0].tag == "td"]
    assert len(rows) == 400
    notes = [text(note) for note in by_class(page, "note")]
    assert "Truncated, legacy: showing 2000 of 3005 lines." in notes
    assert any(note.startswith("Truncated, showing the first 400 of") for note in notes)


def test_html_carries_the_reproduction_as_pytest_text_and_a_har_download():
    run = mismatched_run()
    page = dom(html_report(run))

    section = page.find(".//section[@id='case-1']")
    assert text(by_class(section, "pytest")[0]) == run.cases[1].reproduction.pytest_case
    link = by_class(section, "har")[0]
    prefix = "data:application/json;base64,"
    assert link.get("href", "").startswith(prefix) and link.get("download") == "case-1.har"
    assert json.loads(base64.b64decode(link.get("href", "")[len(prefix) :])) == run.cases[1].reproduction.har


def test_html_is_one_self_contained_file():
    page = html_report(mismatched_run())

    assert "<style>" in page
    for outside in ("<script", "<link", " src=", "http://", "https://", "@import", "url("):
        assert outside not in page


# --- hostile values ---


def test_hostile_values_are_escaped_in_every_report():
    broken = exchange(answer({"name": HOSTILE}), answer({"name": "safe & sound"}), route="/api/<x>|&")
    run = parity_run(
        case("<case & id>", broken, reproduction=reproduction(f"# {HOSTILE}\n")),
        case("gen-error", kind="generated", feature="blog", error=HOSTILE),
    )

    cases = junit_cases(junit_xml(run))  # parses: nothing unescaped, no forbidden character
    failure_text = cases["<case & id>"].find("failure").text or ""
    assert "<script>alert('x')</script> & a|b \\u0000 end" in failure_text
    assert "\\u0000" in cases["gen-error"].find("error").get("message", "")

    page = html_report(run)
    tree = dom(page)
    assert not list(tree.iter("script"))
    assert "\x00" not in page
    assert "<script>alert('x')</script> & a|b \\u0000 end" in text(by_class(tree, "value", "legacy")[0])
    assert "<case & id>" in text(by_class(tree, "case-id")[0])

    summary = markdown_summary(run)
    assert "<case & id>" in summary  # only inside code spans, which Markdown shows as written
    assert "\x00" not in summary
    row = markdown_row(summary, "/body/name")
    assert len(row) == 3 and "a\\|b" in row[1]
    assert markdown_row(summary, "/api/<x>")[2] == "`/api/<x>\\|&`"


@given(legacy=st.text(max_size=40), plugin=st.text(alphabet="\x00\x0b\ufffe\uffff<>&|\"'`\\", max_size=10))
def test_any_text_value_survives_junit_and_html_exactly(legacy: str, plugin: str):
    assume(legacy != plugin + "!")
    run = parity_run(case("rec-any", exchange(answer({"v": legacy}), answer({"v": plugin + "!"}))))

    failure = junit_cases(junit_xml(run))["rec-any"].find("failure")
    # Split on "\n" only: str.splitlines also breaks at U+2028, U+0085 and others a value may hold as written.
    lines = (failure.text or "").split("\n")
    listed = dict(line.strip(" ").split(": ", 1) for line in lines if ": " in line)
    assert json.loads(listed["legacy"]) == legacy and json.loads(listed["plugin"]) == plugin + "!"
    cells = by_class(dom(html_report(run)), "value")
    assert [json.loads(text(cell)) for cell in cells] == [legacy, plugin + "!"]


# --- A/A ---


def test_aa_run_with_unused_rules_fails_and_lists_them():
    run = parity_run(case("rec-1", same(0)), sides="legacy/legacy", rules_unused=("board-updated-at", "blog-etag"))

    assert not run.ok
    summary = markdown_summary(run)
    assert summary.startswith("## Parity FAIL — legacy/legacy (A/A)\n")
    assert "fails because 2 rule(s) suppressed nothing" in summary
    assert "- `board-updated-at`" in summary and "- `blog-etag`" in summary
    root = ET.fromstring(junit_xml(run))
    assert counts(root) == (2, 1, 0)
    failure = junit_cases(junit_xml(run))["every noise rule is needed"].find("failure")
    assert "board-updated-at" in (failure.text or "") and "blog-etag" in failure.get("message", "")
    page = dom(html_report(run))
    assert "FAIL" in text(page.find(".//*[@id='verdict']"))
    assert "board-updated-at" in text(page.find(".//*[@id='unused-rules']"))


def test_aa_run_that_needs_every_rule_passes():
    run = parity_run(case("rec-1", same(0)), sides="legacy/legacy")

    assert markdown_summary(run).startswith("## Parity PASS — legacy/legacy (A/A)\n")
    assert counts(ET.fromstring(junit_xml(run))) == (2, 0, 0)
    assert dom(html_report(run)).find(".//*[@id='unused-rules']") is None


# --- files ---


@pytest.mark.parametrize("make_run", [mismatched_run, state_and_error_run], ids=["exchanges", "state-error"])
def test_write_reports_writes_the_four_files_and_report_json_round_trips(tmp_path: Path, make_run):
    run = make_run()

    files = write_reports(run, tmp_path / "reports" / "nested")

    assert [path.name for path in (files.junit, files.json, files.markdown, files.html)] == [
        "junit.xml",
        "report.json",
        "summary.md",
        "report.html",
    ]
    assert json.loads(files.json.read_text(encoding="utf-8")) == run.to_json()
    assert files.json.read_text(encoding="utf-8") == json_report(run)
    assert counts(ET.parse(files.junit).getroot()) == counts(ET.fromstring(junit_xml(run)))
    assert files.markdown.read_text(encoding="utf-8") == markdown_summary(run)
    assert files.html.read_text(encoding="utf-8") == html_report(run)


def test_json_report_is_sorted_and_stable():
    run = state_and_error_run()

    report = json_report(run)

    assert report == json_report(run)
    assert list(json.loads(report)) == sorted(json.loads(report))
    assert report.startswith('{\n  "byFeature"')


# --- in a real browser ---


@pytest.mark.browser
def test_html_report_shows_verdict_and_both_values_in_a_browser(browser: Browser, tmp_path: Path):
    report = tmp_path / "report.html"
    report.write_text(html_report(mismatched_run()), encoding="utf-8")
    page = browser.page()

    page.goto(report.as_uri())

    assert page.evaluate("document.getElementById('verdict').innerText").startswith("Parity FAIL")
    visible = page.evaluate("document.body.innerText")
    assert '"Ada"' in visible and '"Bob"' in visible and "404" in visible
    legacy, plugin = page.evaluate(
        "(() => { const row = [...document.querySelectorAll('#case-1 table.differences tr')]"
        ".find(r => r.innerText.includes('/body/board/title'));"
        " return [row.querySelector('.legacy'), row.querySelector('.plugin')].map(cell => {"
        " const box = cell.getBoundingClientRect(); return {text: cell.innerText, left: box.left, width: box.width};"
        " }); })()"
    )
    assert (legacy["text"], plugin["text"]) == ('"Ada"', '"Bob"')
    assert legacy["width"] > 0 and plugin["width"] > 0 and legacy["left"] < plugin["left"]  # side by side
    assert page.exceptions() == []


def test_report_a_commits_derived_fields_come_after_the_fields_that_caused_them():
    from types import SimpleNamespace

    from exthost.evidence.compare import Difference
    from parity_tests.report_html import labelled

    state = (
        Difference("/state/remote/3/hash", "a1", "b2"),
        Difference("/state/remote/3/message", "Publish x.md", "Published x.md"),
        Difference("/state/remote/4/parents", "a1", "b2"),
        Difference("/state/rows/blog/1/title", "A", "B"),
    )
    exchange = SimpleNamespace(comparison=SimpleNamespace(differences=()), state=state)
    assert [found.pointer for _, found in labelled(exchange)] == [
        "/state/remote/3/message",
        "/state/rows/blog/1/title",
        "/state/remote/3/hash",
        "/state/remote/4/parents",
    ]
