"""Node states, their allowed transitions, and the records that cross the scheduler's border.

Stimuli go in (a node succeeded, failed, was stopped; a retry is due; the run is cancelled);
instructions come out (dispatch this node with these inputs, retry it after a delay, interrupt
it, record this transition, finish the run). All of it is plain data: no clock, no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class NodeState(StrEnum):
    PENDING = "pending"
    READY = "queued"
    RUNNING = "running"
    RETRYING = "retrying"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"
    ABANDONED = "abandoned"
    CANCELLED = "cancelled"

    @property
    def is_final(self) -> bool:
        return self in FINAL_STATES


FINAL_STATES = frozenset(
    {
        NodeState.SUCCEEDED,
        NodeState.FAILED,
        NodeState.SKIPPED,
        NodeState.ABANDONED,
        NodeState.CANCELLED,
    }
)

S = NodeState
TRANSITIONS: Mapping[NodeState, frozenset[NodeState]] = {
    S.PENDING: frozenset({S.READY, S.SKIPPED, S.ABANDONED, S.CANCELLED, S.SUCCEEDED}),
    S.READY: frozenset({S.RUNNING, S.ABANDONED, S.CANCELLED, S.SUCCEEDED}),
    S.RUNNING: frozenset({S.SUCCEEDED, S.FAILED, S.RETRYING, S.CANCELLED}),
    S.RETRYING: frozenset({S.READY, S.ABANDONED, S.CANCELLED}),
    S.SUCCEEDED: frozenset(),
    S.FAILED: frozenset(),
    S.SKIPPED: frozenset(),
    S.ABANDONED: frozenset(),
    S.CANCELLED: frozenset(),
}
"""Every allowed move. PENDING/READY -> SUCCEEDED is a node completed without running
(a cached or resumed output)."""


class RunStatus(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


# -- stimuli ---------------------------------------------------------------------------------
# Stimuli and instructions are records nobody mutates. The ones made once or more per node
# (Succeeded, Dispatch, Transition) are not frozen: a frozen __init__ costs about twice as much,
# and the driver makes five of them per node.


@dataclass(slots=True)
class Succeeded:
    index: int
    outputs: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Failed:
    index: int
    error: Mapping[str, Any]
    retryable: bool = True


@dataclass(frozen=True, slots=True)
class Stopped:
    """A running node was interrupted on the scheduler's request and has stopped."""

    index: int


@dataclass(frozen=True, slots=True)
class RetryDue:
    index: int


@dataclass(frozen=True, slots=True)
class Completed:
    """A node completed without running (its outputs came from a cache or an earlier run)."""

    index: int
    outputs: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class CancelRun:
    reason: str = "cancelled"


Stimulus = Succeeded | Failed | Stopped | RetryDue | Completed | CancelRun


# -- instructions ----------------------------------------------------------------------------


@dataclass(slots=True)
class Dispatch:
    index: int
    inputs: Mapping[str, Any]
    attempt: int


@dataclass(frozen=True, slots=True)
class ScheduleRetry:
    index: int
    attempt: int
    """The attempt that will run when the retry is due."""
    delay_s: float
    error: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Interrupt:
    index: int


@dataclass(slots=True)
class Transition:
    index: int
    state: NodeState
    reason: str = ""
    payload: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Finish:
    status: RunStatus
    error: Mapping[str, Any] | None = None


Instruction = Dispatch | ScheduleRetry | Interrupt | Transition | Finish
