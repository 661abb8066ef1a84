"""A second process reads the history while the first writes it (SQLite WAL).

The child records a 400-node run (each node queued, started, succeeded) in bursts; this
process polls ``list_runs``, ``get_run`` and ``events`` meanwhile from its own store, and must
see the run grow without gaps or lock errors until it finishes.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import atomiton
from atomiton.store import SqlStore

CHILD = textwrap.dedent(
    """
    import os, socket, sys, time
    from atomiton.events import EventBus, EventKind as K
    from atomiton.store import RunInfo, open_store

    store = open_store(sys.argv[1])
    store.begin_run(RunInfo("shared", "bp", "Shared", None, {}, {}, {}, os.getpid(),
                            socket.gethostname(), time.time()))
    bus = EventBus()
    bus.subscribe(store.record)
    emit = lambda kind, node=None, **payload: bus.publish("shared", kind, time.time(), node,
                                                          payload)
    nodes = [f"n{i}" for i in range(400)]
    emit(K.RUN_STARTED, nodes=nodes, blueprint_id="bp", inputs={}, variables={})
    for i, node in enumerate(nodes):
        emit(K.NODE_QUEUED, node)
        emit(K.NODE_STARTED, node, attempt=1)
        emit(K.NODE_SUCCEEDED, node, outputs={"i": i}, duration_ms=0.1, attempt=1)
        if i % 20 == 0:
            time.sleep(0.02)
    emit(K.RUN_FINISHED, status="succeeded", outputs={}, error=None, duration_ms=1.0)
    store.close()
    """
)


def test_a_reader_process_sees_a_writer_process_progress(tmp_path: Path) -> None:
    db = tmp_path / "history.db"
    SqlStore(str(db)).close()  # create the schema first, so the reader can start at once
    src = str(Path(atomiton.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(db)], stderr=subprocess.PIPE, text=True, env=env
    )
    reader = SqlStore(str(db))
    seen, polls, done_counts = 0, 0, []
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            polls += 1
            if reader.list_runs():
                record = reader.get_run("shared")
                fresh = reader.events("shared", after_seq=seen)
                assert [e.seq for e in fresh] == list(range(seen + 1, seen + 1 + len(fresh)))
                seen += len(fresh)
                done_counts.append(record.node_counts.get("succeeded", 0))
                if record.status == "succeeded":
                    break
            time.sleep(0.005)
        _, err = child.communicate(timeout=30)
    finally:
        reader.close()
        if child.poll() is None:
            child.kill()
            child.communicate(timeout=10)
    assert child.returncode == 0, err
    assert seen == 2 + 3 * 400
    assert done_counts == sorted(done_counts)
    assert len(set(done_counts)) > 2, f"the reader saw no progress in between: {done_counts}"
