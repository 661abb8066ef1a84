"""What runs inside a Ray worker: one node call, its outputs split, its failure described.

A Ray task (or a runtime actor's method) receives the driver's :class:`NodeCall` whose inputs may
hold markers (see :mod:`.values`), plus the large-output objects those markers name as task
arguments (Ray resolves them on the worker's node). It swaps the markers for the values, runs
the call on a runtime (Python in the worker process itself; other languages on the warm workers
of an actor), and returns two objects: a small *summary* the driver awaits, and the large
outputs, which stay in the object store.

The summary is ``{"outputs": ..., "reports": [...]}`` or ``{"error": ..., "class": ...,
"retryable": ..., "reports": [...]}``. ``reports`` are the call's progress and log lines in order;
the driver replays them as events when the call ends (a Ray task has no channel back while it
runs). Exceptions never cross as Ray errors: the node's error type, message and stack are kept
as data, so a failure reads the same as on the local engine and retries stay our policy.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import traceback
from collections.abc import Mapping, Sequence
from typing import Any

from atomiton.engines.ray.values import split_outputs, substitute
from atomiton.errors import NodeError
from atomiton.runtimes import NodeCall, PythonRuntime, Runtime

Summary = dict[str, Any]


class RecordingReporter:
    """Keeps a call's progress and log lines to send back with its result."""

    __slots__ = ("reports",)

    def __init__(self) -> None:
        self.reports: list[tuple[str, Any, str]] = []

    def progress(self, percent: float, message: str = "") -> None:
        self.reports.append(("progress", percent, message))

    def log(self, message: str, level: str = "info") -> None:
        self.reports.append(("log", message, level))


def resolve_inputs(
    call: NodeCall, objects: Mapping[str, int], resolved: Sequence[Mapping[str, Any]]
) -> NodeCall:
    """``call`` with every marker in its inputs replaced by the value it stands for."""
    if not objects:
        return call

    def lookup(ref: dict[str, Any]) -> Any:
        return resolved[objects[ref["object"]]][ref["port"]]

    return dataclasses.replace(call, inputs=substitute(call.inputs, lookup))


async def perform(
    runtime: Runtime,
    call: NodeCall,
    objects: Mapping[str, int],
    resolved: Sequence[Mapping[str, Any]],
    inline_limit: int,
) -> tuple[Summary, dict[str, Any] | None]:
    """Run ``call`` on ``runtime``; never raises for a node failure (see the module notes)."""
    reporter = RecordingReporter()
    try:
        result = await runtime.invoke(resolve_inputs(call, objects, resolved), reporter)
        inline, large = split_outputs(result.outputs, inline_limit)
    except NodeError as exc:
        error = exc.to_dict()
        if "stack" not in error:
            error["stack"] = "".join(traceback.format_exception(exc))
        summary = {"error": error, "class": type(exc).__name__, "retryable": exc.retryable}
        return {**summary, "reports": reporter.reports}, None
    except Exception as exc:  # the error boundary around user code: keep the traceback
        error = {
            "type": type(exc).__name__,
            "message": str(exc) or type(exc).__name__,
            "stack": "".join(traceback.format_exception(exc)),
        }
        return {"error": error, "class": "", "retryable": True, "reports": reporter.reports}, None
    return {"outputs": inline, "reports": reporter.reports}, large


@functools.cache
def _python_worker() -> tuple[PythonRuntime, asyncio.AbstractEventLoop]:
    """This worker process's Python runtime and event loop, made on its first call and kept."""
    return PythonRuntime(processes=1), asyncio.new_event_loop()


def run_python_call(
    call: NodeCall, objects: Mapping[str, int], inline_limit: int, *resolved: Mapping[str, Any]
) -> tuple[Summary, dict[str, Any] | None]:
    """The body of the Ray task for a Python node (see :mod:`.runtime`).

    ``parallelizable`` is turned off here: the task is already a process of its own with the CPU
    it asked for, so the node runs in this worker rather than in a second process pool.
    """
    runtime, loop = _python_worker()
    performance = dataclasses.replace(call.definition.performance, parallelizable=False)
    call = dataclasses.replace(
        call, definition=dataclasses.replace(call.definition, performance=performance)
    )
    return loop.run_until_complete(perform(runtime, call, objects, resolved, inline_limit))
