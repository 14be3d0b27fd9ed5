"""The catalogue of plugins: discovery, manifest checks, dependency order and mount validation.

Nothing here imports plugin code: a plugin that is invalid here (bad manifest, missing or cyclic dependency,
a mount over a core route or another plugin's mount, a table another plugin owns) never runs. Each problem marks
only the plugins concerned.
"""

from __future__ import annotations

import graphlib
import importlib
import importlib.metadata
import importlib.util
from collections.abc import Iterable, Iterator
from pathlib import Path

import nodesemver

from exthost.errors import DependencyError, ManifestError, MountConflict, PluginLoadError, did_you_mean
from exthost.manifest import LEGACY_FEATURES, MANIFEST_FILENAME, load_manifest, tables_overlap
from exthost.mounts import core_conflicts, mounts_overlap
from exthost.records import DISCOVERED, INVALID, PluginRecord
from exthost.version import host_version
from legacy_core.features import RouteInfo
from legacy_core.settings import Settings

ENTRY_POINT_GROUP = "sovereign.plugins"


class Catalogue:
    """Every plugin found for one settings object, each with its manifest or the reason it has none."""

    def __init__(
        self, settings: Settings, legacy_routes: Iterable[RouteInfo], features: Iterable[str] = LEGACY_FEATURES
    ):
        self.settings = settings
        self.legacy_routes = tuple(legacy_routes)
        # The features a manifest's sovereign.feature may name.
        self.features = tuple(features)
        self.plugins: dict[str, PluginRecord] = {}

    def discover(self) -> None:
        """Read every manifest: `PLUGINS_DIR/*/plugin.json` first, then installed distributions' entry points.

        Folder plugins are added before any distribution, so on a name clash the folder keeps the name.
        """
        self.plugins = {}
        plugins_dir = self.settings.PLUGINS_DIR
        if plugins_dir.is_dir():
            for manifest_path in sorted(plugins_dir.glob(f"*/{MANIFEST_FILENAME}")):
                self._discover_one(manifest_path.parent, "folder")
        if self.settings.PLUGIN_ENTRY_POINTS:
            for found in list(self._entry_points()):
                if isinstance(found, PluginRecord):
                    self._add_record(found)
                else:
                    self._discover_one(*found)

    def _entry_points(self) -> Iterator[tuple[Path, str] | PluginRecord]:
        """(folder, source) of each entry point's package, or an invalid record saying why it has none."""
        for entry_point in sorted(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            distribution = entry_point.dist.name if entry_point.dist is not None else "?"
            source = f"distribution {distribution} (entry point {entry_point.name!r})"
            try:
                # Found, not imported: the package's __init__.py is plugin code, and runs only once its folder has
                # passed the signature check (a dotted name still imports its parent packages).
                spec = importlib.util.find_spec(entry_point.module)
                if spec is None:
                    raise ModuleNotFoundError(f"No module named {entry_point.module!r}")
                if spec.origin is None or not spec.has_location:
                    raise PluginLoadError(f"{entry_point.module!r} is not a regular package (no __init__.py)")
                folder = Path(spec.origin).resolve().parent
            except Exception as exc:
                record = PluginRecord(name=entry_point.name, folder=Path(f"<{entry_point.value}>"), source=source)
                record.fail(INVALID, f"{source}: cannot import {entry_point.value!r}: {type(exc).__name__}: {exc}")
                yield record
                continue
            if not (folder / MANIFEST_FILENAME).is_file():
                record = PluginRecord(name=entry_point.name, folder=folder, source=source)
                record.fail(INVALID, f"{source}: package {entry_point.module!r} has no {MANIFEST_FILENAME} in {folder}")
                yield record
                continue
            yield folder, source

    def _discover_one(self, folder: Path, source: str) -> None:
        record = PluginRecord(name=folder.name, folder=folder, source=source)
        try:
            record.manifest = load_manifest(record.manifest_path, self.features)
        except ManifestError as exc:
            record.fail(INVALID, str(exc))
            self._add_record(record)
            return
        record.name = record.manifest.name
        if source == "folder" and folder.name != record.manifest.name:
            record.fail(
                INVALID,
                f"{record.manifest_path}: name: {record.manifest.name!r} differs from its folder {folder.name!r}; "
                "rename the folder or the plugin so they match",
            )
        self._add_record(record)

    def _add_record(self, record: PluginRecord) -> None:
        existing = self.plugins.get(record.name)
        if existing is None:
            self.plugins[record.name] = record
            return
        # Two plugins claim one name: the first (folders before distributions, then sorted) keeps it.
        duplicate = PluginRecord(name=f"{record.name}@{record.source}", folder=record.folder, source=record.source)
        duplicate.manifest = record.manifest
        duplicate.fail(
            INVALID,
            f"{record.manifest_path}: name: {record.name!r} is already used by {existing.manifest_path} "
            f"({existing.source}); plugin names must be unique",
        )
        self.plugins[duplicate.name] = duplicate

    def validated_order(self) -> list[str]:
        """Valid plugins in dependency order; dependency and mount problems mark only the plugins concerned."""
        version = host_version()
        candidates = {name: r for name, r in self.plugins.items() if r.state == DISCOVERED and r.manifest}
        for record in candidates.values():
            try:
                self._check_engine(record, version)
                self._check_requires(record)
            except DependencyError as exc:
                record.fail(INVALID, str(exc))
        order = self._toposort([name for name, r in candidates.items() if r.state == DISCOVERED])
        accepted: list[PluginRecord] = []
        for name in order:
            record = self.plugins[name]
            if record.state != DISCOVERED:
                continue
            try:
                self._check_mounts(record, accepted)
            except MountConflict as exc:
                record.fail(INVALID, str(exc))
                continue
            claimed = self._claimed_tables(record, accepted)
            if claimed is not None:
                record.fail(INVALID, claimed)
                continue
            accepted.append(record)
        return [record.name for record in accepted]

    def check_replacement(self, record: PluginRecord) -> None:
        """Every pre-import check for a new version of a plugin (hot reload): engine, requirements, mounts.

        The mounts are checked against the core and against every other plugin that currently holds its mounts.
        """
        self._check_engine(record, host_version())
        self._check_requires(record)
        others = [
            other
            for other in self.plugins.values()
            if other.name != record.name and other.manifest is not None and other.state not in (INVALID, DISCOVERED)
        ]
        self._check_mounts(record, others)
        claimed = self._claimed_tables(record, others)
        if claimed is not None:
            raise PluginLoadError(claimed)

    @staticmethod
    def _check_engine(record: PluginRecord, version: str) -> None:
        manifest = record.manifest
        assert manifest is not None
        if not nodesemver.satisfies(version, manifest.sovereign.engine):
            raise DependencyError(
                f"{record.manifest_path}: sovereign.engine: this host is Sovereign {version}, outside "
                f"{manifest.sovereign.engine!r}; widen the range or upgrade the host"
            )

    def _check_requires(self, record: PluginRecord) -> None:
        manifest = record.manifest
        assert manifest is not None
        for dependency, wanted in manifest.requires.hard.items():
            other = self.plugins.get(dependency)
            if other is None or other.manifest is None:
                raise DependencyError(
                    f"{record.manifest_path}: requires.hard.{dependency}: no plugin {dependency!r} is installed"
                    f"{did_you_mean(dependency, self.plugins)}; install it or move it to requires.soft"
                )
            if not nodesemver.satisfies(other.manifest.version, wanted):
                raise DependencyError(
                    f"{record.manifest_path}: requires.hard.{dependency}: needs {wanted!r}, installed is "
                    f"{other.manifest.version!r}; install a matching version or widen the range"
                )

    def _toposort(self, names: list[str]) -> list[str]:
        """Names ordered so dependencies come first; a cycle of hard requirements makes its members invalid.

        Soft requirements only order: one that is absent, outside its range, or that would close a cycle is
        ignored (noted on the plugin), never an error.
        """
        remaining = set(names)
        while True:
            hard = {name: self._deps(name, remaining, soft=False) for name in sorted(remaining)}
            try:
                order = list(graphlib.TopologicalSorter(hard).static_order())
            except graphlib.CycleError as exc:
                cycle: list[str] = list(exc.args[1])
                path = " -> ".join(cycle)
                for name in set(cycle):
                    record = self.plugins[name]
                    record.fail(
                        INVALID,
                        f"{record.manifest_path}: requires.hard: dependency cycle {path}; "
                        "break it by moving one requirement to requires.soft or removing it",
                    )
                    remaining.discard(name)
                continue
            # A plugin whose hard dependency just became invalid cannot load either.
            changed = False
            for name in order:
                manifest = self.plugins[name].manifest
                assert manifest is not None
                for dependency in manifest.requires.hard:
                    if dependency not in remaining and name in remaining:
                        record = self.plugins[name]
                        record.fail(
                            INVALID,
                            f"{record.manifest_path}: requires.hard.{dependency}: that plugin is "
                            f"{self.plugins[dependency].state} ({self.plugins[dependency].reason})",
                        )
                        remaining.discard(name)
                        changed = True
            if changed:
                continue
            both = {name: self._deps(name, remaining, soft=True) for name in sorted(remaining)}
            try:
                return list(graphlib.TopologicalSorter(both).static_order())
            except graphlib.CycleError as exc:
                for name in set(exc.args[1]):
                    self.plugins[name].notes.append("soft requirements form a cycle and are ignored for load order")
                return [name for name in order if name in remaining]

    def _deps(self, name: str, remaining: set[str], *, soft: bool) -> list[str]:
        record = self.plugins[name]
        manifest = record.manifest
        assert manifest is not None
        deps = [d for d in manifest.requires.hard if d in remaining]
        if soft:
            for dependency, wanted in manifest.requires.soft.items():
                other = self.plugins.get(dependency)
                if dependency not in remaining or other is None or other.manifest is None:
                    note = f"soft requirement {dependency!r} is not available; loading without it"
                elif not nodesemver.satisfies(other.manifest.version, wanted):
                    note = f"soft requirement {dependency!r} is {other.manifest.version}, outside {wanted!r}; ignored"
                else:
                    deps.append(dependency)
                    continue
                if note not in record.notes:
                    record.notes.append(note)
        return sorted(deps)

    @staticmethod
    def _claimed_tables(record: PluginRecord, accepted: list[PluginRecord]) -> str | None:
        """Why `record` cannot own the tables its access block names (another plugin claims one), or None."""
        assert record.manifest is not None
        for pattern in record.manifest.access.tables:
            for other in accepted:
                assert other.manifest is not None
                for theirs in other.manifest.access.tables:
                    if tables_overlap(pattern, theirs):
                        return (
                            f"{record.manifest_path}: access.tables: {pattern!r} overlaps {theirs!r} of plugin "
                            f"{other.name!r} ({other.manifest_path}); a table has one owning plugin"
                        )
        return None

    def _check_mounts(self, record: PluginRecord, accepted: list[PluginRecord]) -> None:
        manifest = record.manifest
        assert manifest is not None
        for prefix in manifest.mounts.prefixes():
            for own in ("/diagnostics", "/admin"):
                if mounts_overlap(prefix, own):
                    raise MountConflict(
                        f"{record.manifest_path}: mounts: {prefix!r} overlaps the host's {own}; choose another prefix"
                    )
            clashes = core_conflicts(prefix, self.legacy_routes, manifest.sovereign.feature)
            if clashes:
                # One line per rule, core routes first: they are what can never be taken over.
                unique = {c.rule: c for c in sorted(clashes, key=lambda c: (c.feature is not None, c.rule))}
                shown = ", ".join(f"{c.rule} ({c.endpoint})" for c in list(unique.values())[:3])
                more = f" and {len(unique) - 3} more" if len(unique) > 3 else ""
                hint = (
                    "; a plugin reimplementing that feature must declare sovereign.feature"
                    if all(c.feature for c in clashes)
                    else "; core routes cannot be taken over, choose a prefix no core route lies under"
                )
                raise MountConflict(
                    f"{record.manifest_path}: mounts: {prefix!r} collides with core route(s) {shown}{more}{hint}"
                )
            for other in accepted:
                assert other.manifest is not None
                for theirs in other.manifest.mounts.prefixes():
                    if mounts_overlap(prefix, theirs):
                        raise MountConflict(
                            f"{record.manifest_path}: mounts: {prefix!r} overlaps {theirs!r} of plugin "
                            f"{other.name!r} ({other.manifest_path}); choose a prefix of its own"
                        )
