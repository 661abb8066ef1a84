"""LocalEngine end to end: real runtimes, real concurrency, real timers."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

import atomiton
from atomiton import LocalEngine, NodeRegistry, ValidationError
from atomiton.events import Event, EventKind
from atomiton.nodes import NodeDefinition, PortSpec, RuntimeSpec
from atomiton.runtimes import NodeCall, NodeResult, RuntimeRouter
from flows import flow

NODES = str(Path(__file__).with_name("nodes.py"))


@pytest.fixture
def registry() -> NodeRegistry:
    return NodeRegistry.default([NODES])


@pytest.fixture
async def engine(registry: NodeRegistry) -> Any:
    async with LocalEngine(registry=registry, store=None, retry_backoff_s=0.01) as eng:
        yield eng


async def test_independent_nodes_run_in_parallel(engine: LocalEngine) -> None:
    """Two 1-second nodes, one on the loop and one in a thread, finish together:

    s1    b1
    """
    bp = flow(
        [
            {"id": "s1", "type": "sleep", "parameters": {"seconds": 1}},
            {"id": "b1", "type": "block", "parameters": {"seconds": 1}},
        ]
    )
    started = time.perf_counter()
    result = await engine.execute(bp)
    assert result.status == "succeeded"
    assert time.perf_counter() - started < 1.6


async def test_data_flows_port_to_port_and_sinks_are_the_result(engine: LocalEngine) -> None:
    """c1 -> add.a, c2 -> add.b; add is the only sink."""
    bp = flow(
        [
            {"id": "c1", "type": "const", "parameters": {"value": 2}},
            {"id": "c2", "type": "const", "parameters": {"value": 40}},
            {"id": "sum", "type": "add"},
        ],
        [("c1", "sum", "output", "a"), ("c2", "sum", "output", "b")],
    )
    result = await engine.execute(bp)
    assert result.outputs == {"sum": {"output": 42}}
    assert result.nodes["c1"].outputs == {"output": 2}


async def test_timeout_fails_the_node_with_a_clear_error(engine: LocalEngine) -> None:
    bp = flow([{"id": "s", "type": "sleep", "parameters": {"seconds": 5, "timeout": 200}}])
    started = time.perf_counter()
    result = await engine.execute(bp)
    assert time.perf_counter() - started < 2
    assert result.status == "failed"
    error = result.nodes["s"].error
    assert error is not None and error["type"] == "NodeTimeoutError"
    assert "0.2 s" in error["message"]


async def test_retries_until_success(engine: LocalEngine, tmp_path: Path) -> None:
    counter = tmp_path / "count"
    bp = flow(
        [
            {
                "id": "f",
                "type": "flaky",
                "parameters": {"counter": str(counter), "succeed_on": 3, "retries": 2},
            }
        ]
    )
    events: list[Event] = []
    engine.subscribe(events.append)
    result = await engine.execute(bp)
    assert result.status == "succeeded"
    assert result.nodes["f"].attempts == 3
    assert result.outputs["f"]["output"] == 3
    retrying = [e for e in events if e.kind is EventKind.NODE_RETRYING]
    assert [e.payload["attempt"] for e in retrying] == [2, 3]


async def test_retries_exhausted_fail_the_run(engine: LocalEngine, tmp_path: Path) -> None:
    bp = flow(
        [
            {
                "id": "f",
                "type": "flaky",
                "parameters": {"counter": str(tmp_path / "c"), "succeed_on": 9, "retries": 1},
            }
        ]
    )
    result = await engine.execute(bp)
    assert result.status == "failed"
    assert result.nodes["f"].attempts == 2
    assert result.error is not None and result.error["node_id"] == "f"
    assert result.error["type"] == "ConnectionError"
    assert "Traceback" in result.error["stack"]


async def test_fail_fast_cancels_running_and_abandons_the_rest(engine: LocalEngine) -> None:
    """bad fails at once; slow is running and is cancelled; after(bad) never starts.

    bad -> after
    slow
    """
    bp = flow(
        [
            {"id": "bad", "type": "fail"},
            {"id": "slow", "type": "sleep", "parameters": {"seconds": 5}},
            {"id": "after", "type": "const"},
        ],
        [("bad", "after")],
    )
    started = time.perf_counter()
    result = await engine.execute(bp)
    assert time.perf_counter() - started < 2
    assert result.status == "failed"
    assert {k: v.status for k, v in result.nodes.items()} == {
        "bad": "failed",
        "slow": "cancelled",
        "after": "abandoned",
    }


async def test_continue_on_error_lets_independent_branches_finish(engine: LocalEngine) -> None:
    bp = flow(
        [
            {"id": "bad", "type": "fail"},
            {"id": "slow", "type": "sleep", "parameters": {"seconds": 0.3, "x": 1}},
            {"id": "after", "type": "const"},
        ],
        [("bad", "after")],
    )
    result = await engine.execute(bp, on_error="continue")
    assert result.status == "failed"
    assert {k: v.status for k, v in result.nodes.items()} == {
        "bad": "failed",
        "slow": "succeeded",
        "after": "abandoned",
    }
    assert result.outputs == {"slow": {"output": 1}}


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
    assert result.status == "succeeded"
    assert result.nodes["bad"].status == "failed"
    assert result.nodes["normal"].status == "skipped"
    handled = result.outputs["handler"]["output"]["a"]
    assert handled["message"] == "disk full" and handled["type"] == "ValueError"


async def test_untaken_branch_is_skipped(engine: LocalEngine) -> None:
    """p(3) produces only 'odd': the even branch is skipped, the odd one runs."""
    bp = flow(
        [
            {"id": "p", "type": "parity", "parameters": {"n": 3}},
            {"id": "on_even", "type": "add", "parameters": {"b": 100}},
            {"id": "on_odd", "type": "add", "parameters": {"b": 1}},
        ],
        [("p", "on_even", "even", "a"), ("p", "on_odd", "odd", "a")],
    )
    result = await engine.execute(bp)
    assert result.status == "succeeded"
    assert result.nodes["on_even"].status == "skipped"
    assert result.outputs == {"on_odd": {"output": 4}}


async def test_disabled_node_and_its_dependents_are_skipped(engine: LocalEngine) -> None:
    bp = flow(
        [
            {"id": "off", "type": "const", "parameters": {"value": 1, "enabled": False}},
            {"id": "next", "type": "add"},
        ],
        [("off", "next", "output", "a")],
    )
    result = await engine.execute(bp)
    assert result.status == "succeeded"
    assert result.nodes["off"].status == "skipped"
    assert result.nodes["next"].status == "skipped"


async def test_cancel_stops_running_nodes_and_records_every_state(engine: LocalEngine) -> None:
    bp = flow(
        [
            {"id": "slow", "type": "sleep", "parameters": {"seconds": 10}},
            {"id": "after", "type": "const"},
        ],
        [("slow", "after")],
    )
    seen: list[Event] = []

    def on_event(event: Event) -> None:
        seen.append(event)
        if event.kind is EventKind.NODE_STARTED:
            asyncio.get_running_loop().call_later(0.1, engine.cancel, event.run_id)

    engine.subscribe(on_event)
    started = time.perf_counter()
    result = await engine.execute(bp)
    assert time.perf_counter() - started < 2
    assert result.status == "cancelled"
    assert {k: v.status for k, v in result.nodes.items()} == {
        "slow": "cancelled",
        "after": "cancelled",
    }
    assert seen[-1].kind is EventKind.RUN_FINISHED
    assert engine.cancel(result.run_id) is False


async def test_variables_and_templates(engine: LocalEngine) -> None:
    bp = flow(
        [
            {"id": "c", "type": "const", "parameters": {"value": "{{ $vars.greeting }}"}},
            {
                "id": "d",
                "type": "const",
                "parameters": {"value": "{{ $nodes.c.output }}, {{ name }}!"},
            },
        ],
        variables={
            "greeting": {"type": "string", "defaultValue": "hello"},
            "name": {"defaultValue": "world"},
        },
    )
    result = await engine.execute(bp, variables={"name": "Ada"})
    assert result.outputs["d"]["output"] == "hello, Ada!"


async def test_inline_group_runs_as_a_sub_run(engine: LocalEngine) -> None:
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
    events: list[Event] = []
    engine.subscribe(events.append)
    result = await engine.execute(bp)
    assert result.status == "succeeded", result.error
    assert result.outputs == {"out": {"output": 16}}
    assert result.nodes["g/inner"].status == "succeeded"
    assert any(e.node_id == "g/inner" and e.kind is EventKind.NODE_STARTED for e in events)


async def test_referenced_blueprint_runs_as_a_sub_run(engine: LocalEngine, tmp_path: Path) -> None:
    (tmp_path / "child.flow.yaml").write_text(
        "id: child\nname: child\nnodes:\n  - {id: double, type: add}\nedges: []\n"
    )
    (tmp_path / "parent.flow.yaml").write_text(
        "id: parent\nname: parent\nnodes:\n"
        "  - {id: c, type: const, parameters: {value: 21}}\n"
        "  - {id: sub, blueprint: ./child.flow.yaml}\n"
        "edges:\n  - {source: c, target: sub, sourceHandle: output, targetHandle: a}\n"
    )
    result = await engine.execute(tmp_path / "parent.flow.yaml")
    assert result.status == "succeeded", result.error
    assert result.outputs == {"sub": {"output": 21}}


async def test_failure_inside_a_group_names_the_inner_node(engine: LocalEngine) -> None:
    bp = flow([{"id": "g", "type": "group", "nodes": [{"id": "x", "type": "fail"}], "edges": []}])
    result = await engine.execute(bp)
    assert result.status == "failed"
    assert result.nodes["g/x"].status == "failed"
    assert result.error is not None and "g/x" in result.error["message"]


async def test_invalid_blueprint_is_refused_before_running(engine: LocalEngine) -> None:
    bp = flow([{"id": "a", "type": "ad"}, {"id": "b", "type": "add"}], [("a", "b"), ("b", "a")])
    with pytest.raises(ValidationError) as info:
        await engine.execute(bp)
    codes = info.value.report.codes()
    assert "unknown-node-type" in codes and "cycle" in codes
    assert "did you mean 'add'" in str(info.value)


async def test_parallelizable_node_runs_in_a_process_pool(engine: LocalEngine) -> None:
    import os

    result = await engine.execute(flow([{"id": "p", "type": "pid"}]))
    assert result.status == "succeeded", result.error
    assert result.outputs["p"]["output"] != os.getpid()


async def test_run_inputs_reach_source_nodes(engine: LocalEngine) -> None:
    result = await engine.execute(flow([{"id": "s", "type": "add"}]), inputs={"a": 1, "b": 2})
    assert result.outputs == {"s": {"output": 3}}


async def test_events_are_numbered_without_gaps(engine: LocalEngine) -> None:
    events: list[Event] = []
    engine.subscribe(events.append)
    await engine.execute(flow([{"id": f"n{i}", "type": "const"} for i in range(20)]))
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert events[0].kind is EventKind.RUN_STARTED and events[-1].kind is EventKind.RUN_FINISHED


def test_a_relative_artifact_root_is_fixed_where_the_engine_starts(
    registry: NodeRegistry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Runs write their files under the folder the engine was given, wherever the process's
    working directory is later (a node may change it)."""
    monkeypatch.chdir(tmp_path)
    engine = LocalEngine(registry=registry, store=None, artifact_root="artifacts")
    monkeypatch.chdir("/")
    assert engine.artifact_root == tmp_path / "artifacts"


