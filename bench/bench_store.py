"""Run-history cost: the hot-path ``record`` call, the writer's cost to the engine, and runs.

Measured in one process, against baselines run in the same process:

1. ``record()`` per call versus a bare ``deque.append`` (the floor for "only queue it"),
   with the writer running as it would during a run;
2. ``EventBus.publish`` with the store subscribed versus with no subscriber;
3. events written per second by the thread writer (events, node rows, run row, 500-event
   batches) versus plain ``sqlite3.executemany`` of the same encoded event rows;
4. the engine's side of history, thread writer versus writer process: CPU time of this
   process per event (``record`` plus the writer thread, or plus the feeder that ships to
   the writer process), the writer process's own CPU, and events per second end to end;
5. a real engine: ``LocalEngine`` running a 10,000-node chain and a 10,000-node fan-out of a
   trivial sync node, µs per node with no store, the thread writer and the writer process.

    python bench/bench_store.py [--nodes 10000]      # writes bench/results/store.md
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import itertools
import json
import os
import platform
import resource
import socket
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

import sqlalchemy

import atomiton
from atomiton import LocalEngine, NodeRegistry
from atomiton.blueprint import Blueprint, load_blueprint
from atomiton.events import Event, EventBus, EventKind, encode_event
from atomiton.store import RunInfo, SqlStore

RESULTS = Path(__file__).parent / "results" / "store.md"


def run_events(run_id: str, nodes: int) -> list[Event]:
    """The events of one run of ``nodes`` trivial nodes: queued, started, succeeded each."""
    bus = EventBus()
    out: list[Event] = []
    bus.subscribe(out.append)
    now = time.time()
    ids = [f"n{i}" for i in range(nodes)]
    bus.publish(run_id, EventKind.RUN_STARTED, now, None, {"nodes": ids, "blueprint_id": "b"})
    for i, node in enumerate(ids):
        bus.publish(run_id, EventKind.NODE_QUEUED, now, node)
        bus.publish(run_id, EventKind.NODE_STARTED, now, node, {"attempt": 1})
        outputs = {"value": i}
        payload = {"outputs": outputs, "duration_ms": 0.01, "attempt": 1}
        bus.publish(run_id, EventKind.NODE_SUCCEEDED, now, node, payload)
    final: dict[str, object] = {
        "status": "succeeded",
        "outputs": {},
        "error": None,
        "duration_ms": 1.0,
    }
    bus.publish(run_id, EventKind.RUN_FINISHED, now, None, final)
    return out


def info(run_id: str) -> RunInfo:
    return RunInfo(run_id, "b", "bench", None, {}, {}, {}, os.getpid(), socket.gethostname(), 0.0)


def per_call_us(fn: object, events: list[Event], repeat: int = 5) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for event in events:
            fn(event)  # type: ignore[operator]
        best = min(best, time.perf_counter() - start)
    return best / len(events) * 1e6


def bench_record(folder: Path, events: list[Event]) -> tuple[float, float]:
    store = SqlStore(str(folder / "record.db"))
    try:
        store.begin_run(info(events[0].run_id))
        baseline = collections.deque[Event]()
        base_us = per_call_us(baseline.append, events, repeat=1)
        record_us = per_call_us(store.record, events, repeat=1)  # repeats would be duplicates
        store.flush()
    finally:
        store.close()
    return record_us, base_us


def bench_publish(folder: Path, nodes: int) -> tuple[float, float]:
    def publish_all(bus: EventBus, run_id: str) -> float:
        start = time.perf_counter()
        for i in range(nodes):
            bus.publish(run_id, EventKind.NODE_STARTED, 0.0, f"n{i}", {"attempt": 1})
        return (time.perf_counter() - start) / nodes * 1e6

    bare = publish_all(EventBus(), "bare")
    store = SqlStore(str(folder / "publish.db"))
    try:
        store.begin_run(info("published"))
        bus = EventBus()
        bus.subscribe(store.record)
        with_store = publish_all(bus, "published")
        store.flush()
    finally:
        store.close()
    return with_store, bare


def bench_throughput(folder: Path, events: list[Event]) -> tuple[float, float]:
    folder.mkdir()
    store = SqlStore(str(folder / "throughput.db"))
    try:
        store.begin_run(info(events[0].run_id))
        start = time.perf_counter()
        for event in events:
            store.record(event)
        store.flush()
        ours = len(events) / (time.perf_counter() - start)
        assert len(store.events(events[0].run_id)) == len(events)
    finally:
        store.close()

    conn = sqlite3.connect(folder / "raw.db", isolation_level=None)
    conn.execute("pragma journal_mode=wal")
    conn.execute("pragma synchronous=normal")
    conn.execute(
        "create table events (run_id text, seq integer, kind text, time real, node_id text,"
        " payload text, primary key (run_id, seq)) without rowid"
    )
    start = time.perf_counter()
    rows = []
    for event in events:
        data = encode_event(event)
        rows.append(
            (
                data["run_id"],
                data["seq"],
                data["kind"],
                data["time"],
                data["node_id"],
                json.dumps(data["payload"], separators=(",", ":")),
            )
        )
    conn.execute("begin")
    conn.executemany("insert into events values (?, ?, ?, ?, ?, ?)", rows)
    conn.execute("commit")
    raw = len(events) / (time.perf_counter() - start)
    conn.close()
    return ours, raw


def bench_engine_side(folder: Path, events: list[Event], writer: str) -> dict[str, float]:
    """This process's CPU per event while recording and writing ``events``, the writer
    process's CPU per event (children's CPU, counted once it has exited), events/s."""
    store = SqlStore(str(folder / f"side-{writer}.db"), writer=writer)
    try:
        assert store.prepare(timeout=60), f"the {writer} writer did not start"
        store.begin_run(info(events[0].run_id))
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = time.process_time()
        start = time.perf_counter()
        for event in events:
            store.record(event)
        store.flush()
        wall = time.perf_counter() - start
        cpu = time.process_time() - cpu
        assert store.stats["in_process"] == 0 or writer == "thread"
    finally:
        store.close()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    child = (after.ru_utime + after.ru_stime) - (children.ru_utime + children.ru_stime)
    return {
        "parent_us": cpu / len(events) * 1e6,
        "child_us": child / len(events) * 1e6,
        "per_s": len(events) / wall,
    }


@atomiton.node(id="trivial")
def trivial(x: object = None) -> int:
    return 1


def engine_blueprint(shape: str, nodes: int) -> Blueprint:
    ids = [f"n{i}" for i in range(nodes)]
    if shape == "chain":
        pairs = list(itertools.pairwise(ids))
    else:  # fan-out: one source feeds every other node
        pairs = [(ids[0], target) for target in ids[1:]]
    edges = [
        {"source": a, "target": b, "sourceHandle": "output", "targetHandle": "x"} for a, b in pairs
    ]
    data = {"id": shape, "name": shape, "nodes": [{"id": i, "type": "trivial"} for i in ids]}
    return load_blueprint({**data, "edges": edges})


async def timed_run(engine: LocalEngine, bp: Blueprint) -> dict[str, float]:
    """One run: µs per node of ``execute``, this process's CPU per node meanwhile, and µs per
    node until the history is written too (``execute`` plus the ``flush`` after it)."""
    nodes = len(bp.nodes)
    cpu = time.process_time()
    start = time.perf_counter()
    result = await engine.execute(bp)
    took = time.perf_counter() - start
    cpu = time.process_time() - cpu
    assert result.ok, result.error
    if engine.store is not None:
        engine.store.flush()
    total = time.perf_counter() - start
    return {"us": took / nodes * 1e6, "cpu_us": cpu / nodes * 1e6, "total_us": total / nodes * 1e6}


async def engine_runs(folder: Path, bp: Blueprint, repeat: int) -> dict[str, dict[str, float]]:
    """The three engines side by side, warmed up (the writer process up first, then a run:
    imports, inline promotion), then ``repeat`` rounds of one run each, interleaved; medians."""
    engines: dict[str, LocalEngine] = {}
    for writer in ("none", "thread", "process"):
        store = None
        if writer != "none":
            store = SqlStore(str(folder / f"engine-{bp.id}-{writer}.db"), writer=writer)
        engines[writer] = LocalEngine(registry=NodeRegistry([trivial]), store=store)
    samples: dict[str, list[dict[str, float]]] = {writer: [] for writer in engines}
    try:
        for writer, engine in engines.items():
            if isinstance(engine.store, SqlStore):  # before the warm-up: the engine measures
                # its calls then to choose how to run them, so the start must not skew that
                assert engine.store.prepare(timeout=60), f"the {writer} writer did not start"
            await timed_run(engine, bp)
        for _ in range(repeat):
            for writer, engine in engines.items():
                samples[writer].append(await timed_run(engine, bp))
    finally:
        for engine in engines.values():
            await engine.aclose()
    return {
        writer: {key: statistics.median(s[key] for s in runs) for key in runs[0]}
        for writer, runs in samples.items()
    }


def bench_engine(folder: Path, nodes: int, repeat: int) -> dict[str, dict[str, dict[str, float]]]:
    return {
        shape: asyncio.run(engine_runs(folder, engine_blueprint(shape, nodes), repeat))
        for shape in ("chain", "fan-out")
    }


def engine_table(results: dict[str, dict[str, dict[str, float]]], nodes: int) -> list[str]:
    lines = [
        f"| {nodes:,}-node run | store | µs per node (`execute`) | vs no store | "
        "engine-process CPU µs per node | µs per node until history is written |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    names = {"none": "none", "thread": "thread writer", "process": "writer process"}
    for shape, by_writer in results.items():
        base = by_writer["none"]["us"]
        for writer, row in by_writer.items():
            drain = "-" if writer == "none" else f"{row['total_us']:.1f}"
            lines.append(
                f"| {shape} | {names[writer]} | {row['us']:.1f} | {row['us'] / base:.2f}x | "
                f"{row['cpu_us']:.1f} | {drain} |"
            )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        record_us, deque_us = bench_record(folder, run_events("record", args.nodes * 3))
        publish_us, bare_us = bench_publish(folder, args.nodes * 3)
        best = [
            bench_throughput(folder / f"t{i}", run_events(f"t{i}", args.nodes)) for i in range(3)
        ]
        ours, raw = max(b[0] for b in best), max(b[1] for b in best)  # best of 3, interleaved
        side: dict[str, list[dict[str, float]]] = {"thread": [], "process": []}
        for i in range(3):  # interleaved, best of 3
            for writer, found in side.items():
                found.append(
                    bench_engine_side(folder, run_events(f"s{i}{writer}", args.nodes), writer)
                )
        engine = bench_engine(folder, args.nodes, args.repeat)
    thread = min(side["thread"], key=lambda r: r["parent_us"])
    process = min(side["process"], key=lambda r: r["parent_us"])
    thread_rate = max(r["per_s"] for r in side["thread"])
    process_rate = max(r["per_s"] for r in side["process"])
    events = 3 * args.nodes + 2
    lines = [
        "# Run history (store) benchmark",
        "",
        f"- date: {time.strftime('%Y-%m-%d')}; machine: {platform.machine()}, "
        f"{os.cpu_count()} CPUs, {platform.system()} {platform.release()}",
        f"- Python {platform.python_version()}, SQLAlchemy {sqlalchemy.__version__}, "
        f"SQLite {sqlite3.sqlite_version}; database on a temporary directory",
        f"- command: `python bench/bench_store.py --nodes {args.nodes}`; throughput: best of 3;"
        f" load average before the run: {load:.1f} (other work on the machine skews figures)",
        "",
        "| measure | atomiton store | baseline | ratio |",
        "| --- | --- | --- | --- |",
        f"| `record()` per event (writer thread running) | {record_us:.3f} µs | "
        f"`deque.append` {deque_us:.3f} µs | {record_us / deque_us:.1f}x |",
        f"| `EventBus.publish` per event, store subscribed | {publish_us:.3f} µs | "
        f"no subscriber {bare_us:.3f} µs | {publish_us / bare_us:.2f}x |",
        f"| events written per second ({events:,} events, {args.nodes:,} nodes, "
        f"with node and run rows) | {ours:,.0f} /s | raw `sqlite3.executemany` of the events "
        f"only {raw:,.0f} /s | {ours / raw:.2f}x |",
        "",
        "The store's figure includes deriving and writing one node row per node and the run",
        "row, in 500-event transactions; the baseline writes the event rows alone in one",
        "transaction, so it is the floor for storing events at all.",
        "",
        "## The engine's side: thread writer versus writer process",
        "",
        f"{events:,} events recorded and flushed, best of 3 interleaved; CPU is `process_time`",
        "of this process (every thread of it), the writer process's from `RUSAGE_CHILDREN`.",
        "",
        "| measure | writer process | thread writer (baseline) | ratio |",
        "| --- | --- | --- | --- |",
        f"| engine-process CPU per event (`record` + writer thread or feeder) | "
        f"{process['parent_us']:.2f} µs | {thread['parent_us']:.2f} µs | "
        f"{process['parent_us'] / thread['parent_us']:.2f}x |",
        f"| CPU per event in the writer process (on the other core) | "
        f"{process['child_us']:.2f} µs | - | - |",
        f"| events written per second, end to end | {process_rate:,.0f} /s | "
        f"{thread_rate:,.0f} /s | {process_rate / thread_rate:.2f}x |",
        "",
        "## A real engine run",
        "",
        "`LocalEngine(registry=NodeRegistry([trivial]), store=SqlStore(file, writer=...))`, a",
        "trivial sync `@atomiton.node`; medians of "
        f"{args.repeat} rounds, the three engines interleaved, after a warm-up run each",
        "(the writer process is up).",
        "",
        *engine_table(engine, args.nodes),
        "",
        "Reading these figures: the writer process takes the encoding and SQL off the engine's",
        "process (the CPU-per-event row: `record` plus shipping against `record` plus writing),",
        "which is what the GIL made the engine pay. Its own CPU per event includes its start",
        "(importing SQLAlchemy, a few hundred ms) spread over the events, and unpickling. The",
        "engine-run rows are medians of interleaved runs but move by tens of percent between",
        "invocations when other work shares the machine's two vCPUs, and busy work on the other",
        "vCPU slows this one (an unrelated SQLite/JSON loop in another process raised the",
        "engine's own CPU per node by about 45% in a side test): on two cores the writer",
        "process is not free. During `execute` the thread writer gets little of the GIL and",
        "writes most of the history after the run (the last column); the writer process",
        "keeps up during the run. The warm-up must come after the writer process is up: the",
        "engine times a node's first calls to decide whether to run it inline, and a writer",
        "process starting beside that warm-up once doubled the µs per node of a whole session.",
        "",
    ]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
