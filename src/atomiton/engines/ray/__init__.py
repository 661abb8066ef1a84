"""Scale out on Ray: the same Blueprint, scheduler and events, with node calls on a cluster.

``RayEngine`` is a LocalEngine whose runtime router sends Python node calls to Ray tasks and
other languages to warm workers inside Ray actors; large values stay in Ray's object store.
This package is the only one that imports ``ray`` (``pip install atomiton[ray]``). See
docs/ray.md.
"""

from atomiton.engines.ray.actors import ActorRuntime
from atomiton.engines.ray.engine import Cluster, RayEngine, create_engine, ray_router
from atomiton.engines.ray.resources import Resources, resources_for
from atomiton.engines.ray.results import ObjectTable
from atomiton.engines.ray.runtime import RayRuntime
from atomiton.engines.ray.values import INLINE_LIMIT_BYTES

__all__ = [
    "INLINE_LIMIT_BYTES",
    "ActorRuntime",
    "Cluster",
    "ObjectTable",
    "RayEngine",
    "RayRuntime",
    "Resources",
    "create_engine",
    "ray_router",
    "resources_for",
]
