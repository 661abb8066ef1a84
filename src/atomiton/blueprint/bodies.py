"""Implicit bodies: a childless ``loop`` or ``parallel`` adopts the nodes drawn after it.

Atomiton's templates draw iteration as a chain, ``list -> loop -> parallel -> resize -> save``,
with no children on the loop or the parallel node; Atomiton itself never runs anything per item.
What the author meant is "for each item, run what follows". This pure transformation makes it
so, by one rule applied to every node C whose type is a container type and which has no
children, upstream containers first:

1. The *body* of C is every node reachable from C along edges. An empty body leaves C alone.
2. It applies only when it applies cleanly; otherwise nothing moves and the decision says why:
   - every edge into a body node comes from C or from another body node;
   - every edge leaving C has a per-item source handle (none, ``item``, ``index``, ``output``)
     and targets ``input``, ``item``, ``index`` or ``trigger`` of a node that C alone feeds;
   - no ``{{ $nodes.x }}`` template crosses the body's border, either way.
3. The body nodes and the edges among them become C's children (a nested Blueprint carrying
   the outer variables); the edges from C disappear: each iteration delivers its value to the
   body's source nodes by port name (``input`` and ``item``: the item, ``index``: its index).
4. The rule then applies inside the new body, so ``loop -> parallel -> ...`` nests as
   ``loop{parallel{...}}``. A loop whose body is one such parallel node, and which sets no
   ``concurrency`` itself, takes the parallel node's: that chain is how Atomiton's templates say
   "for each item, in parallel".

Blueprints whose containers have explicit children are left as they are (the rule still looks
inside groups' children).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from atomiton.blueprint import templates
from atomiton.blueprint.model import Blueprint, Node

__all__ = ["BodyDecision", "implicit_bodies", "with_implicit_bodies"]

CONTAINER_TYPES = ("loop", "parallel")
ITEM_SOURCE_HANDLES = (None, "", "item", "index", "output")
ITEM_TARGET_HANDLES = ("input", "item", "index", "trigger")


@dataclass(frozen=True, slots=True)
class BodyDecision:
    """What the rule did with one childless container: ``moved`` is empty when it did nothing."""

    container: str
    moved: tuple[str, ...]
    reason: str


def with_implicit_bodies(
    bp: Blueprint, container_types: Iterable[str] = CONTAINER_TYPES
) -> Blueprint:
    """``bp`` with the implicit bodies of its childless containers made explicit."""
    return implicit_bodies(bp, container_types)[0]


def implicit_bodies(
    bp: Blueprint, container_types: Iterable[str] = CONTAINER_TYPES
) -> tuple[Blueprint, tuple[BodyDecision, ...]]:
    """The transformed Blueprint and one decision per childless container with dependants."""
    decisions: list[BodyDecision] = []
    result = _transform(bp, frozenset(container_types), "", decisions)
    return result, tuple(decisions)


def _transform(
    bp: Blueprint, types: frozenset[str], prefix: str, decisions: list[BodyDecision]
) -> Blueprint:
    if not any(n.blueprint is not None or n.type in types for n in bp.nodes):
        return bp  # nothing to adopt a body: the common case, kept linear and cheap
    order = _topological(bp)
    if order is None:  # a cycle: validation reports it, there is no "downstream" to move
        return bp
    current = bp
    for node_id in order:
        node = current.node(node_id)
        if node is None:
            continue  # moved into an earlier container's body
        if node.blueprint is not None:
            inner = _transform(node.blueprint, types, f"{prefix}{node.id}/", decisions)
            if inner is not node.blueprint:
                current = _replace_node(current, replace(node, blueprint=inner))
            continue
        if node.type not in types:
            continue
        current = _adopt(current, node, types, prefix, decisions)
    return current


def _adopt(
    bp: Blueprint, c: Node, types: frozenset[str], prefix: str, decisions: list[BodyDecision]
) -> Blueprint:
    body = _reachable(bp, c.id)
    if not body:
        return bp
    where = f"{prefix}{c.id}"
    problem = _why_not(bp, c, body)
    if problem is not None:
        decisions.append(BodyDecision(where, (), f"nothing moved: {problem}"))
        return bp
    members = tuple(n for n in bp.nodes if n.id in body)
    inner = Blueprint(
        id=f"{bp.id}/{c.id}",
        name=f"{c.label} body",
        nodes=members,
        edges=tuple(e for e in bp.edges if e.source in body and e.target in body),
        variables=bp.variables,
    )
    decisions.append(
        BodyDecision(where, tuple(n.id for n in members), "moved every node downstream of it")
    )
    inner = _transform(inner, types, f"{where}/", decisions)
    parameters = dict(c.parameters)
    inherited = _inherited_concurrency(c, inner, bp)
    if inherited is not None:
        parameters["concurrency"] = inherited
        decisions.append(
            BodyDecision(where, (), f"concurrency {inherited} taken from its parallel body")
        )
    adopted = replace(c, blueprint=inner, parameters=parameters)
    kept = tuple(adopted if n.id == c.id else n for n in bp.nodes if n.id not in body)
    edges = tuple(e for e in bp.edges if e.source not in body and e.target not in body)
    return replace(bp, nodes=kept, edges=tuple(e for e in edges if e.source != c.id))


def _why_not(bp: Blueprint, c: Node, body: set[str]) -> str | None:
    feeders: dict[str, int] = {}
    for edge in bp.edges:
        if edge.target not in body:
            continue
        feeders[edge.target] = feeders.get(edge.target, 0) + 1
        if edge.source != c.id and edge.source not in body:
            return (
                f"body node '{edge.target}' is also fed by '{edge.source}' (edge '{edge.id}'), "
                "which is outside the body"
            )
    for edge in bp.edges:
        if edge.source != c.id:
            continue
        if edge.source_handle not in ITEM_SOURCE_HANDLES:
            return (
                f"edge '{edge.id}' leaves from '{edge.source_handle}', not a per-item handle "
                f"({', '.join(h for h in ITEM_SOURCE_HANDLES if h)})"
            )
        if edge.target_handle not in ITEM_TARGET_HANDLES:
            return (
                f"edge '{edge.id}' feeds '{edge.target}.{edge.target_handle}'; the item reaches "
                f"a body node only on {', '.join(ITEM_TARGET_HANDLES)}"
            )
        if feeders[edge.target] > 1:
            return f"'{edge.target}' takes the item from '{c.id}' and another edge as well"
    for node in bp.nodes:
        refs = templates.node_references(dict(node.parameters))
        inside = node.id in body
        crossing = sorted(r for r in refs if (r in body) != inside and bp.node(r) is not None)
        if crossing:
            return (
                f"'{node.id}' names '{crossing[0]}' in a {{{{ $nodes }}}} template across the body"
            )
    return None


def _inherited_concurrency(c: Node, inner: Blueprint, outer: Blueprint) -> object | None:
    if c.type != "loop" or "concurrency" in c.parameters:
        return None
    heads = [e.target for e in outer.edges if e.source == c.id]
    if len(inner.nodes) != 1 or len(heads) != 1:
        return None
    (only,) = inner.nodes
    if only.id != heads[0] or only.type != "parallel" or only.blueprint is None:
        return None
    return only.parameters.get("concurrency")


def _reachable(bp: Blueprint, start: str) -> set[str]:
    after: dict[str, list[str]] = {}
    for edge in bp.edges:
        after.setdefault(edge.source, []).append(edge.target)
    seen: set[str] = set()
    stack = list(after.get(start, []))
    while stack:
        node_id = stack.pop()
        if node_id in seen or node_id == start or bp.node(node_id) is None:
            continue
        seen.add(node_id)
        stack += after.get(node_id, [])
    return seen


def _topological(bp: Blueprint) -> list[str] | None:
    ids = [n.id for n in bp.nodes]
    known = set(ids)
    indegree: dict[str, int] = dict.fromkeys(ids, 0)
    after: dict[str, list[str]] = {}
    for edge in bp.edges:
        if edge.source in known and edge.target in known:
            indegree[edge.target] += 1
            after.setdefault(edge.source, []).append(edge.target)
    ready = [i for i in ids if indegree[i] == 0]
    order: list[str] = []
    while ready:
        node_id = ready.pop(0)
        order.append(node_id)
        for nxt in after.get(node_id, []):
            indegree[nxt] -= 1
            if indegree[nxt] == 0:
                ready.append(nxt)
    return order if len(order) == len(ids) else None


def _replace_node(bp: Blueprint, node: Node) -> Blueprint:
    return replace(bp, nodes=tuple(node if n.id == node.id else n for n in bp.nodes))
