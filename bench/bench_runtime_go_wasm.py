"""Per-call overhead of the ``golang`` and ``wasm`` runtimes, warm, against a process per call.

Go: ``GoRuntime.invoke`` of the example ``Reverse`` node on a warm worker, against spawning the
same built worker binary per call (initialize, one execute, exit over its pipes).
WASM: ``WasmRuntime.invoke`` of a trivial node (a WAT module answering a constant) and of the
Go-built ``textops`` reverse node, inline and on a thread, against (a) a fresh wasmtime instance
per call from the cached compiled module and (b) a Python process per call that loads wasmtime,
maps the cached module in and runs the same request.

Run: ``python bench/bench_runtime_go_wasm.py`` (after scripts/setup). Writes
bench/results/go-wasm.md.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path

from atomiton.nodes.definition import NodeDefinition, RuntimeSpec
from atomiton.nodes.manifest import load_manifest
from atomiton.runtimes.base import NodeCall, NullReporter
from atomiton.runtimes.golang import GoRuntime
from atomiton.runtimes.wasm import WasmRuntime
from atomiton.runtimes.worker import busypoll

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results" / "go-wasm.md"

TRIVIAL_WAT = """(module (memory (export "memory") 1)
  (data (i32.const 16) "{\\"outputs\\":{\\"output\\":\\"pong\\"}}")
  (func (export "atomiton_alloc") (param i32) (result i32) (i32.const 4096))
  (func (export "atomiton_execute") (param i32 i32) (result i64) (i64.const 0x100000001d)))
"""  # 0x10 << 32 | 29: the 29-byte answer at offset 16

ONE_CALL = """
import ctypes, json, sys, wasmtime
cwasm, request = sys.argv[1], sys.argv[2].encode()
config = wasmtime.Config()
config.epoch_interruption = True
engine = wasmtime.Engine(config)
module = wasmtime.Module.deserialize_file(engine, cwasm)
linker = wasmtime.Linker(engine)
linker.define_wasi()
for name, params in (("log", 3), ("progress", 3)):
    types = [wasmtime.ValType.f64() if name == "progress" else wasmtime.ValType.i32()]
    types += [wasmtime.ValType.i32()] * (params - 1)
    linker.define_func("atomiton", name, wasmtime.FuncType(types, []), lambda *a: None)
store = wasmtime.Store(engine)
store.set_epoch_deadline(1)
store.set_wasi(wasmtime.WasiConfig())
exports = linker.instantiate(store, module).exports(store)
if "_initialize" in exports:
    exports["_initialize"](store)
