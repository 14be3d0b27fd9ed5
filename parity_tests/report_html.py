"""The HTML parity report (one self-contained page with side-by-side diffs) and the wording all reports share.

Pure functions over a `ParityRun`; `parity_tests.report` writes the files. The page is rendered by Jinja2 with
autoescaping from `templates/report.html`: every value a side sent is data, never markup.
"""

from __future__ import annotations

import base64
import difflib
import functools
import hashlib
import json
import re
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import Any

import jinja2

from exthost.evidence.compare import (
    MISSING,
    CapturedResponse,
    Difference,
    canonical_body,
    header_value,
    parse_content_type,
)
from parity_tests.outcome import KINDS, CaseResult, Exchange, FeatureTally, ParityRun

# Characters XML 1.0 forbids (and HTML shows as nothing or U+FFFD): C0 controls but tab and newlines, lone
# surrogates, U+FFFE and U+FFFF.
_INVISIBLE = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_JSON_TYPES = ("application/json", "text/json")
_TEXT_TYPES = ("text/html", "application/xml", "application/javascript", "application/x-www-form-urlencoded")
# A report stays readable in a browser however large the answers: beyond these it says what it left out.
MAX_BODY_LINES = 2000  # read from each answer before diffing
MAX_BODY_ROWS = 400  # shown once unchanged runs are folded
CONTEXT_LINES = 4  # unchanged lines kept around each change
MAX_LINE_CHARS = 2000
MAX_VALUE_CHARS = 5000
MAX_HTML_CASES = 100


# --- wording shared by every report ---


def printable(text: str) -> str:
    """`text` with each character XML 1.0 forbids written as a `\\uXXXX` escape.

    Escaped rather than dropped: a NUL in an answer is evidence, and `"a\\x00b"` must not read as `"ab"`.
    """
    return _INVISIBLE.sub(lambda found: f"\\u{ord(found.group()):04x}", text)


def show(value: Any) -> str:
    """A difference's value as one line of JSON text (`"<missing>"` unquoted for a side that has nothing)."""
    if value is MISSING:
        return "<missing>"
    return printable(json.dumps(value, ensure_ascii=False, sort_keys=True, default=str))


def clip(text: str, limit: int) -> str:
    """`text` cut to `limit` characters, the cut marked with an ellipsis."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def verdict(run: ParityRun) -> str:
    """`PASS` or `FAIL`, as the run decides (`ParityRun.ok`)."""
    return "PASS" if run.ok else "FAIL"


def headline(run: ParityRun) -> str:
    """`PASS — legacy/plugin`, or `FAIL — legacy/legacy (A/A)`."""
    return f"{verdict(run)} — {run.sides}" + (" (A/A)" if run.aa else "")


def reasons(run: ParityRun) -> list[str]:
    """Why the verdict is what it is, one sentence each."""
    total, mismatched = len(run.cases), len(run.mismatched)
    errors = sum(1 for case in run.cases if case.error is not None)
    found = []
    if not total:
        found.append("No case was run.")
    elif mismatched:
        broken = f" ({errors} could not be run)" if errors else ""
        found.append(f"{mismatched} of {total} cases differ{broken}.")
    elif not run.inconclusive:
        found.append(f"All {total} cases match.")
    if run.inconclusive:
        found.append(
            f"{len(run.inconclusive)} of {total} cases are inconclusive (both sides agreed, but legacy did not answer "
            "as the recording says, so the replay proves little): "
            + "; ".join(f"{case.case_id}: {case.inconclusive}" for case in run.inconclusive[:3])
            + ("; …" if len(run.inconclusive) > 3 else "")
        )
    if run.coverage:
        shown = ", ".join(
            f"{feature} {found.legacy.percent:.1f}% ({found.legacy.covered} of {found.legacy.branches})"
            for feature, found in sorted(run.coverage.items())
        )
        found.append(f"Branches of the legacy feature code the cases reached: {shown}.")
        if run.coverage_note:
            found.append(f"Branch coverage {run.coverage_note}.")
    elif run.coverage_note:
        found.append(f"Branch coverage {run.coverage_note}.")
    if run.aa:
        found.append("A/A run: legacy against legacy, to show which noise rules are needed.")
        if run.rules_unused:
            found.append(
                f"{len(run.rules_unused)} noise rule(s) in {run.rules_file} were not needed; an unneeded rule can "
                "hide a real difference, so the run fails until they are removed."
            )
    if run.shard is not None:
        found.append(
            f"Shard {run.shard.index} of {run.shard.count} of a sharded run: these are its own cases only, and it is "
            f"no evidence by itself; `sv parity:merge` of all {run.shard.count} shards' reports makes the run's."
        )
    if run.merged_from:
        found.append(f"Merged from {len(run.merged_from)} shard runs (`sv parity:merge`).")
    return found


def feature_rows(run: ParityRun) -> list[FeatureTally]:
    """The run's per-feature tallies, with a zero row for a feature that had no case (so it is not overlooked)."""
    tallies = {tally.feature: tally for tally in run.by_feature()}
    for feature in run.features:
        if feature not in tallies:
            tallies[feature] = FeatureTally(feature, dict.fromkeys(KINDS, 0), dict.fromkeys(KINDS, 0), 0, 0)
    return [tallies[feature] for feature in sorted(tallies)]


