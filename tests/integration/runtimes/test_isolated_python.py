"""Isolated Python nodes on warm ``python -m atomiton.runtimes._python_worker`` processes.

The node module is a file written to ``tmp_path`` (``runtime.path``); the fixture closes the
runtime and checks that every worker was reaped and nothing of its process group survived.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path

import polars as pl
import pytest
from worker_checks import (
    Recorder,
    group_gone,
    live_in_group,
    refuses_a_spin_window_that_is_not_a_number,
    sleeps_once_calls_stop,
)

from atomiton.errors import NodeError, NodeTimeoutError, WorkerCrashedError
from atomiton.nodes.definition import NodeDefinition, PortSpec, RuntimeSpec
from atomiton.runtimes.base import NodeCall
from atomiton.runtimes.isolated import IsolatedPythonRuntime

NODES_PY = """
import asyncio, contextvars, os, subprocess, sys, time
import polars as pl
from atomiton.nodes.context import NodeContext

def chatty(value: int, factor: int, ctx: NodeContext) -> int:
    ctx.progress(25, "quarter")
    ctx.log("careful", "warning")
    print("prints go to stderr, not the protocol")
    return value * factor

def fail(x):
    raise ValueError(f"x must be positive, got {x}")

def nap(seconds: float, ctx: NodeContext):
    ctx.progress(1, "started")
    print(f"napping for {seconds} s", file=sys.stderr, flush=True)
    time.sleep(seconds)
    return "rested"

def spawn_and_wait(ctx: NodeContext):
    child = subprocess.Popen(["sleep", "60"])
    ctx.progress(1, str(child.pid))
    time.sleep(60)

def cooperative(ctx: NodeContext):
    ctx.progress(1, "started")
    while not ctx.cancelled:
        time.sleep(0.01)
    return "stopped"

async def coro(value):
    await asyncio.sleep(0)
    return {"left": value, "right": -value}

calls_seen = contextvars.ContextVar("calls_seen", default=0)

async def leaves_a_task(marker, linger):
    async def later():
        await asyncio.sleep(0.05)
        open(marker, "w").write("a task outlived its call")
    if not linger:
        asyncio.get_running_loop().create_task(later())
    calls_seen.set(calls_seen.get() + 1)
    await asyncio.sleep(linger)
    return calls_seen.get()

def table(frame, blob):
    return {"rows": frame.height, "doubled": frame.with_columns(pl.col("a") * 2), "size": len(blob)}

def die():
    os._exit(7)
