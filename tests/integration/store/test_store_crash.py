"""History survives ``kill -9`` of the process writing it.

A child process opens a SQLite store, begins a run and records events for three nodes of the
graph ``a -> b -> c`` plus ``d`` (a succeeded, b running, c and d pending), flushes, then
records more events without flushing (d queued and started, 500 progress events of b) and
says "ready". The test waits 300 ms, well past the writer's 50 ms interval, and kills it with
SIGKILL. Opening the store again and calling ``mark_interrupted()`` must then find every event
the child recorded, mark the run and its running nodes interrupted, and keep the rest.

The child runs once as it comes (its writer process is still starting: events are written in
the child itself) and once with its writer process ready first, which must then write what
the child shipped, see the end of its pipe, and exit on its own.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import atomiton
from atomiton.events import EventKind
from atomiton.store import SqlStore
from atomiton.store.interrupted import pid_alive

CHILD = textwrap.dedent(
    """
    import os, socket, sys, time
    from atomiton.events import EventBus, EventKind as K
    from atomiton.store import RunInfo, open_store

    store = open_store(sys.argv[1])
    if sys.argv[2] == "ready":
        assert store.prepare(timeout=60)
    store.begin_run(RunInfo("crash-run", "bp", "Crash", None, {}, {}, {}, os.getpid(),
                            socket.gethostname(), time.time()))
    bus = EventBus()
    bus.subscribe(store.record)
    emit = lambda kind, node=None, **payload: bus.publish("crash-run", kind, time.time(), node,
                                                          payload)
    emit(K.RUN_STARTED, nodes=["a", "b", "c", "d"], blueprint_id="bp", inputs={}, variables={})
    emit(K.NODE_QUEUED, "a")
    emit(K.NODE_STARTED, "a", attempt=1)
    emit(K.NODE_LOG, "a", level="info", message="working")
    emit(K.NODE_SUCCEEDED, "a", outputs={"out": 41}, duration_ms=1.0, attempt=1)
    emit(K.NODE_QUEUED, "b")
    emit(K.NODE_STARTED, "b", attempt=1)
    store.flush()
    emit(K.NODE_QUEUED, "d")
    emit(K.NODE_STARTED, "d", attempt=1)
    for i in range(500):
        emit(K.NODE_PROGRESS, "b", percent=i / 5, message="step")
    print("ready", getattr(store._writer, "pid", None), flush=True)
    time.sleep(60)
    """
)


@pytest.mark.parametrize("writer", ["starting", "ready"])
def test_kill_9_loses_nothing_recorded_before_it(tmp_path: Path, writer: str) -> None:
    db = tmp_path / "history.db"
    src = str(Path(atomiton.__file__).resolve().parents[1])  # the child imports this atomiton
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(db), writer],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        if not line.startswith("ready"):
            child.kill()
            _, err = child.communicate(timeout=10)
            pytest.fail(f"the child process failed before recording: {err}")
        time.sleep(0.3)
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
        child.communicate(timeout=10)
    assert child.returncode == -signal.SIGKILL
    if writer == "ready":  # the orphaned writer process finishes and exits by itself
        writer_pid = int(line.split()[1])
        deadline = time.monotonic() + 10
        while pid_alive(writer_pid):
            assert time.monotonic() < deadline, "the writer process outlived its engine"
            time.sleep(0.01)

    store = SqlStore(str(db))
    try:
        assert store.mark_interrupted() == ["crash-run"]
        record = store.get_run("crash-run")
        events = store.events("crash-run")
    finally:
        store.close()

    assert record.status == "interrupted"
    assert record.error is not None
    assert record.error["type"] == "RunInterrupted"
    statuses = {node_id: node.status for node_id, node in record.nodes.items()}
    assert statuses == {"a": "succeeded", "b": "interrupted", "c": "pending", "d": "interrupted"}
    assert record.nodes["a"].outputs == {"out": 41}
    assert record.nodes["a"].logs[0]["message"] == "working"
    assert (record.nodes["b"].attempts, record.nodes["d"].attempts) == (1, 1)

    recorded = 7 + 2 + 500  # flushed, then recorded within the last 300 ms before the kill
    assert [e.seq for e in events] == list(range(1, recorded + 2))
    assert sum(e.kind is EventKind.NODE_PROGRESS for e in events) == 500
    final = events[-1]
    assert (final.kind, final.payload["status"]) == (EventKind.RUN_FINISHED, "interrupted")
    assert final.payload["interrupted_nodes"] == ["b", "d"]
