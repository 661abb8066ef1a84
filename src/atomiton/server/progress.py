"""Atomiton's view of a run: the ``ProgressEvent`` and ``ExecutionResult`` shapes (SPEC 3.6-3.10).

``ProgressTracker`` folds the engine's events into Atomiton's execution graph: the top-level
nodes of the Blueprint with their weight (Atomiton's table, 100 by default), dependencies, level,
state (``pending | executing | completed | error | skipped``), progress and times. Overall
progress is ``round((sum of weight over completed/skipped + sum of weight * progress / 100 over
executing) / total weight * 100)``; error nodes count 0. Nested nodes (``group/child``) are not in
the graph, as in Atomiton, but a group node itself moves through the states with its sub-run.

    engine state                 Atomiton state
    ---------------------------  --------------------------------------------------
    pending, queued, abandoned   pending
    running, retrying            executing
    succeeded                    completed (progress 100)
    skipped                      skipped   (progress 100)
    failed                       error     (progress frozen, ``error`` = message)
    cancelled                    error if it had started ("cancelled"), else pending
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from atomiton.blueprint import Blueprint
from atomiton.engines import RunResult
from atomiton.events import Event, EventKind, to_jsonable

WEIGHTS: Mapping[str, int] = {
    "httpRequest": 500,
    "email": 800,
    "fileRead": 100,
    "fileWrite": 200,
    "file-system": 200,
    "database": 300,
    "edit-fields": 80,
    "transform": 50,
    "condition": 10,
    "loop": 20,
    "delay": 1000,
    "default": 100,
}


def weight_of(node_type: str) -> int:
    return WEIGHTS.get(node_type) or WEIGHTS["default"]  # `||` in Atomiton: 0 falls back too


def iso_now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(slots=True)
class GraphNode:
    id: str
    name: str
    type: str
    weight: int
    dependencies: list[str] = field(default_factory=list)
    dependents: list[str] = field(default_factory=list)
    level: int = 0
    state: str = "pending"
    progress: float = 0
    start_ms: int | None = None
    end_ms: int | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "type": self.type,
            "weight": self.weight,
            "dependencies": list(self.dependencies),
            "dependents": list(self.dependents),
            "level": self.level,
            "state": self.state,
            "progress": round(self.progress),
        }
        if self.start_ms is not None:
            data["startTime"] = self.start_ms
        if self.end_ms is not None:
            data["endTime"] = self.end_ms
        if self.error is not None:
            data["error"] = self.error
        return data


class ProgressTracker:
    def __init__(self, bp: Blueprint) -> None:
        self.nodes: dict[str, GraphNode] = {
            n.id: GraphNode(n.id, n.label, n.type, weight_of(n.type)) for n in bp.nodes
        }
        self.edges: list[dict[str, str]] = []
        for e in bp.edges:
            source, target = self.nodes.get(e.source), self.nodes.get(e.target)
            if source is None or target is None or target.id in source.dependents:
                continue
            source.dependents.append(target.id)
            target.dependencies.append(source.id)
            self.edges.append({"from": source.id, "to": target.id})
        self.execution_order = self._levels()
        self.critical_path = self._critical_path()
        self.total_weight = sum(n.weight for n in self.nodes.values())
        self.started_order: list[str] = []  # every node id (nested too) in the order it started

    # -- graph analysis (Atomiton's graphAnalyzer and criticalPath) ---------------------------

    def _levels(self) -> list[list[str]]:
        indegree = {k: len(n.dependencies) for k, n in self.nodes.items()}
        level = [k for k, d in indegree.items() if d == 0]
        order: list[list[str]] = []
        seen: set[str] = set()
        while level:
            order.append(level)
            seen.update(level)
            following = []
            for k in level:
                self.nodes[k].level = len(order) - 1
                for d in self.nodes[k].dependents:
                    indegree[d] -= 1
                    if indegree[d] == 0:
                        following.append(d)
            level = following
        rest = [k for k in self.nodes if k not in seen]  # a cycle: validation refuses it
        return [*order, rest] if rest else order

    def _critical_path(self) -> list[str]:
        if not self.nodes:
            return []
        distance = {k: n.weight for k, n in self.nodes.items()}
        previous: dict[str, str] = {}
        for k in (k for level in self.execution_order for k in level):
            for d in self.nodes[k].dependents:
                if distance[k] + self.nodes[d].weight > distance[d]:
                    distance[d] = distance[k] + self.nodes[d].weight
                    previous[d] = k
        end = max(distance, key=lambda k: distance[k])
        path = [end]
        while path[-1] in previous:
            path.append(previous[path[-1]])
        return path[::-1]

    # -- folding events ------------------------------------------------------------------------

    def apply(self, event: Event) -> bool:
        """Fold one event in; True when a node's state changed (worth a progress frame now)."""
        node_id = event.node_id
        if node_id is None:
            return False
        if event.kind is EventKind.NODE_STARTED and node_id not in self.started_order:
            self.started_order.append(node_id)
        node = self.nodes.get(node_id)
        if node is None:
            return False
        ms = int(event.time * 1000)
        kind = event.kind
        if kind is EventKind.NODE_STARTED or kind is EventKind.NODE_RETRYING:
            node.state, node.progress = "executing", 0
            node.start_ms = node.start_ms or ms
        elif kind is EventKind.NODE_PROGRESS:
            if node.state == "executing":
                node.progress = min(100.0, max(0.0, float(event.payload.get("percent", 0))))
            return False
        elif kind is EventKind.NODE_SUCCEEDED or kind is EventKind.NODE_SKIPPED:
            node.state = "completed" if kind is EventKind.NODE_SUCCEEDED else "skipped"
            node.progress, node.end_ms = 100, ms
        elif kind is EventKind.NODE_FAILED:
            error = event.payload.get("error") or {}
            node.state, node.end_ms = "error", ms
            node.error = str(error.get("message") or error.get("type") or "failed")
        elif kind is EventKind.NODE_CANCELLED:
            if node.state == "executing":
                node.state, node.end_ms, node.error = "error", ms, "cancelled"
        else:
            return False
        return True

    def progress(self) -> int:
        if self.total_weight == 0:
            return 0
        done = 0.0
        for n in self.nodes.values():
            if n.state in ("completed", "skipped"):
                done += n.weight
            elif n.state == "executing":
                done += n.weight * n.progress / 100
        return round(done / self.total_weight * 100)

    def snapshot(self) -> dict[str, Any]:
        """The ``ProgressEvent`` the desktop app sends (``apps/desktop/.../channels.ts``)."""
        executing = [n for n in self.nodes.values() if n.state == "executing"]
        progress = self.progress()
        if executing:
            message = "Executing: " + ", ".join(n.name for n in executing)
        elif progress == 100:
            message = "All nodes completed"
        else:
            message = "Waiting to start..."
        return {
            "nodeId": executing[0].id if executing else "",
            "nodes": [n.to_dict() for n in self.nodes.values()],
            "progress": progress,
            "message": message,
            "graph": {
                "executionOrder": [list(level) for level in self.execution_order],
                "criticalPath": list(self.critical_path),
                "totalWeight": self.total_weight,
                "maxParallelism": max((len(lv) for lv in self.execution_order), default=0),
                "edges": list(self.edges),
            },
        }

    # -- the ExecutionResult ------------------------------------------------------------------

    def result(
        self, run: RunResult, *, root_id: str, execution_id: str, context: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Atomiton's ``ExecutionResult`` for a finished run (SPEC 3.6)."""
        succeeded = [
            k for k in self.started_order if k in run.nodes and run.nodes[k].status == "succeeded"
        ]
        executed = [k.rsplit("/", 1)[-1] for k in succeeded]
        duration = round(run.duration_ms)
        if run.ok:
            return {
                "success": True,
                "data": self._data(run),
                "duration": duration,
                "executedNodes": [root_id, *(k for k in executed if k != root_id)],
                "context": dict(context),
            }
        error = dict(run.error or {})
        failed = str(error.get("node_id") or "")
        code = "CANCELLED" if run.status == "cancelled" else "EXECUTION_FAILED"
        return {
            "success": False,
            "error": {
                "code": code,
                "message": str(error.get("message") or run.status),
                "nodeId": failed or root_id,
                "executionId": execution_id,
                "timestamp": iso_now(),
            },
            "duration": duration,
            "executedNodes": [*executed, failed.rsplit("/", 1)[-1]] if failed else executed,
        }

    def _data(self, run: RunResult) -> Any:
        """The data of the last node in flattened order: its one output, or all of them."""
        for node_id in reversed([k for level in self.execution_order for k in level]):
            record = run.nodes.get(node_id)
            if record is not None and record.outputs is not None:
                outputs = record.outputs
                value = next(iter(outputs.values())) if len(outputs) == 1 else outputs
                return to_jsonable(value)
        return None
