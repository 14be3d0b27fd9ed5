"""Generated parity cases: edge cases built from legacy's limits, schemathesis requests and stateful sequences drawn
from `/openapi.json`, hypothesis strategies for what the schema cannot say, and requests guided by branch coverage,
each run on both sides from identical state.

A feature's budget (`count` cases) is shared by five kinds of case (`split_budget`):

- `edge:<what>`: the deterministic cases of `parity_tests.boundaries`, each run once, first;
- `schemathesis:<METHOD> <path>`: one request to one of the feature's operations, positive or negative, its path
  parameters aimed at the seeded ids three times in four, sent by alice (owner), bob (editor), carol (viewer), dave
  (a stranger) or nobody;
- `stateful`: a sequence schemathesis's state machine builds by following the document's OpenAPI links (a created
  node's id into GET/PATCH/DELETE of that node, a new post's file name into publish, ...), the caller chosen first
  and switched now and then;
- `strategy:<name>`: sequences the schema cannot describe: PaperTrail board snapshots with consistent (or subtly
  inconsistent) node ids, edges and tags; Blog posts with awkward front matter, created, read, changed, published;
- `guided:<METHOD> <path>`: single requests aimed at the operations whose legacy routes lead to the most branches
  no case has taken yet (when the pair measures coverage).

Each hypothesis example is one case: both sides back to the template, every request to both, answers and stored
state compared. A new difference fails the example, so hypothesis shrinks it (passing attempts are not cases) and
the smallest failing one is reported with a `Reproduction`: a HAR document `replay_har_case` runs again, and a
pytest test to paste. Generation then goes on with a new seed; a case that shows only differences already reported
is counted without being shrunk.
"""

from __future__ import annotations

import difflib
import http.client
import json
import logging
import pprint
import re
import sys
import textwrap
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, NoReturn
from urllib.parse import quote, unquote

import hypothesis
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, reject
from hypothesis import strategies as st
from hypothesis.control import current_build_context
from hypothesis.stateful import initialize, precondition, rule
from schemathesis.core.errors import SerializationNotPossible
from schemathesis.core.result import Ok
from schemathesis.core.transport import Response
from schemathesis.generation import GenerationMode
from schemathesis.generation.case import Case
from schemathesis.hooks import HookContext
from schemathesis.transport.wsgi import WSGI_TRANSPORT
from werkzeug.test import EnvironBuilder, stream_encode_multipart

from exthost.evidence.compare import CapturedRequest, CapturedResponse, parse_content_type
from exthost.evidence.har import read_har
from legacy_core.features import BUILT_IN
from legacy_core.openapi import package_version
from parity_tests.branch_coverage import route_shape
from parity_tests.client import path_of
from parity_tests.outcome import SESSION_END, CaseResult, Exchange, Reproduction
from parity_tests.pair import CORE, Pair, body_json
from parity_tests.state import commit_dates
from parity_tests.strategies import board_snapshots, post_fields

log = logging.getLogger(__name__)

# Which operations of the document belong to each feature (schemathesis `include(path_regex=...)`).
# The built-in features' path patterns (each feature declares its own: `legacy_core.features.Feature.paths`).
FEATURE_PATHS = {feature.name: feature.paths for feature in BUILT_IN}
# Who sends a case (None: nobody signed in): the owner twice as often as the others, since most routes need a role
# to get past the guard. Hypothesis favours the first and the last choice, so both are the owner.
CALLERS: tuple[str | None, ...] = ("alice", "bob", "carol", "dave", None, "alice")
# A stateful sequence is worth more when its first steps create something: it starts with an editor more often.
SEQUENCE_CALLERS: tuple[str | None, ...] = ("alice", "bob", "carol", "alice", "dave", None, "bob", "alice")
# A path parameter with seeded ids keeps its generated value once in this many cases (else it is a seeded id);
# sequences mostly work on the seeded project and board, since a random one makes every later step a 404.
SINGLE_AIM, SEQUENCE_AIM = 4, 16
# Links schemathesis would infer on its own are left out: with them, sequences wander among ~100 rules and hardly
# ever reuse an item they created (0-1 in 36 sequences measured); with the declared links only, 3 to 15.
INFERENCE: list[str] = []
# A guided operation is drawn in proportion to the branches its route leads to that no case took, up to this weight.
GUIDED_WEIGHT_CAP = 40
# Steps of one stateful run, the caller's sign-in included.
STATEFUL_STEPS = 6
# Examples hypothesis may run while shrinking a divergence (each resets both sides); then the smallest failing one
# found is kept. A count, not a time: the result must not depend on the machine's speed.
MAX_SHRINKS = 300
# A run goes on past a difference: each new, distinct one is shrunk and reported with a reproduction, at most this
# many per route and in all per feature (each shrink costs up to MAX_SHRINKS examples); cases that show only known
# differences are counted as mismatches, and generation goes on.
MAX_DISTINCT_PER_ROUTE = 3
MAX_DISTINCT = 8
# A fixed multipart boundary: a case's request bytes depend on its draws only (werkzeug's own is random).
BOUNDARY = "sovereign-parity-boundary"
# Headers schemathesis adds that are its own bookkeeping: a random id per case would make no two runs alike.
_SCHEMATHESIS_HEADERS = frozenset({"x-schemathesis-testcaseid", "connection"})
# Escapes a CapturedRequest path keeps: its path is percent-decoded, except for the characters that would end it
# ('?', '#') and '%' itself (werkzeug decodes the path once more when it builds the environ).
_KEPT_ESCAPES = re.compile(r"(%(?:25|3[Ff]|23))")
_KEEP_CALLER = "<keep>"  # a HAR entry that names no caller


