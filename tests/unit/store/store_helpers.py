"""Helpers for the store tests: a run driver that publishes events through a real EventBus,
as the engine does, and RunInfo rows."""

from __future__ import annotations

import os
import socket
import uuid
from typing import Any

from atomiton.events import Event, EventBus, EventKind
from atomiton.store import RunInfo, SqlStore


class RunDriver:
    """Publishes one run's events to a store through an EventBus; time advances 1 s per event."""

    def __init__(self, store: SqlStore, run_id: str | None = None, *, begin: bool = True) -> None:
        self.store = store
        self.run_id = run_id or uuid.uuid4().hex
        self.bus = EventBus()
        self.bus.subscribe(store.record)
        self.clock = 1_700_000_000.0
        if begin:
            store.begin_run(run_info(self.run_id, started_at=self.clock))

    def emit(self, kind: EventKind, node_id: str | None = None, **payload: Any) -> Event:
        self.clock += 1.0
        return self.bus.publish(self.run_id, kind, self.clock, node_id, payload)

    def start(self, *nodes: str) -> Event:
        return self.emit(
            EventKind.RUN_STARTED,
            blueprint_id="bp",
            blueprint_name="Blueprint",
            nodes=list(nodes),
            inputs={"n": 1},
            variables={"v": "x"},
        )

    def succeed(self, node_id: str, outputs: dict[str, Any], attempt: int = 1) -> None:
        self.emit(EventKind.NODE_QUEUED, node_id)
        self.emit(EventKind.NODE_STARTED, node_id, attempt=attempt)
        self.emit(
            EventKind.NODE_SUCCEEDED, node_id, outputs=outputs, duration_ms=12.5, attempt=attempt
        )

    def finish(self, status: str = "succeeded", outputs: dict[str, Any] | None = None) -> Event:
        return self.emit(
            EventKind.RUN_FINISHED,
            status=status,
            outputs=outputs or {},
            error=None if status == "succeeded" else {"type": "NodeError", "message": "boom"},
            duration_ms=4000.0,
        )


def run_info(
    run_id: str,
    *,
    started_at: float = 1_700_000_000.0,
    pid: int | None = None,
    host: str | None = None,
) -> RunInfo:
    return RunInfo(
        run_id=run_id,
        blueprint_id="bp",
        blueprint_name="Blueprint",
        source="flows/bp.flow.yaml",
        blueprint={"id": "bp", "type": "group", "nodes": []},
        inputs={"n": 1},
        variables={"v": "x"},
        pid=os.getpid() if pid is None else pid,
        host=socket.gethostname() if host is None else host,
        started_at=started_at,
    )
