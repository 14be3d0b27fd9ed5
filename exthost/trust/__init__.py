"""Signed plugins: keys (`keys`), the signature file (`signature`), the folder walk (`tree`), the pure trust decision
(`policy`), signing and checking a folder on disk (`check`), and importing checked plugins from source only (`sources`).

Public names are imported from their module on first use (exthost._exports), so the modules import one another
without a cycle through this package.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from exthost._exports import lazy_exports

if TYPE_CHECKING:
    from exthost.trust.check import (
        check_folder,
        sign_folder,
    )
    from exthost.trust.keys import (
        GeneratedKey,
        generate_key,
        key_id,
        load_private_key,
    )
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
    from exthost.trust.signature import (
        SignedManifest,
        parse_signature,
    )
    from exthost.trust.sources import (
        install_source_finders,
    )
    from exthost.trust.tree import (
        SIGNATURE_FILENAME,
        Tree,
        scan,
    )

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

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "Decision": "exthost.trust.policy",
        "GeneratedKey": "exthost.trust.keys",
        "INVALID_SIGNATURE": "exthost.trust.policy",
        "MODIFIED": "exthost.trust.policy",
        "REVOKED": "exthost.trust.policy",
        "SIGNATURE_FILENAME": "exthost.trust.tree",
        "STATUSES": "exthost.trust.policy",
        "SignedManifest": "exthost.trust.signature",
        "Tree": "exthost.trust.tree",
        "TrustConfig": "exthost.trust.policy",
        "UNCHECKED": "exthost.trust.policy",
        "UNSIGNED": "exthost.trust.policy",
        "UNTRUSTED": "exthost.trust.policy",
        "VALID": "exthost.trust.policy",
        "Verification": "exthost.trust.policy",
        "check_folder": "exthost.trust.check",
        "decide": "exthost.trust.policy",
        "generate_key": "exthost.trust.keys",
        "install_source_finders": "exthost.trust.sources",
        "key_id": "exthost.trust.keys",
        "load_private_key": "exthost.trust.keys",
        "parse_signature": "exthost.trust.signature",
        "scan": "exthost.trust.tree",
        "sign_folder": "exthost.trust.check",
        "verify": "exthost.trust.policy",
    },
)
