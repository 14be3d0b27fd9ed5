"""The demo board's content (`sv seed`): a small evidence map of the migration itself, so the board page shows
nodes, edges and tags the first time it opens. Saved through the board API, as a user's first save would be."""

from __future__ import annotations

from typing import Any

NODES: list[dict[str, Any]] = [
    {
        "id": "claim",
        "type": "note",
        "title": "The plugin behaves like legacy",
        "text": "Switch PaperTrail to the plugin only when the evidence says so.",
        "x": 0,
        "y": 0,
        "tags": ["claim"],
    },
    {
        "id": "parity",
        "type": "text",
        "title": "Parity run",
        "text": "Recorded sessions and generated cases replayed on both sides from identical state.",
        "x": 300,
        "y": -90,
        "tags": ["evidence", "parity"],
    },
    {
        "id": "shadow",
        "type": "text",
        "title": "Shadow traffic",
        "text": "Live requests answered by legacy and replayed on the plugin, differences kept.",
        "x": 300,
        "y": 110,
        "tags": ["evidence", "shadow"],
    },
    {
        "id": "quirk",
        "type": "quote",
        "title": "A legacy quirk",
        "text": "Tags lose one leading '#' per save: the plugin must keep that too.",
        "x": 0,
        "y": 220,
        "tags": ["risk"],
    },
    {
        "id": "docs",
        "type": "link",
        "title": "The board's API",
        "url": "/openapi.json",
        "x": 600,
        "y": 0,
        "tags": ["docs"],
    },
]

EDGES: list[dict[str, Any]] = [
    {"id": "parity-supports", "source": "parity", "target": "claim", "label": "supports"},
    {"id": "shadow-supports", "source": "shadow", "target": "claim", "label": "supports"},
    {"id": "quirk-challenges", "source": "quirk", "target": "claim", "label": "challenges"},
    {"id": "docs-explains", "source": "docs", "target": "parity", "label": "explains"},
]


def board_body() -> dict[str, Any]:
    """The body of the `POST .../papertrail/board` that fills the demo board."""
    return {"nodes": [dict(node) for node in NODES], "edges": [dict(edge) for edge in EDGES]}
