"""build_plan on named graphs: bindings, dependencies, control parameters, priorities, nesting."""

from __future__ import annotations

import sys

from atomiton.blueprint.bodies import with_implicit_bodies
from atomiton.blueprint.model import Blueprint, Edge, Node, Variable
from atomiton.nodes.definition import NodeDefinition, ParameterSpec, PortSpec
from atomiton.nodes.registry import NodeRegistry
from atomiton.plan.model import Binding, ExecutionPlan
from atomiton.plan.planner import build_plan
from atomiton.validate import validate
from graphs import CHAIN, CROSSED, DIAMOND, FAN_OUT_FAN_IN, graph, plan, registry_for


def by_id(p: ExecutionPlan) -> dict[str, int]:
    return {s.node_id: s.index for s in p.steps}


def test_diamond_bindings_deps_dependents_and_sinks() -> None:
    """a -> b -> d, a -> c -> d"""
    p = plan(DIAMOND)
    ix = by_id(p)
    d = p.steps[ix["d"]]
    assert d.bindings == (
        Binding(ix["b"], "out", "b", "e2"),
        Binding(ix["c"], "out", "c", "e4"),
    )
    assert d.deps == (ix["b"], ix["c"])
    assert p.steps[ix["a"]].dependents == (ix["b"], ix["c"])
    assert p.sinks == (ix["d"],)
    assert p.index_of("c") == ix["c"]
    assert len(p) == 4


def test_priority_is_the_longest_chain_to_a_sink() -> None:
    """a -> b -> c, a -> c (shortcut), x alone: a 3, b 2, c 1, x 1."""
    p = plan("a -> b -> c, a -> c", nodes=["x"])
    assert {s.node_id: s.priority for s in p.steps} == {"x": 1, "a": 3, "b": 2, "c": 1}
    fan = plan(FAN_OUT_FAN_IN)
    assert {s.node_id: s.priority for s in fan.steps} == {
        "s": 3,
        "w1": 2,
        "w2": 2,
        "w3": 2,
        "j": 1,
    }
    crossed = plan(CROSSED)
    assert crossed.sinks == tuple(crossed.index_of(n) for n in ("c1", "c2"))
    assert crossed.steps[crossed.index_of("a1")].priority == 3


def test_whole_object_flows_when_the_handle_names_no_port() -> None:
    """br -> x with no source handle on a two-output node; y.nope -> z names no port."""
    bp = graph("br -> x, y -> z", kinds={"br": "branch"})
    bp = Blueprint(
        "g",
        "g",
        nodes=bp.nodes,
        edges=(bp.edges[0], Edge("e9", "y", "z", "nope", "y")),
    )
    p = build_plan(bp, registry_for(bp))
    assert p.steps[p.index_of("x")].bindings[0].source_port is None
    assert p.steps[p.index_of("z")].bindings[0].source_port is None


def test_a_single_port_handle_may_be_omitted() -> None:
    """src -> dst with no handles: one output, one input."""
    one = NodeDefinition("one", inputs=(PortSpec("text"),), outputs=(PortSpec("result"),))
    bp = Blueprint(
        "f", "f", nodes=(Node("src", "one"), Node("dst", "one")), edges=(Edge("e1", "src", "dst"),)
    )
    p = build_plan(bp, NodeRegistry([one]))
    assert p.steps[1].bindings == (Binding(0, "result", "text", "e1"),)


def test_template_references_are_dependencies() -> None:
    """a, and b whose parameter says {{ $nodes.a.out }} (no edge): b depends on a."""
    p = plan("", nodes=["a", "b"], parameters={"b": {"a": "{{ $nodes.a.out }} and more"}})
    b = p.steps[1]
    assert b.deps == (0,)
    assert b.template_refs == (0,)
    assert b.bindings == ()
    assert p.steps[0].dependents == (1,)
    assert p.sinks == (1,)


def test_control_parameters_are_separated_from_the_nodes_own() -> None:
    """a with enabled/timeout/retries/label set next to a real input value."""
    params = {"a": {"enabled": False, "timeout": 1500, "retries": 2, "label": "A", "b": 1}}
    step = plan("", nodes=["a", "b"], parameters=params).steps[0]
    assert step.enabled is False
    assert step.timeout_s == 1.5
    assert step.retries == 2
    assert step.parameters == {"b": 1}
    plain = plan("", nodes=["a"]).steps[0]
    assert (plain.enabled, plain.timeout_s, plain.retries) == (True, None, 0)


