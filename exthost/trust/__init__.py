"""Signed plugins: keys, the signature file, the folder walk, the pure trust decision, and source-only imports."""

from __future__ import annotations

from exthost.trust.check import check_folder, sign_folder
from exthost.trust.keys import GeneratedKey, generate_key, key_id, load_private_key
from exthost.trust.policy import (
    INVALID_SIGNATURE,
    MODIFIED,
    REVOKED,
    STATUSES,
    UNCHECKED,
    UNSIGNED,
    UNTRUSTED,
    VALID,
    Decision,
    TrustConfig,
    Verification,
    decide,
    verify,
)
from exthost.trust.signature import SignedManifest, parse_signature
from exthost.trust.sources import install_source_finders
from exthost.trust.tree import SIGNATURE_FILENAME, Tree, scan

__all__ = [
    "INVALID_SIGNATURE",
    "MODIFIED",
    "REVOKED",
    "SIGNATURE_FILENAME",
    "STATUSES",
    "UNCHECKED",
    "UNSIGNED",
    "UNTRUSTED",
    "VALID",
    "Decision",
    "GeneratedKey",
    "SignedManifest",
    "Tree",
    "TrustConfig",
    "Verification",
    "check_folder",
    "decide",
    "generate_key",
    "install_source_finders",
    "key_id",
    "load_private_key",
    "parse_signature",
    "scan",
    "sign_folder",
    "verify",
]