"""


@pytest.fixture
async def runtime() -> AsyncIterator[IsolatedPythonRuntime]:
    rt = IsolatedPythonRuntime(pool_size=2, cancel_grace_s=0.3)
    seen: set[int] = set()
    rt.seen_pids = seen  # type: ignore[attr-defined]
    yield rt
    seen.update(rt.pool.pids)
    await rt.aclose()
    assert rt.pool.pids == []
    for pid in seen:
        assert not Path(f"/proc/{pid}").exists(), f"worker {pid} was not reaped"
        assert await group_gone(pid)


@pytest.fixture
def module(tmp_path: Path) -> Path:
    path = tmp_path / "isolated_nodes.py"
    path.write_text(NODES_PY)
    return path


def call(
    module: Path,
    handler: str,
    inputs: dict[str, object],
    outputs: tuple[str, ...] = (),
    *,
    parameters: dict[str, object] | None = None,
    timeout_s: float | None = None,
) -> NodeCall:
    defn = NodeDefinition(
        id=f"py-{handler}",
        outputs=tuple(PortSpec(name) for name in outputs),
        runtime=RuntimeSpec(
            language="python",
            module="isolated_nodes",
            handler=handler,
            path=str(module),
            isolated=True,
        ),
    )
    return NodeCall(
        "run-1",
        "node-1",
        defn,
        inputs,
        parameters or {},
        artifact_dir=module.parent / "artifacts",
        timeout_s=timeout_s,
    )


async def test_success_with_progress_and_logs(runtime: IsolatedPythonRuntime, module: Path) -> None:
    rec = Recorder()
    result = await runtime.invoke(
        call(module, "chatty", {"value": 21}, parameters={"factor": 2}), rec
    )
    assert result.outputs == {"output": 42}
    assert rec.progress_calls == [(25.0, "quarter")]
    assert rec.logs == [("warning", "careful")]


async def test_error_carries_type_message_and_stack(
    runtime: IsolatedPythonRuntime, module: Path
) -> None:
    with pytest.raises(NodeError) as info:
        await runtime.invoke(call(module, "fail", {"x": -1}), Recorder())
    assert info.value.error_type == "ValueError"
    assert "x must be positive, got -1" in info.value.message
    assert 'raise ValueError(f"x must be positive' in info.value.details["stack"]


async def test_async_function_with_several_outputs(
    runtime: IsolatedPythonRuntime, module: Path
) -> None:
    result = await runtime.invoke(
        call(module, "coro", {"value": 5}, outputs=("left", "right")), Recorder()
    )
    assert result.outputs == {"left": 5, "right": -5}


async def test_async_calls_are_isolated_as_asyncio_run_would(
    runtime: IsolatedPythonRuntime, module: Path, tmp_path: Path
) -> None:
    """Async nodes share one event loop in the worker, but each call gets a fresh context and
    the tasks it leaves behind are cancelled when it returns."""
    marker = tmp_path / "late.txt"
    for linger in (0.0, 0.2):  # the first call leaves a task that would fire during the second
        result = await runtime.invoke(
            call(module, "leaves_a_task", {"marker": str(marker), "linger": linger}), Recorder()
        )
        assert result.outputs == {"output": 1}
    assert len(runtime.pool.pids) == 1  # both calls ran on the same worker
    assert not marker.exists()


async def test_tables_and_bytes_travel_by_reference(
    runtime: IsolatedPythonRuntime, module: Path
) -> None:
    frame = pl.DataFrame({"a": [1, 2, 3]})
    blob = os.urandom(200_000)
    result = await runtime.invoke(
        call(module, "table", {"frame": frame, "blob": blob}, outputs=("rows", "doubled", "size")),
        Recorder(),
    )
    assert result.outputs["rows"] == 3
    assert result.outputs["size"] == 200_000
    assert result.outputs["doubled"]["a"].to_list() == [2, 4, 6]
    assert len(list((module.parent / "artifacts").iterdir())) == 3  # frame and blob in, table out


async def test_timeout_kills_and_replaces_the_worker(
    runtime: IsolatedPythonRuntime, module: Path
) -> None:
    await runtime.invoke(call(module, "coro", {"value": 1}), Recorder())
    (old,) = runtime.pool.pids
    with pytest.raises(NodeTimeoutError):
        await runtime.invoke(call(module, "nap", {"seconds": 10}, timeout_s=0.3), Recorder())
    assert not Path(f"/proc/{old}").exists()
    assert (await runtime.invoke(call(module, "coro", {"value": 2}), Recorder())).outputs[
        "output"
    ] == {"left": 2, "right": -2}


async def test_cancellation_reaches_the_node_and_kills_its_children(
    runtime: IsolatedPythonRuntime, module: Path
) -> None:
    rec = Recorder()
    task = asyncio.create_task(runtime.invoke(call(module, "spawn_and_wait", {}), rec))
    await asyncio.wait_for(rec.started.wait(), 20)
    (worker,) = runtime.pool.pids
    assert len(live_in_group(worker)) == 2
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await group_gone(worker)


async def test_a_cooperative_node_sees_cancelled(
    runtime: IsolatedPythonRuntime, module: Path
) -> None:
    rec = Recorder()
    task = asyncio.create_task(runtime.invoke(call(module, "cooperative", {}), rec))
    await asyncio.wait_for(rec.started.wait(), 20)
    start = time.perf_counter()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert time.perf_counter() - start < 0.3, (
        "the worker answered the cancel before the grace ran out"
    )


async def test_worker_killed_mid_call_fails_the_call_and_the_next_succeeds(
    runtime: IsolatedPythonRuntime, module: Path
) -> None:
    rec = Recorder()
    task = asyncio.create_task(runtime.invoke(call(module, "nap", {"seconds": 10}), rec))
    await asyncio.wait_for(rec.started.wait(), 20)
    (worker,) = runtime.pool.pids
    await asyncio.sleep(0.1)
    os.kill(worker, signal.SIGKILL)
    with pytest.raises(WorkerCrashedError) as info:
        await task
    assert "SIGKILL" in info.value.message
    assert "napping for 10 s" in info.value.details["stderr_tail"]
    assert (await runtime.invoke(call(module, "coro", {"value": 3}), Recorder())).outputs["output"][
        "left"
    ] == 3


async def test_a_node_that_exits_is_a_crash_with_its_status(
    runtime: IsolatedPythonRuntime, module: Path
) -> None:
    with pytest.raises(WorkerCrashedError, match="exit status 7"):
        await runtime.invoke(call(module, "die", {}), Recorder())


async def test_a_pool_of_two_runs_two_calls_at_once(
    runtime: IsolatedPythonRuntime, module: Path
) -> None:
    await asyncio.gather(
        *(runtime.invoke(call(module, "nap", {"seconds": 0.05}), Recorder()) for _ in range(2))
    )
    assert len(runtime.pool.pids) == 2
    start = time.perf_counter()
    results = await asyncio.gather(
        *(runtime.invoke(call(module, "nap", {"seconds": 0.5}), Recorder()) for _ in range(2))
    )
    elapsed = time.perf_counter() - start
    assert [r.outputs for r in results] == [{"output": "rested"}] * 2
    assert elapsed < 0.85, f"two 0.5 s calls on a pool of 2 took {elapsed:.2f} s"


async def test_a_worker_sleeps_once_calls_stop(
    runtime: IsolatedPythonRuntime, module: Path
) -> None:
    async def one(value: int) -> None:
        chatty = call(module, "chatty", {"value": value}, parameters={"factor": 1})
        assert (await runtime.invoke(chatty, Recorder())).outputs == {"output": value}

    await sleeps_once_calls_stop(one, lambda: runtime.pool.pids)


async def test_a_spin_window_that_is_not_a_number_stops_the_worker(
    module: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await refuses_a_spin_window_that_is_not_a_number(
        monkeypatch,
        lambda: IsolatedPythonRuntime(pool_size=1),
        lambda rt: rt.invoke(call(module, "fail", {"x": 1}), Recorder()),
    )


def test_check_names_missing_handler_and_file(tmp_path: Path) -> None:
    rt = IsolatedPythonRuntime()
    no_handler = NodeDefinition(id="x", runtime=RuntimeSpec(module="m", isolated=True))
    assert "runtime.handler" in (rt.check(no_handler) or "")
    missing = NodeDefinition(
        id="x",
        runtime=RuntimeSpec(module="m", handler="f", path=str(tmp_path / "no.py"), isolated=True),
    )
    assert "does not exist" in (rt.check(missing) or "")