class _Divergence(AssertionError):
    """The sides differed (or the case could not be run): fails the hypothesis example, so that it is shrunk.

    Always raised from one place (`_FeatureRun.fail`): hypothesis tells failures apart by where they are raised,
    and every divergence of a feature must shrink as one.
    """


# --- requests: from a schemathesis case, and built by hand ---


def _decoded_path(encoded: str) -> str:
    parts = _KEPT_ESCAPES.split(encoded)
    return "".join(part.upper() if index % 2 else unquote(part) for index, part in enumerate(parts))


def _json_request(method: str, path: str, body: Any) -> CapturedRequest:
    return CapturedRequest(
        method, path, headers=(("Content-Type", "application/json"),), body=json.dumps(body).encode()
    )


def captured_request(case: Case[Any]) -> CapturedRequest:
    """The request schemathesis's WSGI transport would send for `case`: method, path, query, headers and body
    bytes (JSON, multipart with a fixed boundary, raw bytes). Raises SerializationNotPossible like the transport."""
    data = WSGI_TRANSPORT.serialize_case(case)
    headers = {name: str(value) for name, value in data["headers"].items() if name.lower() not in _SCHEMATHESIS_HEADERS}
    payload = data.get("data")
    content_type = data.get("content_type")
    if isinstance(payload, Mapping) and payload:
        stream, _, boundary = stream_encode_multipart(dict(payload), use_tempfile=False, boundary=BOUNDARY)
        payload, content_type = stream.read(), f"multipart/form-data; boundary={boundary}"
        headers = {name: value for name, value in headers.items() if name.lower() != "content-type"}
    elif isinstance(payload, Mapping):
        payload = None  # an empty form: no body, as the transport sends it
    builder = EnvironBuilder(
        method=data["method"],
        path="/",
        query_string=data.get("query_string"),
        headers=headers,
        data=payload,
        json=data.get("json"),
        content_type=content_type,
    )
    try:
        environ = builder.get_environ()
        body = environ["wsgi.input"].read()
    finally:
        builder.close()
    if environ.get("CONTENT_TYPE"):
        headers = {name: value for name, value in headers.items() if name.lower() != "content-type"}
        headers["Content-Type"] = environ["CONTENT_TYPE"]
    return CapturedRequest(
        method=data["method"].upper(),
        path=_decoded_path(data["path"]),
        query=environ["QUERY_STRING"],
        headers=tuple(headers.items()),
        body=body,
    )


def schemathesis_response(request: CapturedRequest, answer: CapturedResponse) -> Response:
    """A legacy answer as the Response schemathesis's state machine reads links from."""
    headers: dict[str, list[str]] = {}
    for name, value in answer.headers:
        headers.setdefault(name.lower(), []).append(value)
    query = f"?{request.query}" if request.query else ""
    prepared = requests.Request(
        method=request.method,
        url=f"http://localhost{quote(request.path, safe='/%')}{query}",
        headers=dict(request.headers),
        data=request.body,
    ).prepare()
    reason = http.client.responses.get(answer.status, "")
    charset = parse_content_type(headers.get("content-type", [""])[0])[1].get("charset")
    return Response(answer.status, headers, answer.body, prepared, 0.0, False, reason, encoding=charset)


def _sign_in(pair: Pair, user: str | None) -> None:
    """Both cookie jars hold `user`'s seeded session (or none at all, for an anonymous caller)."""
    cookies = {pair.seed.cookie: pair.seed.users[user].token} if user is not None else {}
    for side in pair.sides:
        side.cookies = dict(cookies)


# --- one feature's run ---


@dataclass
class _Running:
    """The case in progress: its requests so far and who sent each."""

    source: str
    started: float
    user: str | None
    exchanges: list[Exchange] = field(default_factory=list)
    users: list[str | None] = field(default_factory=list)
    error: str | None = None
    reset: bool = False  # both sides are back to the template (done before the first request)
    done: bool = False


