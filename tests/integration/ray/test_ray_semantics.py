"""The engine's semantics, the same on LocalEngine and RayEngine (one local Ray per module).

Each test builds a small Blueprint from tests/integration/engine/nodes.py and runs it on both
engines; RayEngine-only tests at the end check what only Ray has (the object store, workers).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

if os.environ.get("ATOMITON_REQUIRE_TOOLCHAINS") != "1":
    pytest.importorskip("ray", reason="needs the optional 'ray' package: pip install atomiton[ray]")

from atomiton import LocalEngine, NodeRegistry
from atomiton.engines import ExecutionEngine
from atomiton.engines.ray import RayEngine
from atomiton.events import Event, EventKind
from flows import flow

HERE = Path(__file__).resolve().parent
NODES = [str(HERE.parent / "engine" / "nodes.py"), str(HERE / "ray_nodes.py")]


@pytest.fixture(params=["local", "ray"])
async def engine(request: pytest.FixtureRequest) -> AsyncIterator[ExecutionEngine]:
    registry = NodeRegistry.default(NODES)
    eng: LocalEngine
    if request.param == "ray":
        request.getfixturevalue("ray_local")
        eng = RayEngine(registry=registry, store=None, retry_backoff_s=0.01)
    else:
        eng = LocalEngine(registry=registry, store=None, retry_backoff_s=0.01)
    async with eng:
        yield eng


@pytest.fixture
async def ray_engine(ray_local: Any) -> AsyncIterator[RayEngine]:
    async with RayEngine(
        registry=NodeRegistry.default(NODES), store=None, retry_backoff_s=0.01
    ) as eng:
        yield eng


async def test_data_flows_port_to_port(engine: LocalEngine) -> None:
    """c1 -> sum.a, c2 -> sum.b -> double"""
    bp = flow(
        [
            {"id": "c1", "type": "const", "parameters": {"value": 2}},
            {"id": "c2", "type": "const", "parameters": {"value": 40}},
            {"id": "sum", "type": "add"},
            {"id": "double", "type": "add"},
        ],
        [
            ("c1", "sum", "output", "a"),
            ("c2", "sum", "output", "b"),
            ("sum", "double", "output", "a"),
            ("sum", "double", "output", "b"),
        ],
    )
    result = await engine.execute(bp)
    assert result.status == "succeeded", result.error
    assert result.outputs == {"double": {"output": 84}}
    assert result.nodes["sum"].outputs == {"output": 42}


async def test_parallel_branches_overlap(engine: LocalEngine) -> None:
    """Two 1.5 s sleeps, one async and one blocking, finish together:  s1   b1"""
    bp = flow(
        [
            {"id": "s1", "type": "sleep", "parameters": {"seconds": 1.5, "x": 1}},
            {"id": "b1", "type": "block", "parameters": {"seconds": 1.5, "x": 2}},
        ]
    )
    started = time.perf_counter()
    result = await engine.execute(bp)
    assert result.status == "succeeded", result.error
    assert time.perf_counter() - started < 2.8  # in sequence: 3 s or more
    assert result.outputs == {"s1": {"output": 1}, "b1": {"output": 2}}


async def test_fail_fast_cancels_running_and_abandons_dependants(engine: LocalEngine) -> None:
    """bad fails; slow (running) is cancelled; after(bad) never starts.

    bad -> after
    slow
    """
    bp = flow(
        [
            {"id": "bad", "type": "fail", "parameters": {"message": "bad input"}},
            {"id": "slow", "type": "block", "parameters": {"seconds": 20}},
            {"id": "after", "type": "const"},
        ],
        [("bad", "after")],
    )
    started = time.perf_counter()
    result = await engine.execute(bp)
    assert time.perf_counter() - started < 5
    assert result.status == "failed"
    assert {k: v.status for k, v in result.nodes.items()} == {
        "bad": "failed",
        "slow": "cancelled",
        "after": "abandoned",
    }
    assert result.error is not None and result.error["type"] == "ValueError"
    assert result.error["message"] == "bad input" and "Traceback" in result.error["stack"]


async def test_retries_until_success(engine: LocalEngine, tmp_path: Path) -> None:
    parameters = {"counter": str(tmp_path / "count"), "succeed_on": 3, "retries": 2}
    events: list[Event] = []
    engine.subscribe(events.append)
    result = await engine.execute(flow([{"id": "f", "type": "flaky", "parameters": parameters}]))
    assert result.status == "succeeded", result.error
    assert result.nodes["f"].attempts == 3 and result.outputs["f"]["output"] == 3
    retrying = [e for e in events if e.kind is EventKind.NODE_RETRYING]
    assert [e.payload["attempt"] for e in retrying] == [2, 3]
    assert retrying[0].payload["error"]["type"] == "ConnectionError"


async def test_timeout_stops_the_node(engine: LocalEngine) -> None:
    bp = flow([{"id": "s", "type": "block", "parameters": {"seconds": 20, "timeout": 300}}])
    started = time.perf_counter()
    result = await engine.execute(bp)
    assert time.perf_counter() - started < 5
    assert result.status == "failed"
    error = result.nodes["s"].error
    assert error is not None and error["type"] == "NodeTimeoutError"
    assert "0.3 s" in error["message"]


async def test_cancel_stops_the_run_and_records_every_state(engine: LocalEngine) -> None:
    bp = flow(
        [
            {"id": "slow", "type": "block", "parameters": {"seconds": 20}},
            {"id": "after", "type": "const"},
        ],
        [("slow", "after")],
    )
    seen: list[Event] = []

    def on_event(event: Event) -> None:
        seen.append(event)
        if event.kind is EventKind.NODE_STARTED:
            asyncio.get_running_loop().call_later(0.3, engine.cancel, event.run_id)

    engine.subscribe(on_event)
    started = time.perf_counter()
    result = await engine.execute(bp)
    assert time.perf_counter() - started < 5
    assert result.status == "cancelled"
    assert {k: v.status for k, v in result.nodes.items()} == {
        "slow": "cancelled",
        "after": "cancelled",
    }
    assert seen[-1].kind is EventKind.RUN_FINISHED


async def test_error_port_routes_the_failure(engine: LocalEngine) -> None:
    """bad --error--> handler; bad --output--> normal (skipped). The run succeeds."""
    bp = flow(
        [
            {"id": "bad", "type": "fail", "parameters": {"message": "disk full"}},
            {"id": "handler", "type": "collect"},
            {"id": "normal", "type": "collect"},
        ],
        [("bad", "handler", "error", "a"), ("bad", "normal", "output", "a")],
    )
    result = await engine.execute(bp)
    assert result.status == "succeeded", result.error
    assert result.nodes["normal"].status == "skipped"
    handled = result.outputs["handler"]["output"]["a"]
    assert handled["message"] == "disk full" and handled["type"] == "ValueError"


async def test_group_runs_as_a_sub_run(engine: LocalEngine) -> None:
    """src -> group(inner: add(b=10)) -> out; events name the child 'g/inner'."""
    bp = flow(
        [
            {"id": "src", "type": "const", "parameters": {"value": 5}},
            {
                "id": "g",
                "type": "group",
                "nodes": [{"id": "inner", "type": "add", "parameters": {"b": 10}}],
                "edges": [],
            },
            {"id": "out", "type": "add", "parameters": {"b": 1}},
        ],
        [("src", "g", "output", "a"), ("g", "out", "output", "a")],
    )
    result = await engine.execute(bp)
    assert result.status == "succeeded", result.error
    assert result.outputs == {"out": {"output": 16}}
    assert result.nodes["g/inner"].status == "succeeded"


async def test_the_event_stream_is_the_same(engine: LocalEngine) -> None:
    """Per node, the same events in the same order, progress and logs included:

    c -> s(sleep, reports) -> p(parity 4) -> even ; odd (skipped)
    """
    bp = flow(
        [
            {"id": "c", "type": "const", "parameters": {"value": 4}},
            {"id": "s", "type": "sleep", "parameters": {"seconds": 0.05}},
            {"id": "p", "type": "parity"},
            {"id": "even", "type": "add"},
            {"id": "odd", "type": "add"},
        ],
        [
            ("c", "s", "output", "x"),
            ("s", "p", "output", "n"),
            ("p", "even", "even", "a"),
            ("p", "odd", "odd", "a"),
        ],
    )
    events: list[Event] = []
    engine.subscribe(events.append)
    result = await engine.execute(bp)
    assert result.status == "succeeded", result.error
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    by_node: dict[str | None, list[str]] = {}
    for e in events:
        by_node.setdefault(e.node_id, []).append(e.kind.value)
    assert by_node == {
        None: ["run.started", "run.finished"],
        "c": ["node.queued", "node.started", "node.succeeded"],
        "s": ["node.queued", "node.started", "node.progress", "node.log", "node.succeeded"],
        "p": ["node.queued", "node.started", "node.succeeded"],
        "even": ["node.queued", "node.started", "node.succeeded"],
        "odd": ["node.skipped"],
    }


# -- RayEngine only ------------------------------------------------------------------------------


async def test_large_values_stay_in_the_object_store(ray_engine: RayEngine) -> None:
    """big(2 MB) -> size ; big is also a sink. Events carry a marker, the result the bytes."""
    size = 2_000_000
    bp = flow(
        [
            {"id": "big", "type": "blob", "parameters": {"size": size}},
            {"id": "size", "type": "measure"},
            {"id": "small", "type": "blob", "parameters": {"size": 10}},
        ],
        [("big", "size", "output", "data")],
    )
    events: list[Event] = []
    ray_engine.subscribe(events.append)
    result = await ray_engine.execute(bp, run_id="large-values")
    assert result.status == "succeeded", result.error
    assert result.outputs["size"] == {"output": size}
    succeeded = {e.node_id: e.payload for e in events if e.kind is EventKind.NODE_SUCCEEDED}
    ref = succeeded["big"]["outputs"]["output"]["$ref"]
    assert ref["kind"] == "ray" and ref["bytes"] == size and ref["type"] == "builtins.bytes"
    assert succeeded["small"]["outputs"]["output"] == bytes(10)
    assert ray_engine.objects.held("large-values") == 0  # released when the run ended


async def test_large_sink_output_is_fetched_for_the_result(ray_engine: RayEngine) -> None:
    result = await ray_engine.execute(
        flow([{"id": "big", "type": "blob", "parameters": {"size": 300_000}}])
    )
    assert result.status == "succeeded", result.error
    data = result.outputs["big"]["output"]
    assert isinstance(data, bytes) and len(data) == 300_000 and data[:3] == b"\x00\x01\x02"


async def test_nodes_run_in_ray_workers(ray_engine: RayEngine) -> None:
    result = await ray_engine.execute(flow([{"id": "w", "type": "where"}]))
    assert result.status == "succeeded", result.error
    assert result.outputs["w"]["output"] != os.getpid()


async def test_a_worker_that_dies_is_a_retryable_crash(ray_engine: RayEngine) -> None:
    bp = flow([{"id": "x", "type": "crash", "parameters": {"retries": 1}}])
    result = await ray_engine.execute(bp)
    assert result.status == "failed"
    assert result.nodes["x"].attempts == 2
    error = result.nodes["x"].error
    assert error is not None and error["type"] == "WorkerCrashedError"


@pytest.mark.toolchain("node")
async def test_typescript_nodes_run_on_warm_workers_in_an_actor(ray_local: Any) -> None:
    """c -> reverse-text (TypeScript) -> rev2 (TypeScript): both calls on one warm actor."""
    example = HERE.parents[2] / "examples" / "nodes" / "typescript"
    registry = NodeRegistry.default([*NODES, str(example)])
    bp = flow(
        [
            {"id": "c", "type": "const", "parameters": {"value": "atomiton"}},
            {"id": "rev", "type": "reverse-text"},
            {"id": "rev2", "type": "reverse-text", "parameters": {"times": 3}},
        ],
        [("c", "rev", "output", "text"), ("rev", "rev2", "output", "text")],
    )
    async with RayEngine(registry=registry, store=None) as engine:
        result = await engine.execute(bp)
        assert result.status == "succeeded", result.error
        assert result.nodes["rev"].outputs == {"output": "notimota", "length": 8}
        assert result.outputs["rev2"]["output"] == "atomiton"


async def test_progress_reaches_subscribers_while_the_node_runs(
    engine: LocalEngine, tmp_path: Path
) -> None:
    """w reports progress, then waits for a file the test writes on seeing that event: the
    event must arrive while w runs (up to 10 s), and once only.

    c -> w(wait_for)
    """
    flag = tmp_path / "seen"
    bp = flow(
        [
            {"id": "c", "type": "const", "parameters": {"value": 1}},
            {"id": "w", "type": "wait-for", "parameters": {"path": str(flag)}},
        ],
        [("c", "w", "output", "x")],
    )
    events: list[Event] = []

    def on_event(event: Event) -> None:
        events.append(event)
        if event.kind is EventKind.NODE_PROGRESS and event.node_id == "w":
            flag.write_text("seen")

    engine.subscribe(on_event)
    started = time.perf_counter()
    result = await engine.execute(bp)
    assert result.status == "succeeded", result.error
    assert result.outputs == {"w": {"output": True}}  # it saw the file: the event came live
    assert time.perf_counter() - started < 8
    assert [e.kind.value for e in events if e.node_id == "w"] == [
        "node.queued",
        "node.started",
        "node.progress",
        "node.log",
        "node.succeeded",
    ]
