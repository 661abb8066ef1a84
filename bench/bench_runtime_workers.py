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
import contextlib
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
from dataclasses import replace
from pathlib import Path
from typing import Any, NamedTuple, Protocol

from atomiton.nodes.context import Reporter
from atomiton.nodes.definition import NodeDefinition, RuntimeSpec
from atomiton.nodes.manifest import load_manifest
from atomiton.runtimes.base import NodeCall, NodeResult, NullReporter
from atomiton.runtimes.golang import GoRuntime
from atomiton.runtimes.isolated import IsolatedPythonRuntime
from atomiton.runtimes.javascript import JavaScriptRuntime
from atomiton.runtimes.worker import busypoll
from atomiton.runtimes.worker.framing import FrameDecoder, encode_frame
from atomiton.runtimes.worker.rpc import WorkerConnection
from atomiton.runtimes.worker.supervisor import WorkerPool, WorkerSpec

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
    selector = busypoll.selector_of(asyncio.get_running_loop())

    async def echo() -> object:
        request_id = next(ids)
        await cat._write({"jsonrpc": "2.0", "id": request_id, "result": None})
        if selector is not None:
            selector.expect_answer()  # as send_request does
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


Launcher = Callable[[WorkerPool, dict[str, Any]], float]
"""µs per call of the language's own launcher doing the call's work, given the warm pool and
the ``execute`` params its worker got."""

Case = tuple[Runtime, NodeCall, Launcher]
"""A runtime, the call to time, and its language's launcher per call."""


def node_case(folder: Path, node: str) -> Case:
    spec = RuntimeSpec("javascript", "echo.mjs", "echo", str(folder))
    call = NodeCall(
        "r", "n", NodeDefinition(id="echo", runtime=spec), {"value": 1}, {}, artifact_dir=folder
    )
    payload = json.dumps({"value": 1})
    return (
        JavaScriptRuntime(pool_size=1),
        call,
        lambda _pool, _params: spawn_per_call([node, "-e", SPAWN_JS, payload]),
    )


def python_case(folder: Path) -> Case:
    spec = RuntimeSpec("python", "bench_echo", "echo", str(folder / "bench_echo.py"), True)
    call = NodeCall(
        "r", "n", NodeDefinition(id="echo", runtime=spec), {"value": 1}, {}, artifact_dir=folder
    )
    payload = json.dumps({"value": 1})
    argv = [sys.executable, "-c", SPAWN_PY, payload]
    return IsolatedPythonRuntime(pool_size=1), call, lambda _pool, _params: spawn_per_call(argv)


def go_case(folder: Path) -> Case:
    package = ROOT / "examples" / "nodes" / "go"
    reverse, _ = load_manifest(package / "node.yaml")
    runtime = GoRuntime(cache_dir=folder / "cache", pool_size=1)
    call = NodeCall("r", "n", reverse, {"text": "hello"}, {}, artifact_dir=folder)

    def go_run(pool: WorkerPool, params: dict[str, Any]) -> float:
        """``go run .`` in the node's package (build cache warm), the same session."""
        launcher = replace(pool.spec, argv=("go", "run", "."), cwd=str(package))
        return worker_per_call(launcher, params)

    return runtime, call, go_run


async def first_execute(runtime: Runtime, call: NodeCall) -> dict[str, Any]:
    """The ``execute`` params the runtime sends its worker for ``call`` (caught on the way)."""
    await runtime.invoke(call, NullReporter())  # starts the worker (Go: builds it first)
    pool = pool_of(runtime)
    real_call = pool.call
    seen: dict[str, Any] = {}

    async def spy(method: str, params: Any = None, **options: Any) -> Any:
        seen.setdefault(method, params)
        return await real_call(method, params, **options)

    pool.call = spy  # type: ignore[method-assign]
    try:
        await runtime.invoke(call, NullReporter())
    finally:
        del pool.call
    return dict(seen["execute"])


