"""The one rule for a handler's return value, shared by the engine and the Python worker.

A mapping whose keys are all declared output ports is the outputs; anything else is the value
of the single output port (``output`` when none is declared). The Node.js worker applies the
same rule (workers/node/lib/outputs.mjs).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from atomiton.errors import NodeError


def outputs_from_return(
    value: Any, ports: Sequence[str], *, node_id: str | None = None
) -> dict[str, Any]:
    """Map a handler's return value onto output ports (see the module docstring)."""
    names = list(ports) or ["output"]
    if isinstance(value, Mapping) and all(isinstance(k, str) and k in names for k in value):
        return dict(value)
    if len(names) == 1:
        return {names[0]: value}
    got = f"keys {sorted(map(str, value))}" if isinstance(value, Mapping) else type(value).__name__
    raise NodeError(
        f"the handler returned {got}, but the node declares outputs {names}",
        node_id=node_id,
        hint="return a mapping from output port name to value",
    )
