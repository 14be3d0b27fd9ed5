"""Noise rules as frozen data: which differences between two answers of a route are not parity failures.

A rule names a feature, a route and a method, and a JSON pointer into the canonical form of a response
(`/status`, `/headers/<lower-case name>`, `/body/...`, `/bodyError`, `/bodyBytes`); a `*` segment matches any one key
or index.
Actions: `ignore` (the value is not compared), `unordered` (a list is compared as a multiset) and `pattern` (the
values may differ when both fullmatch `regex`). `exthost.evidence.noise` reads them from the reviewed TOML file;
the comparison engine needs only this module.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Literal

# Response headers never compared unless the rules file says otherwise: set by the server, not by either
# implementation (a WSGI answer has neither; a server in front adds them).
DEFAULT_IGNORED_HEADERS: tuple[str, ...] = ("date", "server")
WILDCARD = "*"

Action = Literal["ignore", "unordered", "pattern"]

_VARIABLE = re.compile(r"<(?:(?P<converter>[A-Za-z_]\w*)(?:\([^)]*\))?:)?[A-Za-z_]\w*>")


def split_pointer(pointer: str) -> tuple[str, ...]:
    """The RFC 6901 reference tokens of `pointer`, unescaped; ValueError when it is not a JSON pointer."""
    if pointer == "":
        return ()
    if not pointer.startswith("/"):
        raise ValueError(f"a JSON pointer starts with '/', got {pointer!r}; e.g. '/body/board/updatedAt'")
    tokens = pointer[1:].split("/")
    for token in tokens:
        if re.search(r"~(?![01])", token):
            raise ValueError(f"'~' must be written '~0' and '/' inside a key '~1', got {pointer!r}")
    return tuple(token.replace("~1", "/").replace("~0", "~") for token in tokens)


def join_pointer(tokens: Iterable[str]) -> str:
    """The RFC 6901 pointer of `tokens`, escaping '~' as '~0' and '/' as '~1'."""
    return "".join("/" + token.replace("~", "~0").replace("/", "~1") for token in tokens)


def _route_regex(route: str) -> re.Pattern[str]:
    """A Flask URL rule as a regex over concrete paths: a variable is one segment, a `path` variable several."""
    parts, position = [], 0
    for variable in _VARIABLE.finditer(route):
        parts.append(re.escape(route[position : variable.start()]))
        parts.append(".+" if variable["converter"] == "path" else "[^/]+")
        position = variable.end()
    parts.append(re.escape(route[position:]))
    return re.compile("".join(parts))


@dataclass(frozen=True)
class Rule:
    """One reviewed noise rule; `tokens` is `pointer` split into reference tokens."""

    feature: str
    method: str
    route: str
    action: Action
    pointer: str
    reason: str
    regex: re.Pattern[str] | None = None
    tokens: tuple[str, ...] = field(init=False, repr=False, compare=False)
    _route_re: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "tokens", split_pointer(self.pointer))
        object.__setattr__(self, "_route_re", _route_regex(self.route))

    @property
    def id(self) -> str:
        """`feature:METHOD:route:pointer`, the name a comparison reports when the rule suppressed a difference."""
        return f"{self.feature}:{self.method}:{self.route}:{self.pointer}"

    def applies_to(self, feature: str, method: str, route: str) -> bool:
        """Whether the rule covers a request; `route` is the URL rule as Flask writes it, or a concrete path."""
        return (
            self.feature in (WILDCARD, feature)
            and self.method in (WILDCARD, method.upper())
            and (self.route in (WILDCARD, route) or self._route_re.fullmatch(route) is not None)
        )


@dataclass(frozen=True)
class RouteRules:
    """The rules that apply to one feature, method and route, and the response headers left out of comparison."""

    ignored_headers: tuple[str, ...] = DEFAULT_IGNORED_HEADERS
    rules: tuple[Rule, ...] = ()

    def compares_header(self, name: str) -> bool:
        """Whether a response header (any case) is compared: every one but the reviewed ignore list."""
        return name.lower() not in self.ignored_headers

    def __iter__(self) -> Iterator[Rule]:
        return iter(self.rules)

    def __len__(self) -> int:
        return len(self.rules)


@dataclass(frozen=True)
class RuleSet:
    """A whole rules file: the headers left out of comparison and every rule, in file order."""

    ignored_headers: tuple[str, ...] = DEFAULT_IGNORED_HEADERS
    rules: tuple[Rule, ...] = ()
    source: str = "(no rules file)"

    def for_route(self, feature: str, method: str, route: str) -> RouteRules:
        """The rules covering `method route` of `feature`, in file order."""
        matching = tuple(rule for rule in self.rules if rule.applies_to(feature, method, route))
        return RouteRules(self.ignored_headers, matching)
