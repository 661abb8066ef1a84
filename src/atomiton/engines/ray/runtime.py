"""RayRuntime: each Python node call is one Ray task; what a call left in the object store.

The driver's ``router.invoke(call)`` lands here and awaits only the task's small summary (see
:mod:`.tasks`). Markers in the call's inputs name large outputs of earlier calls; their objects
go along as task arguments, so Ray resolves them on the worker's node. The
:class:`ObjectTable` holds every run's large-output objects until the run ends, so Ray keeps
them while a dependant, a retry or the final result may still need them.

Cancelling the awaiting coroutine (a cancelled run, fail-fast, a node timeout) cancels the
task with ``ray.cancel(force=True)``: the worker process is killed, as a local runtime kills
its worker, and the coroutine re-raises ``CancelledError``.
"""

from __future__ import annotations

import asyncio
import hashlib
import pickle
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import ray
import ray.exceptions

from atomiton.engines.ray.resources import LIGHT_CPUS, Resources, resources_for
from atomiton.engines.ray.tasks import Summary, run_python_call, run_python_node
from atomiton.engines.ray.values import INLINE_LIMIT_BYTES, marker_of, markers_in, stamp
from atomiton.errors import (
    NodeCancelledError,
    NodeDefinitionError,
    NodeError,
    NodeTimeoutError,
    WorkerCrashedError,
)
from atomiton.nodes.context import Reporter
from atomiton.nodes.definition import NodeDefinition
from atomiton.runtimes import NodeCall, NodeResult, PythonRuntime

_ERRORS: Mapping[str, type[NodeError]] = {
    cls.__name__: cls
    for cls in (NodeError, NodeTimeoutError, NodeCancelledError, WorkerCrashedError)
}


class ObjectTable:
    """Large-output objects by run and object id, held until :meth:`release`."""

    def __init__(self) -> None:
        self._runs: dict[str, dict[str, ray.ObjectRef[Any]]] = {}

    def add(self, run_id: str, ref: ray.ObjectRef[Any]) -> str:
        object_id: str = ref.hex()
        self._runs.setdefault(run_id, {})[object_id] = ref
        return object_id

    def get(self, run_id: str, object_id: str) -> ray.ObjectRef[Any]:
        ref = self._runs.get(run_id, {}).get(object_id)
        if ref is None:
            raise NodeError(
                f"the value object {object_id} is not held for run '{run_id}'",
                error_type="LookupError",
                hint="a marker of another (finished) run cannot be passed as a value; "
                "pass the value itself",
            )
        return ref

    def arguments(self, call: NodeCall) -> tuple[dict[str, int], list[ray.ObjectRef[Any]]]:
        """The objects a call's input markers name: id to argument position, and the refs."""
        found: list[dict[str, Any]] = []
        markers_in(call.inputs, found)
        positions: dict[str, int] = {}
        refs: list[ray.ObjectRef[Any]] = []
        for ref in found:
            object_id = str(ref["object"])
            if object_id not in positions:
                positions[object_id] = len(refs)
                refs.append(self.get(call.run_id, object_id))
        return positions, refs

    def release(self, run_id: str) -> None:
        self._runs.pop(run_id, None)

    def held(self, run_id: str) -> int:
        return len(self._runs.get(run_id, {}))

    async def fetch(self, run_id: str, value: Any) -> Any:
        """``value`` with its top-level marker (if any) replaced by the value from the store."""
        ref = marker_of(value)
        if ref is None:
            return value
        outputs = await self.get(run_id, str(ref["object"]))
        return outputs[ref["port"]]


async def collect(
    refs: tuple[ray.ObjectRef[Any], ray.ObjectRef[Any]],
    call: NodeCall,
    reporter: Reporter,
    table: ObjectTable,
    cancel: Callable[[ray.ObjectRef[Any]], None],
) -> NodeResult:
    """Await a call's summary, replay its reports, and return its outputs or raise its error."""
    summary_ref, large_ref = refs
    try:
        summary: Summary = await summary_ref
    except asyncio.CancelledError:
        cancel(summary_ref)
        raise
    except ray.exceptions.TaskCancelledError:
        raise NodeCancelledError("the Ray task was cancelled outside this run") from None
    except ray.exceptions.RayError as exc:
        raise WorkerCrashedError(
            f"the Ray worker running the node failed: {type(exc).__name__}: {exc}",
            hint="see the Ray logs of the node that ran it (ray logs, or /tmp/ray/session_latest)",
        ) from None
    for kind, first, second in summary["reports"]:
        if kind == "progress":
            reporter.progress(first, second)
        else:
            reporter.log(first, second)
    if "error" in summary:
        raise _rebuild(summary)
    outputs: dict[str, Any] = summary["outputs"]
    if any(marker_of(v) is not None for v in outputs.values()):
        outputs = stamp(outputs, table.add(call.run_id, large_ref))
    return NodeResult(outputs)