def test_sync_run_wrapper(registry: NodeRegistry) -> None:
    """atomiton.run runs on the engine's own loop, which busy-polls for worker answers."""
    result = atomiton.run(
        flow(
            [
                {"id": "c", "type": "const", "parameters": {"value": 7}},
                {"id": "b", "type": "busy-polling"},
            ]
        ),
        registry=registry,
        store=None,
    )
    assert result.ok and result.output("c", "output") == 7
    assert result.output("b", "output") is True


async def test_a_loop_the_engine_did_not_make_does_not_busy_poll(engine: LocalEngine) -> None:
    result = await engine.execute(flow([{"id": "b", "type": "busy-polling"}]))
    assert result.output("b", "output") is False


async def test_container_node_runs_its_children_as_a_body(engine: LocalEngine) -> None:
    """each(items) holds [inc = add(b=1)]: the body runs once per item, ids 'e/<i>/inc'."""
    bp = flow(
        [
            {
                "id": "e",
                "type": "each",
                "parameters": {"items": [1, 2, 3]},
                "nodes": [{"id": "inc", "type": "add", "parameters": {"b": 1}}],
                "edges": [],
            }
        ]
    )
    result = await engine.execute(bp)
    assert result.status == "succeeded", result.error
    assert result.outputs == {"e": {"output": [2, 3, 4]}}
    assert result.nodes["e/2/inc"].outputs == {"output": 4}


