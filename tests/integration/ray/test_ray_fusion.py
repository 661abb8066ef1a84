"""Chain fusion on RayEngine: one task runs a chain, and every node's events are unchanged.

Each test runs a Blueprint on a fusing RayEngine and, where it compares, on one with fusion off
(``fuse_budget_s=0``), and checks the per-node event streams are the same and how many results
the chain table handed out (``hits``) or had to drop (``misses``, always 0). A node joins a
chain only once a recent call was fast (under ``hop_s``: 1 s here, so that a loaded machine
cannot make a test node look slow), so each engine first runs a warm-up Blueprint (by default
the same one).
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

from atomiton import NodeRegistry
from atomiton.blueprint import load_blueprint
from atomiton.engines.ray import RayEngine
from atomiton.engines.ray.fusion import successors
from atomiton.engines.ray.results import complete
from atomiton.engines.result import RunResult
from atomiton.events import Event, EventKind
from atomiton.plan import build_plan
from atomiton.runtimes import NullReporter
from flows import flow

HERE = Path(__file__).resolve().parent
NODES = [str(HERE.parent / "engine" / "nodes.py"), str(HERE / "ray_nodes.py")]
VOLATILE = {"duration_ms", "delay_s", "stack"}


def registry() -> NodeRegistry:
    return NodeRegistry.default(NODES)


def stable(value: Any) -> Any:
    """``value`` without what differs between two runs (durations, jitter, stacks)."""
    if isinstance(value, dict):
        return {k: stable(v) for k, v in value.items() if k not in VOLATILE}
    return value


async def run(
    bp: dict[str, Any], warm: dict[str, Any] | None = None, **options: Any
) -> tuple[RunResult, dict[str, list[Any]], Any]:
    """The result of ``bp`` after ``warm`` (default: ``bp``), each node's events (kind and
    stable payload) in that run, and the chain table's counts for it."""
    events: list[Event] = []
    options = {"retry_backoff_s": 0.01, "hop_s": 1.0, **options}
    async with RayEngine(registry=registry(), store=None, **options) as eng:
        await eng.execute(warm or bp)
        eng.chains.hits = eng.chains.misses = 0
        eng.subscribe(events.append)
        result = await eng.execute(bp)
        chains = eng.chains
    by_node: dict[str, list[Any]] = {}
    for e in events:
        if e.node_id is not None:
            by_node.setdefault(e.node_id, []).append((e.kind.value, stable(dict(e.payload))))
    return result, by_node, chains


def chain(*nodes: dict[str, Any]) -> dict[str, Any]:
    """n0 -> n1 -> ... (output to each node's first input)."""
    ids = [n["id"] for n in nodes]
    ports = {"add": "a", "sleep": "x", "block": "x", "fail": "x", "flaky": "x", "measure": "data"}
    edges = [
        (a, b, "output", ports.get(n["type"], "x"))
        for a, b, n in zip(ids, ids[1:], nodes[1:], strict=False)
    ]
    return flow(list(nodes), edges)


async def test_a_fused_chain_has_the_events_of_an_unfused_one(ray_local: Any) -> None:
    """c(1) -> a1(+1) -> s(sleep 0 s, progress and log) -> a2(+1) -> a3(+1): one task."""
    bp = chain(
        {"id": "c", "type": "const", "parameters": {"value": 1}},
        {"id": "a1", "type": "add", "parameters": {"b": 1}},
        {"id": "s", "type": "sleep", "parameters": {"seconds": 0}},
        {"id": "a2", "type": "add", "parameters": {"b": 1}},
        {"id": "a3", "type": "add", "parameters": {"b": 1}},
    )
    fused, fused_events, chains = await run(bp)
    plain, plain_events, off = await run(bp, fuse_budget_s=0)
    assert fused.status == plain.status == "succeeded", fused.error
    assert fused.outputs == plain.outputs == {"a3": {"output": 4}}
    assert fused_events == plain_events
    assert fused_events["s"][2:4] == [
        ("node.progress", {"percent": 10, "message": "sleeping"}),
        ("node.log", {"level": "info", "message": "slept 0s"}),
    ]
    assert (chains.hits, chains.misses) == (4, 0)
    assert off is not None and off.hits == 0


