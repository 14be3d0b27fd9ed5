"""Signing and checking a plugin folder on disk: the I/O around `tree.scan` and the pure `policy` decision."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from exthost.errors import SignatureError
from exthost.trust.policy import INVALID_SIGNATURE, UNCHECKED, TrustConfig, Verification, verify
from exthost.trust.signature import SignedManifest, sign_tree
from exthost.trust.tree import SIGNATURE_FILENAME, scan

# A signature file is a few kilobytes; one past this is not read (and is `invalid`).
MAX_SIGNATURE_BYTES = 4 * 1024 * 1024


def check_folder(name: str, folder: Path, config: TrustConfig) -> Verification:
    """The status of the plugin in `folder`: its signature file read, the folder walked (every file hashed), then
    `policy.verify`. PLUGIN_SIGNATURES=off reads nothing."""
    if config.policy == "off":
        return Verification(UNCHECKED, None, "PLUGIN_SIGNATURES=off")
    path = folder.resolve() / SIGNATURE_FILENAME
    text: str | None
    try:
        if path.is_symlink() or (path.exists() and not path.is_file()):
            return Verification(INVALID_SIGNATURE, None, f"{SIGNATURE_FILENAME} is not a regular file")
        if path.exists() and path.stat().st_size > MAX_SIGNATURE_BYTES:
            too_large = f"{SIGNATURE_FILENAME} is larger than {MAX_SIGNATURE_BYTES} bytes"
            return Verification(INVALID_SIGNATURE, None, too_large)
        text = path.read_text(encoding="utf-8") if path.exists() else None
    except (OSError, UnicodeDecodeError) as exc:
        return Verification(INVALID_SIGNATURE, None, f"{SIGNATURE_FILENAME} cannot be read: {exc}")
    return verify(name, scan(folder), text, config)


def sign_folder(name: str, folder: Path, private_key: Ed25519PrivateKey) -> tuple[Path, SignedManifest]:
    """Walk `folder`, sign its manifest and write `plugin.sig.json` into it (whole or not at all)."""
    signed = sign_tree(name, scan(folder), private_key)
    target = folder.resolve() / SIGNATURE_FILENAME
    if target.is_symlink():
        raise SignatureError(f"{str(target)!r} is a symlink; remove it and sign again")
    handle, temporary = tempfile.mkstemp(prefix=".plugin.sig.", dir=target.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(signed.dumps())
        os.chmod(temporary, 0o644)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return target, signed
