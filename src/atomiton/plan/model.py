"""The ExecutionPlan: what the scheduler needs, and nothing it must look up again.

Steps are indexed by position (declaration order) so the scheduler's hot path works on integers.
``priority`` is the length of the longest chain of steps from this one to a sink (critical path
first); ties go to the earlier-declared step, so the order is deterministic.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from atomiton.blueprint.model import Blueprint, Node
from atomiton.nodes.definition import NodeDefinition


@dataclass(slots=True)  # not frozen, like Step: several per step, never mutated
class Binding:
    """One incoming edge: ``source``'s output ``source_port`` (None: the whole object) feeds
    this step's ``target_port``."""

    source: int
    source_port: str | None
    target_port: str
    edge_id: str


@dataclass(slots=True)  # not frozen: a frozen __init__ costs microseconds per step; never mutated
class Step:
    index: int
    node_id: str
    node: Node
    definition: NodeDefinition | None
    """None for a plain group (inline or referenced), which the engine runs itself. A step with
    both a definition and a ``sub_plan`` is a container (``loop``, ``parallel``): its code runs
    and runs the sub-plan as its body, once per call of ``NodeContext.run_body``."""
    bindings: tuple[Binding, ...]
    deps: tuple[int, ...]
    """Steps that must finish first: edge sources and nodes named in ``{{ $nodes.x }}``."""
    dependents: tuple[int, ...]
    parameters: Mapping[str, Any]
    """The node's parameters without the engine's control keys, with declared defaults."""
    priority: int
    pool: str
    """Which runtime pool runs it: the runtime language, or ``group``."""
    timeout_s: float | None = None
    retries: int = 0
    enabled: bool = True
    error_routed: bool = False
    """An edge leaves the ``error`` port: a failure is handled there, not by the run."""
    needs_gpu: bool = False
    sub_plan: ExecutionPlan | None = None
    template_refs: tuple[int, ...] = ()

    @property
    def is_group(self) -> bool:
        return self.sub_plan is not None and self.definition is None


@dataclass(frozen=True, slots=True)
class ExecutionPlan:
    blueprint: Blueprint
    steps: tuple[Step, ...]
    sinks: tuple[int, ...]
    on_error: str = "fail-fast"
    variables: Mapping[str, Any] = field(default_factory=dict)
    timeout_s: float | None = None

    def index_of(self, node_id: str) -> int:
        for step in self.steps:
            if step.node_id == node_id:
                return step.index
        raise KeyError(node_id)

    def __len__(self) -> int:
        return len(self.steps)
