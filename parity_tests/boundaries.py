"""Deterministic edge cases derived from the limits the legacy code enforces, per feature.

Generation (`generated.py`) stays inside the documented schema or jumps far from a limit, so a plugin that caps a
board title at 159 instead of 160 characters would pass it. The cases here come from legacy's own constants (and
the pydantic models that state the blog's caps), read at run time, so they follow legacy when it changes:

- every length cap, numeric range and size limit at limit-1, limit and limit+1. A cap that truncates is probed with
  a value whose last character is a marker (`"aaa…Z"`), so the saved text at the limit differs from the one past it;
- values at type boundaries: numbers as strings, floats for ints, booleans, null, wrong nesting, NaN and infinity,
  huge integers;
- bodies without any known field, a JSON array, an empty body, a wrong Content-Type, for every operation with a body;
- import bundles that hit each check of `legacy_core/papertrail/bundle.py`;
- existing and missing resources of every kind, by the callers whose role matters.

A case's requests are built exactly (JSON through `json.dumps`, multipart with a fixed boundary). A step may be a
callable that builds the next request from the legacy answers so far (an upload, then a download of the id it
answered), returning None to stop; big bodies are built that way too, only when the case runs. Size limits are read
off the pair's legacy settings, so a harness that lowers them gets cheap cases at its own limits.

This module is the entry point. The building blocks are in `edge_kit`; the cases of each feature in
`edges_papertrail` (with its import bundles in `edges_bundles`) and `edges_blog`; the cases that need a sequence
or a page in `sequences`.
"""

from __future__ import annotations

from parity_tests.edge_kit import Cases, EdgeCase, Step, next_request, straddles
from parity_tests.edges_blog import blog_cases
from parity_tests.edges_papertrail import Board, download, papertrail_cases, upload
from parity_tests.pair import Pair
from parity_tests.sequences import blog_sequences, page_cases, papertrail_sequences

FEATURES = ("papertrail", "blog")


def edge_cases(pair: Pair, feature: str) -> list[EdgeCase]:
    """The edge cases of `feature` for `pair`'s seed and legacy settings: hand-written for the built-in features,
    none for a feature a deployment declares (its generated cases are the OpenAPI document's and the seed's)."""
    builders = {"papertrail": papertrail_cases, "blog": blog_cases}
    if feature not in pair.features:
        raise ValueError(f"unknown feature {feature!r}: one of {', '.join(pair.features.names)}")
    if feature not in builders:
        return []
    cases = Cases(feature)
    builders[feature](cases, pair, pair.legacy.platform.services.settings)
    page_cases(cases.add, pair, feature)
    if feature == "papertrail":
        b = Board.of(pair)
        papertrail_sequences(cases.add, pair, lambda: upload(b, "doomed.txt"), download)
    else:
        blog_sequences(cases.add, pair)
    return cases.items


__all__ = ["FEATURES", "EdgeCase", "Step", "edge_cases", "next_request", "straddles"]
