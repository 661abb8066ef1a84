"""Runs the server started, and the replay-then-live feed of a run's events.

``RunManager.start`` validates, starts ``engine.execute`` as a background task and returns once
the run has begun (its row and ``run.started`` exist), so a client can follow it at once.

``RunManager.follow`` yields a run's events with ``seq > after`` exactly once and in order: it
subscribes to the bus *first*, then flushes the store and replays what the store holds, then
drains the live queue, skipping what the replay already covered. The live queue is bounded: a
subscriber that falls behind by more than ``max_buffer`` events drops its queue and catches up
from the store, which has every event, so memory stays bounded and nothing is lost.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from atomiton.blueprint import Blueprint
from atomiton.engines import LocalEngine, RunResult, new_run_id
from atomiton.errors import RunNotFoundError, ValidationError
from atomiton.events import Event, EventKind
from atomiton.store import Store

KEEP_FINISHED = 1000


def graph_of(bp: Blueprint) -> dict[str, Any]:
    """What the web page draws: top-level nodes (groups with their children) and edges."""

    def nodes(b: Blueprint, prefix: str) -> list[dict[str, Any]]:
        out = []
        for n in b.nodes:
            item: dict[str, Any] = {"id": prefix + n.id, "name": n.label, "type": n.type}
            if n.blueprint is not None:
                item["children"] = nodes(n.blueprint, f"{prefix}{n.id}/")
            out.append(item)
        return out

    return {
        "id": bp.id,
        "name": bp.name,
        "nodes": nodes(bp, ""),
        "edges": [{"from": e.source, "to": e.target} for e in bp.edges],
    }


@dataclass(slots=True)
class RunHandle:
    run_id: str
    graph: dict[str, Any]
    task: asyncio.Task[RunResult] | None = None
    result: RunResult | None = None
    error: str | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)


class RunManager:
    def __init__(self, engine: LocalEngine, *, max_buffer: int = 10_000) -> None:
        self.engine = engine
        self.max_buffer = max_buffer
        self._runs: OrderedDict[str, RunHandle] = OrderedDict()

    @property
    def store(self) -> Store:
        assert self.engine.store is not None, "the server's engine always has a store"
        return self.engine.store

    def get(self, run_id: str) -> RunHandle | None:
        return self._runs.get(run_id)

    async def start(
        self,
        bp: Blueprint,
        *,
        inputs: Mapping[str, Any] | None = None,
        variables: Mapping[str, Any] | None = None,
        run_id: str | None = None,
        on_error: str | None = None,
    ) -> RunHandle:
        """Start ``bp`` in the background; raises ValidationError before anything runs."""
        report = self.engine.validate(bp, inputs=inputs)
        if not report.ok:
            raise ValidationError(report)
        run_id = run_id or new_run_id()
        if run_id in self._runs or run_id in self.engine.active_runs:
            raise ValueError(f"run '{run_id}' already exists; leave run_id out to get a new one")
        handle = RunHandle(run_id, graph_of(bp))
        self._runs[run_id] = handle
        self._evict()
        handle.task = asyncio.create_task(
            self.engine.execute(
                bp, inputs=inputs, variables=variables, run_id=run_id, on_error=on_error
            )
        )
        handle.task.add_done_callback(lambda t: self._finished(handle, t))
        await asyncio.sleep(0)  # the task's first step begins the run
        return handle

    def cancel(self, run_id: str) -> bool:
        return self.engine.cancel(run_id)

    async def aclose(self) -> None:
        tasks = [h.task for h in self._runs.values() if h.task is not None and not h.task.done()]
        for run_id in self.engine.active_runs:
            self.engine.cancel(run_id)
        if tasks:
            await asyncio.wait(tasks, timeout=10)

    def _finished(self, handle: RunHandle, task: asyncio.Task[RunResult]) -> None:
        if task.cancelled():
            handle.error = "the run's task was cancelled"
        elif task.exception() is not None:
            handle.error = str(task.exception())
        else:
            handle.result = task.result()
        handle.done.set()

    def _evict(self) -> None:
        finished = [k for k, h in self._runs.items() if h.done.is_set()]
        for run_id in finished[: max(0, len(self._runs) - KEEP_FINISHED)]:
            del self._runs[run_id]

    # -- following a run's events --------------------------------------------------------------

    async def exists(self, run_id: str) -> bool:
        if run_id in self._runs:
            return True
        try:
            await asyncio.to_thread(self.store.get_run, run_id)
        except RunNotFoundError:
            return False
        return True

    async def follow(self, run_id: str, after: int = 0) -> AsyncIterator[Event]:
        """Every event of ``run_id`` with ``seq > after``, once, in order, until it finishes."""
        queue: deque[Event] = deque()
        wake = asyncio.Event()
        lagging = True  # start by replaying from the store

        def listener(event: Event) -> None:
            nonlocal lagging
            if len(queue) >= self.max_buffer:
                queue.clear()
                lagging = True
            else:
                queue.append(event)
            wake.set()

        sub = self.engine.subscribe(listener, run_id=run_id)
        last = after
        final_check = False
        try:
            while True:
                if lagging:
                    lagging = False
                    await asyncio.to_thread(self.store.flush)
                    stored = await asyncio.to_thread(self.store.events, run_id, after_seq=last)
                    for event in stored:
                        if event.seq != last + 1:
                            break
                        last = event.seq
                        yield event
                        if event.kind is EventKind.RUN_FINISHED:
                            return
                while queue and not lagging:
                    event = queue.popleft()
                    if event.seq <= last:
                        continue  # the replay already sent it
                    if event.seq != last + 1:
                        lagging = True  # the store has what the queue missed
                        break
                    last = event.seq
                    yield event
                    if event.kind is EventKind.RUN_FINISHED:
                        return
                if lagging or queue:
                    continue
                if not self._may_continue(run_id):
                    if final_check:
                        return  # interrupted long ago: the store has all there will ever be
                    final_check = lagging = True  # one last look at the store
                    continue
                wake.clear()
                await wake.wait()
        finally:
            sub.close()

    def _may_continue(self, run_id: str) -> bool:
        handle = self._runs.get(run_id)
        if handle is not None and not handle.done.is_set():
            return True
        return run_id in self.engine.active_runs
