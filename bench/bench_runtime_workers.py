"""Warm worker round trip versus a process per call, for Node.js and isolated Python.

For each runtime: a trivial echo node called N times through the real runtime (``invoke``:
NodeCall -> execute frame -> worker -> result -> NodeResult) on one warm worker, against
spawning the real interpreter binary (``node``, ``sys.executable``) per call for the same echo,
in the same run. Prints a table; bench/results/workers.md records runs with the analysis.
Run: ``python bench/bench_runtime_workers.py``.
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
from pathlib import Path

from atomiton.nodes.context import Reporter
from atomiton.nodes.definition import NodeDefinition, RuntimeSpec
from atomiton.runtimes.base import NodeCall, NullReporter
from atomiton.runtimes.isolated import IsolatedPythonRuntime
from atomiton.runtimes.javascript import JavaScriptRuntime
from atomiton.runtimes.worker.rpc import WorkerConnection
from atomiton.runtimes.worker.supervisor import WorkerPool

ROOT = Path(__file__).resolve().parents[1]
WARM_CALLS = 5000
SPAWN_CALLS = 30
ECHO_JS = "export const echo = (inputs) => ({ output: inputs.value });\n"
ECHO_PY = "def echo(value):\n    return value\n"
SPAWN_JS = "process.stdout.write(JSON.stringify({output: JSON.parse(process.argv[1]).value}))"
SPAWN_PY = "import json, sys; print(json.dumps({'output': json.loads(sys.argv[1])['value']}))"


Runtime = JavaScriptRuntime | IsolatedPythonRuntime


async def warm_invoke(runtime: Runtime, call: NodeCall) -> list[float]:
    reporter: Reporter = NullReporter()
    for _ in range(200):  # start the worker, load the module, warm the JITs
        await runtime.invoke(call, reporter)
    rounds = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(WARM_CALLS // 5):
            await runtime.invoke(call, reporter)
        rounds.append((time.perf_counter() - start) / (WARM_CALLS // 5) * 1e6)
    return rounds


async def raw_round_trip(pool: WorkerPool) -> float:
    """One connection, a request the worker answers without running a node: transport floor."""
    worker: WorkerConnection = pool._idle[0]
    params = {"protocolVersion": "1.0", "engine": {"name": "bench", "version": "0"}}
    start = time.perf_counter()
    for _ in range(WARM_CALLS):
        await worker.request("initialize", params)
    return (time.perf_counter() - start) / WARM_CALLS * 1e6


def spawn_per_call(argv: list[str]) -> float:
    payload = json.dumps({"value": 1})
    subprocess.run([*argv, payload], check=True, capture_output=True)
    start = time.perf_counter()
    for _ in range(SPAWN_CALLS):
        out = subprocess.run([*argv, payload], check=True, capture_output=True).stdout
        assert json.loads(out) == {"output": 1}
    return (time.perf_counter() - start) / SPAWN_CALLS * 1e6


def node_case(folder: Path, node: str) -> tuple[Runtime, NodeCall, list[str]]:
    spec = RuntimeSpec("javascript", "echo.mjs", "echo", str(folder))
    call = NodeCall(
        "r", "n", NodeDefinition(id="echo", runtime=spec), {"value": 1}, {}, artifact_dir=folder
    )
    return JavaScriptRuntime(pool_size=1), call, [node, "-e", SPAWN_JS]


def python_case(folder: Path) -> tuple[Runtime, NodeCall, list[str]]:
    spec = RuntimeSpec("python", "bench_echo", "echo", str(folder / "bench_echo.py"), True)
    call = NodeCall(
        "r", "n", NodeDefinition(id="echo", runtime=spec), {"value": 1}, {}, artifact_dir=folder
    )
    return IsolatedPythonRuntime(pool_size=1), call, [sys.executable, "-c", SPAWN_PY]


HEADER = (
    "| runtime | warm invoke, median µs | best round µs | transport floor µs "
    "| process per call µs | speed-up (median) |"
)


async def main() -> None:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "echo.mjs").write_text(ECHO_JS)
        (folder / "bench_echo.py").write_text(ECHO_PY)
        node = shutil.which("node")
        cases = [("Node.js", node_case(folder, node))] if node else []
        cases.append(("isolated Python", python_case(folder)))
        for name, (runtime, call, argv) in cases:
            warm = await warm_invoke(runtime, call)
            raw = await raw_round_trip(runtime.pool)
            await runtime.aclose()
            rows.append((name, statistics.median(warm), min(warm), raw, spawn_per_call(argv)))
    lines = [HEADER, "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for name, median, best, raw, spawn in rows:
        cells = [
            name,
            f"{median:.1f}",
            f"{best:.1f}",
            f"{raw:.1f}",
            f"{spawn:,.0f}",
            f"{spawn / median:,.0f}x",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    table = "\n".join(lines)
    print(table)
    machine = f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    print(f"\n{machine}, {time.ctime()}; record runs and analysis in bench/results/workers.md")


if __name__ == "__main__":
    asyncio.run(main())
