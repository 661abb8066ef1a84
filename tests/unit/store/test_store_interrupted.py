"""Runs whose process is gone become ``interrupted``; runs of live processes are left alone."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from store_helpers import RunDriver, run_info

from atomiton.events import EventKind as K
from atomiton.store import SqlStore
from atomiton.store.interrupted import pid_alive


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_pid_alive() -> None:
    assert pid_alive(os.getpid())
    assert not pid_alive(dead_pid())
    assert not pid_alive(0)


def test_a_zombie_counts_as_gone() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        deadline = time.monotonic() + 10
        while pid_alive(child.pid):  # exited but not reaped: a zombie
            assert time.monotonic() < deadline, "child never exited"
            time.sleep(0.01)
    finally:
        child.wait()


def test_a_dead_run_and_its_unfinished_nodes_become_interrupted(store: SqlStore) -> None:
    """Nodes: done succeeded, q queued, r running, t retrying, p pending."""
    store.begin_run(run_info("dead", pid=dead_pid(), started_at=1_700_000_000.0))
    run = RunDriver(store, "dead", begin=False)
    run.start("done", "q", "r", "t", "p")
    run.succeed("done", {"x": 1})
    run.emit(K.NODE_QUEUED, "q")
    run.emit(K.NODE_STARTED, "r", attempt=1)
    run.emit(K.NODE_STARTED, "t", attempt=1)
    run.emit(K.NODE_RETRYING, "t", attempt=1, delay_s=1, error={"type": "E", "message": "m"})
    store.flush()

    assert store.mark_interrupted() == ["dead"]

    record = store.get_run("dead")
    assert record.status == "interrupted"
    assert record.finished_at == run.clock  # the time of its last event
    assert record.duration_ms == (run.clock - 1_700_000_000.0) * 1000
    assert record.error is not None
    assert record.error["type"] == "RunInterrupted"
    assert "ended without finishing it" in record.error["message"]
    statuses = {node_id: node.status for node_id, node in record.nodes.items()}
    assert statuses == {
        "done": "succeeded",
        "q": "interrupted",
        "r": "interrupted",
        "t": "interrupted",
        "p": "pending",
    }
    assert record.nodes["done"].outputs == {"x": 1}
    assert record.nodes["r"].reason == record.error["message"]
    last = store.events("dead")[-1]
    assert (last.seq, last.kind) == (9, K.RUN_FINISHED)
    assert last.payload["status"] == "interrupted"
    assert last.payload["interrupted_nodes"] == ["q", "r", "t"]
    assert store.mark_interrupted() == []  # idempotent


def test_runs_of_live_processes_and_other_hosts_are_left_alone(store: SqlStore) -> None:
    store.begin_run(run_info("mine", pid=os.getpid()))
    store.begin_run(run_info("elsewhere", pid=dead_pid(), host="another-host"))
    store.begin_run(run_info("finished", pid=dead_pid()))
    RunDriver(store, "finished", begin=False).finish()
    assert store.mark_interrupted() == []
    assert {r.run_id: r.status for r in store.list_runs()} == {
        "mine": "running",
        "elsewhere": "running",
        "finished": "succeeded",
    }


def test_a_run_without_events_is_interrupted_at_its_start(store: SqlStore) -> None:
    store.begin_run(run_info("early", pid=dead_pid(), started_at=50.0))
    assert store.mark_interrupted() == ["early"]
    record = store.get_run("early")
    assert (record.status, record.finished_at, record.duration_ms) == ("interrupted", 50.0, 0.0)
    assert [e.seq for e in store.events("early")] == [1]
