"""CSRF tokens of the admin forms: one per login session, derived from the session's own secret token.

The token is an HMAC of a fixed purpose string keyed with the session token (the cookie's value, which another site
can neither read nor guess, and which the server keeps only as a digest), so it needs no storage, differs per session
and dies with it. Forms carry it in a hidden field; a post is checked with a constant-time compare. This is on top of
the platform's refusal of cross-site writes by Origin / Sec-Fetch-Site (legacy_core.app), which older clients and
some proxies leave out.
"""

from __future__ import annotations

import hashlib
import hmac

FIELD = "csrf_token"
_PURPOSE = b"sovereign admin page csrf v1"


def csrf_token(session_token: str) -> str:
    """The CSRF token of the session whose cookie holds `session_token`."""
    return hmac.new(session_token.encode("utf-8"), _PURPOSE, hashlib.sha256).hexdigest()


def csrf_valid(session_token: str | None, submitted: str | None) -> bool:
    """Whether `submitted` is the session's token; False without a session or a token."""
    if not session_token or not submitted:
        return False
    return hmac.compare_digest(csrf_token(session_token).encode("ascii"), submitted.encode("utf-8", "replace"))
