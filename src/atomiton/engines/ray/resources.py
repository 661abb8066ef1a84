"""A node's Ray resources, from its performance hints.

=========================  =============================================================
hint                       Ray task options
=========================  =============================================================
``preferGPU``              ``num_gpus=1`` when the cluster has a GPU (else it runs on CPU)
``parallelizable``         ``num_cpus=1``: a CPU-bound node gets a whole core
neither                    ``num_cpus=light_cpus`` (0.25): I/O-bound and light nodes share
``runtime.options.ray``    explicit ``num_cpus``, ``num_gpus``, ``memory`` (bytes) and custom
                           ``resources`` override the above, e.g. ``{"memory": 4e9}``
=========================  =============================================================

Every task runs with ``max_retries=0``: retries, back-off and timeouts are the engine's policy
(the RunState decides), never Ray's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from atomiton.errors import NodeDefinitionError
from atomiton.nodes.definition import NodeDefinition

LIGHT_CPUS = 0.25
_OVERRIDES = ("num_cpus", "num_gpus", "memory", "resources")


@dataclass(frozen=True, slots=True)
class Resources:
    num_cpus: float
    num_gpus: float = 0.0
    memory: int | None = None
    custom: tuple[tuple[str, float], ...] = ()

    def options(self) -> dict[str, Any]:
        """Keyword arguments for ``RemoteFunction.options``."""
        opts: dict[str, Any] = {"num_cpus": self.num_cpus, "max_retries": 0}
        if self.num_gpus:
            opts["num_gpus"] = self.num_gpus
        if self.memory:
            opts["memory"] = self.memory
        if self.custom:
            opts["resources"] = dict(self.custom)
        return opts


def resources_for(
    definition: NodeDefinition, *, cluster_gpus: float, light_cpus: float = LIGHT_CPUS
) -> Resources:
    hints = definition.performance
    num_cpus = 1.0 if hints.parallelizable else light_cpus
    num_gpus = 1.0 if hints.prefer_gpu and cluster_gpus >= 1 else 0.0
    memory: int | None = None
    custom: dict[str, float] = {}
    override = definition.runtime.options.get("ray")
    if override is not None:
        if not isinstance(override, Mapping) or set(override) - set(_OVERRIDES):
            raise NodeDefinitionError(
                f"node type '{definition.id}': runtime.options.ray must be a mapping with keys "
                f"among {', '.join(_OVERRIDES)}; got {override!r}",
                hint="e.g. options: {ray: {num_cpus: 2, memory: 4000000000}}",
            )
        num_cpus = float(override.get("num_cpus", num_cpus))
        num_gpus = float(override.get("num_gpus", num_gpus))
        memory = int(override["memory"]) if "memory" in override else None
        custom = {str(k): float(v) for k, v in dict(override.get("resources", {})).items()}
    return Resources(num_cpus, num_gpus, memory, tuple(sorted(custom.items())))
