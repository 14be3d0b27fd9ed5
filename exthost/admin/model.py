"""What the admin page shows, as plain data: plugin rows, a kept mismatch's two sides and differences side by side.

Pure functions over what the host, the flag store and the results already report (`describe`, `health`,
`ShadowResults.mismatches`); the page renders them and adds nothing of its own.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# A body larger than this is cut on the page (the HAR export, `sv shadow:export`, has it whole).
BODY_SHOWN = 20_000
DIFFERENCES_LISTED = 5


@dataclass(frozen=True)
class PluginRow:
    """One plugin on the page."""

    name: str
    state: str
    version: str
    reason: str
    tenants: tuple[str, ...]
    health: str
    healthy: bool | None
    # The signature status when the host reports one (`describe()["signature"]`), else None: not shown.
    signature: str | None


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, default=str)


def plugin_row(info: Mapping[str, Any]) -> PluginRow:
    """A plugin as `ExtensionHost.describe(..., with_health=True)` reports it."""
    health = info.get("health")
    healthy = None if not isinstance(health, Mapping) or "ok" not in health else bool(health["ok"])
    signature = info.get("signature")
    if isinstance(signature, Mapping):  # a richer report: its status, else all of it
        signature = signature.get("status", _text(signature))
    return PluginRow(
        name=str(info["name"]),
        state=str(info["state"]),
        version=str(info.get("version") or "-"),
        reason=_text(info.get("reason")),
        tenants=tuple(info.get("tenants") or ()),
        health="not reported" if health is None else _text(health),
        healthy=healthy,
        signature=None if signature is None else _text(signature),
    )


@dataclass(frozen=True)
class DifferenceRow:
    """One difference: where, and each side's value as text ("<missing>" for a side with nothing there)."""

    pointer: str
    legacy: str
    plugin: str


def difference_rows(differences: Sequence[Mapping[str, Any]]) -> list[DifferenceRow]:
    return [DifferenceRow(str(d["pointer"]), _text(d.get("legacy")), _text(d.get("plugin"))) for d in differences]


@dataclass(frozen=True)
class Side:
    """One side's response of a kept mismatch, readable."""

    side: str
    primary: bool
    status: str
    headers: tuple[tuple[str, str], ...]
    body: str


def _body_text(data: bytes, headers: Sequence[tuple[str, str]]) -> str:
    if not data:
        return "(empty)"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        digest = hashlib.sha256(data).hexdigest()[:16]
        return f"({len(data)} bytes, not text; sha256 {digest}...)"
    kind = next((v for k, v in headers if k.lower() == "content-type"), "")
    if "json" in kind:
        with contextlib.suppress(ValueError):  # a body that says JSON and is not is shown as sent
            text = json.dumps(json.loads(text), indent=2, sort_keys=True, ensure_ascii=False)
    if len(text) > BODY_SHOWN:
        return text[:BODY_SHOWN] + f"\n... ({len(text) - BODY_SHOWN} more characters; export the HAR to see all)"
    return text


def sides(exchange: Mapping[str, Any]) -> list[Side]:
    """Both responses of a kept mismatch (legacy first), from `ShadowResults.mismatch(id)["exchange"]`; a side that
    has no response (a candidate error) shows as missing."""
    responses: Mapping[str, Any] = exchange.get("responses", {})
    shown = []
    for side in ("legacy", "plugin"):
        response = responses.get(side)
        if response is None:
            shown.append(Side(side, exchange.get("primary") == side, "-", (), "(no response: " + _note(exchange) + ")"))
            continue
        headers = tuple((str(k), str(v)) for k, v in response.get("headers", ()))
        body = base64.b64decode(response.get("body", ""))
        primary = exchange.get("primary") == side
        shown.append(Side(side, primary, str(response["status"]), headers, _body_text(body, headers)))
    return shown


def _note(exchange: Mapping[str, Any]) -> str:
    return str(exchange.get("note") or "the other side raised")


def request_line(exchange: Mapping[str, Any]) -> str:
    request = exchange.get("request", {})
    query = f"?{request['query']}" if request.get("query") else ""
    return f"{request.get('method', '?')} {request.get('path', '?')}{query}"