def _rebuild(summary: Summary) -> NodeError:
    error = dict(summary["error"])
    cls = _ERRORS.get(summary["class"], NodeError)
    message = str(error.pop("message", "the node failed"))
    error_type = str(error.pop("type", cls.__name__))
    hint = error.pop("hint", None)
    node_id = error.pop("node_id", None)
    exc = cls(message, error_type=error_type, details=error, hint=hint, node_id=node_id)
    exc.retryable = bool(summary["retryable"])
    return exc


class RayRuntime:
    """Runs ``python`` nodes as Ray tasks (``python:isolated`` too: every task is a process)."""

    def __init__(
        self,
        table: ObjectTable,
        *,
        cluster_gpus: float = 0.0,
        light_cpus: float = LIGHT_CPUS,
        inline_limit: int = INLINE_LIMIT_BYTES,
    ) -> None:
        self.table = table
        self.cluster_gpus = cluster_gpus
        self.light_cpus = light_cpus
        self.inline_limit = inline_limit
        self._local = PythonRuntime(threads=1, processes=1)
        light = ray.remote(num_returns=2, max_retries=0, num_cpus=light_cpus)
        self._task: Any = light(run_python_call)
        self._node_task: Any = light(run_python_node)
        self._functions: dict[tuple[bool, Resources], Any] = {}
        self._shipped: dict[int, _Shipped] = {}

    @property
    def languages(self) -> tuple[str, ...]:
        return ("python",)

    def resources(self, definition: NodeDefinition) -> Resources:
        return resources_for(definition, cluster_gpus=self.cluster_gpus, light_cpus=self.light_cpus)

    def check(self, definition: NodeDefinition) -> str | None:
        """The handler must import here; the worker imports it the same way (same code)."""
        try:
            self.resources(definition)
        except NodeDefinitionError as exc:
            return exc.message
        return self._local.check(definition)

    async def start(self) -> None:
        return None

    async def invoke(self, call: NodeCall, reporter: Reporter) -> NodeResult:
        shipped = self._shipped.get(id(call.definition))
        if shipped is None or shipped.definition is not call.definition:
            shipped = self._shipped[id(call.definition)] = self._ship(call.definition)
        objects, args = self.table.arguments(call)
        if call.body is None and not call.services:
            envelope = (
                shipped.key,
                shipped.blob,
                call.run_id,
                call.node_id,
                call.inputs,
                call.parameters,
                call.attempt,
                call.artifact_dir,
                call.timeout_s,
                call.variables,
                objects,
                self.inline_limit,
            )
            refs = shipped.function.remote(envelope, *args)
        else:  # engine services or a body cannot be sent piecewise: the whole call crosses
            refs = shipped.whole.remote(call, objects, self.inline_limit, *args)
        return await collect(refs, call, reporter, self.table, _force_cancel)

    def _ship(self, definition: NodeDefinition) -> _Shipped:
        """A definition's task functions and its pickle, made once per definition object."""
        resources = self.resources(definition)
        blob = pickle.dumps(definition, protocol=pickle.HIGHEST_PROTOCOL)
        key = f"{definition.id}:{hashlib.blake2b(blob, digest_size=12).hexdigest()}"
        return _Shipped(
            definition,
            key,
            blob,
            self._function(self._node_task, resources),
            self._function(self._task, resources),
        )

    def _function(self, task: Any, resources: Resources) -> Any:
        """``task`` with ``resources``; the plain task when they are the light default."""
        whole = task is self._task
        function = self._functions.get((whole, resources))
        if function is None:
            default = resources == Resources(self.light_cpus)
            function = task if default else task.options(**resources.options())
            self._functions[(whole, resources)] = function
        return function

    async def aclose(self) -> None:
        await self._local.aclose()


@dataclass(frozen=True, slots=True)
class _Shipped:
    """What the driver keeps per node definition: the pickle a worker reads once, by key."""

    definition: NodeDefinition
    key: str
    blob: bytes
    function: Any
    whole: Any


def _force_cancel(ref: ray.ObjectRef[Any]) -> None:
    ray.cancel(ref, force=True)
