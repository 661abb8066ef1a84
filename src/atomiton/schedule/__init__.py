"""Scheduling: the pure RunState machine and the records it exchanges with its driver."""

from atomiton.schedule.model import (
    FINAL_STATES,
    TRANSITIONS,
    CancelRun,
    Completed,
    Dispatch,
    Failed,
    Finish,
    Instruction,
    Interrupt,
    NodeState,
    RetryDue,
    RunStatus,
    ScheduleRetry,
    Stimulus,
    Stopped,
    Succeeded,
    Transition,
)
from atomiton.schedule.state import InvalidTransition, RunState

__all__ = [
    "FINAL_STATES",
    "TRANSITIONS",
    "CancelRun",
    "Completed",
    "Dispatch",
    "Failed",
    "Finish",
    "Instruction",
    "Interrupt",
    "InvalidTransition",
    "NodeState",
    "RetryDue",
    "RunState",
    "RunStatus",
    "ScheduleRetry",
    "Stimulus",
    "Stopped",
    "Succeeded",
    "Transition",
]
