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
from dataclasses import dataclass
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
    nodes = bp.nodes
    index = {node.id: i for i, node in enumerate(nodes)}
    definitions = [None if n.is_plain_group else registry.get(n.type) for n in nodes]
    shapes = _shapes(nodes, definitions)
    bindings: list[list[Binding]] = [[] for _ in nodes]
    deps: list[list[int]] = [[] for _ in nodes]
    error_routed = [False] * len(nodes)
    # Ports resolved once per kind of edge (source shape and handle, target shape and
    # handle): shapes are shared by every node of a type, so most edges cost one lookup.
    ports: dict[tuple[int, str | None, int, str | None], tuple[str | None, str]] = {}
    kind_of = [id(shape) for shape in shapes]
    for edge in bp.edges:
        src, dst = index[edge.source], index[edge.target]
        key = (kind_of[src], edge.source_handle, kind_of[dst], edge.target_handle)
        resolved = ports.get(key)
        if resolved is None:
            resolved = ports[key] = _ports(edge.id, shapes[src], shapes[dst], key)
        bindings[dst].append(Binding(src, resolved[0], resolved[1], edge.id))
        deps[dst].append(src)
        if resolved[0] == ERROR_PORT:
            error_routed[src] = True
    refs: list[tuple[int, ...]] = [()] * len(nodes)
    for i, node in enumerate(nodes):
        if node.parameters:  # most nodes have none: nothing to scan
            found = tuple(
                index[r] for r in sorted(templates.node_references(node.parameters)) if r in index
            )
            refs[i] = found
            deps[i].extend(found)
    for i, ds in enumerate(deps):
        if len(ds) > 1:
            deps[i] = list(dict.fromkeys(ds))  # once each, in first-seen order
    dependents: list[list[int]] = [[] for _ in nodes]
    for i, ds in enumerate(deps):
        for d in ds:
            dependents[d].append(i)
    priority = _priorities(dependents, deps)
    shared: dict[int, _Settings] = {}  # by definition, for nodes that set no parameters
    steps = []
    for i, node in enumerate(nodes):
        definition = definitions[i]
        if definition is not None and not node.parameters and node.blueprint is None:
            kind = shared.get(id(definition))  # the usual node: all it needs is its type's
            if kind is None:
                kind = shared[id(definition)] = _settings(node, definition)
            steps.append(
                Step(
                    index=i,
                    node_id=node.id,
                    node=node,
                    definition=definition,
                    bindings=tuple(bindings[i]),
                    deps=tuple(deps[i]),
                    dependents=tuple(dependents[i]),
                    parameters=dict(kind.parameters),
                    priority=priority[i],
                    pool=kind.pool,
                    timeout_s=kind.timeout_s,
                    retries=kind.retries,
                    error_routed=error_routed[i],
                    needs_gpu=kind.needs_gpu,
                )
            )
            continue
        steps.append(
            _step(
                i,
                node,
                definition,
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
        )
    sinks = tuple(i for i, ds in enumerate(dependents) if not ds)
    runtime = bp.settings.get("runtime")
    timeout = runtime.get("timeout") if isinstance(runtime, Mapping) else None
    return ExecutionPlan(
        blueprint=bp,
        steps=tuple(steps),
        sinks=sinks,
        on_error=on_error,
        variables=dict(variables),
        timeout_s=float(timeout) / 1000 if isinstance(timeout, int | float) else None,
    )


def _ports(
    edge_id: str, src: Shape, dst: Shape, key: tuple[int, str | None, int, str | None]
) -> tuple[str | None, str]:
    """The output port (None: the whole object) and input port one kind of edge joins."""
    port = target_port(dst, key[3])
    if port is None:  # validation reports it; a plan is only built for valid Blueprints
        raise ValueError(f"edge {edge_id} has an unresolvable target port")
    return source_port(src, key[1]).port, port


@dataclass(frozen=True, slots=True)
class _Settings:
    """What a node's step takes from its parameters and type: the same for every node of a
    type that sets no parameters, so such nodes share one (see :func:`_plan`)."""

    parameters: Mapping[str, Any]
    """The node's parameters without the engine's control keys, with declared defaults."""
    pool: str
    timeout_s: float | None
    retries: int
    needs_gpu: bool


def _settings(node: Node, definition: NodeDefinition | None) -> _Settings:
    # A node type that declares 'timeout' or 'retries' itself (http-request, shell-command)
    # owns them: the engine does not enforce them a second time.
    owns = definition.settable if definition is not None else frozenset()
    timeout_ms = None if "timeout" in owns else node.timeout_ms
    if timeout_ms is None and definition is not None:
        timeout_ms = definition.timeout_ms
    retries = None if "retries" in owns else node.retries
    if retries is None:
        retries = (definition.retries if definition is not None else None) or 0
    return _Settings(
        parameters=_parameters(node, definition),
        pool="group" if definition is None else definition.runtime.language,
        timeout_s=timeout_ms / 1000 if timeout_ms else None,
        retries=retries,
        needs_gpu=bool(definition and definition.performance.prefer_gpu),
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


def _priorities(dependents: list[list[int]], deps: list[list[int]]) -> list[int]:
    """Longest chain to a sink, counted in steps, by one reverse Kahn pass (linear time)."""
    remaining = [len(d) for d in dependents]
    priority = [1] * len(dependents)
    queue = deque(i for i, r in enumerate(remaining) if r == 0)
    while queue:
        i = queue.popleft()
        longer = priority[i] + 1
        for d in deps[i]:
            if longer > priority[d]:
                priority[d] = longer
            remaining[d] -= 1
            if remaining[d] == 0:
                queue.append(d)
    return priority


def _step(
    i: int,
    node: Node,
    definition: NodeDefinition | None,
    bindings: list[Binding],
    deps: list[int],
    dependents: list[int],
    priority: int,
    error_routed: bool,
    refs: tuple[int, ...],
    registry: NodeRegistry,
    variables: Mapping[str, Any],
    on_error: str,
) -> Step:
    settings = _settings(node, definition)
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
        parameters=settings.parameters,
        priority=priority,
        pool=settings.pool,
        timeout_s=settings.timeout_s,
        retries=settings.retries,
        enabled=node.enabled,
        error_routed=error_routed,
        needs_gpu=settings.needs_gpu,
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
