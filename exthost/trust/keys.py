"""Signing keys: ed25519 (the `cryptography` package), their text form and id, and the private key file.

A public key is written `ed25519:<base64 of its 32 raw bytes>` (what PLUGIN_TRUSTED_KEYS lists); its id is the first
16 hex digits of the SHA-256 of those bytes (what PLUGIN_ALLOWLIST pins and PLUGIN_REVOKED_KEYS lists). The id only
names a key: a signature is always checked against the whole public key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from exthost.errors import SignatureError

PUBLIC_KEY_PREFIX = "ed25519:"


def key_id(public_key: str) -> str:
    """The id of a public key given in its text form."""
    return hashlib.sha256(public_key_bytes(public_key)).hexdigest()[:16]


def public_key_bytes(public_key: str) -> bytes:
    """The 32 raw bytes of `ed25519:<base64>`; SignatureError when it is not one."""
    try:
        if not public_key.startswith(PUBLIC_KEY_PREFIX):
            raise ValueError("no prefix")
        raw = base64.b64decode(public_key.removeprefix(PUBLIC_KEY_PREFIX), validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 32:
        raise SignatureError(f"{public_key!r} is not an ed25519 public key ('ed25519:<base64 of 32 bytes>')")
    return raw


def public_key_text(key: Ed25519PublicKey) -> str:
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return PUBLIC_KEY_PREFIX + base64.b64encode(raw).decode("ascii")


def load_public_key(public_key: str) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(public_key_bytes(public_key))


@dataclass(frozen=True)
class GeneratedKey:
    """A fresh key pair: where the private key was written, and the public key with its id."""

    private_path: Path
    public_path: Path
    public_key: str
    key_id: str


def generate_key(private_path: Path) -> GeneratedKey:
    """A new ed25519 key: the private key as unencrypted PKCS#8 PEM in `private_path` (created with mode 0600, never
    over an existing file), the public key in `<private_path>.pub`."""
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    public = public_key_text(key.public_key())
    public_path = private_path.with_name(private_path.name + ".pub")
    for path in (private_path, public_path):
        if path.exists() or path.is_symlink():
            raise SignatureError(f"{str(path)!r} already exists; choose another --out, or move that file away first")
    try:
        descriptor = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise SignatureError(f"cannot create {str(private_path)!r}: {exc.strerror or exc}") from exc
    with os.fdopen(descriptor, "wb") as handle:
        os.fchmod(handle.fileno(), 0o600)  # the umask may have taken bits away, never added: set exactly 0600
        handle.write(pem)
    public_path.write_text(public + "\n", encoding="ascii")
    return GeneratedKey(private_path, public_path, public, key_id(public))


def load_private_key(path: Path) -> Ed25519PrivateKey:
    """The ed25519 private key in `path`; refused, saying how to fix it, when the file is missing, readable by others
    (like ssh, since anyone who reads it can sign plugins) or not an unencrypted ed25519 PEM key."""
    try:
        mode = path.stat().st_mode
        data = path.read_bytes()
    except OSError as exc:
        raise SignatureError(f"cannot read the key {str(path)!r}: {exc.strerror or exc}") from exc
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise SignatureError(
            f"the key {str(path)!r} is readable by others (mode {stat.S_IMODE(mode):04o}); "
            f"run `chmod 600 {path}` (anyone who can read it can sign plugins)"
        )
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise SignatureError(
            f"{str(path)!r} is not an unencrypted PEM private key ({exc}); use a file `sv keys:generate` wrote"
        ) from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise SignatureError(f"{str(path)!r} holds a {type(key).__name__}, not an ed25519 key; use `sv keys:generate`")
    return key
