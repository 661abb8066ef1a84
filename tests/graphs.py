"""Named topologies for the pure core's tests: Blueprints from a compact description, planned.

A description lists edges, chains allowed, separated by commas::

    "a -> b -> d, a -> c -> d"      the diamond
    "a.error -> h, a -> b"          ``a``'s error port feeds ``h``
    "br.yes -> y, br.no -> n"       a branch node's two outputs

Every node is a ``join`` (or a ``kind`` named per node): one input port per node id of the graph
and one ``out`` output. An edge ``x -> y`` feeds ``x``'s ``out`` into ``y``'s port ``x``, so a
node's inputs name where each value came from. Nodes are declared in order of first appearance
(ties in priority go to the earlier one), after any listed in ``nodes`` (which declares them
first, in its order: isolated nodes too).

Kinds: ``join`` (python pool), ``js`` (javascript pool), ``gpu`` (python pool, prefers a GPU),
``branch`` (outputs ``yes`` and ``no``), ``needy`` (its inputs are required).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from itertools import pairwise
from typing import Any

from hypothesis import strategies as st

from atomiton.blueprint.model import Blueprint, Edge, Node
from atomiton.nodes.definition import (
    NodeDefinition,
    PerformanceHints,
    PortSpec,
    RuntimeSpec,
)
from atomiton.nodes.registry import NodeRegistry
from atomiton.plan.model import ExecutionPlan
from atomiton.plan.planner import build_plan
from atomiton.schedule.model import (
    TRANSITIONS,
    CancelRun,
    Completed,
    Dispatch,
    Failed,
    Finish,
    Instruction,
    Interrupt,
    NodeState,
    RetryDue,
    ScheduleRetry,
    Stimulus,
    Stopped,
    Succeeded,
    Transition,
)
from atomiton.schedule.state import RunState

CHAIN = "a -> b -> c"
DIAMOND = "a -> b -> d, a -> c -> d"
FAN_OUT_FAN_IN = "s -> w1 -> j, s -> w2 -> j, s -> w3 -> j"
CROSSED = "a1 -> b1 -> c1, a2 -> b2 -> c2, a1 -> b2, a2 -> b1"
"""Two branches whose middles each take both heads::

    a1 -> b1 -> c1
       \\ /
       / \\
    a2 -> b2 -> c2
