"""What runs inside a Ray worker: one node call, its outputs split, its failure described.

A Ray task receives only what the call needs (:data:`Envelope`: the definition pickled once on
the driver, read once per worker; a runtime actor's method and a call with engine services
receive the whole :class:`NodeCall`). Its inputs may hold markers (see :mod:`.values`); the
large-output objects those markers name come as task arguments (Ray resolves them on the
worker's node). It swaps the markers for the values, runs
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
import pickle
import traceback
from collections.abc import Mapping, Sequence
from typing import Any

from atomiton.engines.ray.values import split_outputs, substitute
from atomiton.errors import NodeError
from atomiton.nodes.definition import NodeDefinition
from atomiton.runtimes import NodeCall, NodeResult, PythonRuntime, Runtime

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
    except Exception as exc:
        return describe_failure(exc, reporter), None
    return summarise(result, reporter, inline_limit)


def summarise(
    result: NodeResult, reporter: RecordingReporter, inline_limit: int
) -> tuple[Summary, dict[str, Any] | None]:
    """The summary and the large outputs of a call that returned."""
    try:
        inline, large = split_outputs(result.outputs, inline_limit)
    except Exception as exc:
        return describe_failure(exc, reporter), None
    return {"outputs": inline, "reports": reporter.reports}, large


def describe_failure(exc: Exception, reporter: RecordingReporter) -> Summary:
    """A failed call as data: the node's error, its class, whether a retry may help."""
    if isinstance(exc, NodeError):
        error = exc.to_dict()
        if "stack" not in error:
            error["stack"] = "".join(traceback.format_exception(exc))
        summary = {"error": error, "class": type(exc).__name__, "retryable": exc.retryable}
        return {**summary, "reports": reporter.reports}
    error = {  # the error boundary around user code: keep the traceback
        "type": type(exc).__name__,
        "message": str(exc) or type(exc).__name__,
        "stack": "".join(traceback.format_exception(exc)),
    }
    return {"error": error, "class": "", "retryable": True, "reports": reporter.reports}


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


_definitions: dict[str, NodeDefinition] = {}


def worker_definition(key: str, blob: bytes) -> NodeDefinition:
    """The definition ``key`` names, unpickled once per worker process and kept.

    ``parallelizable`` is off (the task is a process of its own with the CPU it asked for) and
    ``inline`` on: a sync handler is called on this thread, with no hop to a thread pool, since
    nothing else runs in this worker while it works; a cancelled task's process is killed.
    """
    found = _definitions.get(key)
    if found is None:
        definition: NodeDefinition = pickle.loads(blob)
        runtime = dataclasses.replace(
            definition.runtime, options={**definition.runtime.options, "inline": True}
        )
        performance = dataclasses.replace(definition.performance, parallelizable=False)
        found = _definitions[key] = dataclasses.replace(
            definition, runtime=runtime, performance=performance
        )
    return found


Envelope = tuple[
    str, bytes, str, str, Mapping[str, Any], Mapping[str, Any], int, Any, Any, Any, Any, int
]
"""What a Python node's task receives, as one argument (Ray serialises each argument apart):
``(key, blob, run_id, node_id, inputs, parameters, attempt, artifact_dir, timeout_s,
variables, objects, inline_limit)``."""


def run_python_node(
    envelope: Envelope, *resolved: Mapping[str, Any]
) -> tuple[Summary, dict[str, Any] | None]:
    """The body of the Ray task for a Python node: only what the call needs crosses.

    ``blob`` is the pickled definition (pickled once on the driver), read only on this worker's
    first call for ``key``; ``resolved`` are the large-output objects ``objects`` indexes.
    """
    runtime, loop = _python_worker()
    key, blob, run_id, node_id, inputs, parameters, attempt, *context = envelope
    artifact_dir, timeout_s, variables, objects, inline_limit = context
    call = NodeCall(
        run_id=run_id,
        node_id=node_id,
        definition=worker_definition(key, blob),
        inputs=inputs,
        parameters=parameters,
        attempt=attempt,
        artifact_dir=artifact_dir,
        timeout_s=timeout_s,
        variables=variables,
    )
    call = resolve_inputs(call, objects, resolved)
    reporter = RecordingReporter()
    try:
        result = runtime.try_inline(call, reporter)
    except Exception as exc:
        return describe_failure(exc, reporter), None
    if result is None:  # a coroutine function: awaited on this worker's loop
        return loop.run_until_complete(perform(runtime, call, {}, (), inline_limit))
    return summarise(result, reporter, inline_limit)