# Commit fields that only follow from the others: a changed message changes the hash, a changed file the tree and
# the hash, an earlier commit's change every later parent. Reports show them after the fields that say what changed.
DERIVED_COMMIT_FIELDS = frozenset({"hash", "tree", "parents"})


def labelled(exchange: Exchange) -> list[tuple[str, Difference]]:
    """An exchange's differences, each with where it was found: the answer, or the state after the request (a
    commit's derived fields after the fields that caused them)."""
    state = sorted(
        exchange.state,
        key=lambda found: (
            found.pointer.startswith("/state/remote/") and found.pointer.rsplit("/", 1)[-1] in DERIVED_COMMIT_FIELDS
        ),
    )
    return [("answer", found) for found in exchange.comparison.differences] + [("state", found) for found in state]


def where(part: str, difference: Difference) -> str:
    """A difference's pointer, prefixed `state ` when it is into the stored state rather than the answer."""
    return difference.pointer if part == "answer" else f"state {difference.pointer}"


# --- the answers side by side ---


@dataclass(frozen=True)
class Line:
    """One row of the side-by-side body view; a number is None where that side has no line."""

    legacy_number: int | None
    legacy: str
    plugin_number: int | None
    plugin: str
    changed: bool
    folded: int = 0  # a row standing for this many unchanged lines


@dataclass(frozen=True)
class BodyView:
    """The rows of both answers side by side, and what was left out of them."""

    rows: tuple[Line, ...]
    notes: tuple[str, ...]


def _decode(body: bytes, charset: str | None) -> str:
    try:
        return body.decode(charset or "utf-8", errors="replace")
    except LookupError:  # an unknown charset: the differences above already say so
        return body.decode("utf-8", errors="replace")


def _body_text(response: CapturedResponse) -> str:
    content_type = header_value(response.headers, "content-type")
    media, params = parse_content_type(content_type)
    if not response.body:
        return ""
    if media in _JSON_TYPES or media.endswith("+json"):
        text = _decode(response.body, params.get("charset"))
        try:
            return json.dumps(json.loads(text), indent=2, sort_keys=True, ensure_ascii=False)
        except (ValueError, RecursionError):
            return text  # shown as it came: the differences above name the invalid JSON
    if media.startswith("text/") or media in _TEXT_TYPES or media.endswith("+xml"):
        return _decode(response.body, params.get("charset"))
    # A binary answer is shown as what the comparison saw: zip members, or a length and digest.
    digest = hashlib.sha256(response.body).hexdigest()
    form = canonical_body(response.body, content_type)[0]
    summary = f"({media or 'no content type'}, {len(response.body)} bytes, sha256 {digest})"
    return summary + "\n" + json.dumps(form, indent=2, sort_keys=True, ensure_ascii=False, default=str)


def _answer_lines(response: CapturedResponse) -> tuple[list[str], str | None]:
    try:
        phrase = HTTPStatus(response.status).phrase
    except ValueError:
        phrase = ""
    head = [f"HTTP {response.status} {phrase}".rstrip(), *(f"{name}: {value}" for name, value in response.headers)]
    lines = [*head, "", *_body_text(response).splitlines()]
    lines = [printable(clip(line, MAX_LINE_CHARS)) for line in lines]
    if len(lines) > MAX_BODY_LINES:
        return lines[:MAX_BODY_LINES], f"showing {MAX_BODY_LINES} of {len(lines)} lines"
    return lines, None


