"""The parity reports of a run: JUnit XML for CI, report.json, a Markdown job summary and a self-contained HTML page.

The renderers are pure functions of a `ParityRun`; `write_reports` is the only one that touches the disk.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from legacy_core.clock import display_time
from parity_tests.outcome import KINDS, SESSION_END, CaseResult, Exchange, ParityRun
from parity_tests.report_html import (
    clip,
    feature_rows,
    headline,
    html_report,
    labelled,
    printable,
    reasons,
    show,
    where,
)

__all__ = ["ReportFiles", "html_report", "json_report", "junit_xml", "markdown_summary", "write_reports"]

# The Markdown summary stays short enough to read on a CI job page; report.html has everything.
MARKDOWN_CASES = 10
MARKDOWN_DIFFERENCES = 5
MARKDOWN_CELL = 80
# JUnit text lists every difference, but a whole body in one value would drown the CI log.
JUNIT_VALUE = 2000
JUNIT_MESSAGE = 300


@dataclass(frozen=True)
class ReportFiles:
    """Where `write_reports` put each report."""

    junit: Path
    json: Path
    markdown: Path
    html: Path


def write_reports(run: ParityRun, directory: Path) -> ReportFiles:
    """Write junit.xml, report.json, summary.md and report.html into `directory` (made if missing)."""
    files = ReportFiles(
        junit=directory / "junit.xml",
        json=directory / "report.json",
        markdown=directory / "summary.md",
        html=directory / "report.html",
    )
    # Everything is rendered before anything is written: a renderer that fails leaves no half-new set of reports.
    texts = {
        files.junit: junit_xml(run),
        files.json: json_report(run),
        files.markdown: markdown_summary(run),
        files.html: html_report(run),
    }
    directory.mkdir(parents=True, exist_ok=True)
    for path, text in texts.items():
        # A lone surrogate (a percent-decoded path that was not UTF-8) cannot be encoded; backslashreplace writes
        # it as `\udcxx`, which inside report.json's strings is the JSON escape that reads back the same.
        path.write_text(text, encoding="utf-8", errors="backslashreplace")
    return files


# --- JSON ---


def json_report(run: ParityRun) -> str:
    """`run.to_json()` as pretty-printed JSON with sorted keys, so two runs' reports diff line by line."""
    return json.dumps(run.to_json(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


# --- JUnit XML ---


def _xml(text: str) -> str:
    return printable(text)  # ElementTree escapes markup but writes forbidden characters as they are


def _difference_lines(case: CaseResult) -> list[str]:
    lines = []
    for exchange in case.mismatches:
        lines.append(f"#{exchange.index} {exchange.method} {exchange.route} (path {exchange.request.path})")
        for part, found in labelled(exchange):
            lines.append(f"  {where(part, found)}")
            lines.append(f"    legacy: {clip(show(found.legacy), JUNIT_VALUE)}")
            lines.append(f"    plugin: {clip(show(found.plugin), JUNIT_VALUE)}")
    if case.end_state:
        lines.append("state at the end of the case")
        for found in case.end_state:
            lines.append(f"  {where('state', found)}")
            lines.append(f"    legacy: {clip(show(found.legacy), JUNIT_VALUE)}")
            lines.append(f"    plugin: {clip(show(found.plugin), JUNIT_VALUE)}")
    return lines


def _failure_message(case: CaseResult) -> str:
    first: Exchange | None = case.first_mismatch()
    if first is not None:
        part, found = labelled(first)[0]
        place = f"{first.method} {first.route}"
        total = sum(len(exchange.differences) for exchange in case.mismatches) + len(case.end_state)
    else:
        part, found = "state", case.end_state[0]
        place, total = f"* {SESSION_END}", len(case.end_state)
    more = f" (+{total - 1} more)" if total > 1 else ""
    detail = f"{where(part, found)}: legacy {show(found.legacy)} != plugin {show(found.plugin)}"
    return clip(f"{place}: {detail}{more}", JUNIT_MESSAGE)


def _testcase(suite: ET.Element, number: int, case: CaseResult) -> None:
    element = ET.SubElement(
        suite,
        "testcase",
        classname=_xml(f"parity.{case.feature}.{case.kind}"),
        name=_xml(case.case_id),
        time=f"{case.seconds:.3f}",
    )
    if case.inconclusive is not None and case.match:
        ET.SubElement(element, "skipped", message=_xml(clip(f"inconclusive: {case.inconclusive}", JUNIT_MESSAGE)))
        return
    if case.match:
        return
    lines = _difference_lines(case)
    if case.error is not None:
        problem = ET.SubElement(element, "error", message=_xml(clip(case.error, JUNIT_MESSAGE)), type="HarnessError")
        problem.text = _xml("\n".join([case.error, *lines]))
    else:
        problem = ET.SubElement(element, "failure", message=_xml(_failure_message(case)), type="ParityMismatch")
        problem.text = _xml("\n".join(lines))
    out = ET.SubElement(element, "system-out")
    kept = "a HAR and a pytest test that replay it" if case.reproduction is not None else "every difference"
    out.text = _xml(f"source: {case.source}\n{kept}: report.json (cases[{number}]) and report.html#case-{number}")


def _counts(element: ET.Element, tests: int, failures: int, errors: int, seconds: float, skipped: int = 0) -> None:
    element.set("tests", str(tests))
    element.set("failures", str(failures))
    element.set("errors", str(errors))
    element.set("skipped", str(skipped))
    element.set("time", f"{seconds:.3f}")


def _rules_suite(root: ET.Element, run: ParityRun) -> tuple[int, int]:
    """An A/A run's extra test: every noise rule was needed. Returns (tests, failures)."""
    suite = ET.SubElement(root, "testsuite", name="parity.rules")
    case = ET.SubElement(suite, "testcase", classname="parity.rules", name="every noise rule is needed", time="0")
    failed = bool(run.rules_unused)
    if failed:
        message = f"{len(run.rules_unused)} noise rule(s) unused in an A/A run: {', '.join(run.rules_unused)}"
        failure = ET.SubElement(case, "failure", message=_xml(clip(message, JUNIT_MESSAGE)), type="UnusedNoiseRule")
        failure.text = _xml(
            f"These rules in {run.rules_file} suppressed no difference between legacy and legacy; an unneeded "
            "rule can hide a real difference. Remove them:\n" + "\n".join(f"  {rule}" for rule in run.rules_unused)
        )
    _counts(suite, 1, int(failed), 0, 0.0)
    return 1, int(failed)


def _coverage_properties(run: ParityRun, feature: str) -> list[tuple[str, str]]:
    found = run.coverage.get(feature)
    if found is None:
        return [("coverage", run.coverage_note or "not measured")]
    return [
        (f"coverage.{side}.branches", f"{measured.covered}/{measured.branches}")
        for side in ("legacy", "plugin")
        for measured in (found.side(side),)
    ] + [(f"coverage.{side}.percent", f"{found.side(side).percent:.2f}") for side in ("legacy", "plugin")]


def junit_xml(run: ParityRun) -> str:
    """JUnit XML: a testsuite per feature, a testcase per case; a mismatch is a failure, a harness error an error."""
    root = ET.Element("testsuites", name=_xml(f"parity {run.sides}"))
    numbered = list(enumerate(run.cases))
    tests = failures = errors = skipped = 0
    for feature in sorted({*run.features, *(case.feature for case in run.cases)}):
        cases = [(number, case) for number, case in numbered if case.feature == feature]
        suite = ET.SubElement(root, "testsuite", name=_xml(f"parity.{feature}"))
        properties = ET.SubElement(suite, "properties")
        for name, value in (
            ("sides", run.sides),
            ("database", run.database),
            ("startedAt", run.started_at),
            ("rulesFile", run.rules_file),
            ("fingerprint", run.fingerprints.get(feature, "")),
            *_coverage_properties(run, feature),
        ):
            ET.SubElement(properties, "property", name=name, value=_xml(value))
        for number, case in cases:
            _testcase(suite, number, case)
        broken = sum(1 for _, case in cases if case.error is not None)
        differ = sum(1 for _, case in cases if case.error is None and not case.match)
        unsure = sum(1 for _, case in cases if case.verdict == "inconclusive")
        _counts(suite, len(cases), differ, broken, sum(case.seconds for _, case in cases), unsure)
        tests, failures, errors, skipped = tests + len(cases), failures + differ, errors + broken, skipped + unsure
    if run.aa:
        rule_tests, rule_failures = _rules_suite(root, run)
        tests, failures = tests + rule_tests, failures + rule_failures
    _counts(root, tests, failures, errors, sum(case.seconds for case in run.cases), skipped)
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


# --- Markdown ---

# What can start markup inside a line (emphasis, code, links, HTML, entities, table cells, strikethrough); the
# characters that only matter at the start of a line never start one here.
_MARKDOWN_SPECIAL = frozenset("\\`*_[]<>|&~")


def _md_text(text: str) -> str:
    """Plain Markdown text on one line, every character that could start markup backslash-escaped."""
    flat = printable(text).replace("\n", " ").replace("\r", " ").replace("\t", " ")
    return "".join("\\" + char if char in _MARKDOWN_SPECIAL else char for char in flat)


def _md_code(text: str, limit: int = MARKDOWN_CELL, *, cell: bool = False) -> str:
    """An inline code span that survives any content: fenced with more backticks than it holds, newlines
    flattened, cut to `limit`; in a table `cell`, `|` escaped (GitHub splits cells on it even inside code)."""
    flat = clip(printable(text).replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t"), limit)
    ticks = 1
    while "`" * ticks in flat:
        ticks += 1
    fence = "`" * ticks
    padded = f" {flat} " if flat.startswith("`") or flat.endswith("`") or not flat.strip() else flat
    return fence + (padded.replace("|", "\\|") if cell else padded) + fence


def _md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines.extend("| " + " | ".join(row) + " |" for row in rows)
    return [*lines, ""]


def _md_case(number: int, case: CaseResult) -> list[str]:
    lines = [f"### {_md_code(case.case_id)} ({_md_text(case.kind)}, {_md_text(case.feature)})", ""]
    if case.error is not None:
        lines += [f"Could not be run: {_md_code(case.error, 200)}", ""]
    first = case.first_mismatch()
    if first is not None:
        differences = labelled(first)
        lines.append(
            f"First mismatch: request #{first.index} {_md_text(first.method)} {_md_code(first.route)} "
            f"(path {_md_code(first.request.path)}), {len(differences)} difference(s):"
        )
    elif case.end_state:
        differences = [("state", difference) for difference in case.end_state]
        lines.append(f"The state at the end of the case differs, {len(differences)} difference(s):")
    else:
        differences = []
    if differences:
        rows = [
            [_md_code(text, cell=True) for text in (where(part, found), show(found.legacy), show(found.plugin))]
            for part, found in differences[:MARKDOWN_DIFFERENCES]
        ]
        lines += ["", *_md_table(["pointer", "legacy", "plugin"], rows)]
        if len(differences) > MARKDOWN_DIFFERENCES:
            lines += [f"…and {len(differences) - MARKDOWN_DIFFERENCES} more.", ""]
    others = len(case.mismatches) - (1 if first is not None else 0)
    if others > 0:
        lines += [f"{others} more request(s) of this case differ.", ""]
    kept = "Reproduction: a HAR and a pytest test" if case.reproduction is not None else "Every difference"
    lines += [f"{kept} in `report.json` (`cases[{number}]`) and `report.html#case-{number}`.", ""]
    return lines


def _md_coverage(run: ParityRun) -> list[str]:
    """Branch coverage per feature and side, the legacy files least covered, and plugin code no case reached."""
    lines = ["### Branch coverage", ""]
    if not run.coverage:
        return [*lines, _md_text(f"Branch coverage {run.coverage_note or 'not measured'}."), ""]
    rows = [
        [_md_text(feature)]
        + [f"{side.covered} of {side.branches} ({side.percent:.1f}%)" for side in (found.legacy, found.plugin)]
        for feature, found in sorted(run.coverage.items())
    ]
    lines += _md_table(["Feature", "Legacy branches covered", "Plugin branches covered"], rows)
    for feature, found in sorted(run.coverage.items()):
        short = sorted(
            (file for file in found.legacy.files if file.covered < file.branches),
            key=lambda file: (file.covered - file.branches, file.path),
        )
        if short:
            lines += [f"Legacy {_md_text(feature)} files with branches no case took:", ""]
            rows = [
                [_md_code(file.path, cell=True), f"{file.covered} of {file.branches}", _md_lines(file.missing_lines)]
                for file in short[:MARKDOWN_CASES]
            ]
            lines += _md_table(["File", "Branches covered", "Lines never run"], rows)
        unreached = found.plugin.unreached_functions
        if unreached:
            shown = ", ".join(_md_code(name) for name in unreached[:MARKDOWN_CASES])
            more = f" and {len(unreached) - MARKDOWN_CASES} more" if len(unreached) > MARKDOWN_CASES else ""
            lines += [f"Plugin {_md_text(feature)} functions no case reached: {shown}{more}.", ""]
    return lines


def _md_lines(lines: tuple[int, ...], limit: int = 12) -> str:
    shown = ", ".join(str(line) for line in lines[:limit])
    return shown + (f" (+{len(lines) - limit})" if len(lines) > limit else "") if lines else "none"


def markdown_summary(run: ParityRun) -> str:
    """A GitHub job summary: verdict, per-feature and per-route tables, and the first mismatches in detail."""
    lines = [f"## Parity {_md_text(headline(run))}", ""]
    lines += [f"- {_md_text(reason)}" for reason in reasons(run)]
    lines += [
        "",
        f"Rules {_md_code(run.rules_file, 200)}; cases on {_md_text(run.database)}; "
        f"started {_md_text(display_time(run.started_at))}.",
        "",
    ]
    if run.aa and run.rules_unused:
        lines += ["### Noise rules not needed", ""]
        lines += [
            f"This A/A run fails because {len(run.rules_unused)} rule(s) suppressed nothing; an unneeded rule can "
            "hide a real difference. Remove them:",
            "",
        ]
        lines += [f"- {_md_code(rule, 200)}" for rule in run.rules_unused] + [""]
    lines += ["### Features", ""]
    header = ["Feature"]
    for kind in KINDS:
        header += [f"{kind.capitalize()} run", f"{kind.capitalize()} matched"]
    rows = [
        [_md_text(tally.feature)]
        + [str(count) for kind in KINDS for count in (tally.cases[kind], tally.matched[kind])]
        + [str(tally.inconclusive.get("recorded", 0)), str(tally.compared_requests)]
        for tally in feature_rows(run)
    ]
    lines += _md_table([*header, "Recorded inconclusive", "Requests compared"], rows)
    lines += ["### Routes", ""]
    rows = [
        [_md_text(route.feature), _md_text(route.method), _md_code(route.route, cell=True)]
        + [str(route.compared[kind]) for kind in KINDS]
        + [f"**{route.mismatched}**" if route.mismatched else "0"]
        for route in run.routes()
    ]
    lines += _md_table(["Feature", "Method", "Route", *(f"Compared {kind}" for kind in KINDS), "Mismatches"], rows)
    if run.notes:
        lines += ["### Generation", ""]
        lines += [f"- {_md_text(note)}" for note in run.notes] + [""]
    lines += _md_coverage(run)
    numbered = [(number, case) for number, case in enumerate(run.cases) if not case.match]
    if numbered:
        lines += ["### Mismatches", ""]
        for number, case in numbered[:MARKDOWN_CASES]:
            lines += _md_case(number, case)
        if len(numbered) > MARKDOWN_CASES:
            lines += [f"…and {len(numbered) - MARKDOWN_CASES} more mismatched case(s): see `report.html`.", ""]
    return "\n".join(lines).rstrip("\n") + "\n"
