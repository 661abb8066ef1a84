"""Warm worker round trip versus a process per call, for Node.js, Go and isolated Python.

For each runtime: a trivial node called through the real runtime (``invoke``: NodeCall ->
``execute`` frame -> worker -> result -> NodeResult) on one warm worker, against spawning the
real binary (``node``, the built Go worker, ``sys.executable``) per call for the same work, in
the same run. Two floors, measured in the same run: a bare round trip of one frame through
``cat`` (synchronous ``os.write``/``os.read``: the pipes and two process wake-ups alone; and
through the engine's own asyncio connection), and an ``initialize`` request on the runtime's
warm worker (the engine's transport plus the worker's reading and writing, no node).

Run: ``python bench/bench_runtime_workers.py`` (after scripts/setup). Writes
bench/results/workers.md.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, NamedTuple, Protocol

from atomiton.nodes.context import Reporter
from atomiton.nodes.definition import NodeDefinition, RuntimeSpec
from atomiton.nodes.manifest import load_manifest
from atomiton.runtimes.base import NodeCall, NodeResult, NullReporter
from atomiton.runtimes.golang import GoRuntime
from atomiton.runtimes.isolated import IsolatedPythonRuntime
from atomiton.runtimes.javascript import JavaScriptRuntime
from atomiton.runtimes.worker.framing import encode_frame
from atomiton.runtimes.worker.rpc import WorkerConnection
from atomiton.runtimes.worker.supervisor import WorkerPool

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "workers.md"
ROUNDS, ROUND_CALLS, WARM_UP = 5, 1000, 200
SPAWN_CALLS = 30
ECHO_JS = "export const echo = (inputs) => ({ output: inputs.value });\n"
ECHO_PY = "def echo(value):\n    return value\n"
SPAWN_JS = "process.stdout.write(JSON.stringify({output: JSON.parse(process.argv[1]).value}))"
SPAWN_PY = "import json, sys; print(json.dumps({'output': json.loads(sys.argv[1])['value']}))"


class Runtime(Protocol):
    async def invoke(self, call: NodeCall, reporter: Reporter) -> NodeResult: ...

    async def aclose(self) -> None: ...


async def rounds_us(step: Callable[[], Awaitable[object]]) -> list[float]:
    """Microseconds per call of ``ROUNDS`` rounds of ``ROUND_CALLS`` calls, after a warm-up."""
    for _ in range(WARM_UP):
        await step()
    rounds = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        for _ in range(ROUND_CALLS):
            await step()
        rounds.append((time.perf_counter() - start) / ROUND_CALLS * 1e6)
    return rounds


async def transport_floor(pool: WorkerPool) -> float:
    """A request the warm worker answers without running a node (``initialize``)."""
    worker: WorkerConnection = pool._idle[0]
    params = {"protocolVersion": "1.0", "engine": {"name": "bench", "version": "0"}}
    return statistics.median(await rounds_us(lambda: worker.request("initialize", params)))


async def cat_floor_async() -> float:
    """One response-shaped frame through ``cat`` on the engine's own connection class."""
    cat = await WorkerConnection.spawn(["cat"], name="cat")
    ids = iter(range(1, 1 << 30))

    async def echo() -> object:
        request_id = next(ids)
        await cat._write({"jsonrpc": "2.0", "id": request_id, "result": None})
        return await cat.read_response(request_id)

    try:
        return statistics.median(await rounds_us(echo))
    finally:
        await cat.kill()


