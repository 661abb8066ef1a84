"""RayRuntime: Python node calls as Ray tasks, one per call, a fused chain, or a batch.

The driver's ``router.invoke(call)`` lands here and awaits only the task's small summary (see
:mod:`.tasks` and :mod:`.results`). Markers in the call's inputs name large outputs of earlier
calls; their objects go along as task arguments, so Ray resolves them on the worker's node.

How a call travels: when the run's plan has nodes after it that one task may run too (see
:mod:`.fusion`), a fused task runs them; when calls of the same fast node are dispatched
together, a batch (see :mod:`.batch`); otherwise a task of its own. A node joins a chain or a
batch only when one of its latest calls took under ``hop_s`` (1 ms) in its worker, so a
slow node, or one never seen, runs in a task of its own. Progress and logs reach the driver while
a call runs (see :mod:`.relay`).

Cancelling the awaiting coroutine (a cancelled run, fail-fast, a node timeout) cancels the
task with ``ray.cancel(force=True)``: the worker process is killed, as a local runtime kills
its worker, and the coroutine re-raises ``CancelledError``.
"""

from __future__ import annotations

import collections
import hashlib
import pickle
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import ray

from atomiton.engines.ray.batch import BATCH_MAX, HOP_S, Batcher
from atomiton.engines.ray.fusion import FUSE_BUDGET_S, ChainTable, Link
from atomiton.engines.ray.relay import LiveReports
from atomiton.engines.ray.resources import LIGHT_CPUS, Resources, resources_for
from atomiton.engines.ray.results import ObjectTable, collect, complete, force_cancel, stamp_large
from atomiton.engines.ray.tasks import (
    Envelope,
    Member,
    Summary,
    run_python_batch,
    run_python_call,
    run_python_chain,
    run_python_node,
)
from atomiton.engines.ray.values import ValueRule
from atomiton.errors import NodeDefinitionError
from atomiton.nodes.context import Reporter
from atomiton.nodes.definition import NodeDefinition
from atomiton.plan import Step
from atomiton.runtimes import NodeCall, NodeResult, PythonRuntime

RECENT_CALLS = 4
"""How many of a node's latest durations decide whether it is fast."""


