"""The writer thread: when events reach the database, batching, failures, concurrent readers."""

from __future__ import annotations

import gc
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from store_helpers import RunDriver

from atomiton.errors import StoreError
from atomiton.events import EventKind as K
from atomiton.store import SqlStore


def eventually(check: Callable[[], bool], timeout: float = 5.0) -> float:
    """Seconds until ``check()`` held; fails after ``timeout``."""
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > timeout:
            pytest.fail(f"condition not met within {timeout} s")
        time.sleep(0.005)
    return time.monotonic() - start


def stored_count(db_path: Path, run_id: str) -> int:
    with sqlite3.connect(db_path) as conn:
        return int(
            conn.execute("select count(*) from events where run_id=?", (run_id,)).fetchone()[0]
        )


def test_record_only_queues_until_flush(db_path: Path) -> None:
    store = SqlStore(str(db_path), interval=60)
    try:
        run = RunDriver(store)
        run.start("a")
        run.emit(K.NODE_QUEUED, "a")
        time.sleep(0.1)
        assert stored_count(db_path, run.run_id) == 0
        store.flush()
        assert stored_count(db_path, run.run_id) == 2
    finally:
        store.close()


def test_events_are_written_within_the_interval_without_flush(db_path: Path) -> None:
    store = SqlStore(str(db_path), interval=0.05)
    try:
        run = RunDriver(store)
        run.start("a")
        waited = eventually(lambda: stored_count(db_path, run.run_id) == 1)
        assert waited < 1.0
    finally:
        store.close()


def test_a_full_batch_is_written_without_waiting_for_the_interval(db_path: Path) -> None:
    store = SqlStore(str(db_path), interval=60, batch=10)
    try:
        run = RunDriver(store)
        run.start("a")
        for i in range(9):
            run.emit(K.NODE_PROGRESS, "a", percent=i, message="")
        eventually(lambda: stored_count(db_path, run.run_id) == 10)
    finally:
        store.close()


def test_run_finished_is_written_promptly(db_path: Path) -> None:
    store = SqlStore(str(db_path), interval=60)
    try:
        run = RunDriver(store)
        run.start("a")
        run.finish()
        eventually(lambda: stored_count(db_path, run.run_id) == 2, timeout=2.0)
    finally:
        store.close()


def test_reads_see_what_this_store_recorded(db_path: Path) -> None:
    store = SqlStore(str(db_path), interval=60)
    try:
        run = RunDriver(store)
        run.start("a")
        run.succeed("a", {"x": 1})
        assert store.get_run(run.run_id).nodes["a"].status == "succeeded"
    finally:
        store.close()


def test_many_events_keep_rows_consistent(store: SqlStore) -> None:
    nodes = [f"g/n{i}" for i in range(1500)]
    run = RunDriver(store)
    run.start(*nodes)
    for node in nodes:
        run.succeed(node, {"v": node})
    run.finish(outputs={nodes[-1]: {"v": nodes[-1]}})
    store.flush()
    record = store.get_run(run.run_id)
    assert len(store.events(run.run_id)) == 2 + 3 * len(nodes)
    assert list(record.nodes) == nodes
    assert all(
        n.status == "succeeded" and n.outputs == {"v": n.node_id} for n in record.nodes.values()
    )
    assert store.dropped == []


def test_close_writes_everything_and_is_idempotent(db_path: Path) -> None:
    store = SqlStore(str(db_path), interval=60)
    run = RunDriver(store)
    run.start("a")
    store.close()
    store.close()
    store.flush()  # a no-op once closed
    assert stored_count(db_path, run.run_id) == 1
    event = run.finish()  # the bus keeps the store's error and unsubscribes it
    [error] = run.bus.errors
    assert isinstance(error, StoreError)
    with pytest.raises(StoreError, match=r"is closed; event run.finished of run .* lost"):
        store.record(event)


def test_a_store_left_open_is_flushed_when_collected(db_path: Path) -> None:
    store = SqlStore(str(db_path), interval=60)
    run = RunDriver(store)
    run.start("a")
    run_id = run.run_id
    del store, run
    gc.collect()
    assert stored_count(db_path, run_id) == 1


def test_a_locked_database_is_reported_then_retried(db_path: Path) -> None:
    store = SqlStore(str(db_path), interval=0.01, busy_timeout_ms=50)
    blocker = sqlite3.connect(db_path, isolation_level=None)
    try:
        run = RunDriver(store)
        blocker.execute("BEGIN IMMEDIATE")  # another program holds the write lock
        run.start("a")
        with pytest.raises(StoreError, match="could not write run history") as info:
            store.flush()
        assert "database is locked" in str(info.value)
        blocker.execute("ROLLBACK")
        store.flush()  # the writer kept the batch and retried it
        assert [e.kind for e in store.events(run.run_id)] == [K.RUN_STARTED]
    finally:
        blocker.close()
        store.close()


def test_two_writers_of_one_run_do_not_duplicate_events(db_path: Path) -> None:
    """Store A's cached sequence number goes stale when store B writes the same run."""
    a = SqlStore(str(db_path))
    b = SqlStore(str(db_path))
    try:
        run = RunDriver(a)
        e1 = run.start("n")
        a.flush()
        e2 = run.emit(K.NODE_QUEUED, "n")
        e3 = run.emit(K.NODE_STARTED, "n", attempt=1)
        b.record(e2)
        b.flush()
        a.flush()  # its batch (e2, e3) fails on e2, is retried event by event, and heals
        assert [e.seq for e in a.events(run.run_id)] == [e1.seq, e2.seq, e3.seq]
        assert a.get_run(run.run_id).nodes["n"].status == "running"
        assert a.dropped == []
    finally:
        a.close()
        b.close()


def test_another_store_reads_while_one_writes(db_path: Path) -> None:
    writer = SqlStore(str(db_path), interval=0.005)
    reader = SqlStore(str(db_path))
    run = RunDriver(writer)
    errors: list[BaseException] = []

    def produce() -> None:
        try:
            run.start(*(f"n{i}" for i in range(300)))
            for i in range(300):
                run.succeed(f"n{i}", {"i": i})
                if i % 50 == 0:
                    time.sleep(0.01)
            run.finish()
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=produce)
    thread.start()
    seen = 0
    try:
        eventually(lambda: bool(reader.list_runs()))
        while True:
            record = reader.get_run(run.run_id)  # one snapshot; the events read next are newer
            fresh = reader.events(run.run_id, after_seq=seen)
            assert [e.seq for e in fresh] == list(range(seen + 1, seen + 1 + len(fresh)))
            seen += len(fresh)
            succeeded = sum(n.status == "succeeded" for n in record.nodes.values())
            assert 3 * succeeded <= max(0, seen - 1)  # a row is never ahead of its event
            if record.status != "running":
                break
            time.sleep(0.002)
    finally:
        thread.join()
        writer.close()
        reader.close()
    assert errors == []
    assert seen == 2 + 3 * 300
