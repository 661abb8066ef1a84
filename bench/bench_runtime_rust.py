"""Per-call overhead of the ``rust`` runtime, against its baselines, in one run.

The node is ``native-add`` (``atomiton_native.add``: two dicts in, one dict out), so the time is
almost all call overhead. Measured, best of several repeats:

- direct:        ``atomiton_native.add(inputs, parameters)`` from Python (the floor);
- inline:        ``await RustRuntime.invoke(call)`` with ``options.inline`` (the manifest's choice);
- thread:        the same through the runtime's thread pool (the default for long handlers);
- spawn:         a fresh ``python -c`` process per call doing the same work (the baseline the
                 issue names: a process per call).

Run: ``.venv/bin/python bench/bench_runtime_rust.py`` (writes bench/results/rust.md unless
``--no-write``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import atomiton_native

from atomiton.nodes.manifest import load_manifest
from atomiton.runtimes.base import NodeCall, NullReporter
from atomiton.runtimes.rust import RustRuntime

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "rust.md"


def best_per_call(run: Callable[[int], float], n: int, repeats: int) -> float:
    """Seconds per call: the fastest of ``repeats`` timed loops of ``n`` calls."""
    return min(run(n) for _ in range(repeats)) / n


def direct(n: int) -> float:
    add, inputs, parameters = atomiton_native.add, {"a": 1}, {"b": 2}
    started = time.perf_counter()
    for _ in range(n):
        add(inputs, parameters)
    return time.perf_counter() - started


async def through_runtime(runtime: RustRuntime, call: NodeCall, n: int) -> float:
    reporter = NullReporter()
    await runtime.invoke(call, reporter)  # import and handler lookup happen once, here
    started = time.perf_counter()
    for _ in range(n):
        await runtime.invoke(call, reporter)
    return time.perf_counter() - started


def spawn(n: int) -> float:
    code = "import atomiton_native; atomiton_native.add({'a': 1}, {'b': 2})"
    started = time.perf_counter()
    for _ in range(n):
        subprocess.run([sys.executable, "-c", code], check=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()

    node = next(
        d
        for d in load_manifest(ROOT / "src/atomiton/library/manifests/native.node.yaml")
        if d.id == "native-add"
    )
    threaded = replace(node, runtime=replace(node.runtime, options={}))
    inline_call = NodeCall("bench", "add", node, {"a": 1}, {"b": 2})
    thread_call = NodeCall("bench", "add", threaded, {"a": 1}, {"b": 2})

    async def measure() -> tuple[float, float]:
        runtime = RustRuntime()
        await runtime.start()
        try:
            inline = min([await through_runtime(runtime, inline_call, 200_000) for _ in range(5)])
            thread = min([await through_runtime(runtime, thread_call, 20_000) for _ in range(3)])
            return inline / 200_000, thread / 20_000
        finally:
            await runtime.aclose()

    t_direct = best_per_call(direct, 500_000, 5)
    t_inline, t_thread = asyncio.run(measure())
    t_spawn = best_per_call(spawn, 20, 2)

    us = 1e6
    rows = [
        ("direct Python call of atomiton_native.add", t_direct, "floor"),
        ("RustRuntime.invoke, inline (native-add manifest)", t_inline, "target <= 2 us"),
        ("RustRuntime.invoke, thread pool", t_thread, "default for long handlers"),
        ("process per call (python -c, same work)", t_spawn, "baseline"),
    ]
    lines = [
        "# Rust native runtime: per-call overhead",
        "",
        f"Machine: {platform.machine()}, {platform.python_implementation()} "
        f"{platform.python_version()}, 2 cores; measured by `bench/bench_runtime_rust.py` "
        f"in one run (best of several loops); load average {os.getloadavg()[0]:.1f}.",
        "",
        "| path | per call | note |",
        "| --- | ---: | --- |",
        *[f"| {name} | {t * us:,.2f} µs | {note} |" for name, t, note in rows],
        "",
        f"- runtime overhead over the direct call, inline: **{(t_inline - t_direct) * us:.2f} µs**"
        f" (total {t_inline * us:.2f} µs per call; target ≤ 2 µs: "
        f"{'met' if t_inline <= 2e-6 else 'NOT met'})",
        f"- thread-pool path overhead over the direct call: {(t_thread - t_direct) * us:.1f} µs",
        f"- process per call / inline invoke: **{t_spawn / t_inline:,.0f}x** "
        f"(thread path: {t_spawn / t_thread:,.0f}x)",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        section = RESULTS.read_text() if RESULTS.exists() else ""
        marker = "# Rust native: process_large_csv"
        tail = section[section.index(marker) :] if marker in section else ""
        RESULTS.write_text(text + ("\n" + tail if tail else ""))


if __name__ == "__main__":
    main()