"""

KINDS = ("join", "js", "gpu", "branch", "needy")


def parse_edges(spec: str) -> tuple[list[str], list[tuple[str, str | None, str]]]:
    """Node ids in order of first appearance and (source, source handle, target) triples."""
    order: dict[str, None] = {}
    edges: list[tuple[str, str | None, str]] = []
    for part in filter(None, (p.strip() for p in spec.split(","))):
        tokens = [t.strip() for t in part.split("->")]
        for token in tokens:
            order.setdefault(token.split(".")[0], None)
        for src, dst in pairwise(tokens):
            src_id, _, handle = src.partition(".")
            edges.append((src_id, handle or None, dst.split(".")[0]))
    return list(order), edges


def definitions(port_names: Iterable[str]) -> list[NodeDefinition]:
    """The node kinds, with one input port per name in ``port_names``."""
    names = tuple(port_names)
    optional = tuple(PortSpec(n) for n in names)
    required = tuple(PortSpec(n, required=True) for n in names)
    out = (PortSpec("out"),)
    py, js = RuntimeSpec("python", "graphs", "join"), RuntimeSpec("javascript", "join.js", "join")
    return [
        NodeDefinition("join", inputs=optional, outputs=out, runtime=py, origin="graphs"),
        NodeDefinition("js", inputs=optional, outputs=out, runtime=js, origin="graphs"),
        NodeDefinition(
            "gpu",
            inputs=optional,
            outputs=out,
            runtime=py,
            performance=PerformanceHints(prefer_gpu=True),
            origin="graphs",
        ),
        NodeDefinition(
            "branch",
            inputs=optional,
            outputs=(PortSpec("yes"), PortSpec("no")),
            runtime=py,
            origin="graphs",
        ),
        NodeDefinition("needy", inputs=required, outputs=out, runtime=py, origin="graphs"),
    ]


def graph(
    spec: str,
    *,
    nodes: Sequence[str] = (),
    kinds: Mapping[str, str] | None = None,
    parameters: Mapping[str, Mapping[str, Any]] | None = None,
    settings: Mapping[str, Any] | None = None,
) -> Blueprint:
    """The Blueprint a description draws (see the module docstring)."""
    found, edges = parse_edges(spec)
    ids = list(dict.fromkeys([*nodes, *found]))
    kinds = kinds or {}
    parameters = parameters or {}
    declared = tuple(
        Node(id=i, type=kinds.get(i, "join"), parameters=dict(parameters.get(i, {}))) for i in ids
    )
    wired = tuple(
        Edge(f"e{n}", src, dst, handle or ("out" if kinds.get(src) != "branch" else None), src)
        for n, (src, handle, dst) in enumerate(edges, 1)
    )
    return Blueprint(id="g", name="g", nodes=declared, edges=wired, settings=dict(settings or {}))


def registry_for(bp: Blueprint) -> NodeRegistry:
    return NodeRegistry(definitions(n.id for n in bp.nodes))


def plan(spec: str | Blueprint, *, on_error: str | None = None, **kw: Any) -> ExecutionPlan:
    """Plan a described (or given) graph with the kinds registry."""
    bp = spec if isinstance(spec, Blueprint) else graph(spec, **kw)
    return build_plan(bp, registry_for(bp), on_error=on_error)


@st.composite
def random_dags(draw: st.DrawFn, max_nodes: int = 40) -> tuple[int, list[tuple[int, int]]]:
    """A node count and edges from earlier to later nodes (so the graph is acyclic)."""
    n = draw(st.integers(1, max_nodes))
    edges: list[tuple[int, int]] = []
    for target in range(1, n):
        sources = draw(st.sets(st.integers(0, target - 1), max_size=min(3, target)))
        edges += [(s, target) for s in sorted(sources)]
    return n, edges


def dag_spec(n: int, edges: Sequence[tuple[int, int]]) -> tuple[str, list[str]]:
    """The description of a numbered DAG and its node ids in declaration order."""
    ids = [f"n{i}" for i in range(n)]
    return ", ".join(f"n{s} -> n{t}" for s, t in edges), ids


class Driver:
    """Drives a RunState by hand, by node id, and says what it was told in words.

    Each stimulus method returns the instructions other than transitions, in words: ``run b``
    (``run b#2`` for a second attempt), ``retry b#2 after 0.5s``, ``interrupt b``,
    ``finish failed``. Transitions go to ``moves`` (``b queued``); each is checked against
    TRANSITIONS and the node's previous state, and the machine's states against the driver's copy.
    """

    def __init__(self, plan: ExecutionPlan, **options: Any) -> None:
        self.plan = plan
        self.machine = RunState(plan, **options)
        self.ids = [s.node_id for s in plan.steps]
        self.seen = [NodeState.PENDING] * len(plan.steps)
        self.moves: list[str] = []
        self.instructions: list[Instruction] = []
        self.dispatches: dict[str, Dispatch] = {}
        self.retries: dict[str, ScheduleRetry] = {}
        self.running: dict[str, None] = {}
        self.interrupted: set[str] = set()
        self.finishes: list[Finish] = []

    def index(self, node_id: str) -> int:
        return self.ids.index(node_id)

    def start(self) -> list[str]:
        return self._take(self.machine.start())

    def send(self, stimulus: Stimulus) -> list[str]:
        return self._take(self.machine.handle(stimulus))

    def succeed(self, node_id: str, outputs: Mapping[str, Any] | None = None) -> list[str]:
        produced = {"out": node_id} if outputs is None else outputs
        self.running.pop(node_id, None)
        return self.send(Succeeded(self.index(node_id), produced))

    def fail(self, node_id: str, message: str = "boom", *, retryable: bool = True) -> list[str]:
        self.running.pop(node_id, None)
        return self.send(Failed(self.index(node_id), {"message": message}, retryable))

    def stopped(self, node_id: str) -> list[str]:
        self.running.pop(node_id, None)
        return self.send(Stopped(self.index(node_id)))

    def retry_due(self, node_id: str) -> list[str]:
        return self.send(RetryDue(self.index(node_id)))

    def complete(self, node_id: str, outputs: Mapping[str, Any] | None = None) -> list[str]:
        produced = {"out": node_id} if outputs is None else outputs
        return self.send(Completed(self.index(node_id), produced))

    def cancel(self) -> list[str]:
        return self.send(CancelRun())

    @property
    def states(self) -> dict[str, str]:
        return {i: str(s.value) for i, s in zip(self.ids, self.machine.state, strict=True)}

    def state_of(self, node_id: str) -> NodeState:
        return self.machine.state[self.index(node_id)]

    def _take(self, instructions: list[Instruction]) -> list[str]:
        assert not self.finishes, f"instructions after Finish: {instructions}"
        self.instructions += instructions
        words = []
        for ins in instructions:
            if isinstance(ins, Transition):
                old, node_id = self.seen[ins.index], self.ids[ins.index]
                assert ins.state in TRANSITIONS[old], f"{node_id}: {old} -> {ins.state}"
                self.seen[ins.index] = ins.state
                self.moves.append(f"{node_id} {ins.state.value}")
                continue
            words.append(self._word(ins))
        assert self.seen == self.machine.state
        return words

    def _word(self, ins: Instruction) -> str:
        if isinstance(ins, Dispatch):
            node_id = self.ids[ins.index]
            self.dispatches[node_id] = ins
            self.running[node_id] = None
            self.retries.pop(node_id, None)
            return f"run {node_id}" + (f"#{ins.attempt}" if ins.attempt > 1 else "")
        if isinstance(ins, ScheduleRetry):
            node_id = self.ids[ins.index]
            self.retries[node_id] = ins
            self.running.pop(node_id, None)
            return f"retry {node_id}#{ins.attempt} after {ins.delay_s}s"
        if isinstance(ins, Interrupt):
            self.interrupted.add(self.ids[ins.index])
            return f"interrupt {self.ids[ins.index]}"
        assert isinstance(ins, Finish)
        self.finishes.append(ins)
        return f"finish {ins.status.value}"
