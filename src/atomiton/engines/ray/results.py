"""What comes back from a task: the objects a run holds, and a call's summary made a result.

The :class:`ObjectTable` holds every run's large-output objects until the run ends, so Ray
keeps them while a dependant, a retry or the final result may still need them.
:func:`collect` awaits a task's summary (see :mod:`.tasks`), stamps the markers of large
outputs with their object's id, files the later nodes of a fused chain (see :mod:`.fusion`),
and :func:`complete` replays the call's reports and returns its outputs or raises its error,
rebuilt from data as the node's own error class.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import ray
import ray.exceptions

from atomiton.engines.ray.batch import task_failure
from atomiton.engines.ray.fusion import ChainTable, Link, Waiting
from atomiton.engines.ray.relay import LiveCall
from atomiton.engines.ray.tasks import Summary
from atomiton.engines.ray.values import marker_of, markers_in, stamp
from atomiton.errors import (
    NodeCancelledError,
    NodeError,
    NodeTimeoutError,
    WorkerCrashedError,
)
from atomiton.nodes.context import Reporter
from atomiton.nodes.definition import NodeDefinition
from atomiton.runtimes import NodeCall, NodeResult

_ERRORS: Mapping[str, type[NodeError]] = {
    cls.__name__: cls
    for cls in (NodeError, NodeTimeoutError, NodeCancelledError, WorkerCrashedError)
}

Observe = Callable[[NodeDefinition, Summary], None]
"""Told how long each node of a task took (its definition, its summary)."""


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
    chains: ChainTable | None = None,
    links: Sequence[Link] = (),
    observe: Observe | None = None,
) -> NodeResult:
    """Await a call's summary, replay its reports, and return its outputs or raise its error.

    A fused task's summary holds one summary per node it ran: the head's is this call's; the
    others wait in ``chains`` for their own dispatch (see :mod:`.fusion`).
    """
    summary_ref, large_ref = refs
    try:
        summary: Summary = await summary_ref
    except asyncio.CancelledError:
        cancel(summary_ref)
        raise
    except ray.exceptions.RayError as exc:
        raise task_failure(exc) from None
    if "chain" in summary:
        entries: list[Summary] = summary["chain"]
        stamp_large(table, call.run_id, entries[-1], large_ref)
        for link, upstream, entry in zip(links, entries, entries[1:], strict=False):
            if chains is not None:
                chains.wait(call.run_id, link.node_id, Waiting(entry, upstream["outputs"], link))
            if observe is not None:
                observe(link.definition, entry)
        summary = entries[0]
    else:
        stamp_large(table, call.run_id, summary, large_ref)
    if observe is not None:
        observe(call.definition, summary)
    return complete(summary, reporter, timed=bool(links))


def stamp_large(table: ObjectTable, run_id: str, summary: Summary, large_ref: Any) -> None:
    """Give the markers in ``summary``'s outputs the id of the task's large-output object."""
    outputs = summary.get("outputs")
    if outputs is not None and any(marker_of(v) is not None for v in outputs.values()):
        summary["outputs"] = stamp(outputs, table.add(run_id, large_ref))


def complete(summary: Mapping[str, Any], reporter: Reporter, *, timed: bool = False) -> NodeResult:
    """Replay a call's reports (those live delivery has not published, see :mod:`.relay`);
    its outputs, or its error raised. ``timed``: the call shared its task with others (a fused
    chain, a batch), so the driver's clock is wrong for it and the task's own measure is given."""
    skip = reporter.finish() if isinstance(reporter, LiveCall) else 0
    for kind, first, second in summary["reports"][skip:]:
        if kind == "progress":
            reporter.progress(first, second)
        else:
            reporter.log(first, second)
    if "error" in summary:
        raise _rebuild(summary)
    seconds = summary.get("seconds") if timed else None
    return NodeResult(summary["outputs"], None if seconds is None else seconds * 1000)


def _rebuild(summary: Mapping[str, Any]) -> NodeError:
    error = dict(summary["error"])
    cls = _ERRORS.get(summary["class"], NodeError)
    message = str(error.pop("message", "the node failed"))
    error_type = str(error.pop("type", cls.__name__))
    hint = error.pop("hint", None)
    node_id = error.pop("node_id", None)
    exc = cls(message, error_type=error_type, details=error, hint=hint, node_id=node_id)
    exc.retryable = bool(summary["retryable"])
    return exc


def force_cancel(ref: ray.ObjectRef[Any]) -> None:
    ray.cancel(ref, force=True)
