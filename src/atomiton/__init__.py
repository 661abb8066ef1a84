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
from typing import TYPE_CHECKING, Any

from atomiton._lazy import attach

if TYPE_CHECKING:
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
    from atomiton.engines import LocalEngine
    from atomiton.runtimes.worker import busypoll

    async def main() -> RunResult:
        async with LocalEngine(**engine_options) as engine:
            return await engine.execute(
                blueprint, inputs=inputs, variables=variables, on_error=on_error
            )

    return busypoll.run(main())


_LAZY = {
    "AtomitonError": "atomiton.errors",
    "Blueprint": "atomiton.blueprint",
    "BlueprintError": "atomiton.errors",
    "Event": "atomiton.events",
    "EventKind": "atomiton.events",
    "ExecutionEngine": "atomiton.engines",
    "LocalEngine": "atomiton.engines",
    "NodeContext": "atomiton.nodes",
    "NodeDefinition": "atomiton.nodes",
    "NodeDefinitionError": "atomiton.errors",
    "NodeError": "atomiton.errors",
    "NodeRegistry": "atomiton.nodes",
    "NodeRun": "atomiton.engines",
    "RunResult": "atomiton.engines",
    "ValidationError": "atomiton.errors",
    "load_blueprint": "atomiton.blueprint",
    "node": "atomiton.nodes",
}
"""Where each public name lives; it loads on first use (see :mod:`atomiton._lazy`)."""


if not TYPE_CHECKING:  # type checkers see the imports above, not a catch-all __getattr__
    __getattr__, __dir__ = attach(__name__, _LAZY)


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
