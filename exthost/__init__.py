"""Extension host: plugin manifests, discovery, lifecycle, the feature-flag router, shadow comparison and `sv`."""

from __future__ import annotations

from exthost.compare import MISSING, CapturedRequest, CapturedResponse, Comparison, Difference, canonical, compare
from exthost.errors import ExtHostError, HarError, NoiseRulesError
from exthost.flags import MODES, Flag, FlagSet, decide
from exthost.har import har_document, har_entry, read_har
from exthost.noise import RuleSet, load_rules
from exthost.redact import redact_request, redact_response

__all__ = [
    "MISSING",
    "MODES",
    "CapturedRequest",
    "CapturedResponse",
    "Comparison",
    "Difference",
    "ExtHostError",
    "Flag",
    "FlagSet",
    "HarError",
    "NoiseRulesError",
    "RuleSet",
    "canonical",
    "compare",
    "decide",
    "har_document",
    "har_entry",
    "load_rules",
    "read_har",
    "redact_request",
    "redact_response",
]
