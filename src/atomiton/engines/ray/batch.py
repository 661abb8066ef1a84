"""Batching: calls of a fast Python node that become ready together share one Ray task.

A fan-out makes many calls of one node ready at once; each as its own task costs a Ray round
trip (about a millisecond of driver, raylet and worker time) for microseconds of work. The
driver dispatches those calls in one turn of its loop, so the runtime queues them
(:meth:`Batcher.run`) and, at the end of the turn, submits one task per batch that runs its
calls one after another in a worker and returns one summary per call. Each call still has its
own awaiting coroutine, events, result or error: the scheduler sees no difference.

Which calls batch, and how many together: calls of the same run, sub-run and node definition,
with light resources, no timeout and no large inputs, whose node's recent calls took under
:data:`HOP_S` in its worker (the least of the last few). A batch holds as many calls as fit,
by that duration, in one hop (at most :data:`BATCH_MAX`): work that runs in sequence instead
of side by side is never more than one round trip. A node never seen, or slow, runs one call
per task. A batch stops starting calls once it has run for the budget (as a fused chain does),
and after a call with a large output (only the last call's large outputs travel, in the
task's second object); the calls it did not start are queued again, each to a task of its own.

Cancelling any call of a batch kills the batch's task: every call of a batch belongs to one
driver (one run and sub-run), whose interrupts stop all its running calls together.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import ray
import ray.exceptions

from atomiton.engines.ray.tasks import Envelope, Summary
from atomiton.errors import NodeCancelledError, NodeError, WorkerCrashedError

HOP_S = 0.001
"""About what one Ray task round trip costs: the serial work a batch may add."""
BATCH_MAX = 64


def task_failure(exc: ray.exceptions.RayError) -> NodeError:
    """The node error for a task that Ray reports as failed (cancelled, or its worker died)."""
    if isinstance(exc, ray.exceptions.TaskCancelledError):
        return NodeCancelledError("the Ray task was cancelled outside this run")
    return WorkerCrashedError(
        f"the Ray worker running the node failed: {type(exc).__name__}: {exc}",
        hint="see the Ray logs of the node that ran it (ray logs, or /tmp/ray/session_latest)",
    )


@dataclass(slots=True, eq=False)
class Queued:
    """One call waiting for, or riding in, a batch."""

    group: tuple[str, str, str]
    """(run id, sub-run prefix, definition key): calls of one group may share a task."""
    size: int
    """How many calls of this group one task may hold."""
    envelope: Envelope
    function: Any
    future: asyncio.Future[Summary]
    ref: ray.ObjectRef[Any] | None = field(default=None)


class Batcher:
    """Queues calls during a loop turn and submits them in batches at its end."""

    def __init__(self, budget_s: float, stamp: Callable[[str, Summary, Any], None]) -> None:
        self.budget_s = budget_s
        self.batches = 0
        self._stamp = stamp  # (run id, summary, large ref): markers get the object's id
        self._queue: list[Queued] = []
        self._collectors: set[asyncio.Task[None]] = set()

    async def run(
        self, group: tuple[str, str, str], size: int, envelope: Envelope, function: Any
    ) -> Summary:
        """Run one call in a batch; its summary (see :mod:`.tasks`)."""
        loop = asyncio.get_running_loop()
        item = Queued(group, size, envelope, function, loop.create_future())
        self._enqueue([item])
        try:
            return await item.future
        except asyncio.CancelledError:
            if item.ref is not None:
                ray.cancel(item.ref, force=True)
            elif item in self._queue:
                self._queue.remove(item)
            raise

    def _enqueue(self, items: list[Queued]) -> None:
        if not self._queue:
            asyncio.get_running_loop().call_soon(self._flush)
        self._queue.extend(items)

    def _flush(self) -> None:
        groups: dict[tuple[str, str, str], list[Queued]] = {}
        for item in self._queue:
            if not item.future.done():
                groups.setdefault(item.group, []).append(item)
        self._queue = []
        for items in groups.values():
            size = items[0].size
            for start in range(0, len(items), size):
                self._submit(items[start : start + size])

    def _submit(self, items: list[Queued]) -> None:
        refs = items[0].function.remote([i.envelope for i in items], self.budget_s)
        for item in items:
            item.ref = refs[0]
        self.batches += 1
        task = asyncio.ensure_future(self._collect(refs, items))
        self._collectors.add(task)
        task.add_done_callback(self._collectors.discard)

    async def _collect(self, refs: tuple[Any, Any], items: list[Queued]) -> None:
        try:
            summary: Summary = await refs[0]
        except ray.exceptions.RayError as exc:
            for item in items:
                if not item.future.done():
                    item.future.set_exception(task_failure(exc))
            return
        entries: list[Summary] = summary["batch"]
        self._stamp(items[0].group[0], entries[-1], refs[1])
        for item, entry in zip(items, entries, strict=False):
            if not item.future.done():
                item.future.set_result(entry)
        rest = [i for i in items[len(entries) :] if not i.future.done()]
        for item in rest:  # the batch ran out of budget: these calls were slower than thought
            item.ref = None
            item.size = 1
        if rest:
            self._enqueue(rest)
