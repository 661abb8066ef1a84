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
import time
import traceback
from collections.abc import Mapping, Sequence
from typing import Any

from atomiton.engines.ray.fusion import Link, link_inputs
from atomiton.engines.ray.relay import LiveReporter
from atomiton.engines.ray.values import ValueRule, spilled_of, split_outputs, substitute
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


Recorder = RecordingReporter | LiveReporter
"""A reporter that keeps a call's reports for its summary."""


def resolve_inputs(
    call: NodeCall,
    objects: Mapping[str, int],
    resolved: Sequence[Mapping[str, Any]],
    rule: ValueRule,
) -> NodeCall:
    """``call`` with every marker in its inputs replaced by the value it stands for: objects
    from ``resolved``, values spilled to the artifact location read back from there."""
    inputs = call.inputs
    if objects:

        def lookup(ref: dict[str, Any]) -> Any:
            return resolved[objects[ref["object"]]][ref["port"]]

        inputs = substitute(inputs, lookup)
    if rule.artifacts is not None:
        store = rule.store()
        inputs = substitute(inputs, lambda ref: store.load({"$ref": ref}), spilled_of)
    return call if inputs is call.inputs else dataclasses.replace(call, inputs=inputs)


async def perform(
    runtime: Runtime,
    call: NodeCall,
    objects: Mapping[str, int],
    resolved: Sequence[Mapping[str, Any]],
    rule: ValueRule,
) -> tuple[Summary, dict[str, Any] | None]:
    """Run ``call`` on ``runtime``; never raises for a node failure (see the module notes)."""
    reporter = RecordingReporter()
    try:
        result = await runtime.invoke(resolve_inputs(call, objects, resolved, rule), reporter)
    except Exception as exc:
        return describe_failure(exc, reporter), None
    return summarise(result, reporter, rule, call.run_id)


def summarise(
    result: NodeResult, reporter: Recorder, rule: ValueRule, run_id: str
) -> tuple[Summary, dict[str, Any] | None]:
    """The summary and the large outputs of a call that returned."""
    try:
        inline, large = split_outputs(result.outputs, rule, run_id)
    except Exception as exc:
        return describe_failure(exc, reporter), None
    return {"outputs": inline, "reports": reporter.reports}, large


def describe_failure(exc: Exception, reporter: Recorder) -> Summary:
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
    call: NodeCall, objects: Mapping[str, int], rule: ValueRule, *resolved: Mapping[str, Any]
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
    return loop.run_until_complete(perform(runtime, call, objects, resolved, rule))


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
    str,
    bytes,
    str,
    str,
    Mapping[str, Any],
    Mapping[str, Any],
    int,
    Any,
    Any,
    Any,
    Any,
    ValueRule,
    tuple[str, str] | None,
]
"""What a Python node's task receives, as one argument (Ray serialises each argument apart):
``(key, blob, run_id, node_id, inputs, parameters, attempt, artifact_dir, timeout_s,
variables, objects, rule, live)``; ``live`` names the relay and channel that reports go to
while the call runs (see :mod:`.relay`)."""


def run_python_node(
    envelope: Envelope, *resolved: Mapping[str, Any]
) -> tuple[Summary, dict[str, Any] | None]:
    """The body of the Ray task for a Python node: only what the call needs crosses.

    ``blob`` is the pickled definition (pickled once on the driver), read only on this worker's
    first call for ``key``; ``resolved`` are the large-output objects ``objects`` indexes.
    """
    runtime, loop = _python_worker()
    call, rule, live = _head_call(envelope, resolved)
    summary, large, _ = _run_one(runtime, loop, call, rule, live)
    return summary, large


Member = tuple[str, bytes, str, Mapping[str, Any], Any, tuple[str, ...], frozenset[str]]
"""A node a fused task runs after the head: ``(key, blob, node_id, parameters, bindings,
port_params, required)``, a :class:`~.fusion.Link` whose definition travels as a key and blob."""


