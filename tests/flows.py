"""Blueprint mappings for engine-level tests (the engine, Ray and CLI suites share them)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def flow(
    nodes: list[dict[str, Any]], edges: Sequence[tuple[str, ...]] = (), **extra: Any
) -> dict[str, Any]:
    """A Blueprint mapping; an edge is (source, target[, sourceHandle[, targetHandle]])."""
    return {
        "id": "test",
        "name": "test",
        "nodes": nodes,
        "edges": [
            {
                "source": e[0],
                "target": e[1],
                "sourceHandle": e[2] if len(e) > 2 else None,
                "targetHandle": e[3] if len(e) > 3 else None,
            }
            for e in edges
        ],
        **extra,
    }
