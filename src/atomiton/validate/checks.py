"""Validate a whole Blueprint before anything runs, collecting every problem into one report.

Checks, in order: node types exist (with did-you-mean) and their runtime is available; ids are
unique; edges name existing nodes and ports; no input is fed twice; the graph has no cycle (the
cycle is drawn ``a -> b -> a``); required inputs are connected or set; parameters match their
schemas; templates are paths and name existing nodes. Groups and referenced Blueprints are
checked recursively, their node ids prefixed with the group's (``group/child``).
"""

from __future__ import annotations

import difflib
import functools
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import jsonschema

from atomiton.blueprint import templates
from atomiton.blueprint.model import CONTROL_PARAMETERS, Blueprint, Node
from atomiton.nodes.definition import NodeDefinition
from atomiton.nodes.registry import NodeRegistry
from atomiton.validate.ports import (
    TRIGGER,
    Shape,
    shape_of,
    source_port,
    target_port,
)
from atomiton.validate.report import Code, Issue, Report, Severity

RuntimeCheck = Callable[[NodeDefinition], str | None]
"""Why no runtime can run a definition, or None (the runtime router supplies it)."""

_CONTROL_SCHEMAS: Mapping[str, Mapping[str, Any]] = {
    "enabled": {"type": "boolean"},
    "timeout": {"type": "number", "exclusiveMinimum": 0},
    "retries": {"type": "integer", "minimum": 0, "maximum": 100},
    "label": {"type": "string"},
    "description": {"type": "string"},
}


class _AnyName(set[str]):
    """The inputs a container's body may receive: any name (its code decides)."""

    def __contains__(self, item: object) -> bool:
        return True


_ANY_NAME = _AnyName()


def validate(
    blueprint: Blueprint,
    registry: NodeRegistry,
    *,
    runtime_check: RuntimeCheck | None = None,
    provided_inputs: Iterable[str] = (),
) -> Report:
    """Every problem of ``blueprint``; ``provided_inputs`` are the run's input port names."""
    issues: list[Issue] = []
    if runtime_check is not None:
        runtime_check = _once_per_definition(runtime_check)
    _check_blueprint(blueprint, registry, runtime_check, set(provided_inputs), "", issues)
    return Report(tuple(issues))


def _once_per_definition(check: RuntimeCheck) -> RuntimeCheck:
    """``check`` asked once per node type: a Blueprint has thousands of nodes of few types.
    Keyed by identity: the registry keeps every definition alive while validation runs."""
    reasons: dict[int, str | None] = {}

    def cached(definition: NodeDefinition) -> str | None:
        key = id(definition)
        if key not in reasons:
            reasons[key] = check(definition)
        return reasons[key]

    return cached