class _FeatureRun:
    """The cases of one feature: the one in progress, those reported, the smallest failing one so far, and the
    distinct differences already shrunk (a case that shows only those is counted and generation goes on)."""

    def __init__(
        self,
        pair: Pair,
        feature: str,
        on_case: Callable[[CaseResult], None] | None,
        *,
        max_shrinks: int = MAX_SHRINKS,
        number_from: int = 0,
    ):
        self.pair = pair
        self.feature = feature
        self.on_case = on_case
        self.max_shrinks = max_shrinks
        self.shrinks_left = max_shrinks
        self.number_from = number_from
        self.results: list[CaseResult] = []
        self.failing: tuple[CaseResult, list[str | None]] | None = None
        self.running: _Running | None = None
        self.executed = 0
        # Cases of the kind in progress that count against its budget (not hypothesis's shrink attempts).
        self.counted = 0
        # Signatures of the differences shrunk and reported with a reproduction, and how many per route.
        self.known: set[str] = set()
        self.per_route: Counter[str] = Counter()

    def start(self, source: str, user: str | None) -> None:
        """A new case; both sides are reset right before its first request (an example hypothesis rejects before
        then costs no reset)."""
        self.running = _Running(source, time.perf_counter(), user)

    def _reset(self, running: _Running) -> None:
        if running.reset:
            return
        if self.failing is not None and not current_build_context().is_final:
            # A shrink attempt. Once the budget is spent, every attempt ends here, unrun, as an overrun (an example
            # too big to run): hypothesis stops looking for smaller ones and replays the smallest failing case
            # (that final run always runs). Not `reject()`: an invalid example must stop where the same draws
            # stopped before, and an attempt that ends at its first request often shares its draws so far with
            # one that went on (a longer sequence), which hypothesis takes for flaky data generation
            # (FlakyStrategyDefinition) and gives up shrinking. An overrun is never checked against earlier runs.
            if self.shrinks_left <= 0:
                running.done = True
                current_build_context().data.mark_overrun()
            self.shrinks_left -= 1
        self.pair.start_case(user=running.user)
        running.reset = True

    def next_id(self) -> str:
        return f"generated:{self.feature}:{self.number_from + len(self.results)}"

    def current(self) -> _Running:
        if self.running is None:
            raise RuntimeError("no generated case in progress: call start() first")
        return self.running

    def sign_in(self, user: str | None) -> None:
        running = self.current()
        running.user = user
        if running.reset:
            _sign_in(self.pair, user)

    def settled(self, signature: str) -> bool:
        """Whether a difference needs no shrinking: one like it was shrunk already, its route has had its share of
        distinct differences, or the run has had its share in all."""
        return (
            signature in self.known
            or self.per_route[route_of_signature(signature)] >= MAX_DISTINCT_PER_ROUTE
            or len(self.known) >= MAX_DISTINCT
        )

    def send(self, request: CapturedRequest) -> Exchange:
        running = self.current()
        self._reset(running)
        try:
            exchange = self.pair.exchange(len(running.exchanges), request)
        except Exception as exc:  # a harness failure, not a divergence; it still fails the case, with its reason
            running.error = f"{request.method} {request.path}: {type(exc).__name__}: {exc}"
            self.fail()
        running.exchanges.append(exchange)
        running.users.append(running.user)
        if not exchange.match and not self.settled(exchange_signature(exchange)):
            self.fail()
        return exchange

    def finish(self) -> None:
        """End the case: compare the end state, then report it (or fail the example)."""
        running = self.current()
        if running.done:
            return
        self._reset(running)
        end = self.pair.state_differences()
        if end and not self.settled(end_signature(end)):
            self.fail(end)
        running.done = True
        self.executed += 1
        if self.failing is None:  # once a case failed, passing examples are hypothesis's shrink attempts
            self.counted += 1
            self.report(self.result(running, end))

    def fail(self, end: tuple[Any, ...] = ()) -> NoReturn:
        running = self.current()
        running.done = True
        self.executed += 1
        result = self.result(running, end)
        if self.failing is None:
            self.counted += 1  # the example that found it; hypothesis's smaller ones replace it
        self.failing = (result, list(running.users))
        raise _Divergence(f"{self.feature}: {running.source} differs")

    def result(self, running: _Running, end: tuple[Any, ...] = ()) -> CaseResult:
        return CaseResult(
            case_id=self.next_id(),
            kind="generated",
            feature=self.feature,
            source=running.source,
            exchanges=tuple(running.exchanges),
            end_state=end,
            error=running.error,
            seconds=time.perf_counter() - running.started,
        )

    def report(self, result: CaseResult) -> None:
        self.results.append(result)
        if self.on_case is not None:
            self.on_case(result)

    def report_failing(self) -> CaseResult:
        """The failing case found (shrunk, if hypothesis shrank it), reported with its reproduction; every difference
        it shows is known from now on (not only its first: a case can show a known difference, then a new one)."""
        assert self.failing is not None
        result, users = self.failing
        numbered = replace(result, case_id=self.next_id())
        self.report(replace(numbered, reproduction=make_reproduction(numbered, users)))
        for signature in case_signatures(numbered):
            if signature not in self.known:
                self.known.add(signature)
                self.per_route[route_of_signature(signature)] += 1
        self.failing = None
        self.shrinks_left = self.max_shrinks
        return numbered

    def drive(self, test: Callable[[], None], kind: str, planned: int, note: Callable[[str], None]) -> str:
        """Run one hypothesis test of `planned` examples: "found" when it found (and shrank) a new difference,
        "broken" when hypothesis gave up with an error, "done" when it ran its examples."""
        self.executed = 0
        try:
            test()
        except _Divergence:
            pass
        except Exception as exc:  # hypothesis gave up (flaky, unsatisfiable) or the harness broke between cases
            if self.failing is None:
                error = f"{kind} cases of {self.feature}: {type(exc).__name__}: {exc}"
                self.counted += 1
                self.report(CaseResult(self.next_id(), "generated", self.feature, kind, error=error))
                note(error)
                return "broken"
            # Not expected: a case's draws depend on its choices and on answers from the reset state only.
            note(f"{kind} cases of {self.feature}: hypothesis stopped shrinking early ({type(exc).__name__})")
        if self.failing is not None:
            found = self.report_failing()
            note(
                f"{self.feature}: {found.case_id} ({found.source}) differs, shrunk to {len(found.exchanges)} "
                f"request(s); generation goes on past it"
            )
            return "found"
        if self.executed < planned:
            note(
                f"{self.feature}: hypothesis ran {self.executed} of {planned} {kind} cases: it ran out of distinct "
                "examples (or rejected the rest)"
            )
        return "done"

    def run_kind(
        self,
        kind: str,
        build: Callable[[int, int | None], Callable[[], None]],
        planned: int,
        seed: int | None,
        note: Callable[[str], None],
    ) -> int:
        """`planned` cases of one kind. A new difference ends a hypothesis run (it is shrunk and reported); a new
        run, with its own seed, makes the cases left. Returns how many cases were made."""
        self.counted = 0
        for attempt in range(MAX_DISTINCT + 2):
            left = planned - self.counted
            if left <= 0:
                break
            outcome = self.drive(build(left, _attempt_seed(seed, attempt)), kind, left, note)
            if outcome != "found":
                break
        return self.counted

    def run_edges(self, cases: Sequence[Any], note: Callable[[str], None]) -> int:
        """The feature's edge cases (`parity_tests.boundaries`), each once, in order. They are built small, so a
        difference is reported as found (with its reproduction), not shrunk."""
        from parity_tests.boundaries import next_request

        for case in cases:
            self.start(case.source, case.user)
            answers: list[CapturedResponse] = []
            try:
                for step in case.requests:
                    request = next_request(step, answers)
                    if request is None:
                        break
                    answers.append(self.send(request).legacy)
                self.finish()
            except _Divergence:
                found = self.report_failing()
                note(f"{self.feature}: {found.case_id} ({found.source}) differs")
            except Exception as exc:  # a step that could not be built: this case fails, the others still run
                error = f"the edge case could not be built: {type(exc).__name__}: {exc}"
                self.counted += 1
                self.report(CaseResult(self.next_id(), "generated", self.feature, case.source, error=error))
                note(f"{self.feature}: {case.source}: {error}")
        return len(cases)


