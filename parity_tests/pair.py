"""The two sides of a parity run: a legacy-serving and a plugin-serving platform on identical states, in one process.

`build_pair` makes (once) a seeded template and a platform per side; `Pair.start_case` resets both sides to the
template and pins a fresh clock and id sequence per side; `Pair.exchange` sends one request to both, through
WSGI, each side with its own cookie jar, and compares the answers with the comparison engine and, after a request
that may write, the stored state too.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import werkzeug.utils
from werkzeug.exceptions import HTTPException
from werkzeug.routing import RequestRedirect

from exthost.evidence.compare import CapturedRequest, CapturedResponse, Difference, compare, header_value
from exthost.evidence.noise import RuleSet
from exthost.evidence.snapshot import Snapshot
from exthost.platform import Platform, create_platform
from exthost.rollout.isolation import pinned
from legacy_core.clock import FixedClock, SequentialIds
from legacy_core.features import FeatureSet, feature_set
from legacy_core.settings import Settings
from parity_tests.branch_coverage import Meter
from parity_tests.client import send
from parity_tests.outcome import Exchange
from parity_tests.postgres import PostgresDatabases
from parity_tests.seed import HARNESS_ARGON2_KIB, Seed, build_template, side_settings, template_from_snapshot
from parity_tests.state import CASE_START, SIDES, Layout, StateReader, git_state, state_differences

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CORE = "core"


class HarnessError(Exception):
    """The harness cannot run as configured (no plugin for a feature, ...); the message says what to fix."""


@dataclass
class Side:
    """One platform of the pair, with the clock, ids and cookies of the case in progress."""

    name: str
    platform: Platform
    reader: StateReader
    clock: FixedClock = field(default_factory=FixedClock)
    ids: SequentialIds = field(default_factory=SequentialIds)
    cookies: dict[str, str] = field(default_factory=dict)

    def start_case(self, clock_step: timedelta, cookies: Mapping[str, str], start: datetime = CASE_START) -> None:
        self.clock = FixedClock(start=start, step=clock_step)
        self.ids = SequentialIds(seed="1")  # the template's ids use seed "0": a case's ids never collide with them
        self.cookies = dict(cookies)

    def call(self, request: CapturedRequest) -> CapturedResponse:
        with pinned(clock=self.clock, ids=self.ids), _werkzeug_wall_clock():
            return send(self.platform, request, self.cookies)


@contextlib.contextmanager
def _werkzeug_wall_clock() -> Iterator[None]:
    """werkzeug's `send_file` stamps `Expires` with the wall clock (`werkzeug.utils.time`), not the clock service:
    while a side answers, that clock reads the case's pinned start, as the uploaded files' times do
    (`pin_file_times`), so two answers given in two different seconds agree. Process-wide while it lasts, like
    `commit_dates`: the harness runs one request at a time."""
    saved = werkzeug.utils.time  # type: ignore[attr-defined]
    moment = CASE_START.timestamp()
    werkzeug.utils.time = lambda: moment  # type: ignore[attr-defined]
    try:
        yield
    finally:
        werkzeug.utils.time = saved  # type: ignore[attr-defined]


@dataclass
class Pair:
    """Both sides; see the module docstring."""

    layout: Layout
    legacy: Side
    plugin: Side
    seed: Seed
    rules: RuleSet
    sides_label: str
    clock_step: timedelta = timedelta(seconds=1)
    # The state differences the last check found (see `state_differences`).
    reported: set[str] = field(default_factory=set)
    requests_sent: int = 0
    # Branch coverage of the features' code, when the run measures it (`parity_tests.branch_coverage.Meter`).
    meter: Meter | None = None
    # On PostgreSQL: leave the template database for the workspace's next run (see `close`).
    keep_template: bool = False
    # The template's git state, once read (`_template_git`).
    template_git: dict[str, Any] | None = None

    @property
    def sides(self) -> tuple[Side, Side]:
        return self.legacy, self.plugin

    @property
    def features(self) -> FeatureSet:
        """The features both sides know (built-in plus the settings' EXTRA_FEATURES)."""
        return self.legacy.platform.services.features

    def start_case(self, *, user: str | None = None, start: datetime | None = None) -> None:
        """Both sides back to the template, fresh pinned clocks and ids (from `start`, by default the harness's case
        start), and (optionally) `user` signed in."""
        cookies = {self.seed.cookie: self.seed.users[user].token} if user is not None else {}
        self.reported.clear()
        self.requests_sent = 0
        for side in self.sides:
            if self.layout.reset(side.name):
                side.platform.services.engine.dispose()  # its connections went with the database made again
            side.reader.restored(self._template_git())
            side.start_case(self.clock_step, cookies, start or CASE_START)

    def _template_git(self) -> dict[str, Any]:
        """The template's git state (clones and remote) as a side's reader reads it, read once per pair: a side's
        folders just reset are copies of the template's."""
        if self.template_git is None:
            reader = self.legacy.reader
            side = self.layout.side(self.legacy.name)

            def in_template(path: Path) -> Path:  # a side's folder, or one outside the sides (no clones)
                return self.layout.template / path.relative_to(side) if path.is_relative_to(side) else path

            self.template_git = git_state(in_template(reader.blog_root), in_template(reader.remote))
        return self.template_git

    def route_of(self, request: CapturedRequest) -> tuple[str, str]:
        """(feature, URL rule) of a request: a feature's rule, a core rule (feature "core"), or the path itself."""
        match = self.legacy.platform.router.routes.resolve(request.path, request.method)
        if match is not None:
            return match.feature, match.rule or request.path
        adapter = self.legacy.platform.legacy.app.url_map.bind("localhost", "/")
        try:
            rule, _ = adapter.match(request.path, request.method, return_rule=True)
        except (HTTPException, RequestRedirect):
            return CORE, request.path
        return CORE, rule.rule

    def send(
        self, request: CapturedRequest, feature: str | None = None, route: str | None = None
    ) -> tuple[CapturedResponse, CapturedResponse]:
        """The request on each side in turn (for a request of a feature that declares a git remote, or of no
        feature named, git sends the shared remote URL to the side's own remote: `Layout.remote_of`)."""
        features = self.features
        point = feature is None or (feature in features and features[feature].remote is not None)
        if header_value(request.headers, "x-request-id") is None:
            # Both sides get one request id, so answers that echo it (every X-Request-Id header, error bodies that
            # quote it) agree by construction, as the shadow runner gives a replay the caller's id.
            self.requests_sent += 1
            request = replace(request, headers=(*request.headers, ("X-Request-Id", f"sv-parity-{self.requests_sent}")))
        answers = []
        for side in self.sides:
            with (
                self.layout.remote_of(side.name) if point else contextlib.nullcontext(),
                self.meter.request(side.name, request.method, route or request.path)
                if self.meter is not None
                else contextlib.nullcontext(),
            ):
                answer = side.call(request)
            answers.append(self.layout.as_shared(side.name, answer) if point else answer)
        return answers[0], answers[1]

    def exchange(self, index: int, request: CapturedRequest) -> Exchange:
        """Send `request` to both sides and compare the answers (and the state, after a request that may write)."""
        feature, route = self.route_of(request)
        legacy, plugin = self.send(request, feature, route)
        if request.method not in SAFE_METHODS:
            for side in self.sides:
                for folder in self._served_folders(side):
                    pin_file_times(folder)
        comparison = compare(legacy, plugin, self.rules, feature=feature, method=request.method, route=route)
        # Reads may write too (legacy makes a board on first sight): the state is compared whenever either side's
        # may have changed; for most reads a cheap check says it did not.
        may_write = request.method not in SAFE_METHODS or any(side.reader.changed() for side in self.sides)
        state = self.state_differences() if may_write else ()
        return Exchange(index, feature, route, request, legacy, plugin, comparison, state)

    def _served_folders(self, side: Side) -> list[Path]:
        """The data folders whose files a feature serves as they are (uploads): those of the features without a
        git remote (a working clone's files are git's, whose index keeps their times)."""
        settings = side.platform.services.settings
        folders = (feature.data_root(settings) for feature in self.features if feature.remote is None)
        return [folder for folder in folders if folder is not None]

    def state_differences(self) -> tuple[Difference, ...]:
        """Differences in the stored state that the previous check of this case did not find (a difference is
        reported on the request that made it; one that went away and comes back is reported again)."""
        found = state_differences(self.legacy.reader.read(), self.plugin.reader.read())
        new = tuple(difference for difference in found if repr(difference) not in self.reported)
        self.reported = {repr(difference) for difference in found}
        return new

    def close(self) -> None:
        try:
            for side in self.sides:
                side.reader.close()
                side.platform.close()
        finally:
            databases = self.layout.postgres
            if databases is not None:
                try:
                    databases.drop([*SIDES, *(() if self.keep_template else ("template",))])
                finally:
                    databases.close()


def build_pair(
    root: Path,
    *,
    base: Settings | None = None,
    plugins_dir: Path | None = None,
    rules_file: Path | None = None,
    features: Iterable[str] | None = None,
    aa: bool = False,
    clock_step: timedelta = timedelta(seconds=1),
    snapshot: Snapshot | None = None,
    keep: bool = False,
) -> Pair:
    """A pair in workspace `root` (its template built on first use, from `snapshot` when given): the plugin side
    serves `features` from their plugins; with `aa`, both sides serve them from legacy (an A/A run, to show which
    noise rules are needed).

    With PARITY_DATABASE_URL in `base`, the databases are PostgreSQL databases of the workspace's own on that
    server (a snapshot's rows are copied into the template's database there); closing the pair drops the sides' and,
    unless `keep` (a kept workspace reuses its template), the template's."""
    server = base.PARITY_DATABASE_URL if base is not None else None
    databases = PostgresDatabases(server, root.resolve()) if server else None
    if databases is not None:
        databases.sweep_orphans()  # those of this machine's deleted workspaces (killed runs, removed --workspace)
    layout = Layout(root.resolve(), postgres=databases)
    sides: list[Side] = []
    try:
        if snapshot is not None:
            seed = template_from_snapshot(layout, snapshot, base=base, plugins_dir=plugins_dir, rules_file=rules_file)
        else:
            seed = build_template(layout, base=base, plugins_dir=plugins_dir, rules_file=rules_file)
        every = feature_set(base.EXTRA_FEATURES if base is not None else ()).names
        chosen = every if features is None else tuple(features)
        unknown = [feature for feature in chosen if feature not in every]
        if unknown:
            raise HarnessError(f"unknown feature(s) {', '.join(map(repr, unknown))}; one of {', '.join(every)}")
        for name in SIDES:
            layout.reset(name)
            # The link leads to a side's remote, never the template's, whatever git runs outside `send`.
            layout.point(name)
            # "retired", not "plugin": with no plugin app for the feature, the router answers 503 instead of falling
            # back to legacy, so a missing or disabled plugin can never pass for parity.
            serving = "legacy" if name == "legacy" or aa else "retired"
            flags = {feature: (serving if feature in chosen else "legacy") for feature in every}
            settings = side_settings(
                layout, name, base=base, plugins_dir=plugins_dir, rules_file=rules_file, flags=flags
            )
            platform = create_platform(settings, argon2_memory_kib=HARNESS_ARGON2_KIB, name=f"parity-{name}")
            # The working clones of the feature with a git remote (its data folder), whose git state is compared too.
            roots = (f.data_root(settings) for f in platform.services.features if f.remote is not None)
            clones = next((root for root in roots if root is not None), None)
            reader = StateReader(
                platform.services.engine,
                layout.database(name),
                settings.DATA_DIR,
                clones or layout.root / "no-clones",
                layout.remote(name),
            )
            sides.append(Side(name, platform, reader))
            if serving == "retired":
                tenant = settings.TENANT_DEFAULT
                missing = [feature for feature in chosen if platform.host.table().feature_app(feature, tenant) is None]
                if missing:
                    raise HarnessError(
                        f"no enabled plugin in {settings.PLUGINS_DIR} serves {', '.join(map(repr, missing))} for "
                        f"tenant {tenant!r}; check `sv plugins:list` with PLUGINS_DIR={settings.PLUGINS_DIR}"
                    )
    except BaseException:
        # Nothing of a pair that could not be built is left behind: its platforms, and on PostgreSQL its databases.
        for side in sides:
            side.platform.close()
        if databases is not None:
            databases.drop([*SIDES, *(() if keep else ("template",))])
            databases.close()
        raise
    rules = sides[0].platform.rules
    label = "legacy/legacy" if aa else "legacy/plugin"
    return Pair(layout, sides[0], sides[1], seed, rules, label, clock_step, keep_template=keep)


def pin_file_times(root: Path) -> None:
    """Every uploaded file's modification time set to the case's pinned start, as the clocks are pinned: a served
    file's Last-Modified (and the time in its ETag) comes from it, and the two sides write their copies at two
    real instants that may fall in two different seconds."""
    moment = CASE_START.timestamp()
    for folder, _, files in os.walk(root):
        for name in files:
            path = os.path.join(folder, name)
            if os.stat(path).st_mtime != moment:
                os.utime(path, (moment, moment))


def body_json(response: CapturedResponse) -> Any:
    """A response body as JSON, or None when it is not JSON."""
    try:
        return json.loads(response.body)
    except ValueError:
        return None
