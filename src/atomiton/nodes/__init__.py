"""Node definitions, the ``@node`` decorator, manifests and the registry."""

from atomiton.nodes.context import NodeContext, Reporter
from atomiton.nodes.decorator import definition_of, node
from atomiton.nodes.definition import (
    ERROR_PORT,
    NodeDefinition,
    ParameterSpec,
    PerformanceHints,
    PortSpec,
    RuntimeSpec,
)
from atomiton.nodes.registry import NodeRegistry

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
