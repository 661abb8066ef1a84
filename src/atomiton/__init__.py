"""atomiton: the execution engine for Atomiton node-graph workflows (Blueprints).

Glossary (one name per concept, used everywhere):

- **Blueprint**: a workflow file, Atomiton's ``NodeDefinition`` tree (``type: group``).
- **Node**: one node instance in a Blueprint; **NodeDefinition**: a node *type* (ports,
  parameters, runtime, hints); **Port**: a named, typed input or output; **Edge**: carries one
  output port's value to one input port.
- **ExecutionPlan** / **Step**: a validated Blueprint bound and prioritised for running.
- **RunState**: the pure scheduler state machine; the driver executes its instructions.
- **Runtime**: where node code runs (python, typescript, golang, rust, wasm); **NodeCall** /
  **NodeResult**: one call and what it produced.
- **Event**: a frozen record of a state change; **Engine**: runs Blueprints; **Run**: one
  execution, with a history record.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from atomiton.blueprint import Blueprint, load_blueprint
from atomiton.engines import BlueprintSource, ExecutionEngine, LocalEngine, NodeRun, RunResult
from atomiton.errors import (
    AtomitonError,
    BlueprintError,
    NodeDefinitionError,
    NodeError,
    ValidationError,
)
from atomiton.events import Event, EventKind
from atomiton.nodes import NodeContext, NodeDefinition, NodeRegistry, node
from atomiton.runtimes.worker import busypoll

__version__ = "0.1.0"


def run(
    blueprint: BlueprintSource,
    *,
    inputs: Mapping[str, Any] | None = None,
    variables: Mapping[str, Any] | None = None,
    on_error: str | None = None,
    **engine_options: Any,
) -> RunResult:
    """Run a Blueprint to the end on a fresh LocalEngine and return its result (sync wrapper)."""

    async def main() -> RunResult:
        async with LocalEngine(**engine_options) as engine:
            return await engine.execute(
                blueprint, inputs=inputs, variables=variables, on_error=on_error
            )

    return busypoll.run(main())


__all__ = [
    "AtomitonError",
    "Blueprint",
    "BlueprintError",
    "Event",
    "EventKind",
    "ExecutionEngine",
    "LocalEngine",
    "NodeContext",
    "NodeDefinition",
    "NodeDefinitionError",
    "NodeError",
    "NodeRegistry",
    "NodeRun",
    "RunResult",
    "ValidationError",
    "__version__",
    "load_blueprint",
    "node",
    "run",
]