memory = exports["memory"]
ptr = exports["atomiton_alloc"](store, len(request))
memory.write(store, request, ptr)
packed = exports["atomiton_execute"](store, ptr, len(request))
out = memory.read(store, packed >> 32, (packed >> 32) + (packed & 0xFFFFFFFF))
print(json.loads(out)["outputs"]["output"])
"""


async def per_call_us(invoke: Callable[[], Awaitable[object]], calls: int) -> float:
    for _ in range(min(200, calls)):  # warm up: workers started, instances pooled
        await invoke()
    rounds = []
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(calls):
            await invoke()
        rounds.append((time.perf_counter() - started) / calls * 1e6)
    return statistics.median(rounds)


def spawn_us(argv: list[str], stdin: bytes, calls: int) -> float:
    started = time.perf_counter()
    for _ in range(calls):
        subprocess.run(argv, input=stdin, capture_output=True, check=True)
    return (time.perf_counter() - started) / calls * 1e6


def frame(message: dict[str, object]) -> bytes:
    body = json.dumps(message, separators=(",", ":")).encode()
    return b"Content-Length: %d\r\n\r\n%s" % (len(body), body)


async def bench_go(cache: Path) -> list[tuple[str, float, float | None, float]]:
    reverse, _ = load_manifest(REPO / "examples" / "nodes" / "go" / "node.yaml")
    runtime = GoRuntime(cache_dir=cache, pool_size=1)
    call = NodeCall("bench", "n", reverse, {"text": "hello"}, {}, artifact_dir=cache)
    try:
        warm = await per_call_us(lambda: runtime.invoke(call, NullReporter()), 2000)
        binary = next(iter(runtime._binaries.values()))
    finally:
        await runtime.aclose()
    session = frame(
        {"jsonrpc": "2.0", "id": 1, "method": "initialize",
         "params": {"protocolVersion": "1.0", "engine": {"name": "bench", "version": "0"}}}
    ) + frame(
        {"jsonrpc": "2.0", "id": 2, "method": "execute",
         "params": {"runId": "b", "nodeId": "n", "attempt": 1, "nodeType": "t", "module": ".",
                    "handler": "Reverse", "inputs": {"text": "hello"}, "parameters": {},
                    "artifactDir": ".", "timeoutMs": None}}
    ) + frame({"jsonrpc": "2.0", "method": "exit"})  # fmt: skip
    cold = spawn_us([str(binary)], session, 100)
    return [("Go: warm worker (GoRuntime.invoke, example Reverse)", warm, None, cold)]


async def bench_wasm(cache: Path, work: Path) -> list[tuple[str, float, float | None, float]]:
    (work / "trivial.wat").write_text(TRIVIAL_WAT)
    textops = REPO / "examples" / "nodes" / "wasm"

    def definition(folder: Path, module: str, handler: str, **options: object) -> NodeDefinition:
        spec = RuntimeSpec("wasm", module, handler, str(folder), options=options)
        return NodeDefinition("bench", runtime=spec)

    cases = [
        (
            "WASM: trivial WAT node, inline: true",
            definition(work, "trivial.wat", "run", inline=True),
        ),
        ("WASM: trivial WAT node, default (adaptive)", definition(work, "trivial.wat", "run")),
        (
            "WASM: trivial WAT node, inline: false (a thread)",
            definition(work, "trivial.wat", "run", inline=False),
        ),
        (
            "WASM: Go-built reverse, default (adaptive)",
            definition(textops, "textops.wasm", "reverse"),
        ),
    ]
    runtime = WasmRuntime(cache_dir=cache, pool_size=1)
    rows: list[tuple[str, float, float | None, float]] = []
    try:
        for label, node in cases:
            call = NodeCall("bench", "n", node, {"text": "hello"}, {})
            warm = await per_call_us(partial(runtime.invoke, call, NullReporter()), 3000)
            fresh = WasmRuntime(cache_dir=cache, pool_size=1)  # an instance per call, no pooling
            fresh_call = await per_call_us(partial(_fresh, fresh, call), 30)
            await fresh.aclose()
            cwasm = next(
                p for p in (cache / "wasm").glob("*.cwasm") if p.stat().st_size and _is(p, node)
            )
            request = json.dumps({"handler": node.runtime.handler, "inputs": {"text": "hello"}})
            cold = spawn_us([sys.executable, "-c", ONE_CALL, str(cwasm), request], b"", 15)
            rows.append((label, warm, fresh_call, cold))
    finally:
        await runtime.aclose()
    return rows


FAN_OUT, FAN_ROUNDS = 100, 30


async def bench_fan_out(cache: Path, work: Path) -> list[tuple[str, float, float]]:
    """Wall and event-loop CPU µs per call when 100 calls of the trivial node run at once."""
    rows = []
    for label, inline in (("inline: false (threads)", False), ("default (adaptive)", None)):
        options = {} if inline is None else {"inline": inline}
        spec = RuntimeSpec("wasm", "trivial.wat", "run", str(work), options=options)
        call = NodeCall("bench", "n", NodeDefinition("bench", runtime=spec), {"text": "hi"}, {})
        runtime = WasmRuntime(cache_dir=cache, pool_size=os.cpu_count() or 2)
        try:
            for _ in range(200):  # warm: instances pooled, the adaptive node moved inline
                await runtime.invoke(call, NullReporter())
            loop_cpu, started = time.thread_time(), time.perf_counter()
            for _ in range(FAN_ROUNDS):
                await asyncio.gather(
                    *(runtime.invoke(call, NullReporter()) for _ in range(FAN_OUT))
                )
            calls = FAN_OUT * FAN_ROUNDS
            wall = (time.perf_counter() - started) / calls * 1e6
            rows.append((label, wall, (time.thread_time() - loop_cpu) / calls * 1e6))
        finally:
            await runtime.aclose()
    return rows


async def _fresh(runtime: WasmRuntime, call: NodeCall) -> object:
    runtime._idle.clear()
    return await runtime.invoke(call, NullReporter())


def _is(cwasm: Path, node: NodeDefinition) -> bool:
    import hashlib

    source = Path(node.runtime.path or ".") / node.runtime.module
    return cwasm.name.startswith(hashlib.sha256(source.read_bytes()).hexdigest()[:32])


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        cache, work = Path(tmp) / "cache", Path(tmp)
        rows = await bench_go(cache) + await bench_wasm(cache, work)
        fan_out = await bench_fan_out(cache, work)
    lines = [
        "# Go and WASM runtimes: per-call overhead",
        "",
        f"Machine: {platform.machine()}, {platform.system()}, Python "
        f"{platform.python_version()}, {os.cpu_count()} cores, load average "
        f"{os.getloadavg()[0]:.1f} at the end. Median of 5 rounds; "
        "`bench/bench_runtime_go_wasm.py`.",
        "",
        "| case | warm µs/call | fresh instance µs/call | process per call µs | process / warm |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for label, warm, fresh, cold in rows:
        fresh_text = f"{fresh:,.0f}" if fresh is not None else "n/a"
        lines.append(
            f"| {label} | {warm:,.1f} | {fresh_text} | {cold:,.0f} | {cold / warm:,.0f}x |"
        )
    lines += [
        "",
        f"WASM, trivial WAT node, {FAN_OUT} calls at once ({FAN_ROUNDS} rounds, a pool of "
        f"{os.cpu_count()} instances):",
        "",
        "| where calls run | wall µs per call | event-loop CPU µs per call |",
        "| --- | ---: | ---: |",
    ]
    lines += [f"| {label} | {wall:,.1f} | {cpu:,.1f} |" for label, wall, cpu in fan_out]
    text = "\n".join(lines) + "\n"
    print(text)
    RESULTS.write_text(text + RESULTS_NOTES)


RESULTS_NOTES = """
Baselines, measured in the same run: for Go, the same worker binary spawned per call (initialize,
one execute, exit over its pipes); for WASM, (a) a new wasmtime instance per call from the cached
compiled module, in-process ("fresh instance"), and (b) a Python process per call that maps the
cached compiled module in and makes the same call ("process per call").