async def test_a_failure_mid_chain_fails_that_node(ray_local: Any) -> None:
    """c -> a1 -> bad(fails) -> a2 -> a3: bad failed, the rest abandoned, as unfused."""
    bp = chain(
        {"id": "c", "type": "const", "parameters": {"value": 1}},
        {"id": "a1", "type": "add", "parameters": {"b": 1}},
        {"id": "bad", "type": "fail", "parameters": {"message": "mid-chain"}},
        {"id": "a2", "type": "add", "parameters": {"b": 1}},
        {"id": "a3", "type": "add", "parameters": {"b": 1}},
    )
    fused, fused_events, chains = await run(bp)
    plain, plain_events, _ = await run(bp, fuse_budget_s=0)
    assert fused.status == plain.status == "failed"
    assert {k: v.status for k, v in fused.nodes.items()} == {
        "c": "succeeded",
        "a1": "succeeded",
        "bad": "failed",
        "a2": "abandoned",
        "a3": "abandoned",
    }
    assert fused.error is not None and fused.error["message"] == "mid-chain"
    assert "Traceback" in fused.error["stack"]
    assert fused_events == plain_events
    assert (chains.hits, chains.misses) == (2, 0)


async def test_a_retry_inside_a_chain_reruns_that_node_alone(
    ray_local: Any, tmp_path: Path
) -> None:
    """c -> f(flaky: fails once, retries 1) -> a1: f's retry heads a new task with a1."""

    def bp(counter: Path) -> dict[str, Any]:
        return chain(
            {"id": "c", "type": "const", "parameters": {"value": 1}},
            {"id": "f", "type": "flaky", "parameters": {"counter": str(counter), "retries": 1}},
            {"id": "a1", "type": "add", "parameters": {"b": 1}},
        )

    fused, fused_events, chains = await run(bp(tmp_path / "fused"), bp(tmp_path / "warm"))
    plain, plain_events, _ = await run(
        bp(tmp_path / "plain"), bp(tmp_path / "warm2"), fuse_budget_s=0
    )
    assert fused.status == plain.status == "succeeded", fused.error
    assert fused.nodes["f"].attempts == 2 and fused.outputs == {"a1": {"output": 3}}
    assert fused_events == plain_events
    kinds = [kind for kind, _ in fused_events["f"]]
    assert kinds == [
        *("node.queued", "node.started", "node.retrying"),
        *("node.queued", "node.started", "node.succeeded"),
    ]
    assert (chains.hits, chains.misses) == (2, 0)  # f's first attempt, then a1


async def test_cancelling_a_fused_task_kills_the_whole_chain(
    ray_local: Any, tmp_path: Path
) -> None:
    """c -> s(block 2 s) -> m(write a marker file), one task (a 30 s budget); cancelled at
    0.5 s: the run is cancelled at once, and m never runs (the worker was killed)."""
    marker = tmp_path / "marker"

    def bp(seconds: float, path: Path) -> dict[str, Any]:
        return chain(
            {"id": "c", "type": "const", "parameters": {"value": 1}},
            {"id": "s", "type": "block", "parameters": {"seconds": seconds}},
            {"id": "m", "type": "write-marker", "parameters": {"path": str(path)}},
        )

    async with RayEngine(registry=registry(), store=None, fuse_budget_s=30, hop_s=1.0) as eng:
        await eng.execute(bp(0, tmp_path / "warm"))  # every node seen fast

        def on_event(event: Event) -> None:
            if event.kind is EventKind.NODE_STARTED and event.node_id == "c":
                asyncio.get_running_loop().call_later(0.5, eng.cancel, event.run_id)

        eng.subscribe(on_event)
        started = time.perf_counter()
        result = await eng.execute(bp(2, marker))
        assert time.perf_counter() - started < 1.8
    assert result.status == "cancelled"
    # The driver saw the head running: the fused task is the head's call.
    assert {k: v.status for k, v in result.nodes.items()} == {
        "c": "cancelled",
        "s": "cancelled",
        "m": "cancelled",
    }
    await asyncio.sleep(2.5)
    assert not marker.exists()