def _attempt_seed(seed: int | None, attempt: int) -> int | None:
    """The seed of a kind's `attempt`-th hypothesis run: its own, so a run after a difference draws new cases."""
    return None if seed is None else seed + attempt * 7919


# --- distinct differences ---------------------------------------------------------------------------------------------

# Pointer segments that name one row, one file or one commit of a case, not a kind of difference.
_NUMBER = re.compile(r"^\d+$")


def _normalised(pointer: str) -> str:
    parts = pointer.split("/")
    if parts[1:3] == ["state", "rows"] and len(parts) > 4:
        parts[4] = "*"  # /state/rows/<table>/<primary key>/<column>
    elif parts[1:3] == ["state", "files"] and len(parts) > 3:
        parts[3] = "*"
    return "/".join("*" if _NUMBER.match(part) else part for part in parts)


def exchange_signature(exchange: Exchange) -> str:
    """What makes a difference distinct: the route, and the kinds of place that differ (indexes, row keys and file
    names left out)."""
    pointers = sorted({_normalised(difference.pointer) for difference in exchange.differences})
    return f"{exchange.method} {exchange.route}\n{' '.join(pointers)}"


def end_signature(end: Sequence[Any]) -> str:
    pointers = sorted({_normalised(difference.pointer) for difference in end})
    return f"* {SESSION_END}\n{' '.join(pointers)}"


def case_signatures(result: CaseResult) -> list[str]:
    """The signature of every difference a case shows: each mismatching request's, the end state's, its error's."""
    found = [exchange_signature(exchange) for exchange in result.mismatches]
    if result.end_state:
        found.append(end_signature(result.end_state))
    if result.error is not None or not found:
        found.append(case_signature(result))
    return list(dict.fromkeys(found))


def case_signature(result: CaseResult) -> str:
    first = result.first_mismatch()
    if first is not None:
        return exchange_signature(first)
    if result.end_state:
        return end_signature(result.end_state)
    return f"* {SESSION_END}\nerror {(result.error or '').split(':', 1)[0]}"


def route_of_signature(signature: str) -> str:
    return signature.split("\n", 1)[0]


# --- the three kinds of case ---


def _settings(examples: int, seed: int | None, **extra: Any) -> hypothesis.settings:
    return hypothesis.settings(
        max_examples=examples,
        deadline=None,
        database=None,  # never write an example database into the repository
        phases=(Phase.generate, Phase.shrink),
        report_multiple_bugs=False,
        suppress_health_check=list(HealthCheck),
        # A seed decides everything; without one, the loaded profile decides (ci derandomizes).
        derandomize=bool(getattr(hypothesis.settings.default, "derandomize", False)) if seed is None else False,
        print_blob=False,
        **extra,
    )


def _seeded(test: Any, seed: int | None) -> Any:
    return hypothesis.seed(seed)(test) if seed is not None else test


@dataclass(frozen=True)
class _Target:
    """What a feature's cases aim at: the seeded ids by path parameter name; and its strategy case."""

    known: Mapping[str, Sequence[str]]
    scenario: Callable[[_FeatureRun, st.DataObject, Pair], None] | None