def test_definition_defaults_fill_in_and_nodes_override_them() -> None:
    """t's definition: parameters mode='fast' (default), limit (no default); timeout 2 s,
    retries 1."""
    definition = NodeDefinition(
        "t",
        inputs=(PortSpec("x"),),
        outputs=(PortSpec("out"),),
        parameters=(ParameterSpec("mode", default="fast"), ParameterSpec("limit")),
        timeout_ms=2000,
        retries=1,
    )
    registry = NodeRegistry([definition])
    bp = Blueprint("f", "f", nodes=(Node("n", "t", parameters={"limit": 3}),))
    step = build_plan(bp, registry).steps[0]
    assert step.parameters == {"mode": "fast", "limit": 3}
    assert (step.timeout_s, step.retries) == (2.0, 1)
    assert step.pool == "python"
    bp = Blueprint("f", "f", nodes=(Node("n", "t", parameters={"mode": "slow", "retries": 4}),))
    step = build_plan(bp, registry).steps[0]
    assert step.parameters == {"mode": "slow"}
    assert step.retries == 4


def test_error_port_edges_mark_the_source_handled_and_gpu_nodes_need_one() -> None:
    """a.error -> h, a -> b; g prefers a GPU."""
    p = plan("a.error -> h, a -> b", nodes=["g"], kinds={"g": "gpu"})
    ix = by_id(p)
    assert p.steps[ix["a"]].error_routed
    assert not p.steps[ix["h"]].error_routed
    assert p.steps[ix["h"]].bindings[0].source_port == "error"
    assert p.steps[ix["g"]].needs_gpu
    assert not p.steps[ix["a"]].needs_gpu


def test_on_error_comes_from_settings_unless_the_caller_overrides_it() -> None:
    cont = {"runtime": {"onError": "continue"}}
    assert plan(CHAIN).on_error == "fail-fast"
    assert plan(CHAIN, settings=cont).on_error == "continue"
    assert plan(CHAIN, settings=cont, on_error="fail-fast").on_error == "fail-fast"
    assert plan(CHAIN, on_error="continue").on_error == "continue"
    timed = plan(CHAIN, settings={"runtime": {"timeout": 30000}})
    assert timed.timeout_s == 30.0


def test_groups_become_nested_plans_with_variables_passed_down() -> None:
    """pre -> grp -> post, grp an inline group of x -> y; the run sets variable w."""
    inner = Blueprint(
        "grp",
        "grp",
        nodes=(Node("x", "join"), Node("y", "join")),
        edges=(Edge("i1", "x", "y", "out", "x"),),
        variables={},
    )
    outer = graph("pre -> grp -> post")
    nodes = tuple(
        Node("grp", "group", blueprint=inner) if n.id == "grp" else n for n in outer.nodes
    )
    bp = Blueprint("f", "f", nodes=nodes, edges=outer.edges)
    p = build_plan(
        bp,
        registry_for(Blueprint("r", "r", nodes=(*nodes, *inner.nodes))),
        variables={"w": 2},
        on_error="continue",
    )
    grp = p.steps[p.index_of("grp")]
    assert grp.is_group and grp.definition is None and grp.pool == "group"
    assert grp.sub_plan is not None
    assert [s.node_id for s in grp.sub_plan.steps] == ["x", "y"]
    assert grp.sub_plan.sinks == (1,)
    assert grp.sub_plan.on_error == "continue"
    assert grp.sub_plan.variables == {"w": 2}
    assert grp.bindings[0].target_port == "pre"


def test_variables_override_defaults() -> None:
    bp = Blueprint("f", "f", nodes=(Node("a", "join"),), variables={"v": Variable("v", default=1)})
    reg = registry_for(bp)
    assert build_plan(bp, reg).variables == {"v": 1}
    assert build_plan(bp, reg, variables={"v": 5, "extra": 0}).variables == {"v": 5, "extra": 0}


def _chain(n: int) -> tuple[Blueprint, NodeRegistry]:
    one = NodeDefinition("one", inputs=(PortSpec("input"),), outputs=(PortSpec("out"),))
    nodes = tuple(Node(f"n{i}", "one") for i in range(n))
    edges = tuple(Edge(f"e{i}", f"n{i - 1}", f"n{i}", "out", "input") for i in range(1, n))
    return Blueprint("chain", "chain", nodes=nodes, edges=edges), NodeRegistry([one])


def _calls(n: int) -> int:
    """Python and C function calls made while validating, planning and adopting implicit
    bodies for an n-node chain: deterministic, unlike a timing on a shared machine."""
    bp, registry = _chain(n)
    count = 0

    def profile(frame: object, event: str, arg: object) -> None:
        nonlocal count
        if event in ("call", "c_call"):
            count += 1

    sys.setprofile(profile)
    try:
        bp = with_implicit_bodies(bp)
        validate(bp, registry)
        p = build_plan(bp, registry)
    finally:
        sys.setprofile(None)
    assert p.steps[0].priority == n
    return count


def test_preparing_a_run_is_linear_in_the_number_of_nodes() -> None:
    """A complexity check, not a speed target: 10x the nodes makes about 10x the calls."""
    small, large = _calls(1_000), _calls(10_000)
    assert large / small < 11, f"1,000 nodes: {small:,} calls, 10,000 nodes: {large:,} calls"
