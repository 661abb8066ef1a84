"""Node definitions, the ``@node`` decorator, manifests and the registry.

The decorator and the registry (manifests, pydantic, entry points) load on first use, so a node
module run by the isolated Python worker imports only what it uses (see :mod:`atomiton._lazy`).
"""

from typing import TYPE_CHECKING

from atomiton._lazy import attach
from atomiton.nodes.context import NodeContext, Reporter
from atomiton.nodes.definition import (
    ERROR_PORT,
    NodeDefinition,
    ParameterSpec,
    PerformanceHints,
    PortSpec,
    RuntimeSpec,
)

if TYPE_CHECKING:
    from atomiton.nodes.decorator import definition_of, node
    from atomiton.nodes.registry import NodeRegistry

if not TYPE_CHECKING:  # type checkers see the imports above, not a catch-all __getattr__
    __getattr__, __dir__ = attach(
        __name__,
        {
            "definition_of": "atomiton.nodes.decorator",
            "node": "atomiton.nodes.decorator",
            "NodeRegistry": "atomiton.nodes.registry",
        },
    )

__all__ = [
    "ERROR_PORT",
    "NodeContext",
    "NodeDefinition",
    "NodeRegistry",
    "ParameterSpec",
    "PerformanceHints",
    "PortSpec",
    "Reporter",
    "RuntimeSpec",
    "definition_of",
    "node",
]
