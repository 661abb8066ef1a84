"""Scheduling overhead: microseconds per node on 10,000-node Blueprints of trivial nodes.

Graphs (the same three for every engine): a chain, a wide fan-out/fan-in, and a random DAG
with about three edges per node (seeded). The node function does nothing (returns 1), so
what is measured is the cost of scheduling, calling and recording a node.

Engines, all in this process, same graphs:
- atomiton LocalEngine with events and history on (a SQLite file store and an event
  subscriber), validation and planning included; the Blueprint is loaded beforehand; one
  warm-up run, whose history is written before the timed run starts (the timed run's own
  history is written while it runs, by the writer process, as in use);
- a plain asyncio loop: one task per node awaiting its dependencies' futures;
- Dask's threaded scheduler (``dask.threaded.get``) on the equivalent task graph;
- Ray local tasks (``ray.init(num_cpus=2)``), ObjectRefs passed along the edges; measured after the
  others, with Ray shut down before and after, since its idle daemons would slow them.

Also checks that building the plan stays linear: plan time per node at 1k, 10k and 50k nodes.
Run: ``python bench/bench_scheduling.py [--nodes 10000] [--repeat 3] [--skip-ray]``.
``--profile chain|fan|random`` runs only atomiton on that graph under cProfile instead (after a
warm-up run), prints the phases' times and the functions that cost most, and writes nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import datetime as dt
import importlib.metadata
import os
import platform
import pstats
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from atomiton import LocalEngine, NodeRegistry, node
from atomiton.blueprint import Blueprint, load_blueprint
from atomiton.engines.collector import collector_spared
from atomiton.events import Event
from atomiton.plan import build_plan
from atomiton.validate import validate

Graph = list[list[int]]  # deps[i]: the nodes i depends on (all < i)


def trivial(*values: object) -> int:
    return 1


@node(id="trivial")
def trivial_node(a: object = None, b: object = None, c: object = None, d: object = None) -> int:
    return 1


def chain(n: int) -> Graph:
    return [[]] + [[i - 1] for i in range(1, n)]


def fan(n: int) -> Graph:
    """One source, n-2 middle nodes, one sink fed by the middle (in fours: a sink tree)."""
    deps: Graph = [[]] + [[0] for _ in range(n - 2)]
    middle = list(range(1, n - 1))
    deps.append(middle[:4])  # the sink joins the first four; the rest are sinks themselves
    return deps


def random_dag(n: int, edges_per_node: int = 3, seed: int = 7) -> Graph:
    rng = random.Random(seed)
    return [sorted(set(rng.sample(range(i), min(i, edges_per_node)))) for i in range(n)]


GRAPHS: dict[str, Callable[[int], Graph]] = {
    "chain": chain,
    "fan-out/fan-in": fan,
    "random DAG (3 edges/node)": random_dag,
}
SHAPES = dict(zip(("chain", "fan", "random"), GRAPHS, strict=True))  # --profile's short names
PORTS = ("a", "b", "c", "d")


def blueprint(deps: Graph) -> Blueprint:
    nodes = [{"id": f"n{i}", "type": "trivial"} for i in range(len(deps))]
    edges = [
        {"source": f"n{d}", "target": f"n{i}", "sourceHandle": "output", "targetHandle": PORTS[k]}
        for i, ds in enumerate(deps)
        for k, d in enumerate(ds[:4])
    ]
    return load_blueprint({"id": "bench", "name": "bench", "nodes": nodes, "edges": edges})


async def run_atomiton(deps: Graph, db: Path, profiler: cProfile.Profile | None = None) -> float:
    bp = blueprint(deps)
    seen = 0

    def count(_: Event) -> None:
        nonlocal seen
        seen += 1

    async with LocalEngine(registry=NodeRegistry([trivial_node]), store=str(db)) as engine:
        engine.subscribe(count)
        prepare = getattr(engine.store, "prepare", None)
        if prepare is not None:
            prepare(timeout=60)  # the history writer process is up before anything is timed
        await engine.execute(bp)  # warm-up: imports, inline promotion
        if engine.store is not None:
            engine.store.flush()  # the warm-up's history is written before the timed run
        if profiler is not None:
            profiler.enable()
        started = time.perf_counter()
        result = await engine.execute(bp)
        took = time.perf_counter() - started
        if profiler is not None:
            profiler.disable()
        assert result.ok, result.error
        if engine.store is not None:
            engine.store.flush()
    return took


async def run_asyncio(deps: Graph) -> float:
    loop = asyncio.get_running_loop()
    started = time.perf_counter()
    futures = [loop.create_future() for _ in deps]

    async def one(i: int) -> None:
        values = [await futures[d] for d in deps[i]]
        futures[i].set_result(trivial(*values))

    await asyncio.gather(*(one(i) for i in range(len(deps))))
    return time.perf_counter() - started


def run_dask(deps: Graph) -> float:
    import dask.threaded

    dsk: dict[str, Any] = {f"n{i}": (trivial, *(f"n{d}" for d in ds)) for i, ds in enumerate(deps)}
    sinks = _sinks(deps)
    started = time.perf_counter()
    dask.threaded.get(dsk, [f"n{i}" for i in sinks])
    return time.perf_counter() - started


def run_ray(deps: Graph) -> float:
    import ray

    remote = ray.remote(trivial)
    ray.get([remote.remote() for _ in range(50)])  # warm the workers
    started = time.perf_counter()
    refs: list[Any] = []
    for ds in deps:
        refs.append(remote.remote(*(refs[d] for d in ds)))
    ray.get([refs[i] for i in _sinks(deps)])
    return time.perf_counter() - started


def _sinks(deps: Graph) -> list[int]:
    used = {d for ds in deps for d in ds}
    return [i for i in range(len(deps)) if i not in used]


def profile(shape: str, nodes: int) -> None:
    """One atomiton run of ``shape`` under cProfile: phase times, then the costliest calls."""
    deps = GRAPHS[SHAPES[shape]](nodes)
    registry = NodeRegistry([trivial_node])
    bp = blueprint(deps)
    for phase, fn in (
        ("validate", lambda: validate(bp, registry)),
        ("plan", lambda: build_plan(bp, registry)),
    ):
        fn()
        started = time.perf_counter()
        with collector_spared(nodes):
            fn()
        print(f"{phase:10} {(time.perf_counter() - started) / nodes * 1e6:6.1f} us/node")
    with tempfile.TemporaryDirectory() as tmp:
        took = asyncio.run(run_atomiton(deps, Path(tmp) / "h.db"))
        print(f"{'execute':10} {took / nodes * 1e6:6.1f} us/node (unprofiled, all included)")
        profiler = cProfile.Profile()
        asyncio.run(run_atomiton(deps, Path(tmp) / "h.db", profiler))
    stats = pstats.Stats(profiler).strip_dirs().sort_stats("tottime")
    stats.print_stats(30)


def plan_linearity(registry: NodeRegistry) -> list[tuple[int, float]]:
    rows = []
    for n in (1_000, 10_000, 50_000):
        bp = blueprint(random_dag(n))
        started = time.perf_counter()
        with collector_spared(n):  # as LocalEngine.execute plans
            build_plan(bp, registry)
        rows.append((n, (time.perf_counter() - started) / n * 1e6))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-ray", action="store_true")
    parser.add_argument(
        "--profile", choices=sorted(SHAPES), help="profile atomiton on one graph; writes nothing"
    )
    parser.add_argument(
        "--output", type=Path, default=Path(__file__).with_name("results") / "scheduling.md"
    )
    args = parser.parse_args()
    if args.profile:
        profile(args.profile, args.nodes)
        return
    rows: list[tuple[str, dict[str, float]]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, make in GRAPHS.items():
            engines: dict[str, Callable[[Graph], float]] = {
                "atomiton": lambda g: asyncio.run(run_atomiton(g, Path(tmp) / "h.db")),
                "asyncio": lambda g: asyncio.run(run_asyncio(g)),
                "dask threaded": run_dask,
            }
            rows.append((name, measure(make(args.nodes), engines, name, args.repeat)))
    if not args.skip_ray:
        # Ray last: its daemons (GCS, raylet, idle workers) keep polling while it is up, and on
        # a small machine they would slow whatever else is measured beside them.
        import ray

        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        try:
            for (name, timings), make in zip(rows, GRAPHS.values(), strict=True):
                timings.update(measure(make(args.nodes), {"ray local": run_ray}, name, args.repeat))
        finally:
            ray.shutdown()
    linear = plan_linearity(NodeRegistry([trivial_node]))
    write(args, rows, linear)


def measure(
    deps: Graph, engines: dict[str, Callable[[Graph], float]], name: str, repeat: int
) -> dict[str, float]:
    """Microseconds per node of each engine on ``deps``: the best of ``repeat`` runs."""
    timings: dict[str, float] = {}
    for engine, fn in engines.items():
        best = min(fn(deps) for _ in range(repeat))
        timings[engine] = best / len(deps) * 1e6
        print(f"{name:28} {engine:14} {timings[engine]:8.1f} us/node", flush=True)
    return timings


def write(
    args: argparse.Namespace,
    rows: list[tuple[str, dict[str, float]]],
    linear: list[tuple[int, float]],
) -> None:
    versions = f"Python {platform.python_version()}, dask {importlib.metadata.version('dask')}"
    if not args.skip_ray:
        import ray

        versions += f", ray {ray.__version__}"
    engines = list(rows[0][1])
    lines = [
        "# Scheduling overhead (bench/bench_scheduling.py)",
        "",
        f"{dt.date.today()}, {platform.machine()} with {os.cpu_count()} CPUs, {versions}. "
        f"{args.nodes:,} trivial nodes per graph, best of {args.repeat}. atomiton runs with "
        "events and SQLite history on, validation and planning included, after a warm-up run "
        "whose history is written first (the timed run's history is written as it runs, by "
        "the writer process on the other core). `--profile chain|fan|random` shows where "
        "atomiton's time goes.",
        "",
        "| graph | " + " | ".join(f"{e} (µs/node)" for e in engines) + " | atomiton vs dask | "
        "atomiton vs ray |",
        "| --- " * (len(engines) + 3) + "|",
    ]
    for name, t in rows:
        vs_dask = f"{t['dask threaded'] / t['atomiton']:.1f}x faster"
        vs_ray = f"{t['ray local'] / t['atomiton']:.1f}x faster" if "ray local" in t else "-"
        lines.append(
            f"| {name} | "
            + " | ".join(f"{t[e]:.1f}" for e in engines)
            + f" | {vs_dask} | {vs_ray} |"
        )
    lines += [
        "",
        "Plan building (random DAG, 3 edges/node), measured as LocalEngine.execute plans. The "
        "algorithm is linear (tests/unit/plan counts its calls: 10x the nodes, under 11x the "
        "calls); what growth remains per node at 50k nodes is memory: caches and the "
        "collector's passes over what planning allocates.",
        "",
        "| nodes | plan µs/node |",
        "| --- | --- |",
    ]
    lines += [f"| {n:,} | {us:.1f} |" for n, us in linear]
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text("\n".join(lines) + "\n")
    print(f"wrote {args.output}", file=sys.stderr)


if __name__ == "__main__":
    main()
