"""Errors of the extension host.

ExtHostError                   root of everything the host raises on purpose
 ├── ManifestError             a plugin.json that cannot be used: names the file, the field, the value and the fix
 ├── PluginLoadError           a plugin whose entry cannot be imported, or whose register hook failed
 ├── DependencyError           a missing hard dependency, a version outside the required range, or a cycle
 ├── MountConflict             a mount that overlaps a core route or another plugin's mount
 ├── PluginNotFound            a name that is not a discovered plugin (did-you-mean included)
 ├── PluginStateError          an operation the plugin's state does not allow (enable an invalid plugin, …)
 ├── BackupError               a database backup or restore that could not be made, checked or allowed
 ├── PluginMigrationError      a plugin's revisions or a tenant step could not be applied; nothing of it stays
 ├── TenantError               a tenant id or name that cannot be used, or a tenant that already exists
 ├── SchemaMismatch            tables a plugin's first revision would adopt differ from what it expects
 ├── HookFailed                a lifecycle hook raised: register fails the plugin, on_enable fails that tenant
 ├── SignatureError            plugin signing: a key file or signature file that cannot be used, a folder that
 │                             cannot be signed, or a plugin the signature policy refuses to load
 ├── CapabilityDenied          `caps.require` refused: undeclared capability, or the caller does not hold it
 ├── AccessDenied              a plugin's ctx.db touched a table its manifest's `access` block does not grant
 ├── FetchError                `ctx.fetch` got no answer (exthost.fetch, beside the allow-list it enforces)
 │    ├── FetchDenied          the scheme, host, port or address is not one the manifest's access.fetch allows
 │    └── FetchFailed          an allowed fetch failed: no connection, too slow, too large, too many redirects
 ├── NoiseRulesError           a noise rules file that cannot be used: names the file, the rule, the field and the fix
 └── HarError                  a HAR document that cannot be read: names the file, the entry, the field and the fix
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class ExtHostError(Exception):
    """Root of the extension host's exceptions."""


class ManifestError(ExtHostError):
    """A manifest that cannot be used. `problems` lists one line per bad field."""

    def __init__(self, path: str, problems: list[str]):
        self.path = path
        self.problems = problems
        super().__init__(f"{path}: " + "; ".join(problems))


class SignatureError(ExtHostError):
    """A key or signature file that cannot be used, a folder that cannot be signed, or a plugin the signature policy
    (PLUGIN_SIGNATURES=enforce) refuses to load."""


class PluginLoadError(ExtHostError):
    """The plugin's entry cannot be imported or resolved, or its register hook failed."""


class DependencyError(ExtHostError):
    """A plugin's `requires` cannot be satisfied."""


class MountConflict(ExtHostError):
    """A declared mount overlaps a core route or another plugin's mount."""


class PluginNotFound(ExtHostError):
    """No discovered plugin has this name."""

    def __init__(self, name: str, known: Iterable[str]):
        self.name = name
        known = sorted(known)
        hint = did_you_mean(name, known)
        listing = ", ".join(known) if known else "none"
        super().__init__(f"no plugin named {name!r}{hint}; discovered plugins: {listing}")


class PluginStateError(ExtHostError):
    """The plugin's current state does not allow the operation."""


class PluginMigrationError(ExtHostError):
    """A plugin's migrations failed; the message names the plugin and the revision its schema stays at."""


class BackupError(ExtHostError):
    """A backup that could not be taken, a backup file that fails its checks, or a restore that is refused or failed;
    the message says which, with the tool's own error where one ran."""


class TenantError(ExtHostError):
    """A tenant that cannot be created: a bad id or name, or an id already taken."""


class SchemaMismatch(ExtHostError):
    """Existing tables a plugin's revision would adopt are not the ones it defines. `problems`: one line each."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__(
            "the existing tables cannot be adopted, nothing was changed: "
            + "; ".join(problems)
            + "; make them match the plugin's definition (or restore them) and deploy again"
        )


class HookFailed(ExtHostError):
    """A lifecycle hook of a plugin raised; the host keeps serving everything else."""

    def __init__(self, plugin: str, hook: str, error: BaseException):
        self.plugin = plugin
        self.hook = hook
        self.error = error
        super().__init__(f"plugin {plugin!r}: hook {hook} raised {type(error).__name__}: {error}")


class CapabilityDenied(ExtHostError):
    """A capability check failed; `status` is what an HTTP caller gets (401 anonymous, 403 otherwise)."""

    def __init__(self, message: str, status: int = 403):
        self.status = status
        super().__init__(message)


class AccessDenied(ExtHostError):
    """A plugin's `ctx.db` reached a table or view outside its manifest's `access` block (or a plugin has no
    database role yet); the message names the plugin, the table and the manifest key that would grant it."""


class NoiseRulesError(ExtHostError):
    """A noise rules file that cannot be used. `problems` lists one line per bad rule field."""

    def __init__(self, path: str, problems: list[str]):
        self.path = path
        self.problems = problems
        super().__init__(f"{path}: " + "; ".join(problems))


class HarError(ExtHostError):
    """A HAR document that cannot be read. `problems` lists one line per bad entry field."""

    def __init__(self, path: str, problems: list[str]):
        self.path = path
        self.problems = problems
        super().__init__(f"{path}: " + "; ".join(problems))


def did_you_mean(value: str, choices: Iterable[str]) -> str:
    """' (did you mean 'x'?)' for the closest choice, or '' when nothing is close."""
    close = difflib.get_close_matches(value, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""