async def test_a_failing_body_fails_the_container(engine: LocalEngine) -> None:
    bp = flow(
        [
            {
                "id": "e",
                "type": "each",
                "parameters": {"items": [1]},
                "nodes": [{"id": "bad", "type": "fail"}],
                "edges": [],
            }
        ]
    )
    result = await engine.execute(bp)
    assert result.status == "failed"
    assert result.error is not None
    assert "'e/0/bad' failed: boom" in result.error["message"]


@pytest.mark.toolchain("node")
async def test_nodes_evaluate_javascript_through_their_context(engine: LocalEngine) -> None:
    bp = flow(
        [{"id": "m", "type": "js-map", "parameters": {"items": [1, 2], "function": "x => x * 10"}}]
    )
    result = await engine.execute(bp)
    assert result.status == "succeeded", result.error
    assert result.outputs == {"m": {"output": [10, 20]}}


class _MeasuredRuntime:
    """A runtime that says how long each call ran (as a fused Ray task does for its nodes)."""

    languages = ("measured",)

    def check(self, definition: object) -> None:
        return None

    async def start(self) -> None:
        return None

    async def invoke(self, call: NodeCall, reporter: object) -> NodeResult:
        return NodeResult(
            {"output": call.node_id}, duration_ms=1234.5 if call.node_id == "a" else None
        )

    async def aclose(self) -> None:
        return None


async def test_a_duration_the_runtime_measured_is_recorded() -> None:
    """NodeResult.duration_ms replaces the engine's clock; without it the engine measures."""
    definition = NodeDefinition(
        "measured",
        outputs=(PortSpec("output"),),
        runtime=RuntimeSpec(language="measured"),
    )
    router = RuntimeRouter([_MeasuredRuntime()])
    registry = NodeRegistry([definition])
    async with LocalEngine(registry=registry, router=router, store=None) as engine:
        events: list[Event] = []
        engine.subscribe(events.append)
        result = await engine.execute(flow([{"id": n, "type": "measured"} for n in "ab"]))
    assert result.status == "succeeded", result.error
    assert result.nodes["a"].duration_ms == 1234.5
    assert result.nodes["b"].duration_ms is not None and result.nodes["b"].duration_ms < 1000
    (done,) = [e for e in events if e.kind is EventKind.NODE_SUCCEEDED and e.node_id == "a"]
    assert done.payload["duration_ms"] == 1234.5