def worker_per_call(spec: WorkerSpec, params: dict[str, Any]) -> float:
    """The runtime's own worker program (same argv, env, folder) started for one call:
    ``initialize``, the same ``execute`` request, its answer, ``exit``: what a runtime without
    warm workers would do for every call."""
    messages: list[dict[str, Any]] = [
        {"jsonrpc": "2.0", "id": 1, "method": "initialize",
         "params": {"protocolVersion": "1.0", "engine": {"name": "bench", "version": "0"}}},
        {"jsonrpc": "2.0", "id": 2, "method": "execute", "params": params},
    ]  # fmt: skip
    session = b"".join(encode_frame(m) for m in messages)
    goodbye = encode_frame({"jsonrpc": "2.0", "method": "exit"})

    def once() -> None:
        worker = subprocess.Popen(
            spec.argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            cwd=spec.cwd,
            env=dict(spec.env) if spec.env is not None else None,
        )
        assert worker.stdin is not None and worker.stdout is not None
        worker.stdin.write(session)
        worker.stdin.flush()
        decoder, answered = FrameDecoder(), False
        while not answered:
            data = os.read(worker.stdout.fileno(), 1 << 16)
            assert data, f"{spec.name} ended before answering execute"
            for message in decoder.feed(data):
                if message.get("id") == 2:
                    assert "result" in message, message
                    answered = True
        worker.stdin.write(goodbye)
        worker.stdin.close()
        worker.wait()
        worker.stdout.close()

    once()
    start = time.perf_counter()
    for _ in range(SPAWN_CALLS):
        once()
    return (time.perf_counter() - start) / SPAWN_CALLS * 1e6


def cpu_seconds(pid: int) -> float | None:
    """CPU time of every thread of ``pid`` so far (Linux ``schedstat``), or None elsewhere."""
    try:
        tasks = Path(f"/proc/{pid}/task").iterdir()
        return sum(int((t / "schedstat").read_text().split()[0]) for t in tasks) / 1e9
    except (OSError, ValueError):
        return None


Placement = tuple[int, int] | None
"""(engine vCPU, worker vCPU) to pin both to, or None to leave placement to the kernel."""

PLACEMENTS: dict[str, Placement] = {"kernel": None, "apart": (0, 1), "together": (0, 0)}


def pin(pid: int, placement: Placement) -> None:
    """Pin this thread and every thread of worker ``pid`` as ``placement`` says (Linux)."""
    everywhere = set(range(os.cpu_count() or 1))
    engine_cpus, worker_cpus = (
        (everywhere, everywhere) if placement is None else ({placement[0]}, {placement[1]})
    )
    os.sched_setaffinity(0, engine_cpus)
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            os.sched_setaffinity(int(task.name), worker_cpus)


class Row(NamedTuple):
    name: str
    median: float
    best: float
    floor: float
    worker_spawn: float
    """The worker program started per call (initialize, execute, exit), µs."""
    launcher_spawn: float
    """The language's launcher per call (``node -e``, ``python -c``, ``go run``), µs."""
    engine_cpu: float
    """Engine CPU µs per call (all its threads, spinning included), busy polling on."""
    worker_cpu: float | None
    """The worker's CPU µs per call, where the platform reports it."""
    placed: dict[tuple[str, bool], float]
    """Median µs per call by (placement, busy polling on)."""


def pool_of(runtime: Runtime) -> WorkerPool:
    if isinstance(runtime, GoRuntime):
        return next(iter(runtime._pools.values()))
    assert isinstance(runtime, JavaScriptRuntime | IsolatedPythonRuntime)
    return runtime.pool


async def bench_case(name: str, runtime: Runtime, call: NodeCall, launcher: Launcher) -> Row:
    reporter: Reporter = NullReporter()
    selector = busypoll.selector_of(asyncio.get_running_loop())
    assert selector is not None, "run the benchmark on busypoll.new_event_loop()"
    spin = selector.spin_s
    try:
        params = await first_execute(runtime, call)  # the worker is up from here on
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
        placed: dict[tuple[str, bool], float] = {}
        if (os.cpu_count() or 1) >= 2 and hasattr(os, "sched_setaffinity"):
            for where, placement in PLACEMENTS.items():
                pin(pid, placement)
                for spinning in (True, False):
                    selector.spin_s = spin if spinning else 0.0
                    rounds = await rounds_us(lambda: runtime.invoke(call, reporter))
                    placed[where, spinning] = statistics.median(rounds)
        worker_spawn = worker_per_call(pool_of(runtime).spec, params)
        launcher_spawn = launcher(pool_of(runtime), params)
    finally:
        selector.spin_s = spin
        os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))
        await runtime.aclose()
    median = statistics.median(warm)
    return Row(
        name, median, min(warm), floor, worker_spawn, launcher_spawn, engine_cpu, worker_cpu, placed
    )


