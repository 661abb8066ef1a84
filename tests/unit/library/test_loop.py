"""loop: forEach / times / while really run their body, bounded, through the real engine.

Each test draws its Blueprint: ``loop{probe}`` is a loop node whose one child is ``probe``.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from atomiton import LocalEngine, NodeRegistry, node
from atomiton.events import Event, EventKind


@node
async def probe(
    item: Any = None,
    *,
    seconds: float = 0.05,
    perItem: bool = False,
    failOn: list[Any] = [],  # noqa: B006 - never mutated
) -> Any:
    """A body node: waits (``seconds``, times the item with ``perItem``), then fails on the
    listed items, else returns item * 10."""
    await asyncio.sleep(seconds * item if perItem else seconds)
    if item in failOn:
        raise ValueError(f"bad item {item}")
    return item * 10 if isinstance(item, int) else item


@pytest.fixture
async def engine() -> Any:
    registry = NodeRegistry.default()
    registry.register(probe)
    async with LocalEngine(registry=registry, store=None) as eng:
        yield eng


def container(
    type_: str, parameters: dict[str, Any], body: dict[str, Any] | None = None
) -> dict[str, Any]:
    spec: dict[str, Any] = {"id": "c", "type": type_, "parameters": parameters}
    if body is not None:
        spec["nodes"] = [{"id": "p", "type": "probe", "parameters": body}]
        spec["edges"] = []
    return {"id": "bp", "name": "bp", "nodes": [spec]}


class Overlap:
    """Counts how many body nodes run at once, from the engine's node events."""

    def __init__(self) -> None:
        self.running = 0
        self.max = 0
        self.started: list[str] = []

    def __call__(self, event: Event) -> None:
        if not (event.node_id or "").endswith("/p"):
            return
        if event.kind is EventKind.NODE_STARTED:
            self.started.append(event.node_id or "")
            self.running += 1
            self.max = max(self.max, self.running)
        elif event.kind in (
            EventKind.NODE_SUCCEEDED,
            EventKind.NODE_FAILED,
            EventKind.NODE_CANCELLED,
        ):
            self.running -= 1


async def run(engine: LocalEngine, bp: dict[str, Any], overlap: Overlap | None = None) -> Any:
    sub = engine.subscribe(overlap) if overlap is not None else None
    try:
        return await engine.execute(bp)
    finally:
        if sub is not None:
            sub.close()


async def test_for_each_runs_the_body_per_item_in_order(engine: LocalEngine) -> None:
    result = await run(engine, container("loop", {"array": [1, 2, 3]}, {"seconds": 0.01}))
    assert result.status == "succeeded", result.error
    out = result.outputs["c"]
    assert out["results"] == [10, 20, 30]
    assert out["iterationCount"] == 3
    assert out["errors"] == []
    assert out["success"] is True
    assert out["result"]["completed"] is True
    assert result.nodes["c/2/p"].outputs == {"output": 30}


async def test_concurrency_bound_holds(engine: LocalEngine) -> None:
    overlap = Overlap()
    bp = container("loop", {"array": list(range(8)), "concurrency": 3}, {"seconds": 0.1})
    result = await run(engine, bp, overlap)
    assert result.status == "succeeded", result.error
    assert overlap.max == 3
    assert result.outputs["c"]["results"] == [i * 10 for i in range(8)]


async def test_default_concurrency_is_one(engine: LocalEngine) -> None:
    overlap = Overlap()
    result = await run(engine, container("loop", {"array": [1, 2, 3]}, {"seconds": 0.02}), overlap)
    assert result.status == "succeeded"
    assert overlap.max == 1


async def test_first_failure_stops_the_loop_and_fails_the_node(engine: LocalEngine) -> None:
    overlap = Overlap()
    bp = container("loop", {"array": [1, 2, 3, 4]}, {"seconds": 0.01, "failOn": [2]})
    result = await run(engine, bp, overlap)
    assert result.status == "failed"
    assert "[loop] iteration 1 failed" in result.error["message"]
    assert "bad item 2" in result.error["message"]
    assert overlap.started == ["c/0/p", "c/1/p"]  # iterations after the failure never start


@pytest.mark.parametrize("flag", [{"continueOnError": True}, {"breakOnError": False}])
async def test_continue_on_error_collects_errors(engine: LocalEngine, flag: dict[str, Any]) -> None:
    bp = container("loop", {"array": [1, 2, 3], **flag}, {"seconds": 0.01, "failOn": [2]})
    result = await run(engine, bp)
    assert result.status == "succeeded", result.error
    out = result.outputs["c"]
    assert out["results"] == [10, 30]
    assert out["iterationCount"] == 3
    assert out["success"] is False
    assert [e["index"] for e in out["errors"]] == [1]
    assert "bad item 2" in out["errors"][0]["message"]


