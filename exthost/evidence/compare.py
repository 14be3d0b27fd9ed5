"""The comparison engine: canonical forms of two HTTP responses and every difference between them, after noise rules.

Used alike by the live shadow runner and the offline parity harness; pure functions over plain data, no Flask, no I/O.
A difference is named by an RFC 6901 pointer into the canonical form `{"status", "headers", "body"[, "bodyError"]}`.
"""

from __future__ import annotations

import enum
import hashlib
import io
import json
import re
import zipfile
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any, Final

from exthost.evidence.rules import WILDCARD, RouteRules, Rule, RuleSet, join_pointer, split_pointer

Headers = tuple[tuple[str, str], ...]

_JSON_TYPES = ("application/json", "text/json")
_HTML_TYPES = ("text/html", "application/xhtml+xml")
_TEXT_TYPES = ("application/xml", "application/javascript", "application/x-www-form-urlencoded")
_ZIP_TYPES = ("application/zip", "application/x-zip-compressed")
# Elements without an end tag, and elements whose whitespace is content (HTML Living Standard).
_VOID = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
)
_PRESERVE = frozenset({"pre", "textarea"})
_HTML_SPACE = re.compile(r"[ \t\n\r\f]+")  # not str.split(): a no-break space is content


class _Missing(enum.Enum):
    MISSING = "<missing>"

    def __repr__(self) -> str:
        return "<missing>"

    __str__ = __repr__


MISSING: Final = _Missing.MISSING
"""The value of a side that has nothing at a pointer; `"<missing>"` in JSON."""


def header_value(headers: Headers, name: str) -> str | None:
    """The first value of header `name` (compared case-insensitively), or None."""
    wanted = name.lower()
    return next((value for key, value in headers if key.lower() == wanted), None)


def parse_content_type(value: str | None) -> tuple[str, dict[str, str]]:
    """`("text/html", {"charset": "utf-8"})` from a Content-Type value; `("", {})` when there is none."""
    if not value:
        return "", {}
    media, *rest = value.split(";")
    params = {}
    for param in rest:
        key, _, val = param.partition("=")
        params[key.strip().lower()] = val.strip().strip('"')
    return media.strip().lower(), params


@dataclass(frozen=True)
class CapturedRequest:
    """A request as the client sent it: `path` percent-decoded (like PATH_INFO), `query` raw, without the '?'."""

    method: str
    path: str
    query: str = ""
    headers: Headers = ()
    body: bytes = b""


@dataclass(frozen=True)
class CapturedResponse:
    """A response as the server sent it."""

    status: int
    headers: Headers = ()
    body: bytes = b""


@dataclass(frozen=True)
class Difference:
    """The two values at `pointer` in the canonical forms; MISSING for a side that has nothing there."""

    pointer: str
    legacy: Any
    plugin: Any

    def to_json(self) -> dict[str, Any]:
        """JSON data; a missing side shows as "<missing>", and `"missing"` names that side."""
        data = {"pointer": self.pointer, "legacy": self.legacy, "plugin": self.plugin}
        for side in ("legacy", "plugin"):
            if data[side] is MISSING:
                data.update({side: "<missing>", "missing": side})
        return data


@dataclass(frozen=True)
class Comparison:
    """The outcome of comparing one legacy response with one plugin response."""

    feature: str
    method: str
    route: str
    differences: tuple[Difference, ...] = ()
    rules_applied: tuple[str, ...] = ()

    @property
    def match(self) -> bool:
        """True when no difference is left after the noise rules."""
        return not self.differences

    def to_json(self) -> dict[str, Any]:
        """JSON data for storage and reports."""
        return {
            "feature": self.feature,
            "method": self.method,
            "route": self.route,
            "match": self.match,
            "differences": [difference.to_json() for difference in self.differences],
            "rulesApplied": list(self.rules_applied),
        }


# --- canonical forms ---