async def test_a_slow_node_ends_its_task(ray_local: Any) -> None:
    """b(block 0.2 s) -> a1 -> a2: past the 50 ms budget after b, so a1 heads a new task."""
    bp = chain(
        {"id": "b", "type": "block", "parameters": {"seconds": 0.2, "x": 1}},
        {"id": "a1", "type": "add", "parameters": {"b": 1}},
        {"id": "a2", "type": "add", "parameters": {"b": 1}},
    )
    result, _, chains = await run(bp)
    assert result.outputs == {"a2": {"output": 3}}
    assert (chains.hits, chains.misses) == (1, 0)


async def test_a_large_value_ends_its_task_and_stays_in_the_object_store(ray_local: Any) -> None:
    """big(blob 200 KiB) -> m(measure) -> a(+1): m heads a new task given the object."""
    bp = chain(
        {"id": "big", "type": "blob", "parameters": {"size": 200 * 1024}},
        {"id": "m", "type": "measure"},
        {"id": "a", "type": "add", "parameters": {"b": 1}},
    )
    result, _, chains = await run(bp)
    assert result.status == "succeeded", result.error
    assert result.outputs == {"a": {"output": 200 * 1024 + 1}}
    assert result.nodes["big"].outputs is not None
    assert result.nodes["big"].outputs["output"]["$ref"]["kind"] == "ray"
    assert (chains.hits, chains.misses) == (1, 0)


def test_which_nodes_continue_a_chain() -> None:
    """Links: c -> a1 only. Not: a1 (fan-out to a2, a3), a2 -> j and a3 -> j (fan-in into j),
    j -> t (t has a timeout), t -> tp (templated), e (error port routed) -> h.

    c -> a1 -> a2 -> j -> t -> tp
           \\-> a3 -/
    e --error--> h
    """
    bp = flow(
        [
            {"id": "c", "type": "const", "parameters": {"value": 1}},
            {"id": "a1", "type": "add"},
            {"id": "a2", "type": "add"},
            {"id": "a3", "type": "add"},
            {"id": "j", "type": "add"},
            {"id": "t", "type": "add", "parameters": {"timeout": 1000}},
            {"id": "tp", "type": "add", "parameters": {"b": "{{ $now }}"}},
            {"id": "e", "type": "fail"},
            {"id": "h", "type": "collect"},
        ],
        [
            ("c", "a1", "output", "a"),
            ("a1", "a2", "output", "a"),
            ("a1", "a3", "output", "a"),
            ("a2", "j", "output", "a"),
            ("a3", "j", "output", "b"),
            ("j", "t", "output", "a"),
            ("t", "tp", "output", "a"),
            ("e", "h", "error", "a"),
        ],
    )
    plan = build_plan(load_blueprint(bp), registry())
    links = successors(plan, lambda a, b: True)
    assert {a: link.node_id for a, link in links.items()} == {"c": "a1"}
    assert links["c"].bindings == (("output", "a"),)


def test_a_node_that_shared_a_task_reports_its_own_duration() -> None:
    """Only a call that shared its task (fused, batched) replaces the driver's clock."""
    summary = {"outputs": {"output": 1}, "reports": [], "seconds": 0.25}
    assert complete(summary, NullReporter(), timed=True).duration_ms == 250.0
    assert complete(summary, NullReporter()).duration_ms is None