def cat_floor_sync() -> float:
    """One frame through ``cat`` with blocking ``os.write``/``os.read``: no asyncio at all."""
    frame = encode_frame({"jsonrpc": "2.0", "id": 1, "result": {"outputs": {"output": 1}}})
    cat = subprocess.Popen(["cat"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert cat.stdin is not None and cat.stdout is not None
    write_fd, read_fd = cat.stdin.fileno(), cat.stdout.fileno()

    def echo() -> None:
        os.write(write_fd, frame)
        got = 0
        while got < len(frame):
            got += len(os.read(read_fd, 65536))

    try:
        for _ in range(WARM_UP):
            echo()
        rounds = []
        for _ in range(ROUNDS):
            start = time.perf_counter()
            for _ in range(ROUND_CALLS):
                echo()
            rounds.append((time.perf_counter() - start) / ROUND_CALLS * 1e6)
        return statistics.median(rounds)
    finally:
        cat.kill()
        cat.wait()


def spawn_per_call(argv: list[str], stdin: bytes | None = None) -> float:
    def once() -> bytes:
        return subprocess.run(argv, input=stdin, check=True, capture_output=True).stdout

    once()
    start = time.perf_counter()
    for _ in range(SPAWN_CALLS):
        once()
    return (time.perf_counter() - start) / SPAWN_CALLS * 1e6


def node_case(folder: Path, node: str) -> tuple[Runtime, NodeCall, Callable[[], float]]:
    spec = RuntimeSpec("javascript", "echo.mjs", "echo", str(folder))
    call = NodeCall(
        "r", "n", NodeDefinition(id="echo", runtime=spec), {"value": 1}, {}, artifact_dir=folder
    )
    payload = json.dumps({"value": 1})
    return (
        JavaScriptRuntime(pool_size=1),
        call,
        lambda: spawn_per_call([node, "-e", SPAWN_JS, payload]),
    )


def python_case(folder: Path) -> tuple[Runtime, NodeCall, Callable[[], float]]:
    spec = RuntimeSpec("python", "bench_echo", "echo", str(folder / "bench_echo.py"), True)
    call = NodeCall(
        "r", "n", NodeDefinition(id="echo", runtime=spec), {"value": 1}, {}, artifact_dir=folder
    )
    payload = json.dumps({"value": 1})
    argv = [sys.executable, "-c", SPAWN_PY, payload]
    return IsolatedPythonRuntime(pool_size=1), call, lambda: spawn_per_call(argv)


def go_case(folder: Path) -> tuple[Runtime, NodeCall, Callable[[], float]]:
    reverse, _ = load_manifest(ROOT / "examples" / "nodes" / "go" / "node.yaml")
    runtime = GoRuntime(cache_dir=folder / "cache", pool_size=1)
    call = NodeCall("r", "n", reverse, {"text": "hello"}, {}, artifact_dir=folder)

    def spawn() -> float:  # the built worker binary: initialize, one execute, exit
        binary = next(iter(runtime._binaries.values()))
        return spawn_per_call([str(binary)], go_session(folder))

    return runtime, call, spawn


def go_session(folder: Path) -> bytes:
    messages: list[dict[str, Any]] = [
        {"jsonrpc": "2.0", "id": 1, "method": "initialize",
         "params": {"protocolVersion": "1.0", "engine": {"name": "bench", "version": "0"}}},
        {"jsonrpc": "2.0", "id": 2, "method": "execute",
         "params": {"runId": "r", "nodeId": "n", "attempt": 1, "nodeType": "t", "module": ".",
                    "handler": "Reverse", "inputs": {"text": "hello"}, "parameters": {},
                    "artifactDir": str(folder), "timeoutMs": None}},
        {"jsonrpc": "2.0", "method": "exit"},
    ]  # fmt: skip
    return b"".join(encode_frame(m) for m in messages)


def cpu_seconds(pid: int) -> float | None:
    """CPU time of every thread of ``pid`` so far (Linux ``schedstat``), or None elsewhere."""
    try:
        tasks = Path(f"/proc/{pid}/task").iterdir()
        return sum(int((t / "schedstat").read_text().split()[0]) for t in tasks) / 1e9
    except (OSError, ValueError):
        return None


class Row(NamedTuple):
    name: str
    median: float
    best: float
    floor: float
    spawn: float
    engine_cpu: float
    """Engine CPU µs per call (all its threads): what the engine's code costs, whatever the load."""
    worker_cpu: float | None
    """The worker's CPU µs per call, where the platform reports it."""


def pool_of(runtime: Runtime) -> WorkerPool:
    if isinstance(runtime, GoRuntime):
        return next(iter(runtime._pools.values()))
    assert isinstance(runtime, JavaScriptRuntime | IsolatedPythonRuntime)
    return runtime.pool


async def bench_case(
    name: str, runtime: Runtime, call: NodeCall, spawn: Callable[[], float]
) -> Row:
    reporter: Reporter = NullReporter()
    try:
        await runtime.invoke(call, reporter)  # the worker is up from here on
        (pid,) = pool_of(runtime).pids
        engine, worker = time.process_time(), cpu_seconds(pid)
        warm = await rounds_us(lambda: runtime.invoke(call, reporter))
        calls = WARM_UP + ROUNDS * ROUND_CALLS
        engine_cpu = (time.process_time() - engine) / calls * 1e6
        worker_after = cpu_seconds(pid)
        worker_cpu = (
            (worker_after - worker) / calls * 1e6
            if worker is not None and worker_after is not None
            else None
        )
        floor = await transport_floor(pool_of(runtime))
    finally:
        await runtime.aclose()
    median = statistics.median(warm)
    return Row(name, median, min(warm), floor, spawn(), engine_cpu, worker_cpu)


async def main() -> None:
    rows: list[Row] = []
    floors: list[tuple[float, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "echo.mjs").write_text(ECHO_JS)
        (folder / "bench_echo.py").write_text(ECHO_PY)
        node = shutil.which("node")
        cases: list[tuple[str, tuple[Runtime, NodeCall, Callable[[], float]]]] = []
        if node:
            cases.append(("Node.js", node_case(folder, node)))
        if shutil.which("go"):
            cases.append(("Go (example Reverse)", go_case(folder)))
        cases.append(("isolated Python", python_case(folder)))
        for name, (runtime, call, spawn) in cases:
            floors.append((cat_floor_sync(), await cat_floor_async()))
            rows.append(await bench_case(name, runtime, call, spawn))
    cat_sync = statistics.median(f[0] for f in floors)
    cat_async = statistics.median(f[1] for f in floors)
    lines = [
        "| runtime | warm invoke, median µs | best round µs | initialize floor µs "
        "| engine CPU µs/call | worker CPU µs/call | process per call µs | speed-up (median) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        worker_cpu = f"{row.worker_cpu:.1f}" if row.worker_cpu is not None else "n/a"
        cells = [
            row.name,
            f"{row.median:.1f}",
            f"{row.best:.1f}",
            f"{row.floor:.1f}",
            f"{row.engine_cpu:.1f}",
            worker_cpu,
            f"{row.spawn:,.0f}",
            f"{row.spawn / row.median:,.0f}x",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    table = "\n".join(lines)
    floor_line = (
        f"Floor, a frame through `cat` in the same run (median of {len(floors)} measurements, "
        f"one before each runtime): {cat_sync:.1f} µs with blocking os.write/os.read, "
        f"{cat_async:.1f} µs on the engine's asyncio connection (WorkerConnection)."
    )
    machine = (
        f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"load average {os.getloadavg()[0]:.1f} at the end, {time.strftime('%Y-%m-%d %H:%M')}"
    )
    text = f"{table}\n\n{floor_line}\n\nMachine: {machine}.\n"
    print(text)
    RESULTS.write_text(HEADER + text + NOTES)


HEADER = """# Worker runtimes: warm round trip versus a process per call

`bench/bench_runtime_workers.py` (run: `python bench/bench_runtime_workers.py`; about a
minute). A trivial node (Node.js and Python: `{value} -> {output: value}`; Go: the example
`Reverse`) called through the real runtime `invoke` (NodeCall -> `execute` frame -> worker ->
result frame -> NodeResult) on one warm worker, 5 rounds of 1,000 calls after 200 warm-up calls;
against spawning the real binary (`node -e`, the built Go worker, `sys.executable -c`) per call
for the same work, in the same run. "initialize floor" is a bare request/response on the same
warm connection that runs no node.

## Latest run

"""

NOTES = """
## Where the time goes

A warm call is two pipe writes, each waking the other process, and two blocking reads; on this
2-core VM a wake-up of a process on the other vCPU costs 10-60 µs (an inter-processor interrupt
through the hypervisor), against ~5 µs when both processes share one vCPU. The `cat` floor is
that cost alone, and it swings from ~6 µs to ~70 µs with what else runs on the machine. The
engine's and workers' own work per call (measured as CPU time per call, which load does not
change as much) is what the code controls:

- **Engine** (`atomiton.runtimes.worker.rpc`): the worker's stdin/stdout are plain non-blocking
  pipes: one `os.write` per request, one reader callback registered once that decodes frames
  into an inbox and wakes the caller: one event-loop turn per response (asyncio streams took
  three). The canonical header and a single-frame read have fast paths; the JSON encoder is built
  once. No `asyncio.timeout` when the call has no deadline.
- **Node.js worker**: frames go out with one blocking `fs.writeSync` (no stream machinery), built
  into one buffer; a synchronous handler is answered in the same `data` event; the call's
  AbortController is created only if the handler looks at `ctx.signal`.
- **isolated Python worker**: one thread reads, runs the node and writes (the reader thread and
  the queue hand-off cost ~20-40 µs a call); a `cancel` is read when the node asks
  `ctx.cancelled` (a non-blocking poll of stdin, at most once a millisecond).
- **Go worker** (SDK in `workers/go`): an `execute` request is decoded in one pass (the envelope
  and then the params again before), the response frame is built around the encoded result
  without re-encoding it, one write per frame: ~11 -> ~7.5 µs of worker CPU per call in-process
  (a Go benchmark of `Serve`); the call still runs on its own goroutine so `cancel` is read.

A thread that reads frames and resolves futures with `loop.call_soon_threadsafe` was measured
too, against the same Node.js worker in one session: ~110 µs a call against ~88 µs for asyncio
streams and ~80 µs for the reader callback now used, since it adds a third wake-up per call.

## Before and after (same session, same machine)

Seven runs of this script alternated between the previous code (`src/atomiton` and
`workers/node` as of commit 9567d1b, put first on `PYTHONPATH`; the Go SDK is the new one in
both, so Go's "before" has only the engine side old) and the new code, on 2026-11-26 while other
engineers' test suites and benchmarks ran (load average 2 to 5). Warm invoke, median µs of each
run, median of the 7 and range; CPU µs per call before / after (medians of the 4 runs that
recorded them).

| runtime | before µs (range) | after µs (range) | runs <= 60 µs | engine CPU µs | worker CPU µs |
| --- | ---: | ---: | ---: | ---: | ---: |
| Node.js | 73.0 (59.6-123.5) | 67.2 (36.3-81.0) | 1 / 3 | 38.8 / 32.0 | 43.6 / 42.7 |
| Go (example Reverse) | 64.0 (54.5-99.2) | 53.0 (46.2-75.9) | 3 / 4 | 36.9 / 28.9 | 22.6 / 27.2 |
| isolated Python | 69.0 (67.7-109.9) | 36.3 (34.0-49.3) | 0 / 7 | 40.0 / 21.9 | 33.3 / 15.0 |

The `cat` floor on the engine's asyncio connection went from 18-47 µs to 13-28 µs; with
blocking `os.write`/`os.read` it is ~5 µs whenever the machine lets the two processes share a
vCPU.

Against the targets: **isolated Python meets <= 60 µs in every run** (~36 µs). **Go and Node.js
meet it in some runs only**: both move between a fast mode (Node.js 36-50 µs, Go 46-53 µs) and a
slow one (Node.js 67-81, Go 71-76) from one run to the next, with the `initialize` floor moving
with them (Node.js 22-31 µs against 56-73 µs), so the mode is set by where the scheduler puts
the worker's threads relative to the engine (Node.js and Go run several threads and wait in
epoll, the Python worker one thread blocked in `read`), not by per-call code. Reducing it further
needs either fewer wake-ups (batching several `execute` requests per frame) or control over
placement, which a shared machine does not give.

For Go, part of the placement is in our hands: a Go runtime with two processors lets the call and
its reply hop between threads (and vCPUs). The golang runtime now starts its workers with
`GOMAXPROCS=1` unless the environment sets it: six alternating runs in one session (load average
~2.5), `GoRuntime.invoke` of the example Reverse: median 61.1 µs (44-69) with `GOMAXPROCS=1`
against 88.7 µs (83-90) with `GOMAXPROCS=2`. The seven-run table above predates this change.

None of the runtimes reaches 800x a process per
call except Node.js (whose process start is ~55 ms): a Go worker starts in ~2-6 ms.
"""


if __name__ == "__main__":
    asyncio.run(main())
