"""Run and node rows derived from events: a pure fold, no I/O.

The writer folds each event into a ``RunState`` and then writes the rows it marked dirty, in
the same transaction as the events, so the rows always agree with the event log. Payloads are
the events' own (large outputs already replaced by references); the writer encodes the values
kept here when it writes the rows.

    event            node row
    -------------    -------------------------------------------------------------
    run.started      one pending row per node in ``payload["nodes"]`` (plan order)
    node.queued      status queued
    node.started     status running, attempts = payload attempt, first start time kept
    node.retrying    status retrying, error of the failed attempt
    node.succeeded   status succeeded, outputs, duration, error cleared
    node.failed      status failed, error, duration
    node.skipped     status skipped / cancelled / abandoned, reason, finish time
    node.progress    (event only)
    node.log         (event only; logs are read back from the events)
    run.finished     run status, sink outputs, error, duration
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from atomiton.events import EventKind

_REASON_KINDS = {
    EventKind.NODE_SKIPPED: "skipped",
    EventKind.NODE_CANCELLED: "cancelled",
    EventKind.NODE_ABANDONED: "abandoned",
}


@dataclass(slots=True)
class NodeState:
    node_id: str
    ordinal: int
    status: str = "pending"
    attempts: int = 0
    started_at: float | None = None
    finished_at: float | None = None
    duration_ms: float | None = None
    error: dict[str, Any] | None = None
    outputs: dict[str, Any] | None = None
    reason: str | None = None
    stored: bool = False  # the row exists in the database


@dataclass(slots=True)
class RunState:
    run_id: str
    last_seq: int = 0
    updated_at: float | None = None
    nodes: dict[str, NodeState] = field(default_factory=dict)
    dirty: dict[str, NodeState] = field(default_factory=dict)  # node rows to write
    changes: dict[str, Any] = field(default_factory=dict)  # runs columns to update

    def node(self, node_id: str) -> NodeState:
        state = self.nodes.get(node_id)
        if state is None:
            state = NodeState(node_id, ordinal=len(self.nodes))
            self.nodes[node_id] = state
        self.dirty[node_id] = state
        return state


def apply_event(
    run: RunState,
    kind: EventKind,
    time: float,
    node_id: str | None,
    payload: Mapping[str, Any],
) -> None:
    """Fold one event into ``run``; the caller has checked its ``seq`` is new."""
    run.updated_at = time
    if kind is EventKind.RUN_STARTED:
        _run_started(run, payload)
    elif kind is EventKind.RUN_FINISHED:
        _run_finished(run, time, payload)
    elif node_id is not None and kind not in (EventKind.NODE_PROGRESS, EventKind.NODE_LOG):
        _node_event(run.node(node_id), kind, time, payload)


def _run_started(run: RunState, payload: Mapping[str, Any]) -> None:
    for key in ("blueprint_id", "blueprint_name", "inputs", "variables"):
        if key in payload:
            run.changes[key] = payload[key]
    run.changes["status"] = "running"
    for node_id in payload.get("nodes") or ():
        run.node(str(node_id))


def _run_finished(run: RunState, time: float, payload: Mapping[str, Any]) -> None:
    run.changes.update(
        status=str(payload.get("status", "failed")),
        outputs=dict(payload.get("outputs") or {}),
        error=payload.get("error"),
        finished_at=time,
        duration_ms=payload.get("duration_ms"),
    )


def _node_event(node: NodeState, kind: EventKind, time: float, payload: Mapping[str, Any]) -> None:
    if kind is EventKind.NODE_QUEUED:
        node.status = "queued"
    elif kind is EventKind.NODE_STARTED:
        node.status = "running"
        node.attempts = _attempt(payload, node.attempts + 1)
        if node.started_at is None:
            node.started_at = time
        node.finished_at = None
        node.error = None
    elif kind is EventKind.NODE_RETRYING:
        node.status = "retrying"
        node.attempts = _attempt(payload, node.attempts)
        node.error = _error(payload.get("error"))
    elif kind is EventKind.NODE_SUCCEEDED:
        _finish(node, "succeeded", time, payload)
        outputs = payload.get("outputs")
        node.outputs = dict(outputs) if isinstance(outputs, Mapping) else {"value": outputs}
        node.error = None
    elif kind is EventKind.NODE_FAILED:
        _finish(node, "failed", time, payload)
        node.error = _error(payload.get("error"))
    elif kind in _REASON_KINDS:
        _finish(node, _REASON_KINDS[kind], time, payload)
        reason = payload.get("reason")
        node.reason = None if reason is None else str(reason)


def _finish(node: NodeState, status: str, time: float, payload: Mapping[str, Any]) -> None:
    node.status = status
    node.finished_at = time
    node.attempts = _attempt(payload, node.attempts)
    duration = payload.get("duration_ms")
    if isinstance(duration, int | float):
        node.duration_ms = float(duration)
    elif node.started_at is not None:
        node.duration_ms = (time - node.started_at) * 1000.0


def _attempt(payload: Mapping[str, Any], default: int) -> int:
    attempt = payload.get("attempt")
    return attempt if isinstance(attempt, int) and not isinstance(attempt, bool) else default


def _error(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    if isinstance(value, Mapping):
        return dict(value)
    return {"type": "Error", "message": str(value)}