def _aim(
    known: Mapping[str, Sequence[str]], one_in: int
) -> Callable[[HookContext, dict[str, Any]], st.SearchStrategy[Any]]:
    """A schemathesis `flatmap_path_parameters` hook: a known parameter keeps its generated value once in `one_in`
    draws and is a seeded id otherwise (like `st.sampled_from([*known, None])`, with a weight)."""

    def choose(name: str, generated: Any) -> st.SearchStrategy[Any]:
        ids = [quote(value, safe="") for value in known.get(name, ())]
        if not ids:
            return st.just(generated)
        return st.integers(0, one_in - 1).flatmap(
            lambda pick: st.just(generated) if pick == 0 else st.sampled_from(ids)
        )

    def flatmap_path_parameters(context: HookContext, parameters: dict[str, Any]) -> st.SearchStrategy[Any]:
        if not parameters:
            return st.just(parameters)
        return st.fixed_dictionaries({name: choose(name, value) for name, value in parameters.items()})

    return flatmap_path_parameters


def _calendar_dates(one_in: int) -> Callable[[HookContext, Any], st.SearchStrategy[Any]]:
    """A schemathesis `flatmap_body` hook: a body's `pubDate` is a real calendar date but once in `one_in` draws
    (the document's pattern cannot rule out 2026-02-31, so most generated dates are refused before anything else
    about the post is looked at)."""

    def flatmap_body(context: HookContext, body: Any) -> st.SearchStrategy[Any]:
        if not isinstance(body, dict) or "pubDate" not in body:
            return st.just(body)
        dates = st.dates().map(lambda day: {**body, "pubDate": day.isoformat()})
        return st.integers(0, one_in - 1).flatmap(lambda pick: st.just(body) if pick == 0 else dates)

    return flatmap_body


class _Generator:
    """One feature's strategies and state machine, built once, and the hypothesis tests that run them."""

    def __init__(self, run: _FeatureRun, document: Mapping[str, Any], target: _Target):
        self.run = run
        self.target = target
        schema = self._schema(document, SINGLE_AIM)
        self.sequences = self._schema(document, SEQUENCE_AIM)
        operations = [result.ok() for result in schema.get_all_operations() if isinstance(result, Ok)]
        self.operations = {
            operation.label: {
                mode: operation.as_strategy(generation_mode=mode)
                for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
            }
            for operation in operations
        }
        self.labels = sorted(self.operations)

    def linked(self) -> bool:
        """Whether the feature's document links an answer to a next request: stateful sequences need one."""
        self.sequences.as_state_machine()  # counts the document's links (schemathesis's own check, on first run)
        return bool(self.sequences.statistic.transitions.selected)

    def _schema(self, document: Mapping[str, Any], aim: int) -> Any:
        config = schemathesis.Config.from_dict(
            {
                "generation": {"mode": "all", "with-security-parameters": False},
                "phases": {"coverage": {"enabled": False}, "stateful": {"inference": {"algorithms": INFERENCE}}},
            }
        )
        schema = schemathesis.openapi.from_dict(dict(document), config=config).include(
            path_regex=self.run.pair.features[self.run.feature].paths
        )
        schema.hooks.register_hook_with_name(_aim(self.target.known, aim), "flatmap_path_parameters")
        schema.hooks.register_hook_with_name(_calendar_dates(aim), "flatmap_body")
        return schema

    def single(self, examples: int, seed: int | None) -> Callable[[], None]:
        modes = [GenerationMode.POSITIVE] * 3 + [GenerationMode.NEGATIVE]
        return self._single("schemathesis", self.labels, modes, examples, seed)

    def guided(self, examples: int, seed: int | None) -> Callable[[], None]:
        """Single requests aimed where the evidence is thin: the operations whose legacy routes lead to the most
        branches no case has taken yet (measured now), drawn in proportion, half of them outside the schema."""
        try:
            thin = self.run.pair.meter.thin_routes(self.run.feature) if self.run.pair.meter is not None else {}
        except Exception:  # the measurement is a guide, not evidence: without it, every operation evenly
            log.warning("%s: no coverage to guide generation", self.run.feature, exc_info=True)
            thin = {}
        weighted: list[str] = []
        for label in self.labels:
            method, _, path = label.partition(" ")
            weight = thin.get((method, route_shape(path)), 0)
            weighted += [label] * min(weight, GUIDED_WEIGHT_CAP)
        # Nothing measured, or nothing left uncovered that a single request reaches: every operation, evenly.
        modes = [GenerationMode.POSITIVE, GenerationMode.NEGATIVE]
        return self._single("guided", weighted or self.labels, modes, examples, seed)

    def _single(
        self,
        source: str,
        labels: Sequence[str],
        modes_drawn: Sequence[GenerationMode],
        examples: int,
        seed: int | None,
    ) -> Callable[[], None]:
        run, operations = self.run, self.operations
        modes = st.sampled_from(list(modes_drawn))
        seen: set[tuple[str | None, CapturedRequest]] = set()

        @given(data=st.data())
        def single_request(data: st.DataObject) -> None:
            label = data.draw(st.sampled_from(labels), label="operation")
            case = data.draw(operations[label][data.draw(modes, label="mode")], label="case")
            user = data.draw(st.sampled_from(CALLERS), label="caller")
            try:
                request = captured_request(case)
            except SerializationNotPossible:
                reject()
            if run.failing is None and (user, request) in seen:
                reject()  # the same request by the same caller again: hypothesis draws another instead
            seen.add((user, request))
            run.start(f"{source}:{label}", user)
            run.send(request)
            run.finish()

        return _seeded(_settings(examples, seed)(single_request), seed)  # type: ignore[no-any-return]

    def stateful(self, examples: int, seed: int | None) -> Callable[[], None]:
        run = self.run
        base: Any = self.sequences.as_state_machine()

        class ParityWorkflow(base):  # type: ignore[misc]  # a class schemathesis builds from the document
            """Every step sent to both sides; schemathesis follows links in the legacy answer."""

            def setup(self) -> None:
                run.start("stateful", None)
                self.requests, self.switched = 0, False  # what the sign-in rule's precondition reads

            @initialize(user=st.sampled_from(SEQUENCE_CALLERS))
            def sign_in(self, user: str | None) -> None:
                run.sign_in(user)

            # Only right after a request: a sequence is never all sign-ins, nor two in a row.
            @precondition(lambda self: self.requests > 0 and not self.switched)
            @rule(user=st.sampled_from(CALLERS))
            def switch_caller(self, user: str | None) -> None:
                run.sign_in(user)
                self.switched = True

            def call(self, case: Case[Any], **kwargs: Any) -> Response:
                try:
                    request = captured_request(case)
                except SerializationNotPossible:
                    run.current().done = True  # hypothesis rejects the example half-way: not a case
                    reject()
                answer = run.send(request).legacy
                self.requests, self.switched = self.requests + 1, False
                return schemathesis_response(request, answer)

            def validate_response(self, response: Response, case: Case[Any], *args: Any, **kwargs: Any) -> None:
                return  # parity is the check here, not conformance to the document

            def teardown(self) -> None:
                if sys.exception() is None:  # a failed or rejected example ended the case already
                    run.finish()

            def _repr_step(self, rule: Any, data: Mapping[str, Any], result: Any) -> str:
                # Hypothesis prints each step in the final replay of the smallest failing case (and at debug
                # verbosity), naming a rule's result after the last name it gave out. Schemathesis names a response
                # only when a link can follow it, so a sequence whose first answer no link follows (a 404) has no
                # name yet: hypothesis's printer failed an assertion there, the replay stopped short of the run it
                # replays, and hypothesis called that FlakyStrategyDefinition. Nothing reads these lines (the
                # reproduction is the HAR), so the step is printed without names.
                arguments = ", ".join(f"{name}={value}" for name, value in data.items())
                return f"state.{rule.function.__name__}({arguments})"

        machine, settings = _seeded(ParityWorkflow, seed), _settings(examples, seed, stateful_step_count=STATEFUL_STEPS)
        return lambda: machine.run(settings=settings)

    def scenarios(self, examples: int, seed: int | None) -> Callable[[], None]:
        run, play = self.run, self.target.scenario
        assert play is not None, "a feature without a strategy case gets no strategy budget (split_budget)"

        @given(data=st.data())
        def scenario(data: st.DataObject) -> None:
            play(run, data, run.pair)
            run.finish()

        return _seeded(_settings(examples, seed)(scenario), seed)  # type: ignore[no-any-return]


