"""`sv flags:*` and `sv shadow:*`: feature modes and comparison results, read and written in the shared database."""

from __future__ import annotations

import functools
import getpass
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import click

from exthost.cli.output import print_json, print_table, when
from exthost.cli.settings import feature_names, load_settings, opened_database
from exthost.rollout.flagstore import FlagError, FlagStore
from exthost.rollout.results import ShadowResults
from exthost.rollout.switch import ForceNeedsReason, GateRefused, change_flag
from legacy_core.settings import Settings


@dataclass
class Stores:
    settings: Settings
    flags: FlagStore
    results: ShadowResults
    features: tuple[str, ...]

    @functools.cached_property
    def routes(self) -> dict[str, list[str]]:
        """Each feature's legacy URL rules; builds the legacy app (Flask), so only the commands that check a route
        ask for it."""
        from exthost.rollout.router import FeatureRoutes
        from legacy_core.app import create_server

        server = create_server(self.settings)
        try:
            return FeatureRoutes(server.app, server.services.features).by_feature
        finally:
            server.services.engine.dispose()


@contextmanager
def stores(settings: Settings) -> Iterator[Stores]:
    """The flag store and results of the configured database (no app, no host, no plugin imported)."""
    from exthost.rollout.flags import parse_overrides

    features = feature_names(settings)
    try:
        overrides = parse_overrides(settings.FEATURE_FLAGS)
    except ValueError as exc:
        raise click.UsageError(f"setting {exc}") from exc
    with opened_database(settings, "the flags and results") as session_factory:
        try:
            yield Stores(
                settings,
                FlagStore(session_factory, features=features, overrides=overrides, poll_seconds=0, strict=True),
                ShadowResults(session_factory),
                features,
            )
        except FlagError as exc:
            raise click.UsageError(str(exc)) from exc


def _tenants(value: str | None) -> list[str] | None:
    return None if value is None else [t.strip() for t in value.split(",") if t.strip()]


@click.command("flags:list")
@click.option("--history", is_flag=True, help="Also show the latest changes: who, when, from what, why.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
def flags_list_command(history: bool, as_json: bool) -> None:
    """Each feature's mode (and any route's own), with its share, who set it and when."""
    with stores(load_settings()) as found:
        flags = found.flags.current()
        features = sorted(found.features)
        rows: list[dict[str, Any]] = [flags.flag(feature).as_dict() for feature in features]
        rows += [f.as_dict() for f in flags.all() if f.route is not None]
        changes = found.flags.history() if history else []
    if as_json:
        print_json({"flags": rows, "history": changes} if history else rows)
        return
    print_table(
        "feature flags",
        ["feature", "route", "mode", "percent", "tenants", "sample", "set by", "at", "reason"],
        [
            [
                r["feature"],
                r["route"] or "(all)",
                r["mode"],
                # A share means something only in the mode that reads it: a percent left from an earlier canary
                # is not shown once the feature is in plugin mode.
                f"{r['percent']:g}" if r["mode"] == "canary" else "-",
                (",".join(r["tenants"]) or "-") if r["mode"] == "canary" else "-",
                f"{r['sample']:g}" if r["mode"] == "shadow" else "-",
                r["updatedBy"],
                when(r["updatedAt"]),
                r["reason"],
            ]
            for r in rows
        ],
    )
    if history:
        print_table(
            "changes (newest first)",
            ["#", "feature", "route", "from", "to", "by", "at", "forced", "reason"],
            [
                [
                    str(c["id"]),
                    c["feature"],
                    c["route"] or "(all)",
                    c["previous_mode"],
                    c["mode"],
                    c["changed_by"],
                    when(c["changed_at"]),
                    "FORCED" if c["forced"] else "",
                    c["reason"],
                ]
                for c in changes
            ],
        )


@click.command("flags:set")
@click.argument("feature")
@click.argument("mode")
@click.option("--percent", type=float, default=None, help="Canary: share of callers (0-100) on the plugin.")
@click.option("--tenants", default=None, help="Canary: comma-separated tenants always on the plugin.")
@click.option("--sample", type=float, default=None, help="Shadow: share of requests (0-100) replayed.")
@click.option("--route", default=None, help="Set one route's mode (its URL rule) instead of the feature's.")
@click.option("--reason", default="", help="Why, kept in the change log.")
@click.option("--by", "changed_by", default=None, help="Who, kept in the change log; the OS user by default.")
@click.option(
    "--force",
    is_flag=True,
    help="Switch to plugin or retired even though the feature's evidence is short of the gate (needs --reason); the "
    "change log marks the change as forced and keeps the shortfalls after the reason.",
)
def flags_set_command(
    feature: str,
    mode: str,
    percent: float | None,
    tenants: str | None,
    sample: float | None,
    route: str | None,
    reason: str,
    changed_by: str | None,
    force: bool,
) -> None:
    """Set FEATURE to MODE (legacy, shadow, canary, plugin, retired); every worker follows within a second.

    Switching to plugin or retired needs evidence on the code in place (`sv phase:status` shows it): refused while
    it is short, unless --force with a --reason.
    """
    who = changed_by or f"{getpass.getuser()}@cli"
    settings = load_settings()
    with stores(settings) as found:
        try:
            change = change_flag(
                found.flags,
                settings,
                feature,
                mode,
                route=route,
                percent=percent,
                tenants=_tenants(tenants),
                sample=sample,
                changed_by=who,
                reason=reason,
                force=force,
                routes=found.routes.get(feature, ()),
            )
        except GateRefused as exc:
            raise click.ClickException(_refusal(settings, exc)) from exc
        except ForceNeedsReason as exc:
            raise click.UsageError(f"{exc}; say why with --reason") from exc
    flag, forced = change.flag, change.forced
    share = ""
    if flag.mode == "canary":
        listed = ", ".join(sorted(flag.tenants))
        always = f"; always on the plugin: tenants {listed}" if listed else ""
        share = f" ({flag.percent:g}% of callers, by a sticky share per user{always})"
    elif flag.mode == "shadow":
        share = f" ({flag.sample:g}% of requests replayed)"
    click.echo(f"{feature}{' ' + route if route else ''}: {flag.mode}{share}, set by {who}")
    if forced:
        click.echo("forced past the evidence gate; the change log marks it (sv flags:list --history)")


def _refusal(settings: Settings, refused: GateRefused) -> str:
    """What a refused switch says: every shortfall and how to get the evidence (or force it)."""
    from exthost.evidence.fingerprint import recordings_dir

    feature = refused.feature
    shortfalls = "\n".join(f"  - {line}" for line in refused.shortfalls)
    return (
        f"refusing to switch {feature!r} to {refused.mode}: the evidence on its code in place ({refused.code[:12]}) "
        f"is short of the gate:\n{shortfalls}\n"
        f"Gather evidence with `sv parity:run --feature {feature}` (recorded sessions are the HAR files under "
        f"{recordings_dir(settings) / feature}) and with shadow traffic (`sv flags:set {feature} shadow`); "
        "`sv phase:status` shows where it stands. Or switch anyway with --force and a --reason: the change log marks "
        "it as forced."
    )
