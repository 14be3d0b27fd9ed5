"""The noise-rules file: the reviewed TOML list of response differences that are not parity failures, validated
into the frozen rules of `exthost.evidence.rules`. Every rule carries the reason, with the A/A run that showed it.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator
from pydantic_core import ErrorDetails

from exthost.errors import NoiseRulesError, did_you_mean
from exthost.evidence.rules import (
    _VARIABLE,
    DEFAULT_IGNORED_HEADERS,
    WILDCARD,
    Action,
    RouteRules,
    Rule,
    RuleSet,
    join_pointer,
    split_pointer,
)

__all__ = ["RouteRules", "Rule", "RuleSet", "load_rules", "parse_rules"]

ACTIONS: tuple[str, ...] = ("ignore", "unordered", "pattern")
METHODS: tuple[str, ...] = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
PARTS: tuple[str, ...] = ("status", "headers", "body", "bodyError", "bodyBytes")
_FEATURE = r"[a-z][a-z0-9_]*"
_HEADER = r"[a-z0-9!#$%&'*+.^_`|~-]+"
_RULE_HEADER = re.compile(r"^[ \t]*\[\[[ \t]*rule[ \t]*\]\]", re.MULTILINE)


# --- the file at the trust boundary ---


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


class _RuleModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    feature: str
    route: str
    method: str
    action: Action
    pointer: str
    reason: str
    regex: str | None = None

    @field_validator("feature")
    @classmethod
    def _feature(cls, value: str) -> str:
        if value == WILDCARD or re.fullmatch(_FEATURE, value):
            return value
        fix = f"use {value.lower()!r}" if re.fullmatch(_FEATURE, value.lower()) else "e.g. 'papertrail'"
        raise ValueError(f"must be a feature name (a-z, 0-9, '_') or '*', got {_show(value)}; {fix}")

    @field_validator("method")
    @classmethod
    def _method(cls, value: str) -> str:
        if value == WILDCARD or value in METHODS:
            return value
        if value.upper() in METHODS:
            raise ValueError(f"methods are written upper case, got {_show(value)}; use {value.upper()!r}")
        hint = did_you_mean(value.upper(), METHODS)
        raise ValueError(f"unknown HTTP method, got {_show(value)}{hint}; one of {', '.join(METHODS)}, or '*'")

    @field_validator("route")
    @classmethod
    def _route(cls, value: str) -> str:
        if value == WILDCARD:
            return value
        if not value.startswith("/") or re.search("[<>]", _VARIABLE.sub("", value)):
            raise ValueError(
                f"must be a URL rule as Flask writes it, or '*', got {_show(value)}; "
                "e.g. '/api/projects/<project_id>/papertrail/board'"
            )
        return value

    @field_validator("pointer")
    @classmethod
    def _pointer(cls, value: str) -> str:
        tokens = split_pointer(value)
        example = "e.g. '/body/board/updatedAt' or '/headers/cache-control'"
        if not tokens or tokens[0] not in PARTS:
            hint = did_you_mean(f"/{tokens[0]}", [f"/{part}" for part in PARTS]) if tokens else ""
            raise ValueError(
                f"must point below one of {', '.join('/' + part for part in PARTS)}, got {_show(value)}{hint}; "
                f"{example}"
            )
        if tokens[0] in ("status", "bodyError") and len(tokens) > 1:
            raise ValueError(f"/{tokens[0]} has nothing below it, got {_show(value)}; use '/{tokens[0]}'")
        if tokens[0] == "bodyBytes" and len(tokens) > 2:
            raise ValueError(
                f"/bodyBytes has at most a zip member below it, got {_show(value)}; use '/bodyBytes' or "
                "'/bodyBytes/<member>' (a '/' inside the member's name written '~1')"
            )
        if tokens[0] == "headers" and len(tokens) > 1 and tokens[1] != tokens[1].lower():
            fixed = join_pointer(("headers", tokens[1].lower(), *tokens[2:]))
            raise ValueError(f"header names are lower case in the canonical form, got {_show(value)}; use {fixed!r}")
        return value

    @field_validator("regex")
    @classmethod
    def _regex(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(
                    f"invalid regular expression ({exc}), got {_show(value)}; fix the expression"
                ) from None
        return value

    @field_validator("reason")
    @classmethod
    def _reason(cls, value: str) -> str:
        if value.strip():
            return value
        raise ValueError(f"must say why this is noise and which A/A run showed it, got {_show(value)}")


class _FileModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    ignore_headers: list[str] = list(DEFAULT_IGNORED_HEADERS)
    rule: list[_RuleModel] = []

    @field_validator("ignore_headers")
    @classmethod
    def _headers(cls, value: list[str]) -> list[str]:
        for name in value:
            if not re.fullmatch(_HEADER, name):
                fix = f"use {name.strip().lower()!r}" if re.fullmatch(_HEADER, name.strip().lower()) else "e.g. 'etag'"
                raise ValueError(f"must be header names written lower case, got {_show(name)}; {fix}")
        duplicates = sorted({name for name in value if value.count(name) > 1})
        if duplicates:
            raise ValueError(f"lists {', '.join(map(repr, duplicates))} twice; remove the duplicate")
        return value


_HEADERS_EXAMPLE = 'ignore_headers = ["date", "server"]'
_EXAMPLES = {
    "feature": 'feature = "papertrail"',
    "route": 'route = "/api/projects/<project_id>/papertrail/board"',
    "method": 'method = "GET"',
    "action": 'action = "ignore"',
    "pointer": 'pointer = "/body/board/updatedAt"',
    "reason": 'reason = "<why, and the A/A run that showed it>"',
    "regex": r'regex = "\\d{4}-\\d{2}-\\d{2}T.*"',
}


class _Places:
    """Names a place in the file: `[[rule]] #3 (line 27) action`, counting rules from 1 as a reader does."""

    def __init__(self, text: str):
        self.lines = [text.count("\n", 0, match.start()) + 1 for match in _RULE_HEADER.finditer(text)]

    def rule(self, index: int) -> str:
        line = f" (line {self.lines[index]})" if index < len(self.lines) else ""
        return f"[[rule]] #{index + 1}{line}"

    def of(self, loc: tuple[int | str, ...]) -> str:
        if len(loc) >= 2 and loc[0] == "rule" and isinstance(loc[1], int):
            rest = ".".join(str(part) for part in loc[2:])
            return f"{self.rule(loc[1])} {rest}".rstrip()
        return "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc).lstrip(".") or "(file)"


def _problem(error: ErrorDetails, places: _Places) -> str:
    loc, kind, given = tuple(error["loc"]), error["type"], error["input"]
    where = places.of(loc)
    name = str(loc[-1]) if loc else ""
    if kind == "value_error":
        return f"{where}: {error['msg'].removeprefix('Value error, ')}"
    if kind == "extra_forbidden" and loc == ("headers",):
        return (
            "headers: no longer read: every response header is compared now, except those in ignore_headers; "
            f"replace it with {_HEADERS_EXAMPLE}"
        )
    if kind == "extra_forbidden":
        allowed = list(_RuleModel.model_fields if len(loc) > 2 else _FileModel.model_fields)
        return f"{where}: unknown field{did_you_mean(name, allowed)}; allowed: {', '.join(allowed)}"
    if kind == "missing":
        return f"{where}: required field missing; e.g. {_EXAMPLES.get(name, name)}"
    if kind == "literal_error":
        hint = did_you_mean(given, ACTIONS) if isinstance(given, str) else ""
        return f"{where}: unknown action, got {_show(given)}{hint}; one of {', '.join(map(repr, ACTIONS))}"
    what = {"string_type": "must be a string", "list_type": "must be an array"}.get(kind, error["msg"].lower())
    if loc[:1] == ("rule",) and len(loc) <= 2:
        return f"{where}: must be a table, got {_show(given)}; write each rule as a [[rule]] table"
    return f"{where}: {what}, got {_show(given)}; e.g. {_EXAMPLES.get(name, _HEADERS_EXAMPLE)}"


def _cross_checks(model: _FileModel, places: _Places) -> list[str]:
    problems: list[str] = []
    seen: dict[str, int] = {}
    for index, rule in enumerate(model.rule):
        where = places.rule(index)
        if rule.action == "pattern" and rule.regex is None:
            problems.append(f"{where} regex: required by action = 'pattern'; e.g. {_EXAMPLES['regex']}")
        if rule.action != "pattern" and rule.regex is not None:
            problems.append(
                f"{where} regex: only action = 'pattern' uses it, got {_show(rule.regex)} with action = "
                f"{rule.action!r}; remove it or set action = 'pattern'"
            )
        tokens = split_pointer(rule.pointer)
        if tokens[0] == "headers" and len(tokens) > 1 and tokens[1] in model.ignore_headers:
            problems.append(
                f"{where} pointer: header {tokens[1]!r} is never compared (ignore_headers lists it), got "
                f"{_show(rule.pointer)}; remove the rule, or remove the header from ignore_headers"
            )
        key = f"{rule.feature}:{rule.method}:{rule.route}:{rule.pointer}"
        if key in seen:
            problems.append(
                f"{where}: same feature, method, route and pointer as {places.rule(seen[key])}; merge the two rules"
            )
        seen.setdefault(key, index)
    return problems


def parse_rules(text: str, source: str = "(string)") -> RuleSet:
    """Parse and check the TOML text of a rules file; every problem is one line of the NoiseRulesError."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise NoiseRulesError(source, [f"invalid TOML: {exc}; check quotes and brackets on that line"]) from None
    places = _Places(text)
    try:
        model = _FileModel.model_validate(data)
    except ValidationError as exc:
        problems: list[str] = []
        for error in exc.errors(include_url=False):
            line = _problem(error, places)
            if line not in problems:
                problems.append(line)
        raise NoiseRulesError(source, problems) from None
    problems = _cross_checks(model, places)
    if problems:
        raise NoiseRulesError(source, problems)
    rules = tuple(
        Rule(
            feature=rule.feature,
            method=rule.method,
            route=rule.route,
            action=rule.action,
            pointer=rule.pointer,
            reason=rule.reason,
            regex=re.compile(rule.regex) if rule.regex is not None else None,
        )
        for rule in model.rule
    )
    return RuleSet(ignored_headers=tuple(model.ignore_headers), rules=rules, source=source)


def load_rules(path: str | os.PathLike[str]) -> RuleSet:
    """Read and check a rules file (e.g. `parity_tests/noise_rules.toml`)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise NoiseRulesError(
            str(path), ["(file): not found; check the path, or create it with ignore_headers = [...]"]
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise NoiseRulesError(str(path), [f"(file): cannot be read as UTF-8 text: {exc}; check the file"]) from None
    return parse_rules(text, str(path))
