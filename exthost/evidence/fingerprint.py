"""The code fingerprint of a feature and the corpus of recorded sessions it is judged on.

Evidence counts only while the code it was gathered on is the code in place. `code_fingerprint` hashes both sides'
source of a feature: the legacy package, its page views and templates, the support modules only one side runs, the
noise rules in force and every plugin folder declaring the feature.

The corpus of recorded sessions of a feature is every `*.har` under `<PARITY_RECORDINGS_DIR>/<feature>/`, each named
by its path relative to PARITY_RECORDINGS_DIR and its content digest (`papertrail/edit-board.har#sha256:…`), as the
harness names a recorded case's `source`.

Reads files only: no Flask, no database.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.metadata
import importlib.util
import json
import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from legacy_core.features import BUILT_IN_SET, Feature, feature_set

if TYPE_CHECKING:
    from legacy_core.settings import Settings

# exthost may not import parity_tests, so its folder is found beside this package, as the noise rules file is
# (exthost/platform.py): both are top-level packages of one distribution, in a checkout and in site-packages alike.
DEFAULT_RECORDINGS_DIR = Path(__file__).resolve().parents[2] / "parity_tests" / "recordings"
EXTHOST_DIR = Path(__file__).resolve().parents[1]
DEFAULT_RULES_FILE = DEFAULT_RECORDINGS_DIR.parent / "noise_rules.toml"
LEGACY_DIR = Path(__file__).resolve().parents[2] / "legacy_core"
LEGACY_SUPPORT = ("access.py", "requestctx.py", "errors.py", "http.py")
PLUGIN_SUPPORT = ("sdk.py",)
FINGERPRINT_VERSION = b"sv-code-1"
MANIFEST_FILENAME = "plugin.json"
# Editor, interpreter and VCS droppings: not code, never part of a fingerprint (names starting with "." are skipped
# as well: .git, .mypy_cache, .DS_Store, vim's .x.swp, emacs' .#x).
_DROPPED_DIRS = frozenset({"__pycache__"})
_DROPPED_SUFFIXES = (".pyc", ".pyo", ".swp", ".swo", ".orig", ".rej", ".bak", "~")

# --- the code fingerprint -------------------------------------------------------------------------------------------


def _dropped(name: str) -> bool:
    return name.startswith(".") or name.endswith(_DROPPED_SUFFIXES) or (name.startswith("#") and name.endswith("#"))


def _tree(root: Path, label: str) -> Iterator[tuple[str, Path]]:
    """(label/relative path, file) of every file under `root` but droppings; symlinked folders are not followed."""
    for folder, dirs, files in os.walk(root):
        dirs[:] = [name for name in dirs if name not in _DROPPED_DIRS and not _dropped(name)]
        for name in files:
            if not _dropped(name):
                path = Path(folder, name)
                yield f"{label}/{path.relative_to(root).as_posix()}", path


def _page_functions(pages: Path, feature: Feature) -> Iterator[tuple[str, bytes]]:
    """The source of the feature's page views in the shared `web/pages.py`, and the templates they render.

    Those views sit beside core pages (login, projects); hashing only theirs keeps a change to the login page from
    discarding both features' evidence. The base template and static files are shared with the plugins' pages and
    served by core routes, so they are no feature's.
    """
    if not pages.is_file():
        return
    text = pages.read_text(encoding="utf-8")
    views = {endpoint.partition(".")[2] for endpoint in feature.endpoints if endpoint.startswith("web.")}
    templates: set[str] = set()
    for node in ast.walk(ast.parse(text, filename=str(pages))):
        if isinstance(node, ast.FunctionDef) and node.name in views:
            yield f"legacy/web/pages.py#{node.name}", (ast.get_source_segment(text, node) or "").encode()
            for call in ast.walk(node):
                if (
                    isinstance(call, ast.Call)
                    and getattr(call.func, "id", getattr(call.func, "attr", None)) == "render_template"
                    and call.args
                    and isinstance(call.args[0], ast.Constant)
                    and isinstance(call.args[0].value, str)
                ):
                    templates.add(call.args[0].value)
    for name in sorted(templates):
        template = pages.parent.parent / "templates" / name
        yield f"legacy/templates/{name}", template.read_bytes() if template.is_file() else b"<missing>"


def _manifest_feature(folder: Path) -> str | None:
    """`sovereign.feature` of a plugin folder's manifest, read as the host reads it; None when unreadable."""
    try:
        data = json.loads((folder / MANIFEST_FILENAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    sovereign = data.get("sovereign") if isinstance(data, dict) else None
    feature = sovereign.get("feature") if isinstance(sovereign, dict) else None
    return feature if isinstance(feature, str) else None


def plugin_folders(feature: str, settings: Settings) -> list[Path]:
    """The folders of every plugin whose manifest declares `sovereign.feature: <feature>`, where the host looks for
    plugins (PLUGINS_DIR, then installed distributions' entry points), without running any plugin code.

    All of them, not only the one the host would pick: a plugin that could serve the feature is part of its code.
    """
    candidates: list[Path] = []
    if settings.PLUGINS_DIR.is_dir():
        candidates += [path.parent for path in sorted(settings.PLUGINS_DIR.glob(f"*/{MANIFEST_FILENAME}"))]
    if settings.PLUGIN_ENTRY_POINTS:
        for entry_point in importlib.metadata.entry_points(group="sovereign.plugins"):
            try:
                spec = importlib.util.find_spec(entry_point.module)
            except (ImportError, ValueError):
                continue
            if spec is not None and spec.origin and spec.submodule_search_locations is not None:
                candidates.append(Path(spec.origin).resolve().parent)
    found = {folder.resolve() for folder in candidates if _manifest_feature(folder) == feature}
    return sorted(found, key=lambda folder: (folder.name, str(folder)))


def code_files(feature: str, settings: Settings, *, legacy_dir: Path = LEGACY_DIR) -> list[tuple[str, bytes]]:
    """What a feature's fingerprint covers, as (label, bytes) sorted by label: the legacy package
    (`legacy_core/<feature>/`), the feature's page views and templates, the support modules only one side runs
    (`LEGACY_SUPPORT`, `PLUGIN_SUPPORT`), the noise rules file in force, and each plugin folder of the feature."""
    files: dict[str, bytes] = {}
    declared = feature_set(settings.EXTRA_FEATURES)
    if feature in BUILT_IN_SET or feature not in declared:
        # A built-in feature's package is legacy_dir/<name> (a test points legacy_dir at a copy of legacy_core).
        package = legacy_dir / feature
        pages = next((found for found in BUILT_IN_SET if found.name == feature), None)
    else:
        pages = declared[feature]
        package = pages.folder()
    if package.is_dir():
        files.update((label, path.read_bytes()) for label, path in _tree(package, f"legacy/{feature}"))
    if pages is not None:
        files.update(_page_functions(legacy_dir / "web" / "pages.py", pages))
    # Code one side runs for every feature request and the other does not: legacy's access checks, request context
    # and errors; the plugins' SDK. Both sides' answers depend on it as much as on the feature's own package.
    for module in LEGACY_SUPPORT:
        if (legacy_dir / module).is_file():
            files[f"legacy/{module}"] = (legacy_dir / module).read_bytes()
    for module in PLUGIN_SUPPORT:
        files[f"sdk/{module}"] = (EXTHOST_DIR / module).read_bytes()
    # The noise rules in force decide what counts as a difference: evidence gathered under other rules is not
    # evidence for these.
    rules = settings.SHADOW_RULES_FILE or DEFAULT_RULES_FILE
    files["rules/noise_rules.toml"] = rules.read_bytes() if rules.is_file() else b"<no rules file>"
    named = Counter[str]()
    for folder in plugin_folders(feature, settings):
        # A second folder of the same name (a PLUGINS_DIR folder and a distribution's package) gets its own label.
        named[folder.name] += 1
        prefix = f"plugin/{folder.name}" + (f"#{named[folder.name]}" if named[folder.name] > 1 else "")
        files.update((label, path.read_bytes()) for label, path in _tree(folder, prefix))
    return sorted(files.items())


def code_fingerprint(feature: str, settings: Settings, *, legacy_dir: Path = LEGACY_DIR) -> str:
    """A stable SHA-256 (64 hex digits) over both sides' source of `feature` (see `code_files`): changing, adding,
    removing or renaming one file of either side changes it; `__pycache__` and editor droppings do not."""
    digest = hashlib.sha256(FINGERPRINT_VERSION + b"\0" + feature.encode() + b"\0")
    for label, content in code_files(feature, settings, legacy_dir=legacy_dir):
        digest.update(f"{label}\0{len(content)}\0".encode())
        digest.update(hashlib.sha256(content).digest())
    return digest.hexdigest()


# --- the corpus ---------------------------------------------------------------------------------------------------


def recordings_dir(settings: Settings) -> Path:
    """The folder of recorded sessions: PARITY_RECORDINGS_DIR, else `parity_tests/recordings`."""
    return settings.PARITY_RECORDINGS_DIR or DEFAULT_RECORDINGS_DIR


def corpus_names(feature: str, settings: Settings) -> tuple[str, ...]:
    """Every recorded session of `feature`: the `*.har` files under `<recordings dir>/<feature>/`, named by their path
    relative to the recordings folder and their content digest (`recording_name`), sorted."""
    root = recordings_dir(settings)
    folder = root / feature
    if not folder.is_dir():
        return ()
    return tuple(
        sorted(
            recording_name(path.relative_to(root).as_posix(), path.read_bytes())
            for path in folder.rglob("*.har")
            if not _dropped(path.name)
        )
    )


def recording_name(relative: str, content: bytes) -> str:
    """A recording as evidence names it: its path in the corpus and a digest of its content (a file of the same
    name with other requests in it is another recording)."""
    return f"{relative}#sha256:{hashlib.sha256(content).hexdigest()[:16]}"