_EDITORS = st.sampled_from(["alice", "bob", "bob", "carol"])


def _item(exchange: Exchange, key: str) -> dict[str, Any]:
    """The object under `key` in the legacy side's successful JSON answer, else {}."""
    answer = body_json(exchange.legacy) if 200 <= exchange.legacy.status < 300 else None
    found = answer.get(key) if isinstance(answer, dict) else None
    return found if isinstance(found, dict) else {}


def _board_scenario(run: _FeatureRun, data: st.DataObject, pair: Pair) -> None:
    """Save a snapshot, read the board, maybe patch it, then read, change and delete items of the result."""
    project = pair.seed.projects["papertrail"]
    base = path_of("api", "projects", project["id"], "papertrail", "board")
    items = path_of("api", "projects", project["id"], "papertrail", "board", project["board_id"])
    user = data.draw(_EDITORS, label="caller")
    _, snapshot = data.draw(board_snapshots(), label="snapshot")
    run.start("strategy:board-snapshot", user)
    run.send(_json_request("POST", base, snapshot))
    board = _item(run.send(CapturedRequest("GET", base)), "board")
    if data.draw(st.booleans(), label="patch"):
        _, other = data.draw(board_snapshots(), label="patch snapshot")
        keys = data.draw(st.lists(st.sampled_from(["title", "nodes", "edges"]), min_size=1, unique=True))
        patch = {key: other.get(key, "Patched") for key in keys}
        board = _item(run.send(_json_request("PATCH", base, patch)), "board") or board
    run.send(CapturedRequest("GET", items + "/edges"))
    nodes = board.get("nodes")
    node_ids = [node["id"] for node in nodes or () if isinstance(node, dict) and isinstance(node.get("id"), str)]
    if node_ids:
        node = items + path_of("nodes", data.draw(st.sampled_from(node_ids), label="node"))
        run.send(CapturedRequest("GET", node))
        if data.draw(st.booleans(), label="delete node"):
            run.send(CapturedRequest("DELETE", node))
            run.send(CapturedRequest("GET", items + "/edges"))