def placement_table(rows: list[Row]) -> str:
    lines = [
        "| runtime | kernel's placement, spin / no spin | pinned to two vCPUs, spin / no spin "
        "| pinned to one vCPU, spin / no spin |",
        "| --- | ---: | ---: | ---: |",
    ]
    for row in rows:
        if not row.placed:
            continue
        cells = [
            f"{row.placed[where, True]:.1f} / {row.placed[where, False]:.1f}"
            for where in PLACEMENTS
        ]
        lines.append(f"| {row.name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


async def main() -> None:
    rows: list[Row] = []
    floors: list[tuple[float, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "echo.mjs").write_text(ECHO_JS)
        (folder / "bench_echo.py").write_text(ECHO_PY)
        node = shutil.which("node")
        cases: list[tuple[str, Case]] = []
        if node:
            cases.append(("Node.js", node_case(folder, node)))
        if shutil.which("go"):
            cases.append(("Go (example Reverse)", go_case(folder)))
        cases.append(("isolated Python", python_case(folder)))
        for name, (runtime, call, launcher) in cases:
            floors.append((cat_floor_sync(), await cat_floor_async()))
            rows.append(await bench_case(name, runtime, call, launcher))
    cat_sync = statistics.median(f[0] for f in floors)
    cat_async = statistics.median(f[1] for f in floors)
    lines = [
        "| runtime | warm invoke, median µs | best round µs | initialize floor µs "
        "| engine CPU µs/call | worker CPU µs/call | worker per call µs | speed-up "
        "| launcher per call µs | speed-up |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
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
            f"{row.worker_spawn:,.0f}",
            f"{row.worker_spawn / row.median:,.0f}x",
            f"{row.launcher_spawn:,.0f}",
            f"{row.launcher_spawn / row.median:,.0f}x",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    table = "\n".join(lines)
    floor_line = (
        f"Floor, a frame through `cat` in the same run (median of {len(floors)} measurements, "
        f"one before each runtime): {cat_sync:.1f} µs with blocking os.write/os.read, "
        f"{cat_async:.1f} µs on the engine's asyncio connection (WorkerConnection, busy "
        "polling on)."
    )
    machine = (
        f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"load average {os.getloadavg()[0]:.1f} at the end, {time.strftime('%Y-%m-%d %H:%M')}"
    )
    placed = placement_table(rows)
    text = (
        f"{table}\n\n{floor_line}\n\nBy placement (median µs per call; busy polling on / off, "
        f"the same worker, in the same run):\n\n{placed}\n\nMachine: {machine}.\n"
    )
    print(text)
    RESULTS.write_text(HEADER + text + NOTES)


HEADER = """# Worker runtimes: warm round trip versus a process per call

`bench/bench_runtime_workers.py` (run: `python bench/bench_runtime_workers.py`; about 15 s).
A trivial node (Node.js and Python: `{value} -> {output: value}`; Go: the example `Reverse`)
called through the real runtime `invoke` (NodeCall -> `execute` frame -> worker -> result frame
-> NodeResult) on one warm worker, 5 rounds of 1,000 calls after 200 warm-up calls, on the loop
`atomiton run` uses (busy polling on, see below). Two baselines per runtime, in the same run:

- **worker per call**: the runtime's own worker program (same argv, environment and folder as
  the pool's) started for one call: `initialize`, the same `execute` request the warm worker got,
  its answer, `exit`. This is what a runtime without warm workers would do for every call.
- **launcher per call**: the language's own launcher doing the work with nothing of ours in it:
  `node -e`, `python -c` (the interpreter binary, no shell), and `go run .` in the node's
  package (build cache warm).

"initialize floor" is a bare request/response on the same warm connection that runs no node.
The second table runs the same worker again with the engine and the worker pinned to two vCPUs
or to one, busy polling on and off, to show where the time goes.

## Latest run

"""

NOTES = """
## Where the time goes

A warm call is two pipe writes, each waking the other process. On this 2-core Firecracker VM a
wake-up of a process on the *other* vCPU costs ~20 µs (an inter-processor interrupt through the
hypervisor, the target vCPU often halted), against ~2 µs on the same vCPU: a frame through `cat`
takes ~46 µs across vCPUs and ~5 µs on one, and which one a run got used to decide whether a
worker met 60 µs (earlier runs: Node.js 36-50 or 67-90 µs from one run to the next).

- **Busy polling** (`atomiton.runtimes.worker.busypoll`, docs/worker-protocol.md): for up to
  100 µs after each request, when nothing else is ready, the engine's loop polls instead of
  sleeping, so the answer needs no wake-up. Pinned to two vCPUs: Node.js ~72 -> ~46 µs, isolated
  Python ~75 -> ~45, Go ~67 -> ~45 (the table above, spin / no spin). On one vCPU it changes
  nothing (the worker runs first: the loop yields between polls). The cost is CPU: the engine
  column above includes the spinning (~10-20 µs a call more than without).
- **Go SDK**: a call runs on the goroutine that read it; only once a call asks `ctx.Done()` or
  `ctx.Err()` does reading move to a goroutine of its own (so a cancel still arrives). The
  goroutine per call and its yield cost 7-12 µs: Reverse went from ~53 to ~43 µs.
- **Engine** (`atomiton.runtimes.worker.rpc`): plain non-blocking pipes, one `os.write` per
  request, one reader callback per worker, one event-loop turn per response; its own work is
  ~20 µs of CPU a call, of which the `write` that wakes the worker is ~8.
- **Workers**: Node.js answers a synchronous handler inside the `data` event that brought the
  request, one `fs.writeSync` per frame; the isolated Python worker reads, runs and writes on
  one thread; the Go SDK decodes an `execute` in one pass and builds the response around the
  encoded result.

A thread that reads frames and resolves futures with `loop.call_soon_threadsafe` was measured
earlier against the same Node.js worker: ~110 µs a call, since it adds a third wake-up.

## Ten runs, 2026-11-27 (quiet machine, load average under 1.5)

Median µs per call of each run: range over the ten runs (median of the ten). "Apart" and
"together" are the pinned placements of the second table; the speed-ups are each run's own.

| runtime | warm invoke | kernel's: spin / no spin | apart: spin / no spin | together: spin |
| --- | ---: | ---: | ---: | ---: |
| Node.js | 45.8-63.5 (48.5) | 42.9-51.6 / 67.9-87.0 | 44.1-46.5 / 68.4-84.1 | 30.6-33.5 |
| Go (Reverse) | 42.8-56.0 (48.5) | 41.8-58.2 / 53.1-77.3 | 41.5-56.1 / 62.8-81.3 | 31.8-45.8 |
| isolated Python | 41.8-62.7 (44.2) | 41.4-46.3 / 67.1-90.6 | 41.8-53.3 / 67.0-83.7 | 33.7-38.1 |

| runtime | worker per call: ms, speed-up | launcher per call: ms, speed-up |
| --- | ---: | ---: |
| Node.js | 84-96, 1,392-1,915x | `node -e` 50-60, 840-1,134x |
| Go (Reverse) | 1.3-1.5, 24-33x | `go run` 60-72, 1,173-1,497x |
| isolated Python | 67-82, 1,312-1,723x | `python -c` 14-17, 259-389x |

## Against the targets (<= 60 µs warm, >= 800x a process per call)

- **<= 60 µs**: met by Go in all ten runs and by Node.js and isolated Python in nine (one run
  each at 63.5 and 62.7 µs, whose placement rows, measured seconds later on the same worker,
  came in at 43-53 µs: the host was busy for a while). All 90 pinned or kernel-placed
  measurements with busy polling were at or under 58.2 µs; without busy polling only the
  one-vCPU placement meets it.
- **>= 800x a process per call**: Node.js meets it against both baselines. Isolated Python
  meets it against its worker per call (the worker starts in 67-82 ms) but not against a bare
  `python -c` (~15 ms: 800x would need ~18 µs, less than the engine's own asyncio round trip
  through `cat`, ~23 µs). Go meets it against `go run` but not against its prebuilt worker
  binary started per call (~1.4 ms: 800x of that is 1.75 µs a call, under twice the in-process
  Rust native call, 0.92 µs, which crosses no process boundary and encodes no JSON).
"""


if __name__ == "__main__":
    busypoll.run(main())
