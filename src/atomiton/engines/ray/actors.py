"""Warm non-Python workers on Ray: each language's runtime lives inside Ray actors.

A Node.js or Go worker must stay warm (a call must not cost a process start), and a Ray task is
short-lived, so those languages do not run as tasks. Instead an :class:`ActorRuntime` starts a
few long-lived Ray actors (``RuntimeHost``), each holding the language's ordinary runtime (its
own pool of warm workers, started once). Calls go to the actor with the fewest calls in flight
as async actor methods; inputs and large outputs follow the same object-store rule as Python
tasks (see :mod:`.values`). Cancelling a call cancels the actor method, which cancels the
runtime's ``invoke`` inside the actor: the runtime stops its worker, as it does locally.

Node code is read from the same paths as on the driver (``runtime.path``): on a cluster, ship
it in the container image or a shared volume (see docs/deploy/).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
from collections.abc import Mapping, Sequence
from typing import Any

import ray
import ray.exceptions

from atomiton.engines.ray.results import ObjectTable, collect
from atomiton.engines.ray.tasks import Summary, perform
from atomiton.engines.ray.values import ValueRule
from atomiton.nodes.context import Reporter
from atomiton.nodes.definition import NodeDefinition
from atomiton.runtimes import NodeCall, NodeResult, Runtime

ACTOR_CPUS = 1.0
ACTOR_CONCURRENCY = 16


def load_runtime(module: str, name: str, options: Mapping[str, Any]) -> Runtime:
    runtime: Runtime = getattr(importlib.import_module(module), name)(**options)
    return runtime


class RuntimeHost:
    """The body of one actor: a runtime, started on first use, serving calls concurrently."""

    def __init__(self, module: str, name: str, options: Mapping[str, Any], rule: ValueRule) -> None:
        self._runtime = load_runtime(module, name, options)
        self._rule = rule

    async def start(self) -> None:
        await self._runtime.start()

    async def invoke(
        self, call: NodeCall, objects: Mapping[str, int], *resolved: Mapping[str, Any]
    ) -> tuple[Summary, dict[str, Any] | None]:
        return await perform(self._runtime, call, objects, resolved, self._rule)

    async def aclose(self) -> None:
        await self._runtime.aclose()


class ActorRuntime:
    """Routes one runtime's languages to ``actors`` RuntimeHost actors on the cluster."""

    def __init__(
        self,
        table: ObjectTable,
        module: str,
        name: str,
        *,
        options: Mapping[str, Any] | None = None,
        actors: int = 1,
        actor_cpus: float = ACTOR_CPUS,
        concurrency: int = ACTOR_CONCURRENCY,
        rule: ValueRule | None = None,
    ) -> None:
        self.table = table
        self.module = module
        self.name = name
        self.options = dict(options or {})
        self.size = max(1, actors)
        self.actor_cpus = actor_cpus
        self.concurrency = concurrency
        self.rule = rule or ValueRule()
        self._local = load_runtime(module, name, self.options)  # for check(): cheap, no workers
        self._hosts: list[Any] = []
        self._in_flight: list[int] = []

    @property
    def languages(self) -> tuple[str, ...]:
        return self._local.languages

    def check(self, definition: NodeDefinition) -> str | None:
        return self._local.check(definition)

    async def start(self) -> None:
        host_class = ray.remote(RuntimeHost).options(
            num_cpus=self.actor_cpus, max_concurrency=self.concurrency, max_restarts=-1
        )
        hosts: list[Any] = [
            host_class.remote(self.module, self.name, self.options, self.rule)
            for _ in range(self.size)
        ]
        await asyncio.gather(*(h.start.remote() for h in hosts))
        self._hosts, self._in_flight = hosts, [0] * len(hosts)

    async def invoke(self, call: NodeCall, reporter: Reporter) -> NodeResult:
        i = min(range(len(self._hosts)), key=self._in_flight.__getitem__)
        objects, args = self.table.arguments(call)
        refs = self._hosts[i].invoke.options(num_returns=2).remote(call, objects, *args)
        self._in_flight[i] += 1
        try:
            return await collect(refs, call, reporter, self.table, ray.cancel)
        finally:
            self._in_flight[i] -= 1

    async def aclose(self) -> None:
        hosts, self._hosts = self._hosts, []
        await _close_all(hosts)
        await self._local.aclose()


async def _close_all(hosts: Sequence[Any]) -> None:
    for host in hosts:
        with contextlib.suppress(ray.exceptions.RayError):  # a dead actor has no workers left
            await host.aclose.remote()
        ray.kill(host)
