"""The PaperTrail parity tests can fail: a plugin side served by legacy code, or a plugin that behaves differently,
is caught by the same comparisons every other test_papertrail_* module relies on.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest

from tests.fixtures.twins import Twins
from tests.plugins.test_papertrail_parity import SNAPSHOT, TEAPOT, Pair, board_url, make_pair, new_case


def plugin_module(pair: Pair, name: str) -> ModuleType:
    """One module of the plugin as the plugin side's host loaded it (under its private package name)."""
    record = pair.twins.plugin.platform.host.get("papertrail")
    return sys.modules[f"{record.module_prefix}.{name}"]


def test_every_papertrail_answer_comes_from_the_plugin(twins_factory: Callable[..., Twins]) -> None:
    case = new_case(make_pair(twins_factory))
    url = board_url(case.project_id)
    case.pair.json("alice", "POST", url, json=SNAPSHOT)
    # The guard is live: once the plugin stops serving, the plugin side's answers are the guard's 418...
    case.pair.twins.plugin.platform.host.disable("papertrail")
    legacy, plugin = case.pair.twins.send("alice", "GET", url)
    assert (legacy.status_code, plugin.status_code) == (200, TEAPOT)
    # ...which every comparison refuses.
    with pytest.raises(AssertionError):
        case.pair.exact("alice", "GET", url)
    # Core routes are untouched by the guard.
    case.pair.json("alice", "GET", "/api/me")


def test_a_behaviour_difference_is_caught(twins_factory: Callable[..., Twins], monkeypatch: Any) -> None:
    case = new_case(make_pair(twins_factory))
    rules = plugin_module(case.pair, "rules")
    monkeypatch.setattr(rules, "tag", lambda raw: raw.lower().strip())  # keeps every '#': not the legacy rule
    with pytest.raises(AssertionError):
        case.pair.exact("alice", "POST", board_url(case.project_id), json=SNAPSHOT)
    with pytest.raises(AssertionError):
        case.pair.same_state()


def reordered(value: Any) -> Any:
    """`value` with the keys of every object in reverse order: the same JSON once parsed, other bytes."""
    if isinstance(value, dict):
        return {key: reordered(value[key]) for key in reversed(list(value))}
    if isinstance(value, list):
        return [reordered(item) for item in value]
    return value


def test_a_json_key_order_difference_is_caught(twins_factory: Callable[..., Twins], monkeypatch: Any) -> None:
    case = new_case(make_pair(twins_factory))
    url = board_url(case.project_id)
    case.pair.json("alice", "POST", url, json=SNAPSHOT)
    routes = plugin_module(case.pair, "board_routes")
    real = routes.answer
    monkeypatch.setattr(routes, "answer", lambda body, status=200: real(reordered(body), status))
    legacy, plugin = case.pair.twins.send("alice", "GET", url)
    assert plugin.get_json() == legacy.get_json() and plugin.get_data() != legacy.get_data()
    with pytest.raises(AssertionError):  # only the byte comparison sees it
        case.pair.exact("alice", "GET", url)


def test_a_header_difference_is_caught(twins_factory: Callable[..., Twins], monkeypatch: Any) -> None:
    case = new_case(make_pair(twins_factory))
    page = f"/projects/{case.project_id}/board"
    monkeypatch.setitem(plugin_module(case.pair, "pages").PAGE_HEADERS, "Referrer-Policy", "no-referrer")
    legacy, plugin = case.pair.twins.send("alice", "GET", page)
    assert (plugin.status_code, plugin.get_data()) == (legacy.status_code, legacy.get_data())
    with pytest.raises(AssertionError):  # the same page, but a weaker Referrer-Policy
        case.pair.exact("alice", "GET", page)


def test_an_extra_id_draw_is_caught(twins_factory: Callable[..., Twins], monkeypatch: Any) -> None:
    case = new_case(make_pair(twins_factory))
    store = plugin_module(case.pair, "store")
    real = store.board_for

    def draws_twice(db: Any, project: Any, new_id: Callable[[], str], now: Any) -> Any:
        new_id()
        return real(db, project, new_id, now)

    monkeypatch.setattr(store, "board_for", draws_twice)
    with pytest.raises(AssertionError):  # the board ids differ
        case.pair.exact("alice", "GET", board_url(case.project_id))


def test_an_extra_clock_read_is_caught(twins_factory: Callable[..., Twins], monkeypatch: Any) -> None:
    case = new_case(make_pair(twins_factory))
    case.pair.json("alice", "POST", board_url(case.project_id), json=SNAPSHOT)
    store = plugin_module(case.pair, "store")
    clock = case.pair.twins.plugin.platform.services.clock
    real = store.bump
    monkeypatch.setattr(store, "bump", lambda board, now: real(board, clock.now()))
    with pytest.raises(AssertionError):  # the stepping clock gives the plugin side a later updatedAt
        case.pair.exact("alice", "PATCH", board_url(case.project_id), json={"title": "later"})


def test_a_stray_file_is_caught(twins_factory: Callable[..., Twins]) -> None:
    case = new_case(make_pair(twins_factory))
    case.pair.same_state()
    root = case.pair.twins.plugin.platform.services.settings.papertrail_root
    (root / case.project_id).mkdir(parents=True)
    (root / case.project_id / "stray.txt").write_bytes(b"only on one side")
    with pytest.raises(AssertionError):
        case.pair.same_state()