def _rows(left: list[str], right: list[str], i1: int, i2: int, j1: int, j2: int, changed: bool) -> list[Line]:
    rows = []
    for offset in range(max(i2 - i1, j2 - j1)):
        i, j = i1 + offset, j1 + offset
        rows.append(
            Line(
                i + 1 if i < i2 else None,
                left[i] if i < i2 else "",
                j + 1 if j < j2 else None,
                right[j] if j < j2 else "",
                changed,
            )
        )
    return rows


def body_view(legacy: CapturedResponse, plugin: CapturedResponse) -> BodyView:
    """Both raw answers (status, headers, body; JSON pretty-printed) line by line, differing lines marked and long
    unchanged runs folded to a few lines of context."""
    left, left_note = _answer_lines(legacy)
    right, right_note = _answer_lines(plugin)
    notes = [f"{side}: {note}" for side, note in (("legacy", left_note), ("plugin", right_note)) if note]
    rows: list[Line] = []
    opcodes = difflib.SequenceMatcher(None, left, right, autojunk=False).get_opcodes()
    for position, (tag, i1, i2, j1, j2) in enumerate(opcodes):
        head, tail = CONTEXT_LINES, CONTEXT_LINES if position < len(opcodes) - 1 else 0
        if tag == "equal" and i2 - i1 > head + tail + 1:
            rows += _rows(left, right, i1, i1 + head, j1, j1 + head, False)
            rows.append(Line(None, "", None, "", False, folded=i2 - i1 - head - tail))
            rows += _rows(left, right, i2 - tail, i2, j2 - tail, j2, False)
        else:
            rows += _rows(left, right, i1, i2, j1, j2, tag != "equal")
    if len(rows) > MAX_BODY_ROWS:
        notes.append(f"showing the first {MAX_BODY_ROWS} of {len(rows)} rows")
    return BodyView(tuple(rows[:MAX_BODY_ROWS]), tuple(notes))


# --- the page ---


def _data_url(document: Any) -> str:
    text = json.dumps(document, indent=2, sort_keys=True, ensure_ascii=True, default=str)
    return "data:application/json;base64," + base64.b64encode(text.encode("ascii")).decode("ascii")


def _case_view(number: int, case: CaseResult) -> dict[str, Any]:
    exchanges = [
        {
            "id": f"case-{number}-exchange-{exchange.index}",
            "exchange": exchange,
            "differences": [(where(part, found), found) for part, found in labelled(exchange)],
            "bodies": body_view(exchange.legacy, exchange.plugin),
        }
        for exchange in case.mismatches
    ]
    reproduction = case.reproduction
    return {
        "number": number,
        "case": case,
        "exchanges": exchanges,
        "end_state": [(where("state", found), found) for found in case.end_state],
        "har_url": _data_url(dict(reproduction.har)) if reproduction is not None else None,
        "pytest": reproduction.pytest_case if reproduction is not None else None,
    }


@functools.cache
def _environment() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=True,  # every value in the page came from a side under test
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        # every string shown passes through `printable`, so a control character is visible, not silently eaten
        finalize=lambda value: printable(value) if isinstance(value, str) else value,
    )
    environment.filters["show"] = lambda value: clip(show(value), MAX_VALUE_CHARS)
    return environment


def html_report(run: ParityRun) -> str:
    """The run as one self-contained HTML page: verdict, tables, and per mismatched case a side-by-side diff."""
    numbered = [(number, case) for number, case in enumerate(run.cases) if not case.match]
    template = _environment().get_template("report.html")
    return template.render(
        run=run,
        verdict=verdict(run),
        headline=headline(run),
        reasons=reasons(run),
        features=feature_rows(run),
        routes=run.routes(),
        kinds=KINDS,
        cases=[_case_view(number, case) for number, case in numbered[:MAX_HTML_CASES]],
        cases_left_out=max(0, len(numbered) - MAX_HTML_CASES),
    )
