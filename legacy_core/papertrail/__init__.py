"""PaperTrail: the evidence-mapping board of a project (nodes, labelled edges, tags, comments, attachments)."""

from __future__ import annotations

from legacy_core.papertrail.normalize import (
    InvalidBoardData,
    Snapshot,
    normalize_edge,
    normalize_node,
    normalize_snapshot,
)

__all__ = ["InvalidBoardData", "Snapshot", "normalize_edge", "normalize_node", "normalize_snapshot"]