Against the targets (<= 10 us warm for WASM, <= 60 us for Go, >= 800x faster than a process per
call):

- WASM inline: ~5-7 us a call for the trivial module, under the 10 us target, thousands of
  times faster than a process per call. Per call: the request encoded by a C JSON encoder built
  once (json.dumps with options built a JSONEncoder, and that a C encoder, on every call), one
  memmove into the buffer atomiton_alloc returned earlier, the export called through wasmtime's
  C function directly (not its Python wrapper) with prebuilt arguments, the memory's base address
  looked up again only when the memory grew, the response decoded by the C scanner. The instance
  (store, WASI configuration, limits, epoch deadline) is set up once and reused, as before; a
  trapped or interrupted instance is never reused. The Go-built reverse node costs more because
  its own code (the Go runtime inside the module, JSON in Go) runs longer.
- WASM by default: a reactor module without granted directories starts on a worker thread and,
  once its calls keep finishing under 100 us, runs inline (runtimes/inline.py's policy; an
  inline call that passes 10 ms is interrupted and run again on a thread, and the node stays
  there), so a quick node costs about what `inline: true` costs. The warm figure is the median
  of rounds after the warm-up, by which time the node has moved inline.
- WASM with `inline: false` (or a granted directory, or the command ABI): every call is handed
  to a worker thread, ~50-80 us; it misses the 10 us target by design, and still beats a
  process per call by hundreds of times.
- Fan-out (the second table): threads do not win back their hand-off when many quick calls run
  at once. The event loop spends ~50 us of its own CPU per hand-off (submitting, collecting the
  result) and more when the GIL passes back and forth with the pool threads, so 100 concurrent
  calls of the trivial node cost ~570 us of wall time each on threads against ~11 us inline.
  This is why the adaptive policy moves such a node inline rather than only sequential ones.
- Go: ~16-21 us a call now that the worker polls for its next request and the engine reads
  the answer in place; see bench/results/workers.md (the same worker, with floors, placements,
  CPU per call and `go run` per call as a second baseline). The 800x ratio is not reachable
  against the prebuilt Go binary, which starts in ~1.5 ms: 800x would be ~1.9 us a call.
"""


if __name__ == "__main__":
    busypoll.run(main())
