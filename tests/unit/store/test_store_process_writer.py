"""The writer process: events written beside the engine, the same records as the thread writer.

Every test here waits until the writer process has taken over (``prepare``), so that what it
checks went through the pipe and the other process, not through the start-up path.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from store_helpers import RunDriver

from atomiton.errors import StoreError
from atomiton.events import EventKind as K
from atomiton.events import to_jsonable
from atomiton.store import SqlStore
from atomiton.store.interrupted import pid_alive
from atomiton.store.process_writer import ProcessWriter


def ready(store: SqlStore) -> SqlStore:
    assert store.prepare(timeout=60), "the writer process did not become ready"
    return store


def writer_pid(store: SqlStore) -> int:
    writer = store._writer
    assert isinstance(writer, ProcessWriter) and writer.pid is not None
    return writer.pid


@pytest.fixture
def process_store(db_path: Path) -> Iterator[SqlStore]:
    store = ready(SqlStore(str(db_path), writer="process"))
    yield store
    store.close()


def test_a_file_store_writes_through_a_process_and_reads_back_everything(
    process_store: SqlStore,
) -> None:
    nodes = [f"n{i}" for i in range(2000)]
    run = RunDriver(process_store)
    run.start(*nodes)
    for node in nodes:
        run.succeed(node, {"v": node})
    run.finish(outputs={"n1999": {"v": "n1999"}})
    record = process_store.get_run(run.run_id)  # reads flush through the process first
    assert record.status == "succeeded"
    assert list(record.nodes) == nodes
    assert all(n.outputs == {"v": n.node_id} for n in record.nodes.values())
    assert len(process_store.events(run.run_id)) == 2 + 3 * len(nodes)
    stats = process_store.stats
    assert (stats["writer"], stats["in_process"], stats["dropped"]) == ("process", 0, 0)
    assert stats["by_process"] == 2 + 3 * len(nodes) + 1  # and the flush marker
    assert writer_pid(process_store) != os.getpid()


def test_close_ends_the_writer_process(db_path: Path) -> None:
    store = ready(SqlStore(str(db_path)))
    pid = writer_pid(store)
    run = RunDriver(store)
    run.start("a")
    store.close()
    assert not pid_alive(pid)  # exited and reaped
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("select count(*) from events").fetchone()[0] == 1


def test_payloads_that_cannot_travel_are_encoded_on_the_engine_side(
    process_store: SqlStore,
) -> None:
    @dataclasses.dataclass
    class Local:  # a local class: pickle cannot name it, the writer could not import it
        x: int

    class Count(int):
        pass

    outputs = {
        "local": Local(1),
        "lock": threading.Lock(),
        "fn": lambda: 1,
        "count": Count(3),
        "path": Path("/p"),
        "raw": b"\x00",
        "nan": float("nan"),
    }
    run = RunDriver(process_store)
    run.start("a")
    run.succeed("a", outputs)
    stored = process_store.get_run(run.run_id).nodes["a"].outputs
    assert stored == to_jsonable(outputs)
    assert stored is not None and stored["local"] == {"x": 1} and stored["count"] == 3
    assert process_store.dropped == []


def test_a_locked_database_is_reported_by_the_process_then_retried(db_path: Path) -> None:
    store = ready(SqlStore(str(db_path), interval=0.01, busy_timeout_ms=50))
    blocker = sqlite3.connect(db_path, isolation_level=None)
    try:
        run = RunDriver(store)
        blocker.execute("BEGIN IMMEDIATE")
        run.start("a")
        with pytest.raises(StoreError, match="could not write run history") as info:
            store.flush()
        assert "database is locked" in str(info.value)
        blocker.execute("ROLLBACK")
        store.flush()
        assert [e.kind for e in store.events(run.run_id)] == [K.RUN_STARTED]
    finally:
        blocker.close()
        store.close()


@pytest.mark.parametrize("writer", ["thread", "process"])
def test_record_waits_past_the_high_water_mark_and_loses_nothing(
    db_path: Path, writer: str
) -> None:
    """The database is locked while 10,000 events are recorded: ``record`` blocks at the
    high-water mark until the lock goes, then every event is written. (The writer process
    holds up to a high-water mark of its own, and the pipe some more, before that.)"""
    store = SqlStore(str(db_path), writer=writer, batch=10, high_water=1000, busy_timeout_ms=20)
    ready(store)
    run = RunDriver(store)  # begin_run writes at once, before the lock
    blocker = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False)
    blocker.execute("BEGIN IMMEDIATE")
    release = threading.Timer(1.0, blocker.execute, ["ROLLBACK"])
    release.start()
    try:
        run.start("a")
        started = time.monotonic()
        for i in range(10_000):
            run.emit(K.NODE_PROGRESS, "a", percent=i / 100, message=f"{i:0200d}")
        assert time.monotonic() - started > 0.5  # it did wait for the lock to go
        assert store.stats["backpressure_waits"] > 0
        assert len(store.events(run.run_id)) == 10_001
    finally:
        release.join()
        blocker.close()
        store.close()


def test_a_dead_writer_process_is_reported(db_path: Path) -> None:
    store = ready(SqlStore(str(db_path)))
    try:
        run = RunDriver(store)
        run.start("a")
        store.flush()
        pid = writer_pid(store)
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while store._writer.alive and time.monotonic() < deadline:
            time.sleep(0.01)
        run.emit(K.NODE_QUEUED, "a")
        with pytest.raises(StoreError, match=rf"writer process \(pid {pid}\) exited with code -9"):
            store.flush()
    finally:
        store.close()


def test_memory_stores_and_the_environment_choose_the_thread_writer(
    monkeypatch: pytest.MonkeyPatch, db_path: Path
) -> None:
    memory = SqlStore("memory")
    memory.close()
    assert memory.stats["writer"] == "thread"
    with pytest.raises(StoreError, match="in-memory history cannot be written by another"):
        SqlStore("memory", writer="process")
    with pytest.raises(StoreError, match="unknown history writer 'fork'"):
        SqlStore(str(db_path), writer="fork")
    monkeypatch.setenv("ATOMITON_HISTORY_WRITER", "thread")
    store = SqlStore(str(db_path))
    store.close()
    assert store.stats["writer"] == "thread"
    memory = SqlStore("memory")  # the environment cannot force memory into a process
    memory.close()
    assert memory.stats["writer"] == "thread"


def test_a_short_store_does_not_wait_for_the_process_to_start(db_path: Path) -> None:
    """Events recorded before the process is ready are written here; close kills it."""
    store = SqlStore(str(db_path))
    run = RunDriver(store)  # begin_run starts the process
    run.start("a")
    started = time.monotonic()
    store.close()
    assert time.monotonic() - started < 0.3
    assert store.stats["by_process"] == 0
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("select count(*) from events").fetchone()[0] == 1