def _check_blueprint(
    bp: Blueprint,
    registry: NodeRegistry,
    runtime_check: RuntimeCheck | None,
    provided: set[str],
    prefix: str,
    issues: list[Issue],
) -> None:
    def add(code: Code, message: str, node: str | None = None, **kw: Any) -> None:
        issues.append(Issue(code, message, node_id=f"{prefix}{node}" if node else None, **kw))

    if not bp.nodes:
        add(
            Code.EMPTY_BLUEPRINT,
            f"Blueprint '{prefix or bp.id}' has no nodes",
            hint="add nodes under 'nodes:'",
        )
        return
    shapes: dict[str, Shape] = {}
    definitions: dict[str, NodeDefinition | None] = {}
    per_node: list[NodeDefinition | None] = []  # by position: two nodes may share an id
    by_type: dict[int, Shape] = {}  # a definition's shape, computed once
    typed: dict[int, NodeDefinition] = {}  # a shape's definition (a group's shape has none)
    seen: dict[str, int] = {}  # node id to a dense position (a duplicate id is one node)
    for node in bp.nodes:
        if node.id in seen:
            add(Code.DUPLICATE_ID, "two nodes have this id", node.id, hint="ids must be unique")
        else:
            seen[node.id] = len(seen)
        definition = _definition(node, registry, runtime_check, add)
        definitions[node.id] = definition
        per_node.append(definition)
        if definition is not None:
            shape = by_type.get(id(definition))
            if shape is None:
                shape = by_type[id(definition)] = shape_of(node, definition)
                typed[id(shape)] = definition
            shapes[node.id] = shape
        elif node.is_group:
            shapes[node.id] = shape_of(node, definition)

    fed: dict[tuple[str, str], str] = {}
    # What an edge's ends resolve to depends only on their shapes and handles, so it is
    # worked out once per kind of edge: thousands of like edges cost a lookup each.
    links: dict[tuple[int, str | None, int, str | None], _Link] = {}
    for edge in bp.edges:
        src, dst = shapes.get(edge.source), shapes.get(edge.target)
        if src is None or dst is None:  # an end that is missing or has no ports
            if edge.source not in seen:
                add(
                    Code.EDGE_MISSING_SOURCE,
                    f"edge '{edge.id}' comes from '{edge.source}', which is not a node here",
                    edge.target,
                    hint=_did_you_mean(edge.source, seen),
                )
            if edge.target not in seen:
                add(
                    Code.EDGE_MISSING_TARGET,
                    f"edge '{edge.id}' goes to '{edge.target}', which is not a node here",
                    edge.source,
                    hint=_did_you_mean(edge.target, seen),
                )
        key = (id(src), edge.source_handle, id(dst), edge.target_handle)
        link = links.get(key)
        if link is None:
            link = links[key] = _link(src, edge.source_handle, dst, edge.target_handle, typed)
        if link.unknown_source and (dst is not None or edge.target in seen):
            assert src is not None
            add(
                Code.UNKNOWN_OUTPUT_PORT,
                f"edge '{edge.id}' leaves from output "
                f"'{edge.source_handle}', which '{edge.source}' does not declare; the whole "
                "output object is passed",
                edge.source,
                port=edge.source_handle,
                severity=Severity.WARNING,
                hint=f"its outputs: {_names(src.outputs)}",
            )
        if dst is None or (src is None and edge.source not in seen):
            continue
        port = link.port
        if port is None:
            _bad_target(edge.id, edge.target, edge.target_handle, dst, add)
            continue
        fed_port = (edge.target, port)
        if port != TRIGGER and fed_port in fed:
            add(
                Code.DUPLICATE_INPUT,
                f"input is fed by edges '{fed[fed_port]}' and '{edge.id}'",
                edge.target,
                port=port,
                hint="remove one edge, or feed another port",
            )
        else:
            fed[fed_port] = edge.id
        if link.mismatch is not None:
            a, b = link.mismatch
            add(
                Code.INCOMPATIBLE_PORTS,
                f"edge '{edge.id}' carries {a} from '{edge.source}.{edge.source_handle}' "
                f"into a {b} input",
                edge.target,
                port=port,
                severity=Severity.WARNING,
                hint="convert the value with a transform node in between",
            )

    _check_cycles(bp, seen, add)
    for node, definition in zip(bp.nodes, per_node, strict=True):
        if definition is not None:
            _check_node(node, definition, by_type[id(definition)], fed, provided, add)
        if node.parameters:  # templates live in parameters
            _check_templates(node, definition, seen, add)
        if node.blueprint is not None:
            group_inputs: set[str] = {port for (target, port) in fed if target == node.id}
            group_inputs |= {k for k in node.parameters if k not in CONTROL_PARAMETERS}
            inner = group_inputs | provided
            if definition is not None:  # a container's code feeds its body at run time
                inner = _ANY_NAME
            _check_blueprint(
                node.blueprint,
                registry,
                runtime_check,
                inner,
                f"{prefix}{node.id}/",
                issues,
            )


def _definition(
    node: Node, registry: NodeRegistry, runtime_check: RuntimeCheck | None, add: Any
) -> NodeDefinition | None:
    if node.is_plain_group:
        return None
    if not node.type:
        add(
            Code.MISSING_TYPE,
            "the node has no 'type'",
            node.id,
            hint="set type: to a node type id (see 'atomiton nodes')",
        )
        return None
    definition = registry.get(node.type)
    if definition is None:
        close = registry.suggest(node.type)
        hint = f"did you mean '{close[0]}'?" if close else "run 'atomiton nodes' for the list"
        add(Code.UNKNOWN_TYPE, f"unknown node type '{node.type}'", node.id, hint=hint)
        return None
    if runtime_check is not None:
        reason = runtime_check(definition)
        if reason:
            add(
                Code.RUNTIME_UNAVAILABLE,
                f"node type '{node.type}' needs the "
                f"'{definition.runtime.language}' runtime: {reason}",
                node.id,
            )
    return definition