def _digest(data: bytes) -> dict[str, Any]:
    return {"length": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def _decode(body: bytes, charset: str | None) -> tuple[str, str | None]:
    encoding = charset or "utf-8"
    try:
        return body.decode(encoding), None
    except LookupError:
        return body.decode("utf-8", errors="replace"), f"unknown charset {encoding!r}; read as UTF-8"
    except UnicodeDecodeError as exc:
        return body.decode(encoding, errors="replace"), f"not valid {encoding}: {exc.reason} at byte {exc.start}"


class _HtmlTree(HTMLParser):
    """Elements as {"tag", "attrs", "children"}, text as strings; comments dropped, end tags matched leniently."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root: list[Any] = []
        self.open: list[tuple[str, list[Any]]] = []

    def _siblings(self) -> list[Any]:
        return self.open[-1][1] if self.open else self.root

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        # `<br/>` arrives as a start tag and an end tag (HTMLParser's handle_startendtag), so it closes itself
        merged: dict[str, str] = {}
        for name, value in attrs:
            merged.setdefault(name, value or "")  # a repeated attribute: the first wins, as in browsers
        children: list[Any] = []
        self._siblings().append({"tag": tag, "attrs": dict(sorted(merged.items())), "children": children})
        if tag not in _VOID:
            self.open.append((tag, children))

    def handle_endtag(self, tag: str) -> None:
        for depth in range(len(self.open) - 1, -1, -1):
            if self.open[depth][0] == tag:
                del self.open[depth:]
                return

    def handle_data(self, data: str) -> None:
        siblings = self._siblings()
        if siblings and isinstance(siblings[-1], str):
            siblings[-1] += data
        else:
            siblings.append(data)

    def handle_decl(self, decl: str) -> None:
        self._siblings().append({"declaration": " ".join(decl.split()).lower()})


def _collapse(nodes: list[Any], preserve: bool) -> list[Any]:
    result = []
    for node in nodes:
        if isinstance(node, str):
            node = node if preserve else _HTML_SPACE.sub(" ", node).strip(" ")
        elif "children" in node:
            node["children"] = _collapse(node["children"], preserve or node["tag"] in _PRESERVE)
        if node:
            result.append(node)
    return result


def _html(text: str) -> list[Any]:
    # Whitespace runs collapse to one space and text is trimmed at element edges: `a <b>x</b>` and `a<b>x</b>`
    # compare equal. Templates re-indented between implementations are the common noise; this is its price.
    tree = _HtmlTree()
    tree.feed(text)
    tree.close()
    return _collapse(tree.root, preserve=False)


def _zip_member(name: str, data: bytes) -> Any:
    digest = {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    try:
        return json.loads(data.decode("utf-8")) if name.lower().endswith(".json") else digest
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        return {**digest, "error": f"invalid JSON: {exc}"}


def _zip(body: bytes) -> tuple[Any, str | None]:
    try:
        with zipfile.ZipFile(io.BytesIO(body)) as archive:
            infos = sorted((info for info in archive.infolist() if not info.is_dir()), key=lambda i: i.filename)
            return {info.filename: _zip_member(info.filename, archive.read(info)) for info in infos}, None
    except Exception as exc:  # a damaged archive raises whatever zipfile and zlib raise; a plugin's output is data
        return _digest(body), f"not a readable zip archive: {type(exc).__name__}: {exc}"


def canonical_body(body: bytes, content_type: str | None) -> tuple[Any, str | None]:
    """The body as comparable data by its content type, and why it is not what that type says (or None)."""
    if not body:
        return "", None
    media, params = parse_content_type(content_type)
    charset = params.get("charset")
    if media in _JSON_TYPES or media.endswith("+json"):
        text, error = _decode(body, charset)
        try:
            return (json.loads(text), None) if error is None else (text, error)
        except (ValueError, RecursionError) as exc:
            return text, f"invalid JSON: {exc}"
    if media in _HTML_TYPES:
        text, error = _decode(body, charset)
        return _html(text), error
    if media.startswith("text/") or media in _TEXT_TYPES or media.endswith("+xml"):
        return _decode(body, charset)
    if media in _ZIP_TYPES:
        return _zip(body)
    return _digest(body), None


def canonical(response: CapturedResponse, route_rules: RouteRules | None = None) -> dict[str, Any]:
    """The canonical form; every header but the ignored ones, by lower-case name: sent once a string, repeated a list
    (in the order sent)."""
    rules = route_rules if route_rules is not None else RouteRules()
    values: dict[str, list[str]] = {}
    for name, value in response.headers:
        if rules.compares_header(name):
            values.setdefault(name.lower(), []).append(value)
    headers = {name: found[0] if len(found) == 1 else found for name, found in sorted(values.items())}
    body, error = canonical_body(response.body, header_value(response.headers, "content-type"))
    form: dict[str, Any] = {"status": response.status, "headers": headers, "body": body}
    if error is not None:
        form["bodyError"] = error
    return form


# --- noise rules, as markers in the canonical trees ---


@dataclass(frozen=True)
class _Marked:
    """A value a rule claimed (`action` is the rule's); `ordered` is an unordered list sorted by `_dump`."""

    action: str
    rule: str
    value: Any
    ordered: list[Any] | None = None


def _dump(value: Any) -> str:
    """A canonical JSON text of `value`: the sort key of unordered lists and the test of deep equality."""

    def marker(item: Any) -> Any:
        if isinstance(item, _Marked):
            return item.ordered if item.ordered is not None else f"<{item.action} {item.rule}>"
        return "<missing>"

    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=marker)


def _plain(value: Any) -> Any:
    """`value` with every marker replaced by the original it stands for."""
    if isinstance(value, _Marked):
        return _plain(value.value)
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def _wrap(rule: Rule, value: Any) -> Any:
    if isinstance(value, _Marked):
        return value  # the first rule to claim a value keeps it
    if rule.action == "ignore":
        return _Marked("ignore", rule.id, value)
    if rule.action == "pattern" and rule.regex is not None and not isinstance(value, dict | list):
        text = value if isinstance(value, str) else json.dumps(value)
        return _Marked("pattern", rule.id, value) if rule.regex.fullmatch(text) else value
    if rule.action == "unordered" and isinstance(value, list):
        return _Marked("unordered", rule.id, value, sorted(value, key=_dump))
    return value


def _mark(container: Any, tokens: tuple[str, ...], rule: Rule) -> None:
    """Wrap every value at `tokens` below `container` (a '*' token matches any key or index)."""
    token, rest = tokens[0], tokens[1:]
    if isinstance(container, dict):
        keys: list[Any] = list(container) if token == WILDCARD else [token] if token in container else []
    elif isinstance(container, list):
        index = int(token) if token.isascii() and token.isdigit() and str(int(token)) == token else -1
        keys = list(range(len(container))) if token == WILDCARD else [index] if 0 <= index < len(container) else []
    else:
        return
    for key in keys:
        if rest:
            _mark(container[key], rest, rule)
        else:
            container[key] = _wrap(rule, container[key])


def _apply(tree: dict[str, Any], rules: RouteRules) -> dict[str, Any]:
    # ignore before pattern before unordered, deepest unordered first: a list is sorted with its ignored values
    # blanked and its inner unordered lists already sorted, so noise never decides an order.
    order = {"ignore": 0, "pattern": 1, "unordered": 2}
    for rule in sorted(rules, key=lambda rule: (order[rule.action], -len(rule.tokens))):
        _mark(tree, rule.tokens, rule)
    return tree


def _same(legacy: Any, plugin: Any) -> bool:
    if legacy is MISSING or plugin is MISSING:
        return legacy is plugin
    if type(legacy) is not type(plugin):
        return False  # 1, 1.0 and true are different JSON
    if isinstance(legacy, dict | list | float):
        return _dump(legacy) == _dump(plugin)  # float by its text: -0.0 is not 0.0, NaN is NaN
    return bool(legacy == plugin)


def _diff(legacy: Any, plugin: Any, tokens: tuple[str, ...], found: list[Difference], applied: set[str]) -> None:
    marks = [side for side in (legacy, plugin) if isinstance(side, _Marked)]
    ignored = [mark.rule for mark in marks if mark.action == "ignore"]
    if ignored:
        if not _same(_plain(legacy), _plain(plugin)):
            applied.add(ignored[0])
        return
    if len(marks) == 2 and legacy.rule == plugin.rule:
        if legacy.ordered is None:  # both sides fullmatch the pattern
            if not _same(_plain(legacy), _plain(plugin)):
                applied.add(legacy.rule)
            return
        before = len(found)
        _diff(legacy.ordered, plugin.ordered, tokens, found, applied)
        as_sent: list[Difference] = []
        _diff(legacy.value, plugin.value, tokens, as_sent, set())
        if len(found) - before < len(as_sent):
            applied.add(legacy.rule)
        return
    legacy = legacy.value if isinstance(legacy, _Marked) else legacy
    plugin = plugin.value if isinstance(plugin, _Marked) else plugin
    if isinstance(legacy, dict) and isinstance(plugin, dict):
        for key in legacy.keys() | plugin.keys():
            _diff(legacy.get(key, MISSING), plugin.get(key, MISSING), (*tokens, key), found, applied)
    elif isinstance(legacy, list) and isinstance(plugin, list):
        for index in range(max(len(legacy), len(plugin))):
            left = legacy[index] if index < len(legacy) else MISSING
            right = plugin[index] if index < len(plugin) else MISSING
            _diff(left, right, (*tokens, str(index)), found, applied)
    elif not _same(_plain(legacy), _plain(plugin)):
        found.append(Difference(join_pointer(tokens), _plain(legacy), _plain(plugin)))


def _pointer_order(difference: Difference) -> list[tuple[int, int, str]]:
    tokens = split_pointer(difference.pointer)  # list indexes in numeric order: /nodes/2 before /nodes/10
    return [(0, int(token), "") if token.isascii() and token.isdigit() else (1, 0, token) for token in tokens]


def _identical(legacy: CapturedResponse, plugin: CapturedResponse, rules: RouteRules) -> bool:
    """Same status, same compared headers in the same order, same body bytes: equal canonical forms, so no
    difference and no rule needed (the common case, decided without parsing either body)."""
    if legacy.status != plugin.status or legacy.body != plugin.body:
        return False

    def chosen(response: CapturedResponse) -> list[tuple[str, str]]:
        return [(name.lower(), value) for name, value in response.headers if rules.compares_header(name)]

    return chosen(legacy) == chosen(plugin)


BODY_BYTES = "/bodyBytes"


def _bytes_only(
    legacy: CapturedResponse,
    plugin: CapturedResponse,
    found: list[Difference],
    applied: set[str],
    rules: RouteRules,
) -> tuple[Difference | None, str | None]:
    """The difference the bodies show only as bytes: they differ, yet parse to equal trees (key order, whitespace,
    number formatting, escapes), so no `/body` difference names them; with the `ignore` rule that claims
    `/bodyBytes`, none, and that rule's id.

    Not reported when a `/body` difference is, or when a rule already let one pass: the bytes then differ by what
    the rule allows, and are not compared further. Nor for HTML and zip bodies, whose canonical forms are the
    documented normalisations (HTML as a tree of tags, attributes and text with insignificant whitespace collapsed;
    a zip archive member by member): what those leave out is by design, not noise."""
    media, _ = parse_content_type(header_value(legacy.headers, "content-type"))
    if media in _ZIP_TYPES:
        return _member_bytes_only(legacy.body, plugin.body, found, applied, rules)
    if media in _HTML_TYPES:
        return None, None
    if legacy.body == plugin.body or any(
        d.pointer == "/body" or d.pointer.startswith(("/body/", "/bodyError")) for d in found
    ):
        return None, None
    if any(rule.id in applied and rule.tokens[0] in ("body", "bodyError") for rule in rules):
        return None, None
    for rule in rules:
        if rule.tokens == ("bodyBytes",) and rule.action == "ignore":
            return None, rule.id
    at = next(
        (index for index, (a, b) in enumerate(zip(legacy.body, plugin.body, strict=False)) if a != b),
        min(len(legacy.body), len(plugin.body)),
    )

    def shown(body: bytes) -> dict[str, Any]:
        window = body[max(0, at - 20) : at + 40].decode("utf-8", "replace")
        return {
            "length": len(body),
            "sha256": hashlib.sha256(body).hexdigest()[:16],
            "firstChange": at,
            "around": window,
        }

    return Difference(BODY_BYTES, shown(legacy.body), shown(plugin.body)), None


def _member_bytes_only(
    legacy: bytes, plugin: bytes, found: list[Difference], applied: set[str], rules: RouteRules
) -> tuple[Difference | None, str | None]:
    """For two zip archives: the first JSON member whose bytes differ while it parses alike on both sides (the
    archive's own bytes, member order, timestamps and compression are not compared), as `/bodyBytes/<member>`.
    Not for a member a rule already let a difference pass in (its bytes then differ by what the rule allows), and
    none at all under an `ignore` rule on `/bodyBytes` or `/bodyBytes/<member>`."""

    def claimed(name: str) -> str | None:
        for rule in rules:
            whole = len(rule.tokens) == 1 or rule.tokens[1] in (name, WILDCARD)
            if rule.action == "ignore" and rule.tokens[0] == "bodyBytes" and whole:
                return rule.id
        return None

    def let_pass(name: str) -> bool:
        return any(
            rule.id in applied
            and rule.tokens[0] == "body"
            and len(rule.tokens) > 1
            and rule.tokens[1] in (name, WILDCARD)
            for rule in rules
        )

    try:
        with zipfile.ZipFile(io.BytesIO(legacy)) as left, zipfile.ZipFile(io.BytesIO(plugin)) as right:
            names = sorted(set(left.namelist()) & set(right.namelist()))
            for name in names:
                pointer = join_pointer(("body", name))
                if not name.lower().endswith(".json") or any(d.pointer.startswith(pointer) for d in found):
                    continue
                if let_pass(name):
                    continue
                ours, theirs = left.read(name), right.read(name)
                if ours != theirs:
                    at = next(
                        (i for i, (a, b) in enumerate(zip(ours, theirs, strict=False)) if a != b),
                        min(len(ours), len(theirs)),
                    )

                    def shown(data: bytes, at: int = at) -> dict[str, Any]:
                        window = data[max(0, at - 20) : at + 40].decode("utf-8", "replace")
                        return {"length": len(data), "firstChange": at, "around": window}

                    rule_id = claimed(name)
                    if rule_id is not None:
                        return None, rule_id
                    return Difference(join_pointer(("bodyBytes", name)), shown(ours), shown(theirs)), None
    except Exception:  # an unreadable archive is reported by the tree comparison already
        return None, None
    return None, None


def diff_trees(legacy: Any, plugin: Any, prefix: str = "") -> tuple[Difference, ...]:
    """Every difference between two JSON-like trees, without noise rules, with pointers under `prefix` (the
    harness compares stored state this way: rows, files and git history)."""
    found: list[Difference] = []
    _diff(legacy, plugin, split_pointer(prefix) if prefix else (), found, set())
    found.sort(key=_pointer_order)
    return tuple(found)


def compare(
    legacy: CapturedResponse, plugin: CapturedResponse, rules: RuleSet, *, feature: str, method: str, route: str
) -> Comparison:
    """Every difference between the canonical forms of two responses that the route's noise rules leave.

    `route` is the URL rule as Flask writes it (`/api/projects/<project_id>/board`) or a concrete path.
    `rules_applied` names, in file order, the rules that suppressed at least one difference.
    """
    route_rules = rules.for_route(feature, method, route)
    if _identical(legacy, plugin, route_rules):
        return Comparison(feature, method.upper(), route)
    left, right = (_apply(canonical(response, route_rules), route_rules) for response in (legacy, plugin))
    found: list[Difference] = []
    applied: set[str] = set()
    _diff(left, right, (), found, applied)
    bytes_only, rule = _bytes_only(legacy, plugin, found, applied, route_rules)
    if bytes_only is not None:
        found.append(bytes_only)
    if rule is not None:
        applied.add(rule)
    found.sort(key=_pointer_order)
    used = tuple(dict.fromkeys(rule.id for rule in route_rules if rule.id in applied))
    return Comparison(feature, method.upper(), route, tuple(found), used)