def run_python_chain(
    envelope: Envelope, members: Sequence[Member], budget_s: float, *resolved: Mapping[str, Any]
) -> tuple[Summary, dict[str, Any] | None]:
    """The body of a fused task (see :mod:`.fusion`): the head, then each member in turn.

    Returns ``{"chain": [summary, ...]}``, one summary per node that ran, and the large outputs
    of the last one (the chain stops after a node with a large output, so only the last can
    have any). It stops after a failure, before a node the scheduler would skip, and once
    ``budget_s`` has passed.
    """
    started = time.perf_counter()
    runtime, loop = _python_worker()
    head, rule, live = _head_call(envelope, resolved)
    summary, large, outputs = _run_one(runtime, loop, head, rule, live)
    chain = [summary]
    for key, blob, node_id, parameters, bindings, port_params, required in members:
        if outputs is None or large is not None or time.perf_counter() - started >= budget_s:
            break
        definition = worker_definition(key, blob)
        link = Link(node_id, definition, parameters, bindings, port_params, required, {})
        inputs = link_inputs(link, outputs)
        if inputs is None:
            break
        call = dataclasses.replace(
            head,
            node_id=node_id,
            definition=definition,
            inputs=inputs,
            parameters=parameters,
            attempt=1,
            timeout_s=None,
        )
        summary, large, outputs = _run_one(runtime, loop, call, rule)
        chain.append(summary)
    return {"chain": chain}, large


def run_python_batch(
    envelopes: Sequence[Envelope], budget_s: float
) -> tuple[Summary, dict[str, Any] | None]:
    """The body of a batch task (see :mod:`.batch`): independent calls, one after another.

    Returns ``{"batch": [summary, ...]}`` for the calls it ran, in order, and the large outputs
    of the last one; it starts no call after one with a large output, or once ``budget_s`` has
    passed (the driver queues the others again).
    """
    started = time.perf_counter()
    runtime, loop = _python_worker()
    summaries: list[Summary] = []
    large: dict[str, Any] | None = None
    for envelope in envelopes:
        if large is not None or (summaries and time.perf_counter() - started >= budget_s):
            break
        call, rule, live = _head_call(envelope, ())
        summary, large, _ = _run_one(runtime, loop, call, rule, live)
        summaries.append(summary)
    return {"batch": summaries}, large


def _head_call(
    envelope: Envelope, resolved: Sequence[Mapping[str, Any]]
) -> tuple[NodeCall, ValueRule, tuple[str, str] | None]:
    key, blob, run_id, node_id, inputs, parameters, attempt, *context = envelope
    artifact_dir, timeout_s, variables, objects, rule, live = context
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
    return resolve_inputs(call, objects, resolved, rule), rule, live


def _run_one(
    runtime: PythonRuntime,
    loop: asyncio.AbstractEventLoop,
    call: NodeCall,
    rule: ValueRule,
    live: tuple[str, str] | None = None,
) -> tuple[Summary, dict[str, Any] | None, Mapping[str, Any] | None]:
    """One node in this worker: its summary, large outputs, and outputs (None if it failed).
    The summary's ``seconds`` is how long the node took here (the driver fuses and batches
    fast ones). With ``live``, its reports also go to the driver while it runs."""
    reporter: Recorder
    if live is None:
        reporter = RecordingReporter()
    else:
        reporter = LiveReporter(*live, (call.run_id, call.node_id, call.attempt))
    started = time.perf_counter()
    try:
        result = runtime.try_inline(call, reporter)
        if result is None:  # a coroutine function: awaited on this worker's loop
            result = loop.run_until_complete(runtime.invoke(call, reporter))
    except Exception as exc:
        failed = describe_failure(exc, reporter)
        failed["seconds"] = time.perf_counter() - started
        return failed, None, None
    finally:
        if isinstance(reporter, LiveReporter):
            reporter.close()
            started += reporter.spent
    seconds = time.perf_counter() - started
    summary, large = summarise(result, reporter, rule, call.run_id)
    summary["seconds"] = seconds
    return summary, large, None if "error" in summary else result.outputs
