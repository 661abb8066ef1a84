"""Batching on RayEngine: ready calls of a fast node share a task; each keeps its own events.

Compared with the same Blueprint on a RayEngine with fusion and batching off
(``fuse_budget_s=0``): the same results, the same per-node event streams. ``hop_s=1.0`` (what
counts as fast) keeps a loaded machine from making a test node look slow.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

import pytest

if os.environ.get("ATOMITON_REQUIRE_TOOLCHAINS") != "1":
    pytest.importorskip("ray", reason="needs the optional 'ray' package: pip install atomiton[ray]")

from test_ray_fusion import registry, stable

from atomiton.engines.ray import RayEngine, RayRuntime
from atomiton.engines.result import RunResult
from atomiton.events import Event, EventKind
from flows import flow


async def run(bp: dict[str, Any], **options: Any) -> tuple[RunResult, dict[str, list[Any]], int]:
    """The result, each node's events, and how many batch tasks ran."""
    events: list[Event] = []
    options = {"hop_s": 1.0, **options}
    async with RayEngine(registry=registry(), store=None, **options) as eng:
        eng.subscribe(events.append)
        result = await eng.execute(bp)
        runtime = eng.router.runtime_for(registry().get("add"))
        assert isinstance(runtime, RayRuntime)
        batches = runtime.batcher.batches
    by_node: dict[str, list[Any]] = {}
    for e in events:
        if e.node_id is not None:
            by_node.setdefault(e.node_id, []).append((e.kind.value, stable(dict(e.payload))))
    return result, by_node, batches


def fan(
    kind: str, first: dict[str, Any], parameters: list[dict[str, Any]], **extra: Any
) -> dict[str, Any]:
    """c1, c2 -> s(kind, first) -> n0 .. n{k-1} (kind, each with its parameters): s runs alone
    first, so its duration is known when the n's become ready together."""
    port, other = ("a", "b") if kind == "add" else ("x", "trigger")
    nodes = [
        {"id": "c1", "type": "const", "parameters": {"value": 1}},
        {"id": "c2", "type": "const", "parameters": {"value": 2}},
        {"id": "s", "type": kind, "parameters": first},
        *({"id": f"n{i}", "type": kind, "parameters": p} for i, p in enumerate(parameters)),
    ]
    edges = [("c1", "s", "output", port), ("c2", "s", "output", other)]
    edges += [("s", f"n{i}", "output", port) for i in range(len(parameters))]
    return flow(nodes, edges, **extra)


async def test_a_fan_out_of_fast_nodes_runs_in_batches(ray_local: Any) -> None:
    bp = fan("add", {}, [{"b": i} for i in range(12)])
    batched, batched_events, batches = await run(bp)
    plain, plain_events, none = await run(bp, fuse_budget_s=0)
    assert batched.status == plain.status == "succeeded", batched.error
    assert batched.outputs == plain.outputs == {f"n{i}": {"output": 3 + i} for i in range(12)}
    assert batched_events == plain_events
    assert 1 <= batches < 12 and none == 0


async def test_failures_and_retries_in_a_batch_are_per_call(ray_local: Any, tmp_path: Path) -> None:
    """flaky n0 succeeds, n1 always fails, n2 fails once and is retried; on_error continue."""

    def bp(where: Path) -> dict[str, Any]:
        def flaky(name: str, succeed_on: int, **more: Any) -> dict[str, Any]:
            return {"counter": str(where / name), "succeed_on": succeed_on, **more}

        where.mkdir()
        calls = [flaky("n0", 1), flaky("n1", 99), flaky("n2", 2, retries=1)]
        return fan("flaky", flaky("s", 1), calls, settings={"runtime": {"onError": "continue"}})

    batched, batched_events, batches = await run(bp(tmp_path / "batched"), retry_backoff_s=0.01)
    plain, plain_events, _ = await run(
        bp(tmp_path / "plain"), retry_backoff_s=0.01, fuse_budget_s=0
    )
    assert batched.status == plain.status == "failed"
    assert {k: (v.status, v.attempts) for k, v in batched.nodes.items() if k[0] == "n"} == {
        "n0": ("succeeded", 1),
        "n1": ("failed", 1),
        "n2": ("succeeded", 2),
    }
    error = batched.nodes["n1"].error
    assert error is not None and error["type"] == "ConnectionError"
    assert batched_events == plain_events
    assert batches >= 1


async def test_slow_nodes_run_one_per_task(ray_local: Any) -> None:
    """s took 10 ms (over a 1 ms hop): its siblings' calls are not batched."""
    bp = fan("block", {"seconds": 0.01}, [{"seconds": 0.01} for _ in range(4)])
    result, _, batches = await run(bp, hop_s=0.001)
    assert result.status == "succeeded", result.error
    assert batches == 0


async def test_cancelling_a_batch_cancels_every_call(ray_local: Any) -> None:
    """s(block 0 s: fast) -> n0..n3 (block 2 s each, batched under a 30 s budget): cancelled
    at 0.5 s, the run ends at once with every n cancelled."""
    bp = fan("block", {"seconds": 0}, [{"seconds": 2} for _ in range(4)])
    async with RayEngine(registry=registry(), store=None, fuse_budget_s=30, hop_s=1.0) as eng:

        def on_event(event: Event) -> None:
            if event.kind is EventKind.NODE_STARTED and event.node_id == "n0":
                asyncio.get_running_loop().call_later(0.5, eng.cancel, event.run_id)

        eng.subscribe(on_event)
        started = time.perf_counter()
        result = await eng.execute(bp)
        assert time.perf_counter() - started < 1.8
        runtime = eng.router.runtime_for(registry().get("block"))
        assert isinstance(runtime, RayRuntime)
        assert runtime.batcher.batches >= 1
    assert result.status == "cancelled"
    assert {result.nodes[f"n{i}"].status for i in range(4)} == {"cancelled"}
