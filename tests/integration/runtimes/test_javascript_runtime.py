"""TypeScript/JavaScript nodes on warm Node.js workers: the supervision contract, end to end.

Each test runs real ``node`` workers on modules written to ``tmp_path``; the fixture closes the
runtime and checks that no worker (or anything a worker spawned) is left running.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from worker_checks import (
    Recorder,
    group_gone,
    live_in_group,
    refuses_a_spin_window_that_is_not_a_number,
    sleeps_once_calls_stop,
)

from atomiton.errors import NodeError, NodeTimeoutError, RuntimeUnavailableError, WorkerCrashedError
from atomiton.nodes.definition import NodeDefinition, PortSpec, RuntimeSpec
from atomiton.nodes.manifest import load_manifest
from atomiton.runtimes.base import NodeCall
from atomiton.runtimes.javascript import JavaScriptRuntime

pytestmark = pytest.mark.toolchain("node")
EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "nodes" / "typescript" / "node.yaml"

NODES_JS = """
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
export const echo = (inputs) => ({ output: inputs.value });
export function chatty(inputs, parameters, ctx) {
  ctx.progress(25, 'quarter');
  ctx.log('warning', 'careful');
  return inputs.value * parameters.factor;
}
export function fail() { return null.boom; }
export async function nap(inputs, parameters, ctx) {
  ctx.progress(1, 'started');
  console.error('napping for', inputs.ms, 'ms');
  await sleep(inputs.ms);
  return 'rested';
}
export async function waitForAbort(inputs, parameters, ctx) {
  ctx.progress(1, 'started');
  await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve));
  writeFileSync(inputs.marker, `signal ${ctx.signal.aborted} cancelled ${ctx.cancelled}`);
}
export async function spawnAndWait(inputs, parameters, ctx) {
  const child = spawn('sleep', ['60'], { stdio: 'ignore' });
  ctx.progress(1, String(child.pid));
  await sleep(60000);
}
"""

TYPED_TS = """
interface Item { name: string; price: number }
type Totals = { total: number; names: string[] };
export function total(inputs: { items: Item[] }): Totals {
  const names: string[] = inputs.items.map((i: Item): string => i.name);
  return { total: inputs.items.reduce((sum: number, i: Item) => sum + i.price, 0), names };
}
"""


@pytest.fixture
async def runtime(tmp_path: Path) -> AsyncIterator[JavaScriptRuntime]:
    (tmp_path / "nodes.mjs").write_text(NODES_JS)
    (tmp_path / "typed.ts").write_text(TYPED_TS)
    rt = JavaScriptRuntime(pool_size=2, cache_dir=tmp_path / "cache", cancel_grace_s=0.3)
    seen: set[int] = set()
    rt.seen_pids = seen  # type: ignore[attr-defined]
    yield rt
    seen.update(rt.pool.pids)
    await rt.aclose()
    assert rt.pool.pids == []
    for pid in seen:
        assert not Path(f"/proc/{pid}").exists(), f"worker {pid} was not reaped"
        assert await group_gone(pid), f"processes of worker {pid}'s group survived"


def definition(
    tmp_path: Path, handler: str, module: str = "nodes.mjs", outputs: tuple[str, ...] = ()
) -> NodeDefinition:
    return NodeDefinition(
        id=f"js-{handler}",
        outputs=tuple(PortSpec(name) for name in outputs),
        runtime=RuntimeSpec(
            language="javascript", module=module, handler=handler, path=str(tmp_path)
        ),
    )


def call(
    defn: NodeDefinition,
    inputs: dict[str, object],
    tmp_path: Path,
    *,
    parameters: dict[str, object] | None = None,
    timeout_s: float | None = None,
) -> NodeCall:
    return NodeCall(
        "run-1",
        "node-1",
        defn,
        inputs,
        parameters or {},
        artifact_dir=tmp_path,
        timeout_s=timeout_s,
    )


async def test_success_with_progress_and_logs(runtime: JavaScriptRuntime, tmp_path: Path) -> None:
    rec = Recorder()
    result = await runtime.invoke(
        call(definition(tmp_path, "chatty"), {"value": 21}, tmp_path, parameters={"factor": 2}), rec
    )
    assert result.outputs == {"output": 42}
    assert rec.progress_calls == [(25.0, "quarter")]
    assert rec.logs == [("warning", "careful")]


async def test_error_carries_js_type_message_and_stack(
    runtime: JavaScriptRuntime, tmp_path: Path
) -> None:
    with pytest.raises(NodeError) as info:
        await runtime.invoke(call(definition(tmp_path, "fail"), {}, tmp_path), Recorder())
    assert info.value.error_type == "TypeError"
    assert "Cannot read properties of null" in info.value.message
    assert "nodes.mjs" in info.value.details["stack"]
    assert info.value.node_id == "node-1"


async def test_unknown_handler_names_what_the_module_exports(
    runtime: JavaScriptRuntime, tmp_path: Path
) -> None:
    with pytest.raises(NodeError, match=r"exports no function .nope.*echo"):
        await runtime.invoke(call(definition(tmp_path, "nope"), {}, tmp_path), Recorder())


async def test_typescript_types_are_stripped(runtime: JavaScriptRuntime, tmp_path: Path) -> None:
    defn = definition(tmp_path, "total", module="typed.ts", outputs=("total", "names"))
    items = [{"name": "a", "price": 2}, {"name": "b", "price": 3}]
    result = await runtime.invoke(call(defn, {"items": items}, tmp_path), Recorder())
    assert result.outputs == {"total": 5, "names": ["a", "b"]}
    assert list((tmp_path / "cache").glob("*.mjs")), "the compiled module is cached by content hash"


async def test_the_example_typescript_node(runtime: JavaScriptRuntime, tmp_path: Path) -> None:
    (defn,) = load_manifest(EXAMPLE)
    assert runtime.check(defn) is None
    rec = Recorder()
    result = await runtime.invoke(
        call(defn, {"text": "héllo"}, tmp_path, parameters={"times": 3}), rec
    )
    assert result.outputs == {"output": "olléh", "length": 5}
    assert [p for p, _ in rec.progress_calls][-1] == 100.0


async def test_timeout_kills_and_replaces_the_worker(
    runtime: JavaScriptRuntime, tmp_path: Path
) -> None:
    await runtime.invoke(call(definition(tmp_path, "echo"), {"value": 1}, tmp_path), Recorder())
    (old,) = runtime.pool.pids
    with pytest.raises(NodeTimeoutError, match=r"timed out after 0\.3 s"):
        await runtime.invoke(
            call(definition(tmp_path, "nap"), {"ms": 10_000}, tmp_path, timeout_s=0.3), Recorder()
        )
    assert not Path(f"/proc/{old}").exists()
    result = await runtime.invoke(
        call(definition(tmp_path, "echo"), {"value": 2}, tmp_path), Recorder()
    )
    assert result.outputs == {"output": 2}
    assert runtime.pool.pids != [old]


async def test_cancellation_kills_the_worker_and_its_children(
    runtime: JavaScriptRuntime, tmp_path: Path
) -> None:
    rec = Recorder()
    task = asyncio.create_task(
        runtime.invoke(call(definition(tmp_path, "spawnAndWait"), {}, tmp_path), rec)
    )
    await asyncio.wait_for(rec.started.wait(), 20)
    (worker,) = runtime.pool.pids
    assert live_in_group(worker) != []
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await group_gone(worker), "the worker's process group must be gone"
    result = await runtime.invoke(
        call(definition(tmp_path, "echo"), {"value": 3}, tmp_path), Recorder()
    )
    assert result.outputs == {"output": 3}


async def test_a_cooperative_node_sees_the_cancel(
    runtime: JavaScriptRuntime, tmp_path: Path
) -> None:
    """ctx.signal aborts and ctx.cancelled turns true; the worker answers the cancel at once
    (before the grace period ends)."""
    marker = tmp_path / "seen.txt"
    rec = Recorder()
    node = definition(tmp_path, "waitForAbort")
    task = asyncio.create_task(runtime.invoke(call(node, {"marker": str(marker)}, tmp_path), rec))
    await asyncio.wait_for(rec.started.wait(), 20)
    start = time.perf_counter()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert time.perf_counter() - start < 0.3, "the worker answered the cancel in its grace"
    for _ in range(100):  # the worker may still be writing it as the engine kills it
        if marker.exists():
            break
        await asyncio.sleep(0.01)
    assert marker.read_text() == "signal true cancelled true"


async def test_worker_killed_mid_call_fails_the_call_and_the_next_succeeds(
    runtime: JavaScriptRuntime, tmp_path: Path
) -> None:
    rec = Recorder()
    task = asyncio.create_task(
        runtime.invoke(call(definition(tmp_path, "nap"), {"ms": 10_000}, tmp_path), rec)
    )
    await asyncio.wait_for(rec.started.wait(), 20)
    (worker,) = runtime.pool.pids
    await asyncio.sleep(0.1)  # let the node's stderr line arrive
    os.kill(worker, signal.SIGKILL)
    with pytest.raises(WorkerCrashedError) as info:
        await task
    assert "SIGKILL" in info.value.message
    assert info.value.details["exit_status"] == -9
    assert "napping for 10000 ms" in info.value.details["stderr_tail"]
    result = await runtime.invoke(
        call(definition(tmp_path, "echo"), {"value": 4}, tmp_path), Recorder()
    )
    assert result.outputs == {"output": 4}


async def test_a_pool_of_two_runs_two_calls_at_once(
    runtime: JavaScriptRuntime, tmp_path: Path
) -> None:
    warm = [
        runtime.invoke(call(definition(tmp_path, "nap"), {"ms": 50}, tmp_path), Recorder())
        for _ in range(2)
    ]
    await asyncio.gather(*warm)
    assert len(runtime.pool.pids) == 2
    start = time.perf_counter()
    naps = [
        runtime.invoke(call(definition(tmp_path, "nap"), {"ms": 500}, tmp_path), Recorder())
        for _ in range(2)
    ]
    results = await asyncio.gather(*naps)
    elapsed = time.perf_counter() - start
    assert [r.outputs for r in results] == [{"output": "rested"}] * 2
    assert elapsed < 0.85, f"two 0.5 s calls on a pool of 2 took {elapsed:.2f} s"


async def test_evaluate_block_bodied_arrow_and_expression(runtime: JavaScriptRuntime) -> None:
    assert await runtime.evaluate("item => { return { y: item.x * 2 }; }", args=[{"x": 21}]) == {
        "y": 42
    }
    assert (
        await runtime.evaluate("iteration < 5", mode="expression", bindings={"iteration": 4})
        is True
    )


async def test_evaluate_infinite_loop_hits_the_time_limit(runtime: JavaScriptRuntime) -> None:
    start = time.perf_counter()
    with pytest.raises(NodeTimeoutError, match="time limit of 200 ms"):
        await runtime.evaluate("() => { while (true) {} }", timeout_s=0.2)
    assert time.perf_counter() - start < 3
    assert await runtime.evaluate("x => x + 1", args=[1]) == 2  # the worker survived


async def test_evaluate_errors_keep_the_js_type(runtime: JavaScriptRuntime) -> None:
    with pytest.raises(NodeError) as info:
        await runtime.evaluate("() => process.exit(1)")
    assert info.value.error_type == "ReferenceError"
    assert "process is not defined" in info.value.message
    assert info.value.details["stack"]


def test_check_explains_a_missing_node_binary_and_npm_packages(tmp_path: Path) -> None:
    defn = definition(tmp_path, "echo")
    no_node = JavaScriptRuntime(node=None, worker_dir=tmp_path)
    no_node._node = None
    assert "not on PATH" in (no_node.check(defn) or "")
    (tmp_path / "worker.mjs").write_text("")
    no_packages = JavaScriptRuntime(worker_dir=tmp_path)
    assert "scripts/setup" in (no_packages.check(defn) or "")


async def test_a_worker_that_cannot_start_is_unavailable(tmp_path: Path) -> None:
    (tmp_path / "worker.mjs").write_text("console.error('broken worker'); process.exit(3);")
    rt = JavaScriptRuntime(worker_dir=tmp_path)
    with pytest.raises(RuntimeUnavailableError, match="broken worker"):
        await rt.evaluate("x => x", args=[1])
    await rt.aclose()


async def test_a_worker_sleeps_once_calls_stop(runtime: JavaScriptRuntime, tmp_path: Path) -> None:
    echo = definition(tmp_path, "echo")

    async def one(value: int) -> None:
        result = await runtime.invoke(call(echo, {"value": value}, tmp_path), Recorder())
        assert result.outputs == {"output": value}

    await sleeps_once_calls_stop(one, lambda: runtime.pool.pids)


async def test_a_spin_window_that_is_not_a_number_stops_the_worker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await refuses_a_spin_window_that_is_not_a_number(
        monkeypatch,
        lambda: JavaScriptRuntime(pool_size=1, cache_dir=tmp_path / "cache"),
        lambda rt: rt.evaluate("x => x", args=[1]),
    )
