"""Per-node overhead of RayEngine against raw Ray tasks on the same 1,000-node graphs.

Graphs (trivial nodes: ``inc(x) = x + 1``), both run on one local Ray (``num_cpus=2``) in the
same process, after a warm-up, best of ``--repeat``:

    chain    n0 -> n1 -> ... -> n999
    fan-out  src -> {n0 .. n998}

Baselines, with the same task options (``num_cpus=0.25, max_retries=0``):

- raw Ray, pipelined: every task submitted up front, dependencies passed as ObjectRefs (Ray's
  best case: no driver round trip between nodes);
- raw Ray, stepwise: the driver awaits each task before submitting its dependants (what any
  scheduler that decides node by node on the driver must do).

RayEngine runs without history (``store=None``) so the figure is the engine's own cost, twice:
as it ships (a chain of fast nodes runs as fused tasks, a fan-out of fast calls in batches; see
docs/ray.md) and with fusion and batching off (``fuse_budget_s=0``: one Ray task per node, the
figure for nodes too slow to fuse). Each run is a fresh engine, so it learns the nodes'
durations within the timed run. Writes bench/results/ray.md.
Usage: ``python bench/bench_ray_overhead.py [--nodes 1000] [--repeat 3]``
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from atomiton import node


@node
def inc(x: int = 0) -> int:
    return x + 1


def chain(n: int) -> dict[str, Any]:
    nodes = [{"id": f"n{i}", "type": "inc"} for i in range(n)]
    edges = [
        {"source": f"n{i}", "target": f"n{i + 1}", "sourceHandle": "output", "targetHandle": "x"}
        for i in range(n - 1)
    ]
    return {"id": "chain", "name": "chain", "nodes": nodes, "edges": edges}


def fan_out(n: int) -> dict[str, Any]:
    nodes = [{"id": "src", "type": "inc"}, *({"id": f"n{i}", "type": "inc"} for i in range(n - 1))]
    edges = [
        {"source": "src", "target": f"n{i}", "sourceHandle": "output", "targetHandle": "x"}
        for i in range(n - 1)
    ]
    return {"id": "fan", "name": "fan", "nodes": nodes, "edges": edges}


def best(fn: Callable[[], float], repeat: int) -> float:
    return min(fn() for _ in range(repeat))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "ray.md"))
    args = parser.parse_args()
    n, repeat = args.nodes, args.repeat

    import ray

    from atomiton import NodeRegistry
    from atomiton.engines.ray import RayEngine

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)

    @ray.remote(num_cpus=0.25, max_retries=0)
    def inc_task(x: int) -> int:
        return x + 1

    def raw_chain_pipelined() -> float:
        t = time.perf_counter()
        ref = inc_task.remote(0)
        for _ in range(n - 1):
            ref = inc_task.remote(ref)
        assert ray.get(ref) == n
        return time.perf_counter() - t

    def raw_fan_pipelined() -> float:
        t = time.perf_counter()
        src = inc_task.remote(0)
        assert ray.get([inc_task.remote(src) for _ in range(n - 1)]) == [2] * (n - 1)
        return time.perf_counter() - t

    async def stepwise_chain() -> None:
        value = 0
        for _ in range(n):
            value = await inc_task.remote(value)
        assert value == n

    async def stepwise_fan() -> None:
        src = await inc_task.remote(0)
        assert await asyncio.gather(*(inc_task.remote(src) for _ in range(n - 1))) == [2] * (n - 1)

    def timed(coro: Callable[[], Any]) -> Callable[[], float]:
        def run() -> float:
            t = time.perf_counter()
            asyncio.run(coro())
            return time.perf_counter() - t

        return run

    registry = NodeRegistry.default([__file__])

    def engine_run(blueprint: dict[str, Any], **options: Any) -> Callable[[], float]:
        async def go() -> None:
            async with RayEngine(registry=registry, store=None, **options) as engine:
                result = await engine.execute(blueprint)
                assert result.ok, result.error

        return timed(go)

    # warm up workers and imports on every path
    raw_fan_pipelined()
    engine_run(fan_out(64))()
    engine_run(fan_out(64), fuse_budget_s=0)()

    rows = []
    for name, bp, raw, step in (
        ("chain", chain(n), raw_chain_pipelined, timed(stepwise_chain)),
        ("fan-out", fan_out(n), raw_fan_pipelined, timed(stepwise_fan)),
    ):
        raw_s = best(raw, repeat)
        step_s = best(step, repeat)
        engine_s = best(engine_run(bp), repeat)
        single_s = best(engine_run(bp, fuse_budget_s=0), repeat)
        rows.append((name, raw_s, step_s, engine_s, single_s))
        print(
            f"{name:8} raw {raw_s * 1e3 / n:.3f} ms/node  stepwise {step_s * 1e3 / n:.3f}  "
            f"RayEngine {engine_s * 1e3 / n:.3f} ({engine_s / raw_s:.2f}x raw, "
            f"{engine_s / step_s:.2f}x stepwise)  one task per node {single_s * 1e3 / n:.3f} "
            f"({single_s / raw_s:.2f}x raw, {single_s / step_s:.2f}x stepwise)",
            flush=True,
        )
    ray.shutdown()
    write_report(Path(args.out), n, repeat, rows, ray.__version__)


def write_report(
    path: Path,
    n: int,
    repeat: int,
    rows: list[tuple[str, float, float, float, float]],
    version: str,
) -> None:
    import atomiton

    lines = [
        "# RayEngine overhead against raw Ray tasks",
        "",
        f"Measured {dt.date.today().isoformat()} by `bench/bench_ray_overhead.py` on "
        f"{platform.machine()} ({os.cpu_count()} cores), {platform.system()}, Python "
        f"{sys.version.split()[0]}, Ray {version}, atomiton {atomiton.__version__}; local Ray "
        f"with `num_cpus=2`, {n}-node graphs of trivial nodes, best of {repeat}, same process.",
        "",
        "| graph | raw Ray, pipelined | raw Ray, stepwise | RayEngine | / raw pipelined "
        "| / raw stepwise | RayEngine, one task per node | / raw pipelined | / raw stepwise |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, raw_s, step_s, engine_s, single_s in rows:
        lines.append(
            f"| {name} | {raw_s * 1e3 / n:.3f} ms/node | {step_s * 1e3 / n:.3f} ms/node | "
            f"{engine_s * 1e3 / n:.3f} ms/node | {engine_s / raw_s:.2f}x | "
            f"{engine_s / step_s:.2f}x | {single_s * 1e3 / n:.3f} ms/node | "
            f"{single_s / raw_s:.2f}x | {single_s / step_s:.2f}x |"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    existing = path.read_text() if path.exists() else ""
    notes = existing.split("<!-- notes -->", 1)[1] if "<!-- notes -->" in existing else ""
    path.write_text("\n".join(lines) + "\n\n<!-- notes -->" + notes)


if __name__ == "__main__":
    main()
