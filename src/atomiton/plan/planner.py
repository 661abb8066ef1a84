"""Build an ExecutionPlan from a validated Blueprint: a pure, linear-time transformation.

It binds edges to ports (the rules of :mod:`atomiton.validate.ports`), adds the dependencies
that ``{{ $nodes.x }}`` templates imply, separates the engine's control parameters (enabled,
timeout, retries) from the node's own, fills declared defaults, computes critical-path
priorities in one reverse topological pass, and plans groups and referenced Blueprints as
nested plans. Call it only on a Blueprint that :func:`atomiton.validate.validate` passed.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from typing import Any

from atomiton.blueprint import templates
from atomiton.blueprint.model import CONTROL_PARAMETERS, Blueprint, Node
from atomiton.nodes.definition import ERROR_PORT, NodeDefinition
from atomiton.nodes.registry import NodeRegistry
from atomiton.plan.model import Binding, ExecutionPlan, Step
from atomiton.validate.ports import Shape, shape_of, source_port, target_port


def build_plan(
    blueprint: Blueprint,
    registry: NodeRegistry,
    *,
    variables: Mapping[str, Any] | None = None,
    on_error: str | None = None,
) -> ExecutionPlan:
    """Plan ``blueprint``; ``variables`` override the Blueprint's defaults."""
    values = {**blueprint.variable_defaults(), **(variables or {})}
    return _plan(blueprint, registry, values, on_error or blueprint.on_error)


def _plan(
    bp: Blueprint, registry: NodeRegistry, variables: Mapping[str, Any], on_error: str
) -> ExecutionPlan:
    index = {node.id: i for i, node in enumerate(bp.nodes)}
    definitions = [None if n.is_plain_group else registry.get(n.type) for n in bp.nodes]
    shapes = _shapes(bp.nodes, definitions)
    bindings: list[list[Binding]] = [[] for _ in bp.nodes]
    deps: list[dict[int, None]] = [{} for _ in bp.nodes]
    error_routed = [False] * len(bp.nodes)
    # Ports resolved once per (shape, handle): shapes are shared by every node of a type.
    targets: dict[tuple[int, str | None], str | None] = {}
    sources: dict[tuple[int, str | None], str | None] = {}
    for edge in bp.edges:
        src, dst = index[edge.source], index[edge.target]
        key = (id(shapes[dst]), edge.target_handle)
        if key not in targets:
            targets[key] = target_port(shapes[dst], edge.target_handle)
        port = targets[key]
        if port is None:  # validation reports it; a plan is only built for valid Blueprints
            raise ValueError(f"edge {edge.id} has an unresolvable target port")
        key = (id(shapes[src]), edge.source_handle)
        if key not in sources:
            sources[key] = source_port(shapes[src], edge.source_handle).port
        resolved = sources[key]
        bindings[dst].append(Binding(src, resolved, port, edge.id))
        deps[dst][src] = None
        if resolved == ERROR_PORT:
            error_routed[src] = True
    refs: list[tuple[int, ...]] = []
    for i, node in enumerate(bp.nodes):
        if not node.parameters:  # most nodes: nothing to scan
            refs.append(())
            continue
        found = tuple(
            index[r] for r in sorted(templates.node_references(node.parameters)) if r in index
        )
        refs.append(found)
        for r in found:
            deps[i][r] = None
    dependents: list[list[int]] = [[] for _ in bp.nodes]
    for i, ds in enumerate(deps):
        for d in ds:
            dependents[d].append(i)
    priority = _priorities(dependents, deps)
    steps = tuple(
        _step(
            i,
            node,
            definitions[i],
            bindings[i],
            deps[i],
            dependents[i],
            priority[i],
            error_routed[i],
            refs[i],
            registry,
            variables,
            on_error,
        )
        for i, node in enumerate(bp.nodes)
    )
    sinks = tuple(i for i, ds in enumerate(dependents) if not ds)
    runtime = bp.settings.get("runtime")
    timeout = runtime.get("timeout") if isinstance(runtime, Mapping) else None
    return ExecutionPlan(
        blueprint=bp,
        steps=steps,
        sinks=sinks,
        on_error=on_error,
        variables=dict(variables),
        timeout_s=float(timeout) / 1000 if isinstance(timeout, int | float) else None,
    )


def _shapes(nodes: tuple[Node, ...], definitions: list[NodeDefinition | None]) -> list[Shape]:
    """Each node's port shape, computed once per node type."""
    by_type: dict[int, Shape] = {}
    shapes = []
    for node, definition in zip(nodes, definitions, strict=True):
        if definition is None:
            shapes.append(shape_of(node, definition))
            continue
        shape = by_type.get(id(definition))
        if shape is None:
            shape = by_type[id(definition)] = shape_of(node, definition)
        shapes.append(shape)
    return shapes


def _priorities(dependents: list[list[int]], deps: list[dict[int, None]]) -> list[int]:
    """Longest chain to a sink, counted in steps, by one reverse Kahn pass (linear time)."""
    remaining = [len(d) for d in dependents]
    priority = [1] * len(dependents)
    queue = deque(i for i, r in enumerate(remaining) if r == 0)
    while queue:
        i = queue.popleft()
        for d in deps[i]:
            priority[d] = max(priority[d], priority[i] + 1)
            remaining[d] -= 1
            if remaining[d] == 0:
                queue.append(d)
    return priority


def _step(
    i: int,
    node: Node,
    definition: NodeDefinition | None,
    bindings: list[Binding],
    deps: dict[int, None],
    dependents: list[int],
    priority: int,
    error_routed: bool,
    refs: tuple[int, ...],
    registry: NodeRegistry,
    variables: Mapping[str, Any],
    on_error: str,
) -> Step:
    parameters = _parameters(node, definition)
    # A node type that declares 'timeout' or 'retries' itself (http-request, shell-command)
    # owns them: the engine does not enforce them a second time.
    owns = definition.settable if definition is not None else frozenset()
    timeout_ms = None if "timeout" in owns else node.timeout_ms
    if timeout_ms is None and definition is not None:
        timeout_ms = definition.timeout_ms
    retries = None if "retries" in owns else node.retries
    if retries is None:
        retries = (definition.retries if definition is not None else None) or 0
    sub = None
    if node.blueprint is not None:
        inner = {**node.blueprint.variable_defaults(), **variables}
        sub = _plan(node.blueprint, registry, inner, on_error)
    return Step(
        index=i,
        node_id=node.id,
        node=node,
        definition=definition,
        bindings=tuple(bindings),
        deps=tuple(deps),
        dependents=tuple(dependents),
        parameters=parameters,
        priority=priority,
        pool="group" if definition is None else definition.runtime.language,
        timeout_s=timeout_ms / 1000 if timeout_ms else None,
        retries=retries,
        enabled=node.enabled,
        error_routed=error_routed,
        needs_gpu=bool(definition and definition.performance.prefer_gpu),
        sub_plan=sub,
        template_refs=refs,
    )


def _parameters(node: Node, definition: NodeDefinition | None) -> dict[str, Any]:
    values: dict[str, Any] = {}
    declared: frozenset[str] = frozenset()
    if definition is not None:
        declared = definition.settable
        for spec in definition.parameters:
            if spec.has_default:
                values[spec.name] = spec.default
    for key, value in node.parameters.items():
        if key in CONTROL_PARAMETERS and key not in declared:
            continue
        values[key] = value
    return values
