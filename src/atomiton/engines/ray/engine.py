"""RayEngine: the LocalEngine's scheduler and event stream, with node calls run on Ray.

Nothing about running a Blueprint changes: validation, the plan, the pure RunState, the
asyncio driver, retries with back-off, timeouts, fail-fast, error ports, groups, events and
history are LocalEngine's own code. Only the runtime router differs: Python nodes go to
:class:`RayRuntime` (a Ray task per call, resources from the node's hints; a chain of fast
nodes fused into one task, fast calls ready together in batches, see :mod:`.fusion` and
:mod:`.batch`; progress reaching the driver while a task runs, see :mod:`.relay`) and other
languages to :class:`ActorRuntime` (warm workers inside Ray actors). Large values stay in the
object store, or go to ``artifacts`` (an fsspec URL) when given (see :mod:`.values`); a run's
sink outputs are fetched at its end and the run's objects released.

The engine's concurrency bounds the calls in flight: by default twice the cluster's slots for
light nodes, so Ray always has the next task queued while the driver hears of the last one.
A node's timeout counts from the moment its task is submitted, queueing included.
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib.util
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import ray

from atomiton.engines.base import BlueprintSource
from atomiton.engines.local import LocalEngine, new_run_id
from atomiton.engines.ray.actors import ActorRuntime
from atomiton.engines.ray.batch import HOP_S
from atomiton.engines.ray.fusion import FUSE_BUDGET_S, ChainTable
from atomiton.engines.ray.resources import LIGHT_CPUS
from atomiton.engines.ray.results import ObjectTable
from atomiton.engines.ray.runtime import RayRuntime
from atomiton.engines.ray.values import INLINE_LIMIT_BYTES, ValueRule, spilled_of
from atomiton.engines.result import RunResult
from atomiton.runtimes import RuntimeRouter
from atomiton.runtimes.router import OPTIONAL_RUNTIMES


@dataclass(frozen=True, slots=True)
class Cluster:
    """The cluster this process uses: its CPUs and GPUs; whether this engine called ray.init
    (then it disconnects, or stops the local Ray it started, on close)."""

    address: str | None
    cpus: float
    gpus: float
    connected_here: bool

    @classmethod
    def connect(cls, address: str | None, init_options: Mapping[str, Any]) -> Cluster:
        started = False
        if not ray.is_initialized():
            options = dict(init_options)
            if address is None:  # a local Ray for this process only
                options.setdefault("include_dashboard", False)
            ray.init(address=address, **options)
            started = True
        resources = ray.cluster_resources()  # type: ignore[no-untyped-call]
        return cls(
            address,
            float(resources.get("CPU", 0.0)),
            float(resources.get("GPU", 0.0)),
            started,
        )


def ray_router(
    table: ObjectTable,
    cluster: Cluster,
    *,
    light_cpus: float = LIGHT_CPUS,
    rule: ValueRule | None = None,
    actors_per_language: int = 1,
    chains: ChainTable | None = None,
    fuse_budget_s: float = FUSE_BUDGET_S,
    hop_s: float = HOP_S,
) -> RuntimeRouter:
    """Python as tasks (chains fused when ``chains`` is given); every other runtime this
    installation has, inside actors."""
    python = RayRuntime(
        table,
        cluster_gpus=cluster.gpus,
        light_cpus=light_cpus,
        rule=rule,
        chains=chains,
        fuse_budget_s=fuse_budget_s,
        hop_s=hop_s,
    )
    router = RuntimeRouter([python])
    router.register(python, keys=("python:isolated",))
    for module, name, keys in OPTIONAL_RUNTIMES:
        if keys or importlib.util.find_spec(module) is None:
            continue  # "python:isolated" is served by tasks, which are processes already
        try:
            runtime = ActorRuntime(table, module, name, actors=actors_per_language, rule=rule)
        except ImportError:
            continue  # the runtime's own dependency (wasmtime, ...) is not installed
        router.register(runtime)
    return router


class RayEngine(LocalEngine):
    """Runs Blueprints on a Ray cluster; see the module notes. ``address=None`` starts a local
    Ray unless this process is already connected; ``"auto"`` or ``"ray://host:10001"`` join one.

    ``fuse_budget_s`` bounds how long one fused or batched task runs (0: one task per node);
    ``hop_s`` is what counts as a small node (its calls take less than a round trip);
    ``artifacts`` and ``artifact_options`` put large values on shared storage.
    """

    def __init__(
        self,
        *,
        address: str | None = None,
        init_options: Mapping[str, Any] | None = None,
        router: RuntimeRouter | None = None,
        concurrency: int | None = None,
        light_cpus: float = LIGHT_CPUS,
        inline_limit: int = INLINE_LIMIT_BYTES,
        actors_per_language: int = 1,
        fetch_outputs: bool = True,
        fuse_budget_s: float = FUSE_BUDGET_S,
        hop_s: float = HOP_S,
        artifacts: str | None = None,
        artifact_options: Mapping[str, Any] | None = None,
        **options: Any,
    ) -> None:
        self.rule = ValueRule(inline_limit, artifacts, dict(artifact_options or {}))
        if artifacts is not None:
            self.rule.store()  # a bad URL or a missing fsspec backend fails here, not mid-run
        self.cluster = Cluster.connect(address, init_options or {})
        self.objects = ObjectTable()
        self.chains = ChainTable(self.plan_of)
        self.fetch_outputs = fetch_outputs
        if router is None:
            router = ray_router(
                self.objects,
                self.cluster,
                light_cpus=light_cpus,
                rule=self.rule,
                actors_per_language=actors_per_language,
                chains=self.chains,
                fuse_budget_s=fuse_budget_s,
                hop_s=hop_s,
            )
        slots = int(self.cluster.cpus / light_cpus) if light_cpus > 0 else 8
        super().__init__(router=router, concurrency=concurrency or max(8, 2 * slots), **options)
        self.limits.gpus = int(self.cluster.gpus)

    async def execute(
        self,
        blueprint: BlueprintSource,
        *,
        inputs: Mapping[str, Any] | None = None,
        variables: Mapping[str, Any] | None = None,
        run_id: str | None = None,
        on_error: str | None = None,
    ) -> RunResult:
        run_id = run_id or new_run_id()
        if run_id in self.active_runs:  # LocalEngine refuses it; its objects are not ours
            return await super().execute(blueprint, run_id=run_id)
        try:
            result = await super().execute(
                blueprint, inputs=inputs, variables=variables, run_id=run_id, on_error=on_error
            )
            if not self.fetch_outputs:
                return result
            outputs = {
                node_id: {port: await self._fetch(run_id, v) for port, v in ports.items()}
                for node_id, ports in result.outputs.items()
            }
            return dataclasses.replace(result, outputs=outputs)
        finally:
            self.objects.release(run_id)
            self.chains.release(run_id)

    async def _fetch(self, run_id: str, value: Any) -> Any:
        """A sink output's value: read from the object store or the artifact location."""
        ref = spilled_of(value)
        if ref is not None:
            return await asyncio.to_thread(self.rule.store().load, {"$ref": ref})
        return await self.objects.fetch(run_id, value)

    async def aclose(self) -> None:
        try:
            await super().aclose()
        finally:
            if self.cluster.connected_here and ray.is_initialized():
                ray.shutdown()

    async def __aenter__(self) -> RayEngine:
        return self


def create_engine(address: str | None = None, **options: Any) -> RayEngine:
    """The engine ``atomiton run --engine ray [--ray-address ADDR]`` runs on."""
    return RayEngine(address=address, **options)
