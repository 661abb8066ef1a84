"""``group`` without children: Atomiton's leaf behaviour, passing its input through.

A ``type: group`` node *with* children never reaches this function: the engine runs the
children itself as a sub-Blueprint. Atomiton runs a childless group through its group
executable, which finds no graph and returns ``{result: input, metadata}`` (``SPEC.md`` 2.11);
this does the same, so a group can stand in as a placeholder in a flow being drawn.
"""

from __future__ import annotations

import time
from typing import Any, TypedDict

from atomiton.library._compat import iso_now, primary
from atomiton.nodes import NodeContext, node


class GroupOutput(TypedDict):
    result: Any
    metadata: dict[str, Any]


@node(id="group", name="Group", category="logic", icon="group")
def group(
    input: Any = None,
    *,
    parallel: bool = False,
    ctx: NodeContext,
) -> GroupOutput:
    """A group with no children: its input passes through, with run metadata."""
    started = time.perf_counter()
    value = primary(input)
    return {
        "result": {} if value is None else value,
        "metadata": {
            "executedAt": iso_now(),
            "nodeId": ctx.node_id,
            "nodeType": "group",
            "childNodesExecuted": 0,
            "totalExecutionTime": round((time.perf_counter() - started) * 1000, 3),
        },
    }
