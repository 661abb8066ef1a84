"""The Store seam: what the engine, the CLI and the server need from run history.

A store keeps three things per run: the run row (who ran which Blueprint with what inputs, and
how it ended), one row per node (status, attempts, timings, error, outputs or a reference to
them) and every event, in order. The node and run rows are derived from the events by the
store itself, so they can never disagree with the event log.

``record`` is on the engine's hot path and only queues; everything else may block.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from atomiton.events import Event

RUN_STATUSES = ("running", "succeeded", "failed", "cancelled", "interrupted")
NODE_STATUSES = (
    "pending",
    "queued",
    "running",
    "succeeded",
    "failed",
    "skipped",
    "cancelled",
    "abandoned",
    "retrying",
    "interrupted",
)
NODE_FINAL_STATUSES = frozenset(
    {"succeeded", "failed", "skipped", "cancelled", "abandoned", "interrupted"}
)


@dataclass(frozen=True, slots=True)
class RunInfo:
    """What the engine knows when a run begins; ``begin_run`` writes it before any event."""

    run_id: str
    blueprint_id: str
    blueprint_name: str
    source: str | None
    blueprint: Mapping[str, Any]
    inputs: Mapping[str, Any]
    variables: Mapping[str, Any]
    pid: int
    host: str
    started_at: float


@dataclass(frozen=True, slots=True)
class NodeRunRecord:
    """One node of one run, as the events left it.

    ``outputs`` is ``{port: value}``, or ``{"$ref": {"kind": "file", "path": ...}}`` when the
    serialized outputs were larger than the store's spill limit (see ``load_artifact``).
    ``reason`` says why a node was skipped, cancelled, abandoned or interrupted.
    """

    node_id: str
    status: str
    attempts: int = 0
    started_at: float | None = None
    finished_at: float | None = None
    duration_ms: float | None = None
    error: dict[str, Any] | None = None
    outputs: dict[str, Any] | None = None
    reason: str | None = None
    logs: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "attempts": self.attempts,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "duration_ms": self.duration_ms,
            "error": self.error,
            "outputs": self.outputs,
            "reason": self.reason,
            "logs": list(self.logs),
        }


@dataclass(frozen=True, slots=True)
class RunRecord:
    """One run. ``outputs`` are the sink nodes' outputs, ``{node_id: {port: value}}``.

    ``list_runs`` returns summaries: ``nodes`` is empty there and ``node_counts`` (status to
    number of nodes) tells the shape of the run; ``get_run`` fills ``nodes`` with logs.
    """

    run_id: str
    status: str
    blueprint_id: str
    blueprint_name: str
    source: str | None
    started_at: float
    finished_at: float | None = None
    duration_ms: float | None = None
    error: dict[str, Any] | None = None
    outputs: dict[str, Any] = field(default_factory=dict)
    inputs: dict[str, Any] = field(default_factory=dict)
    variables: dict[str, Any] = field(default_factory=dict)
    nodes: dict[str, NodeRunRecord] = field(default_factory=dict)
    pid: int | None = None
    host: str | None = None
    node_counts: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape ``atomiton show RUN_ID --json`` prints."""
        return {
            "run_id": self.run_id,
            "status": self.status,
            "blueprint_id": self.blueprint_id,
            "blueprint_name": self.blueprint_name,
            "source": self.source,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "duration_ms": self.duration_ms,
            "error": self.error,
            "outputs": self.outputs,
            "inputs": self.inputs,
            "variables": self.variables,
            "pid": self.pid,
            "host": self.host,
            "node_counts": self.node_counts,
            "nodes": {node_id: node.to_dict() for node_id, node in self.nodes.items()},
        }


@runtime_checkable
class Store(Protocol):
    """Run history. Implementations: ``SqlStore`` (SQLite by default, any SQLAlchemy URL)."""

    def record(self, event: Event) -> None:
        """Queue ``event`` for writing; never blocks (called for every event of every run)."""

    def flush(self) -> None:
        """Block until every event queued so far is written."""

    def close(self) -> None:
        """Flush and stop writing; idempotent."""

    def begin_run(self, run: RunInfo) -> None:
        """Write the run row (status ``running``) synchronously, before the run's events."""

    def list_runs(self, *, limit: int = 50, status: str | None = None) -> list[RunRecord]:
        """The most recent runs first, as summaries."""
        ...

    def get_run(self, run_id: str) -> RunRecord:
        """The full record of a run, by id or unique id prefix; raises ``RunNotFoundError``."""
        ...

    def events(self, run_id: str, *, after_seq: int = 0) -> list[Event]:
        """The run's events with ``seq > after_seq``, in order."""
        ...

    def mark_interrupted(self) -> list[str]:
        """Mark runs whose process is gone as ``interrupted``; return their ids."""
        ...