def _post_scenario(run: _FeatureRun, data: st.DataObject, pair: Pair) -> None:
    """Create a post with awkward front matter, read it, maybe change and publish it, and list the posts."""
    posts = path_of("api", "projects", pair.seed.projects["blog"]["id"], "blog", "post")
    user = data.draw(_EDITORS, label="caller")
    fields = data.draw(post_fields(create=True), label="post")
    run.start("strategy:post-front-matter", user)
    file = _item(run.send(_json_request("POST", posts, fields)), "post").get("file")
    if not isinstance(file, str):  # not created: go on with a seeded post
        file = data.draw(st.sampled_from(pair.seed.projects["blog"]["files"]), label="existing post")
    run.send(CapturedRequest("GET", posts + path_of(file)))
    if data.draw(st.booleans(), label="update"):
        changes = data.draw(post_fields(create=False), label="changes")
        renamed = _item(run.send(_json_request("PATCH", posts + path_of(file), changes)), "post").get("file")
        file = renamed if isinstance(renamed, str) else file
        run.send(CapturedRequest("GET", posts + path_of(file)))
    if data.draw(st.booleans(), label="publish"):
        run.send(CapturedRequest("POST", posts + path_of(file)))
    run.send(CapturedRequest("GET", posts + "/all"))


# Hand-written strategy cases of the built-in features; a declared feature without one gets the rest of the budget.
SCENARIOS: Mapping[str, Callable[[_FeatureRun, st.DataObject, Pair], None]] = {
    "papertrail": _board_scenario,
    "blog": _post_scenario,
}


def _targets(pair: Pair) -> dict[str, _Target]:
    """Per feature: the seeded values its path parameters draw from (`Feature.parameters`), and its strategy case."""
    targets = {}
    for feature in pair.features:
        seeded = pair.seed.projects.get(feature.name, {})
        known: dict[str, list[str]] = {}
        for parameter, name in feature.parameters.items():
            value = seeded.get(name)
            values = value if isinstance(value, list) else [] if value is None else [value]
            known[parameter] = [str(item) for item in values]
        targets[feature.name] = _Target(known, SCENARIOS.get(feature.name))
    return targets


# --- the public surface ---


