"""group: a childless group is Atomiton's leaf (its input passes through); with children the
engine runs them."""

from __future__ import annotations

from typing import Any

from recording_context import RecordingContext

from atomiton import LocalEngine, NodeRegistry
from atomiton.library.group import group


def test_leaf_group_passes_its_input_through_with_metadata() -> None:
    out = group(input={"a": 1}, ctx=RecordingContext(node_id="g"))
    assert out["result"] == {"a": 1}
    meta = out["metadata"]
    assert (meta["nodeId"], meta["nodeType"], meta["childNodesExecuted"]) == ("g", "group", 0)
    assert meta["executedAt"].endswith("Z")


def test_leaf_group_without_input_gives_an_empty_object() -> None:
    assert group(ctx=RecordingContext())["result"] == {}


def test_output_objects_are_unwrapped() -> None:
    out = group(input={"result": [1], "success": True}, ctx=RecordingContext())
    assert out["result"] == [1]


async def test_engine_runs_a_leaf_group_and_a_group_with_children() -> None:
    bp: dict[str, Any] = {
        "id": "bp",
        "name": "bp",
        "nodes": [
            {"id": "leaf", "type": "group", "parameters": {"input": {"x": 1}}},
            {
                "id": "outer",
                "type": "group",
                "nodes": [
                    {
                        "id": "inner",
                        "type": "transform",
                        "parameters": {"operation": "reverse", "data": [1, 2]},
                    }
                ],
                "edges": [],
            },
        ],
    }
    async with LocalEngine(registry=NodeRegistry.default(), store=None) as engine:
        result = await engine.execute(bp)
    assert result.status == "succeeded", result.error
    assert result.outputs["leaf"]["result"] == {"x": 1}
    assert result.nodes["outer/inner"].outputs["result"] == [2, 1]