async def test_max_iterations_caps_for_each(engine: LocalEngine) -> None:
    bp = container("loop", {"array": [1, 2, 3, 4], "maxIterations": 2}, {"seconds": 0})
    out = (await run(engine, bp)).outputs["c"]
    assert out["results"] == [10, 20]
    assert out["iterationCount"] == 2
    assert out["result"]["stopped"] is True


async def test_collect_results_false_still_counts(engine: LocalEngine) -> None:
    bp = container("loop", {"array": [1, 2], "collectResults": False}, {"seconds": 0})
    out = (await run(engine, bp)).outputs["c"]
    assert (out["results"], out["iterationCount"]) == ([], 2)


async def test_times_runs_count_iterations_fed_their_index(engine: LocalEngine) -> None:
    bp = container("loop", {"loopType": "times", "count": 4}, {"seconds": 0})
    out = (await run(engine, bp)).outputs["c"]
    assert out["results"] == [0, 10, 20, 30]
    assert out["iterationCount"] == 4


@pytest.mark.toolchain("node")
async def test_while_runs_exactly_while_the_condition_holds(engine: LocalEngine) -> None:
    bp = container("loop", {"loopType": "while", "condition": "iteration < 5"}, {"seconds": 0})
    out = (await run(engine, bp)).outputs["c"]
    assert out["results"] == [0, 10, 20, 30, 40]
    assert out["iterationCount"] == 5  # Atomiton runs 6


@pytest.mark.toolchain("node")
async def test_while_sees_last_result_and_respects_max_iterations(engine: LocalEngine) -> None:
    bp = container(
        "loop",
        {"loopType": "while", "condition": "lastResult === null || lastResult < 20"},
        {"seconds": 0},
    )
    assert (await run(engine, bp)).outputs["c"]["results"] == [0, 10, 20]
    bp = container("loop", {"loopType": "while", "condition": "true", "maxIterations": 3})
    out = (await run(engine, bp)).outputs["c"]
    assert out["iterationCount"] == 3
    assert out["result"]["stopped"] is True


@pytest.mark.toolchain("node")
async def test_while_false_and_invalid_condition(engine: LocalEngine) -> None:
    out = (
        await run(engine, container("loop", {"loopType": "while", "condition": "false"}))
    ).outputs
    assert out["c"]["iterationCount"] == 0  # Atomiton reports 1
    result = await run(engine, container("loop", {"loopType": "while", "condition": "nope <"}))
    assert result.status == "failed"
    assert (
        "[loop] Invalid condition 'nope <' at iteration 0: SyntaxError" in result.error["message"]
    )


async def test_without_a_body_it_iterates_like_atomiton(engine: LocalEngine) -> None:
    out = (await run(engine, container("loop", {"array": ["a", "b"]}))).outputs["c"]
    assert [(r["index"], r["item"], r["processed"]) for r in out["results"]] == [
        (0, "a", True),
        (1, "b", True),
    ]
    out = (await run(engine, container("loop", {"array": []}))).outputs["c"]
    assert out["iterationCount"] == 0  # Atomiton reports 1
    out = (await run(engine, container("loop", {"loopType": "times", "count": 2}))).outputs["c"]
    assert [r["iteration"] for r in out["results"]] == [0, 1]


async def test_items_from_an_upstream_output_object_and_iterate_over(engine: LocalEngine) -> None:
    bp = {
        "id": "bp",
        "name": "bp",
        "nodes": [
            {"id": "src", "type": "group", "parameters": {"input": {"files": [1, 2]}}},
            {"id": "c", "type": "loop", "parameters": {"iterateOver": "files"}},
        ],
        "edges": [
            {"source": "src", "target": "c", "sourceHandle": "output", "targetHandle": "input"}
        ],
    }
    result = await run(engine, bp)
    assert result.status == "succeeded", result.error
    assert [r["item"] for r in result.outputs["c"]["results"]] == [1, 2]
    bp["nodes"][1]["parameters"] = {}
    result = await run(engine, bp)
    assert result.status == "failed"
    assert "forEach needs a list to iterate over, got dict" in result.error["message"]


async def test_implicit_body_runs_the_downstream_nodes_per_item(engine: LocalEngine) -> None:
    """src -> loop -(item)-> p : p moves into the loop's body and runs once per item."""
    bp = {
        "id": "bp",
        "name": "bp",
        "nodes": [
            {"id": "src", "type": "group", "parameters": {"input": [1, 2, 3]}},
            {"id": "c", "type": "loop", "parameters": {"concurrency": 3}},
            {"id": "p", "type": "probe", "parameters": {"seconds": 0.01}},
        ],
        "edges": [
            {"source": "src", "target": "c", "sourceHandle": "output", "targetHandle": "input"},
            {"source": "c", "target": "p", "sourceHandle": "item", "targetHandle": "item"},
        ],
    }
    result = await run(engine, bp)
    assert result.status == "succeeded", result.error
    assert result.outputs == {"c": result.outputs["c"]}
    assert result.outputs["c"]["results"] == [10, 20, 30]
    assert "c/1/p" in result.nodes