def _bad_target(edge_id: str, target: str, handle: str | None, shape: Shape, add: Any) -> None:
    inputs = shape.inputs or ()
    if handle is None:
        add(
            Code.AMBIGUOUS_PORT,
            f"edge '{edge_id}' names no targetHandle and the node has {len(inputs)} inputs",
            target,
            hint=f"set targetHandle to one of {_names(inputs)}",
        )
        return
    close = difflib.get_close_matches(handle, inputs, n=1)
    hint = f"did you mean '{close[0]}'?" if close else f"its inputs: {_names(inputs)}"
    add(
        Code.UNKNOWN_INPUT_PORT,
        f"edge '{edge_id}' feeds input '{handle}', which the node does not have",
        target,
        port=handle,
        hint=hint,
    )


@dataclass(frozen=True, slots=True)
class _Link:
    """What one kind of edge (source shape and handle, target shape and handle) resolves to."""

    unknown_source: bool
    """The source handle names no declared output (the whole object flows, with a warning)."""
    port: str | None
    """The input port fed (:data:`TRIGGER` for ordering only); None when it cannot be."""
    mismatch: tuple[str, str] | None
    """The source and target data types, when they differ and neither is ``any``."""


def _link(
    src: Shape | None,
    source_handle: str | None,
    dst: Shape | None,
    target_handle: str | None,
    typed: Mapping[int, NodeDefinition],
) -> _Link:
    unknown = src is not None and source_port(src, source_handle).unknown
    port = target_port(dst, target_handle) if dst is not None else None
    mismatch = None
    src_def, dst_def = typed.get(id(src)), typed.get(id(dst))
    if port is not None and source_handle is not None and src_def and dst_def:
        out, inp = src_def.output(source_handle), dst_def.input(port)
        if out is not None and inp is not None:
            a, b = out.data_type, inp.data_type
            if "any" not in (a, b) and a != b:
                mismatch = (a, b)
    return _Link(unknown, port, mismatch)


def _check_cycles(bp: Blueprint, position: Mapping[str, int], add: Any) -> None:
    """Edges and ``{{ $nodes.x }}`` references must not close a loop. A valid graph is
    proved acyclic by one topological pass over node positions (``position``: id to a dense
    index); only a graph that fails it is walked again, by name, to draw its cycles."""
    arrows: list[tuple[str, str]] = []  # template references: node 'ref' feeds this node
    for node in bp.nodes:
        if node.parameters:
            arrows.extend((ref, node.id) for ref in templates.node_references(node.parameters))
    if _acyclic(bp, position, arrows):
        return
    graph: dict[str, list[str]] = {node_id: [] for node_id in position}
    for source, target in [*((e.source, e.target) for e in bp.edges), *arrows]:
        if source in graph and target in graph:
            graph[source].append(target)
    for cycle in find_cycles(graph):
        drawn = " -> ".join([*cycle, cycle[0]])
        add(
            Code.CYCLE,
            f"the graph has a cycle: {drawn}",
            cycle[0],
            hint="a node cannot depend on its own output; remove one edge of the cycle",
        )


def _acyclic(bp: Blueprint, position: Mapping[str, int], arrows: list[tuple[str, str]]) -> bool:
    """Kahn's algorithm: True when every node can be ordered after what feeds it."""
    successors: list[list[int]] = [[] for _ in position]
    indegree = [0] * len(position)
    at = position.get
    for edge in bp.edges:
        s, t = at(edge.source), at(edge.target)
        if s is not None and t is not None:
            successors[s].append(t)
            indegree[t] += 1
    for source, target in arrows:
        s, t = at(source), at(target)
        if s is not None and t is not None:
            successors[s].append(t)
            indegree[t] += 1
    ready = [i for i, d in enumerate(indegree) if d == 0]
    for i in ready:  # grows while it is walked
        for t in successors[i]:
            indegree[t] -= 1
            if indegree[t] == 0:
                ready.append(t)
    return len(ready) == len(position)


