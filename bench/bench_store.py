"""Run-history cost: the hot-path ``record`` call and the writer's throughput.

Measured in one process, against baselines run in the same process:

1. ``record()`` per call versus a bare ``deque.append`` (the floor for "only queue it"),
   with the writer thread running as it would during a run;
2. ``EventBus.publish`` with the store subscribed versus with no subscriber;
3. events written per second by the writer (events, node rows, run row, 500-event batches)
   versus plain ``sqlite3.executemany`` of the same encoded event rows in one transaction.

    python bench/bench_store.py [--nodes 10000]      # writes bench/results/store.md
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import platform
import socket
import sqlite3
import tempfile
import time
from pathlib import Path

import sqlalchemy

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=10_000)
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
        f"The writer thread spends about {1e6 / ours:.1f} µs of CPU per event, in the engine's",
        f"process (about {3e6 / ours:.0f} µs per node at three events a node): under the GIL",
        "that is the real price of history during a run of trivial nodes, not `record()`.",
        "",
    ]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
