"""The trust decision, pure: a walked folder and its signature file's text in, a verification status out; a status,
the allow-list and the policy in, load or refuse (and why, and how to fix it) out. No I/O here.

Statuses, in the order they are decided (the first that applies wins):
  unsigned    no signature file
  invalid     the signature file cannot be read, names another plugin, or its signature does not hold
  revoked     signed by a key in PLUGIN_REVOKED_KEYS
  untrusted   signed by a key not in PLUGIN_TRUSTED_KEYS
  modified    a file was changed, added or removed after signing, a symlink was swapped in or retargeted, or the
              folder now holds something that cannot be signed (a symlink leading outside it, a fifo...)
  valid       none of the above
  unchecked   PLUGIN_SIGNATURES=off: nothing was checked
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from exthost.errors import SignatureError
from exthost.trust.keys import key_id
from exthost.trust.signature import SignedManifest, parse_signature
from exthost.trust.tree import SIGNATURE_FILENAME, Tree, differences

VALID = "valid"
UNSIGNED = "unsigned"
MODIFIED = "modified"
INVALID_SIGNATURE = "invalid"
UNTRUSTED = "untrusted"
REVOKED = "revoked"
UNCHECKED = "unchecked"
STATUSES = (VALID, UNSIGNED, MODIFIED, INVALID_SIGNATURE, UNTRUSTED, REVOKED, UNCHECKED)
# How many changed paths a reason names before "and N more".
SHOWN_CHANGES = 5

Policy = Literal["enforce", "warn", "off"]


@dataclass(frozen=True)
class TrustConfig:
    """The signature settings, validated once (by the settings object) and indexed."""

    policy: Policy = "enforce"
    trusted: Mapping[str, str] = field(default_factory=dict)  # key id -> public key
    allowed: Mapping[str, str | None] = field(default_factory=dict)  # plugin -> pinned key id, or None
    revoked: frozenset[str] = frozenset()

    @classmethod
    def from_settings(cls, settings: Any) -> TrustConfig:
        allowed: dict[str, str | None] = {}
        for entry in settings.PLUGIN_ALLOWLIST:
            name, _, pin = entry.partition("@")
            allowed[name] = pin or None
        return cls(
            policy=settings.plugin_signature_policy,
            trusted={key_id(key): key for key in settings.PLUGIN_TRUSTED_KEYS},
            allowed=allowed,
            revoked=frozenset(settings.PLUGIN_REVOKED_KEYS),
        )


@dataclass(frozen=True)
class Verification:
    """What the check found: a status, the signing key's id when there is a readable signature, and the detail."""

    status: str
    key_id: str | None = None
    detail: str = ""
    # For a valid signature, the signed digest of each file (relative POSIX path -> SHA-256 hex): the import checks
    # each module's bytes against it again (exthost.trust.sources).
    files: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)

    def as_dict(self) -> dict[str, Any]:
        return {"status": self.status, "keyId": self.key_id, "detail": self.detail}


@dataclass(frozen=True)
class Decision:
    """Whether the plugin may load; `refusal` (enforce) or `warning` (warn) says why not and how to fix it."""

    load: bool
    refusal: str | None = None
    warning: str | None = None


def verify(name: str, tree: Tree, signature_text: str | None, config: TrustConfig) -> Verification:
    """The status of plugin `name`, from its walked folder and its signature file's text (None: there is none)."""
    if signature_text is None:
        return Verification(UNSIGNED, None, f"no {SIGNATURE_FILENAME}")
    try:
        signed = parse_signature(signature_text, SIGNATURE_FILENAME)
    except SignatureError as exc:
        return Verification(INVALID_SIGNATURE, None, str(exc))
    kid = signed.key_id
    if signed.plugin != name:
        other = f"{SIGNATURE_FILENAME} signs plugin {signed.plugin!r}, not {name!r}"
        return Verification(INVALID_SIGNATURE, kid, other)
    if not signed.signature_holds():
        broken = f"the signature in {SIGNATURE_FILENAME} does not match its contents"
        return Verification(INVALID_SIGNATURE, kid, broken)
    if kid in config.revoked:
        return Verification(REVOKED, kid, f"key {kid} is in PLUGIN_REVOKED_KEYS")
    if config.trusted.get(kid) != signed.public_key:
        return Verification(UNTRUSTED, kid, f"key {kid} is not in PLUGIN_TRUSTED_KEYS")
    return _compare(signed, tree)


def _compare(signed: SignedManifest, tree: Tree) -> Verification:
    changes = differences(signed.files, signed.links, tree)
    if not changes:
        detail = f"{len(signed.files)} files signed by key {signed.key_id}"
        return Verification(VALID, signed.key_id, detail, signed.files)
    more = f"; and {len(changes) - SHOWN_CHANGES} more" if len(changes) > SHOWN_CHANGES else ""
    return Verification(MODIFIED, signed.key_id, "; ".join(changes[:SHOWN_CHANGES]) + more)


_FIXES = {
    UNSIGNED: "sign it with `sv plugins:sign {name} --key FILE`",
    MODIFIED: "review the change and sign it again (`sv plugins:sign {name} --key FILE`), or restore the signed files",
    INVALID_SIGNATURE: "sign it again with `sv plugins:sign {name} --key FILE`",
    REVOKED: "sign it again with a key that is not revoked",
    UNTRUSTED: "add the signer's public key to PLUGIN_TRUSTED_KEYS if you trust it, or sign it with a trusted key",
}


def problem(name: str, verification: Verification, config: TrustConfig) -> str | None:
    """Why `enforce` would refuse the plugin, with the fix; None when it would load it."""
    status = verification.status
    if status == UNCHECKED:
        return None
    if status != VALID:
        return f"signature {status}: {verification.detail}; " + _FIXES[status].format(name=name)
    if name not in config.allowed:
        return f"not in PLUGIN_ALLOWLIST; add {name!r} (or '{name}@{verification.key_id}' to pin its key) to allow it"
    pin = config.allowed[name]
    if pin is not None and pin != verification.key_id:
        return (
            f"PLUGIN_ALLOWLIST pins {name!r} to key {pin}, but it is signed by key {verification.key_id}; "
            f"sign it with key {pin} or change the pin"
        )
    return None


def decide(name: str, verification: Verification, config: TrustConfig) -> Decision:
    """Load or refuse, by the policy: enforce refuses on any problem, warn loads and warns, off loads."""
    if config.policy == "off":
        return Decision(True)
    found = problem(name, verification, config)
    if found is None:
        return Decision(True)
    if config.policy == "enforce":
        return Decision(False, refusal=f"refused by PLUGIN_SIGNATURES=enforce: {found}")
    return Decision(True, warning=f"PLUGIN_SIGNATURES=warn: {found} (enforce would refuse it)")
