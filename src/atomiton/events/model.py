"""The event record: what happened, to which run and node, in what order, when.

``seq`` numbers a run's events from 1 without gaps, so a client that reconnects asks for
``seq > last_seen`` and misses nothing. ``time`` is wall-clock seconds (UNIX epoch), supplied
by whoever publishes: this module reads no clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class EventKind(StrEnum):
    RUN_STARTED = "run.started"
    RUN_FINISHED = "run.finished"
    NODE_QUEUED = "node.queued"
    NODE_STARTED = "node.started"
    NODE_PROGRESS = "node.progress"
    NODE_LOG = "node.log"
    NODE_SUCCEEDED = "node.succeeded"
    NODE_FAILED = "node.failed"
    NODE_SKIPPED = "node.skipped"
    NODE_RETRYING = "node.retrying"
    NODE_CANCELLED = "node.cancelled"
    NODE_ABANDONED = "node.abandoned"

    @property
    def is_node_final(self) -> bool:
        return self in _FINAL_NODE_KINDS


_FINAL_NODE_KINDS = frozenset(
    {
        EventKind.NODE_SUCCEEDED,
        EventKind.NODE_FAILED,
        EventKind.NODE_SKIPPED,
        EventKind.NODE_CANCELLED,
        EventKind.NODE_ABANDONED,
    }
)


@dataclass(frozen=True, slots=True)
class Event:
    run_id: str
    seq: int
    kind: EventKind
    time: float
    node_id: str | None = None
    payload: Mapping[str, Any] = field(default_factory=dict)