class RayRuntime:
    """Runs ``python`` nodes as Ray tasks (``python:isolated`` too: every task is a process)."""

    def __init__(
        self,
        table: ObjectTable,
        *,
        cluster_gpus: float = 0.0,
        light_cpus: float = LIGHT_CPUS,
        rule: ValueRule | None = None,
        chains: ChainTable | None = None,
        fuse_budget_s: float = FUSE_BUDGET_S,
        hop_s: float = HOP_S,
    ) -> None:
        self.table = table
        self.cluster_gpus = cluster_gpus
        self.light_cpus = light_cpus
        self.rule = rule or ValueRule()
        self.chains = chains if fuse_budget_s > 0 else None
        self.fuse_budget_s = fuse_budget_s
        self.hop_s = hop_s  # what a round trip costs: the serial work fusing and batching add
        self._local = PythonRuntime(threads=1, processes=1)
        light = ray.remote(num_returns=2, max_retries=0, num_cpus=light_cpus)
        self._task: Any = light(run_python_call)
        self._node_task: Any = light(run_python_node)
        self._chain_task: Any = light(run_python_chain)
        self._batch_task: Any = light(run_python_batch)
        self.batcher = Batcher(
            fuse_budget_s, lambda run_id, summary, ref: stamp_large(table, run_id, summary, ref)
        )
        self.live = LiveReports()
        self._seconds: dict[str, collections.deque[float]] = {}  # recent calls, by definition
        self._functions: dict[tuple[int, Resources], Any] = {}
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
        self.live.start()

    def try_inline(self, call: NodeCall, reporter: Reporter) -> NodeResult | None:
        """A chain node's result computed ahead by its fused task (see :mod:`.fusion`)."""
        if self.chains is None:
            return None
        summary = self.chains.take(call.run_id, call.node_id, call.attempt, call.inputs)
        return None if summary is None else complete(summary, reporter, timed=True)

    async def invoke(self, call: NodeCall, reporter: Reporter) -> NodeResult:
        key = (call.run_id, call.node_id, call.attempt)
        live = self.live.track(key, reporter)
        try:
            return await self._invoke(call, live)
        finally:
            self.live.untrack(key)

    async def _invoke(self, call: NodeCall, reporter: Reporter) -> NodeResult:
        shipped = self._shipped_for(call.definition)
        objects, args = self.table.arguments(call)
        if call.body is not None or call.services:  # these cannot be sent piecewise
            refs = shipped.whole.remote(call, objects, self.rule, *args)
            return await collect(refs, call, reporter, self.table, force_cancel)
        envelope: Envelope = (
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
            self.rule,
            (self.live.name, self.live.channel) if self.live.name else None,
        )
        links = self._chain(call)
        if links:
            members = [self._member(link) for link in links]
            refs = shipped.chain.remote(envelope, members, self.fuse_budget_s, *args)
            return await collect(
                refs, call, reporter, self.table, force_cancel, self.chains, links, self._observe
            )
        size = self._batch_size(call, shipped, objects)
        if size > 1:
            group = (call.run_id, call.node_id.rpartition("/")[0], shipped.key)
            summary = await self.batcher.run(group, size, envelope, shipped.batch)
            self._observe(call.definition, summary)
            return complete(summary, reporter, timed=True)
        refs = shipped.function.remote(envelope, *args)
        return await collect(refs, call, reporter, self.table, force_cancel, observe=self._observe)

    def _observe(self, definition: NodeDefinition, summary: Summary) -> None:
        seconds = summary.get("seconds")
        if seconds is not None:
            key = self._shipped_for(definition).key
            recent = self._seconds.get(key)
            if recent is None:
                recent = self._seconds[key] = collections.deque(maxlen=RECENT_CALLS)
            recent.append(seconds)

    def _typical(self, definition: NodeDefinition) -> float | None:
        """How long a call of ``definition`` takes in its worker: the least of its recent
        calls (a worker's first call also imports the node); None before the first."""
        recent = self._seconds.get(self._shipped_for(definition).key)
        return min(recent) if recent else None

    def _fast(self, definition: NodeDefinition) -> bool:
        """Its calls take under a hop in the worker (never seen: not fast)."""
        seconds = self._typical(definition)
        return seconds is not None and seconds < self.hop_s

    def _batch_size(self, call: NodeCall, shipped: _Shipped, objects: Mapping[str, int]) -> int:
        """How many calls like ``call`` one task may hold (1: it runs alone); see :mod:`.batch`."""
        seconds = self._typical(call.definition)
        if (
            seconds is None
            or seconds >= self.hop_s
            or self.fuse_budget_s <= 0
            or objects
            or call.timeout_s
            or shipped.resources != Resources(self.light_cpus)
        ):
            return 1
        return min(BATCH_MAX, int(self.hop_s / max(seconds, 1e-6)))

    def _chain(self, call: NodeCall) -> list[Link]:
        """The nodes one task may run after ``call``'s: up to the first that is not fast."""
        if self.chains is None or call.timeout_s:
            return []
        links = self.chains.chain(call.run_id, call.node_id, call.parameters, self._same_task)
        for n, link in enumerate(links):
            if not self._fast(link.definition):
                return links[:n]
        return links

    def _same_task(self, a: Step, b: Step) -> bool:
        """Both are this runtime's (plain Python) and ask for the same Ray resources."""
        da, db = a.definition, b.definition
        return (
            da is not None
            and db is not None
            and da.runtime.language == "python"
            and db.runtime.language == "python"
            and self._shipped_for(da).resources == self._shipped_for(db).resources
        )

    def _member(self, link: Link) -> Member:
        shipped = self._shipped_for(link.definition)
        return (
            shipped.key,
            shipped.blob,
            link.node_id,
            link.parameters,
            link.bindings,
            link.port_params,
            link.required,
        )

    def _shipped_for(self, definition: NodeDefinition) -> _Shipped:
        shipped = self._shipped.get(id(definition))
        if shipped is None or shipped.definition is not definition:
            shipped = self._shipped[id(definition)] = self._ship(definition)
        return shipped

    def _ship(self, definition: NodeDefinition) -> _Shipped:
        """A definition's task functions and its pickle, made once per definition object."""
        resources = self.resources(definition)
        blob = pickle.dumps(definition, protocol=pickle.HIGHEST_PROTOCOL)
        key = f"{definition.id}:{hashlib.blake2b(blob, digest_size=12).hexdigest()}"
        return _Shipped(
            definition,
            key,
            blob,
            resources,
            self._function(self._node_task, resources),
            self._function(self._chain_task, resources),
            self._function(self._batch_task, resources),
            self._function(self._task, resources),
        )

    def _function(self, task: Any, resources: Resources) -> Any:
        """``task`` with ``resources``; the plain task when they are the light default."""
        function = self._functions.get((id(task), resources))
        if function is None:
            default = resources == Resources(self.light_cpus)
            function = task if default else task.options(**resources.options())
            self._functions[(id(task), resources)] = function
        return function

    async def aclose(self) -> None:
        await self.live.aclose()
        await self._local.aclose()


@dataclass(frozen=True, slots=True)
class _Shipped:
    """What the driver keeps per node definition: the pickle a worker reads once, by key."""

    definition: NodeDefinition
    key: str
    blob: bytes
    resources: Resources
    function: Any
    chain: Any
    batch: Any
    whole: Any