def find_cycles(graph: Mapping[str, list[str]]) -> list[list[str]]:
    """One cycle per strongly connected tangle, each as the list of its nodes in order."""
    state: dict[str, int] = {}  # 1 on the stack, 2 done
    cycles: list[list[str]] = []
    for root in graph:
        if root in state:
            continue
        stack: list[tuple[str, int]] = [(root, 0)]
        path: list[str] = []
        while stack:
            node, i = stack.pop()
            if i == 0:
                state[node] = 1
                path.append(node)
            nexts = graph[node]
            if i < len(nexts):
                stack.append((node, i + 1))
                nxt = nexts[i]
                if state.get(nxt) == 1:
                    cycles.append(path[path.index(nxt) :])
                elif nxt not in state:
                    stack.append((nxt, 0))
            else:
                state[node] = 2
                path.pop()
    return cycles


def _check_node(
    node: Node,
    definition: NodeDefinition,
    shape: Shape,
    fed: Mapping[tuple[str, str], str],
    provided: set[str],
    add: Any,
) -> None:
    for name in shape.required:  # the inputs required and without a default, in order
        if (node.id, name) not in fed and name not in node.parameters and name not in provided:
            add(
                Code.MISSING_INPUT,
                "required input is not connected and has no value",
                node.id,
                port=name,
                hint="connect an edge to it, set it under 'parameters', or pass it with --input",
            )
    for spec in definition.parameters:
        if spec.required and not spec.has_default and spec.name not in node.parameters:
            add(
                Code.INVALID_PARAMETER,
                f"required parameter '{spec.name}' is not set",
                node.id,
                hint=f"add '{spec.name}:' under 'parameters'",
            )
    if not node.parameters:
        return
    declared = _declared(definition)
    for name, value in node.parameters.items():
        schema = declared.get(name)
        if schema is None and name in CONTROL_PARAMETERS:
            schema = _CONTROL_SCHEMAS[name]
        if schema is None:
            close = difflib.get_close_matches(name, list(declared), n=1)
            add(
                Code.UNKNOWN_PARAMETER,
                f"parameter '{name}' is not one of this node type's; it is ignored",
                node.id,
                severity=Severity.WARNING,
                hint=f"did you mean '{close[0]}'?"
                if close
                else f"its parameters: {_names(declared)}",
            )
            continue
        if templates.has_template(value):
            continue  # checked once rendered, at run time
        for problem in _schema_errors(value, schema):
            add(Code.INVALID_PARAMETER, f"parameter '{name}' {problem}", node.id)


def _declared(definition: NodeDefinition) -> Mapping[str, Mapping[str, Any]]:
    """Every settable name of a node type with its schema."""
    return {
        **{p.name: p.schema for p in definition.inputs},
        **{p.name: p.schema for p in definition.parameters},
    }


def _schema_errors(value: Any, schema: Mapping[str, Any]) -> list[str]:
    if not schema:
        return []
    validator = _validator(json.dumps(schema, sort_keys=True, default=str))
    if validator.is_valid(value):
        return []
    out = []
    for err in sorted(validator.iter_errors(value), key=lambda e: list(e.path)):
        at = "".join(f"[{p!r}]" for p in err.path)
        out.append(f"{at}: {err.message}" if at else f"is invalid: {err.message}")
    return out[:5]


@functools.lru_cache(maxsize=512)
def _validator(schema_json: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(json.loads(schema_json))


def _check_templates(
    node: Node, definition: NodeDefinition | None, ids: Mapping[str, int], add: Any
) -> None:
    for name, value in node.parameters.items():
        spec = definition.parameter(name) if definition else None
        if spec is not None and not spec.render_templates:
            continue
        for problem in templates.check(value):
            add(Code.INVALID_TEMPLATE, f"parameter '{name}': {problem}", node.id)
        for ref in templates.node_references(value):
            if ref not in ids:
                add(
                    Code.UNKNOWN_TEMPLATE_NODE,
                    f"parameter '{name}' names node '{ref}' in "
                    "{{ $nodes... }}, which is not a node here",
                    node.id,
                    hint=_did_you_mean(ref, ids),
                )


def _did_you_mean(name: str, options: Iterable[str]) -> str | None:
    close = difflib.get_close_matches(name, list(options), n=1)
    return f"did you mean '{close[0]}'?" if close else None


def _names(names: Iterable[str]) -> str:
    listed = ", ".join(f"'{n}'" for n in names)
    return listed or "none"
