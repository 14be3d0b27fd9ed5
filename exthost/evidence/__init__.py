"""The evidence: what decides whether a plugin behaves like the legacy code it replaces.

Modules: `compare` (the one comparison engine: canonical answers, differences as JSON pointers), `rules` and `noise`
(the reviewed noise rules, as data and as their file), `capture` (WSGI requests and responses as plain data), `redact`
(secrets removed), `har` (HAR 1.2 written and read), `recorder` (live traffic recorded as HAR), `fingerprint` (the code
a feature's evidence is valid for, and its corpus of recordings) and `gate` (the evidence record and the switch gate).

Imports no Flask: the live shadow runner and the offline harness use it alike. Never imports the rollout, the CLI or
the harness.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from exthost._exports import lazy_exports

if TYPE_CHECKING:
    from exthost.evidence.compare import MISSING, CapturedRequest, CapturedResponse, Comparison, Difference, canonical
    from exthost.evidence.fingerprint import code_fingerprint, corpus_names
    from exthost.evidence.gate import Assessment, Evidence, GateDecision, Thresholds, assess
    from exthost.evidence.har import har_document, har_entry, read_har
    from exthost.evidence.noise import RuleSet, load_rules
    from exthost.evidence.recorder import Recorder, RecordingStore
    from exthost.evidence.redact import redact_request, redact_response

__all__ = [
    "MISSING",
    "Assessment",
    "CapturedRequest",
    "CapturedResponse",
    "Comparison",
    "Difference",
    "Evidence",
    "GateDecision",
    "Recorder",
    "RecordingStore",
    "RuleSet",
    "Thresholds",
    "assess",
    "canonical",
    "code_fingerprint",
    "corpus_names",
    "har_document",
    "har_entry",
    "load_rules",
    "read_har",
    "redact_request",
    "redact_response",
]

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "MISSING": "exthost.evidence.compare",
        "Assessment": "exthost.evidence.gate",
        "CapturedRequest": "exthost.evidence.compare",
        "CapturedResponse": "exthost.evidence.compare",
        "Comparison": "exthost.evidence.compare",
        "Difference": "exthost.evidence.compare",
        "Evidence": "exthost.evidence.gate",
        "GateDecision": "exthost.evidence.gate",
        "Recorder": "exthost.evidence.recorder",
        "RecordingStore": "exthost.evidence.recorder",
        "RuleSet": "exthost.evidence.noise",
        "Thresholds": "exthost.evidence.gate",
        "assess": "exthost.evidence.gate",
        "canonical": "exthost.evidence.compare",
        "code_fingerprint": "exthost.evidence.fingerprint",
        "corpus_names": "exthost.evidence.fingerprint",
        "har_document": "exthost.evidence.har",
        "har_entry": "exthost.evidence.har",
        "load_rules": "exthost.evidence.noise",
        "read_har": "exthost.evidence.har",
        "redact_request": "exthost.evidence.redact",
        "redact_response": "exthost.evidence.redact",
    },
)
