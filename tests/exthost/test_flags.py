"""Feature flags: the pure decision rules, the overrides setting, and the shared store with its change log."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exthost.rollout.breaker import CircuitBreaker
from exthost.rollout.flags import BUCKETS, Flag, FlagSet, bucket, decide, parse_overrides, sampled
from exthost.rollout.flagstore import FlagError, FlagStore
from legacy_core.app import build_services
from legacy_core.settings import Settings
from tests.fixtures.app import TEST_ARGON2_KIB

keys = st.text(min_size=1, max_size=30)
percents = st.floats(min_value=0, max_value=100, allow_nan=False)


@given(key=keys, low=percents, high=percents)
def test_flags_canary_is_sticky_as_the_percent_grows(key: str, low: float, high: float) -> None:
    low, high = sorted((low, high))
    at_low = decide(Flag("blog", "canary", percent=low), tenant="t", sticky_key=key)
    at_high = decide(Flag("blog", "canary", percent=high), tenant="t", sticky_key=key)
    if at_low.primary == "plugin":
        assert at_high.primary == "plugin"
    assert decide(Flag("blog", "canary", percent=low), tenant="t", sticky_key=key) == at_low


def test_flags_canary_share_is_close_to_the_percent() -> None:
    flag = Flag("papertrail", "canary", percent=20)
    chosen = sum(decide(flag, tenant="t", sticky_key=f"user-{n}").primary == "plugin" for n in range(5000))
    assert 850 <= chosen <= 1150


def test_flags_canary_tenant_list_always_goes_to_the_plugin() -> None:
    flag = Flag("blog", "canary", percent=0, tenants=frozenset({"acme"}))
    assert decide(flag, tenant="acme", sticky_key="anyone").primary == "plugin"
    assert decide(flag, tenant="other", sticky_key="anyone").primary == "legacy"


@pytest.mark.parametrize(
    ("mode", "primary", "shadow"),
    [
        ("legacy", "legacy", None),
        ("shadow", "legacy", "plugin"),
        ("plugin", "plugin", None),
        ("retired", "plugin", None),
    ],
    ids=["legacy", "shadow", "plugin", "retired"],
)
def test_flags_each_mode_picks_its_side(mode: str, primary: str, shadow: str | None) -> None:
    decision = decide(Flag("blog", mode), tenant="t", sticky_key="k")  # type: ignore[arg-type]
    assert (decision.primary, decision.shadow) == (primary, shadow)


@given(sample=percents, start=st.integers(min_value=0, max_value=10_000))
def test_flags_sampling_copies_the_share_evenly(sample: float, start: int) -> None:
    copied = sum(sampled("blog", n, sample) for n in range(start, start + 400))
    assert abs(copied - 4 * sample) <= 1


@given(feature=st.sampled_from(["blog", "papertrail"]), key=keys)
def test_flags_bucket_is_in_range_and_stable(feature: str, key: str) -> None:
    assert 0 <= bucket(feature, key) < BUCKETS
    assert bucket(feature, key) == bucket(feature, key)


def test_flags_route_flag_wins_over_the_feature_flag() -> None:
    rule = "/api/projects/<project_id>/papertrail/board"
    flags = FlagSet(
        {
            ("papertrail", None): Flag("papertrail", "plugin"),
            ("papertrail", rule): Flag("papertrail", "legacy", route=rule),
        }
    )
    assert flags.flag("papertrail", rule).mode == "legacy"
    assert flags.flag("papertrail", rule + "/export").mode == "plugin"
    assert flags.flag("blog").mode == "legacy"


def test_flags_overrides_parse_both_forms_and_refuse_bad_ones() -> None:
    parsed = parse_overrides({"blog": "plugin", "papertrail": {"mode": "canary", "percent": 5, "tenants": ["a"]}})
    assert [(f.feature, f.mode, f.percent, f.tenants) for f in parsed] == [
        ("blog", "plugin", 0.0, frozenset()),
        ("papertrail", "canary", 5.0, frozenset({"a"})),
    ]
    assert parse_overrides({"blog:/x/<y>": "shadow"})[0].route == "/x/<y>"
    for bad, words in (
        ({"blog": "plugins"}, ["unknown mode 'plugins'", "retired"]),
        ({"blog": {"mode": "canary", "percent": 101}}, ["percent", "101"]),
        ({"blog": {"mode": "canary", "share": 1}}, ["unknown field", "share"]),
        ({"blog": 3}, ["must be a mode or an object"]),
    ):
        with pytest.raises(ValueError) as caught:
            parse_overrides(bad)
        for word in words:
            assert word in str(caught.value)


# --- the store ------------------------------------------------------------------------------------------------------


def _store(settings: Settings, **kwargs: object) -> FlagStore:
    services = build_services(settings, argon2_memory_kib=TEST_ARGON2_KIB)
    return FlagStore(services.session_factory, features=("blog", "papertrail"), **kwargs)  # type: ignore[arg-type]


def test_flagstore_change_reaches_another_worker_after_its_poll_interval(
    settings_factory: Callable[..., Settings],
) -> None:
    settings = settings_factory()
    now = [0.0]
    writer = _store(settings, poll_seconds=0)
    reader = _store(settings, poll_seconds=1.0, monotonic=lambda: now[0])
    assert reader.current().flag("blog").mode == "legacy"
    writer.set("blog", "canary", percent=10, tenants=["acme"], changed_by="alice", reason="try it")
    now[0] = 0.5
    assert reader.current().flag("blog").mode == "legacy"  # cached until the interval passes
    now[0] = 1.01
    flag = reader.current().flag("blog")
    assert (flag.mode, flag.percent, flag.tenants, flag.updated_by) == ("canary", 10.0, frozenset({"acme"}), "alice")


def test_flagstore_every_change_is_logged_with_who_when_and_why(settings_factory: Callable[..., Settings]) -> None:
    store = _store(settings_factory(), poll_seconds=0)
    store.set("papertrail", "shadow", changed_by="alice", reason="collect evidence")
    store.set("papertrail", "canary", percent=5, changed_by="bob")
    store.set("papertrail", "canary", percent=25, changed_by="bob", reason="going well")
    history = store.history("papertrail")
    assert [(h["previous_mode"], h["mode"], h["percent"], h["changed_by"]) for h in history] == [
        ("canary", "canary", 25.0, "bob"),
        ("shadow", "canary", 5.0, "bob"),
        ("legacy", "shadow", 0.0, "alice"),
    ]
    assert history[0]["reason"] == "going well" and history[0]["changed_at"] is not None
    # Unset share fields keep their stored values.
    assert store.set("papertrail", "canary", changed_by="bob").percent == 25.0


def test_flagstore_refuses_unknown_features_modes_routes_and_shares(settings_factory: Callable[..., Settings]) -> None:
    store = _store(settings_factory(), poll_seconds=0)
    for kwargs, words in (
        ({"feature": "blgo", "mode": "plugin"}, ["unknown feature 'blgo'"]),
        ({"feature": "blog", "mode": "on"}, ["unknown mode 'on'"]),
        ({"feature": "blog", "mode": "canary", "percent": 150}, ["percent", "150"]),
        ({"feature": "blog", "mode": "plugin", "route": "/nope", "routes": ["/a"]}, ["no route '/nope'", "/a"]),
    ):
        with pytest.raises(FlagError) as caught:
            store.set(changed_by="x", **kwargs)  # type: ignore[arg-type]
        for word in words:
            assert word in str(caught.value)
    assert store.history() == []


def test_flagstore_settings_override_wins_in_this_process_only(settings_factory: Callable[..., Settings]) -> None:
    settings = settings_factory()
    overridden = _store(settings, poll_seconds=0, overrides=parse_overrides({"blog": "plugin"}))
    plain = _store(settings, poll_seconds=0)
    plain.set("blog", "shadow", changed_by="alice")
    assert overridden.current().flag("blog").mode == "plugin"
    assert plain.current().flag("blog").mode == "shadow"


def test_flagstore_keeps_the_last_flags_when_the_database_fails(settings_factory: Callable[..., Settings]) -> None:
    store = _store(settings_factory(), poll_seconds=0)
    store.set("blog", "shadow", changed_by="alice")
    store.session_factory.kw["bind"].dispose()
    store.session_factory.configure(bind=_broken_engine())
    assert store.current().flag("blog").mode == "shadow"
    assert store.read_errors == 1


def _broken_engine() -> object:
    from sqlalchemy import create_engine

    return create_engine("sqlite:////nonexistent-folder/none.db")


def test_breaker_trips_once_per_burst_inside_its_window() -> None:
    now = [0.0]
    breaker = CircuitBreaker(3, 10, monotonic=lambda: now[0])
    assert [breaker.failure("blog") for _ in range(2)] == [False, False]
    now[0] = 11  # the first two fell out of the window
    assert [breaker.failure("blog") for _ in range(3)] == [False, False, True]
    assert breaker.failure("blog") is False  # a fresh budget after tripping
    assert breaker.failure("papertrail") is False
    assert CircuitBreaker(0, 10).failure("blog") is False