def split_budget(
    count: int, *, stateful: bool = True, edges: int = 0, guided: bool = True, strategy: bool = True
) -> dict[str, int]:
    """How `count` cases are shared: the edge cases first (up to three fifths of the budget, `edges` at most), then
    of the rest a tenth (at least one; none without `strategy`) strategy cases, three twentieths guided by coverage
    (none without `guided`), two fifths of what is left stateful sequences (none without `stateful`), and single
    requests."""
    edge = min(edges, count * 3 // 5)
    rest = count - edge
    scenarios = min(rest, max(1, rest // 10)) if rest > 0 and strategy else 0
    aimed = rest * 3 // 20 if guided else 0
    chained = (rest - scenarios - aimed) * 2 // 5 if stateful else 0
    single = rest - scenarios - aimed - chained
    return {"edge": edge, "single": single, "stateful": chained, "strategy": scenarios, "guided": aimed}


def spread(items: Sequence[Any], count: int) -> list[Any]:
    """`count` of `items`, evenly spaced (all of them when there are no more): a smaller budget takes some of every
    kind of edge case rather than the first kinds only."""
    if count >= len(items):
        return list(items)
    return [items[index * len(items) // count] for index in range(count)]


def openapi_document(pair: Pair) -> dict[str, Any]:
    """The document the legacy side serves at `/openapi.json`."""
    answer = pair.legacy.call(CapturedRequest("GET", "/openapi.json"))
    document = body_json(answer) if answer.status == 200 else None
    if not isinstance(document, dict):
        raise RuntimeError(f"GET /openapi.json answered {answer.status} {answer.body[:200]!r}, not an OpenAPI document")
    return document


def generate_cases(
    pair: Pair,
    feature: str,
    count: int,
    *,
    seed: int | None = None,
    stateful: bool = True,
    on_case: Callable[[CaseResult], None] | None = None,
    on_note: Callable[[str], None] | None = None,
    max_shrinks: int = MAX_SHRINKS,
    number_from: int = 0,
    share: tuple[int, int] = (0, 1),
    edges: bool = True,
) -> list[CaseResult]:
    """About `count` generated cases of `feature` run on both sides of `pair` (split as `split_budget` says), each
    from a fresh identical state; `on_case` is called after each. The same `seed` draws the same cases.

    Edge cases come first (`parity_tests.boundaries`; a run that is share `share[0]` of `share[1]` takes every
    `share[1]`-th of them; none without `edges`), then schemathesis and strategy cases, then cases guided by the
    branch coverage measured so far (when the pair measures it). A new difference is shrunk (at most `max_shrinks`
    examples tried) and reported with its `Reproduction`, and generation goes on; a case that shows only
    differences already reported is counted as a mismatch without shrinking (see MAX_DISTINCT_PER_ROUTE). What
    the caller should know (each difference, hypothesis running out of examples, how the run ended) goes to
    `on_note` and the log. Cases are numbered from `number_from` (`generated:<feature>:<n>`): runs that share out
    one feature's cases number them apart.
    """
    from parity_tests.boundaries import edge_cases

    targets = _targets(pair)
    if feature not in targets:
        close = difflib.get_close_matches(feature, list(targets), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(f"unknown feature {feature!r}{hint}: generated cases exist for {', '.join(sorted(targets))}")

    def note(message: str) -> None:
        log.warning("%s", message)
        if on_note is not None:
            on_note(message)

    run = _FeatureRun(pair, feature, on_case, max_shrinks=max_shrinks, number_from=number_from)
    generator = _Generator(run, openapi_document(pair), targets[feature])
    index, shares = share
    chosen = edge_cases(pair, feature)[index::shares] if edges else []
    budget = split_budget(
        count,
        # A document without links gives schemathesis nothing to chain: its share goes to single requests.
        stateful=stateful and generator.linked(),
        edges=len(chosen),
        guided=pair.meter is not None,
        strategy=targets[feature].scenario is not None,
    )
    made: dict[str, int] = {}
    halves = (budget["guided"] - budget["guided"] // 2, budget["guided"] // 2)
    phases: list[tuple[str, Callable[[int, int | None], Callable[[], None]], int]] = [
        ("single", generator.single, budget["single"]),
        ("stateful", generator.stateful, budget["stateful"]),
        ("strategy", generator.scenarios, budget["strategy"]),
        # Guided twice: the second round aims at what the first left uncovered.
        ("guided", generator.guided, halves[0]),
        ("guided", generator.guided, halves[1]),
    ]
    with commit_dates():  # for the whole run: both implementations hand git the process environment
        made["edge"] = run.run_edges(spread(chosen, budget["edge"]), note)
        for kind, build, planned in phases:
            if planned:
                made[kind] = made.get(kind, 0) + run.run_kind(kind, build, planned, seed, note)
    total = sum(made.values())
    shown = ", ".join(f"{kind} {n}" for kind, n in made.items() if n)
    why = "its budget was spent" if total >= count else f"hypothesis ran out of new examples ({count - total} short)"
    found = f"{len(run.known)} distinct difference(s) shrunk and reported" if run.known else "no difference"
    note(f"{feature}: {total} generated case(s) ({shown or 'none'}); {found}; generation ended because {why}")
    return run.results


def make_reproduction(result: CaseResult, users: Sequence[str | None]) -> Reproduction:
    """A failing case as a HAR document (who sent each request under `_sovereign.user`) and a pytest test."""
    har = result.har(package_version())
    har["log"]["_sovereign"] = {"feature": result.feature, "caseId": result.case_id, "source": result.source}
    for entry, user in zip(har["log"]["entries"], users, strict=False):
        entry["_sovereign"] = {"user": user}
    return Reproduction(har, pytest_case(result, har))


def pytest_case(result: CaseResult, har: Mapping[str, Any]) -> str:
    """A test function to paste into a suite that has a `parity_pair` fixture (a `Pair`, see the code comment)."""
    number = result.case_id.rsplit(":", 1)[-1]
    first = result.first_mismatch()
    pointers = [difference.pointer for difference in (first.differences if first else result.end_state)][:3]
    where = f"{first.method} {first.route}" if first else "the end state"
    summary = re.sub(r"[^\x20-\x7e]", "?", f"{where} differs at {', '.join(pointers) or result.error or '?'}")
    literal = textwrap.indent(pprint.pformat(dict(har), width=108, sort_dicts=False), " " * 8)
    return (
        "from parity_tests.generated import replay_har_case\n\n\n"
        f"# {result.case_id} ({result.source}), shrunk to {len(result.exchanges)} request(s): {summary}.\n"
        "# `parity_pair` is a parity_tests.pair.Pair, e.g. a fixture returning\n"
        '# `build_pair(tmp_path_factory.mktemp("parity"))` (and closing it afterwards).\n'
        f"def test_parity_{result.feature}_{number}(parity_pair):\n"
        "    result = replay_har_case(\n"
        "        parity_pair,\n"
        f"{literal},\n"
        "    )\n"
        "    assert result.match, result.to_json()\n"
    )


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def replay_har_case(pair: Pair, har_document: Mapping[str, Any]) -> CaseResult:
    """Run a HAR document (a generated case's `Reproduction.har`, or any HAR) on both sides from the template
    state, each request by the caller recorded under `_sovereign.user` (entries without one keep the previous
    caller; the first request is anonymous then), and compare answers and state as the generator does."""
    started = time.perf_counter()
    exchanges_in = read_har(har_document)
    log_part = _mapping(har_document.get("log"))
    meta = _mapping(log_part.get("_sovereign"))
    entries = log_part.get("entries")
    callers = [
        _mapping(_mapping(entry).get("_sovereign")).get("user", _KEEP_CALLER)
        for entry in (entries if isinstance(entries, list) else [])
    ]
    unknown = sorted({str(caller) for caller in callers if caller not in (_KEEP_CALLER, None, *pair.seed.users)})
    if unknown:
        raise ValueError(
            f"HAR entries name callers the seed does not know: {', '.join(map(repr, unknown))}; use one of "
            f"{', '.join(sorted(pair.seed.users))} or null (nobody signed in) under `_sovereign.user`"
        )
    features = (pair.route_of(request)[0] for request, _ in exchanges_in)
    feature = str(meta.get("feature") or next((found for found in features if found != CORE), CORE))
    first = callers[0] if callers and callers[0] != _KEEP_CALLER else None
    pair.start_case(user=first)
    exchanges: list[Exchange] = []
    with commit_dates():
        current: Any = first
        for index, (request, _) in enumerate(exchanges_in):
            caller = callers[index] if index < len(callers) else _KEEP_CALLER
            if caller != _KEEP_CALLER and caller != current:
                _sign_in(pair, caller)
                current = caller
            exchanges.append(pair.exchange(index, request))
        end = pair.state_differences()
    return CaseResult(
        case_id=f"replay:{meta.get('caseId', 'har')}",
        kind="generated",
        feature=feature,
        source="har",
        exchanges=tuple(exchanges),
        end_state=end,
        seconds=time.perf_counter() - started,
    )
