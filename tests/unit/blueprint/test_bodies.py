"""Implicit bodies: which nodes a childless loop/parallel adopts, and when nothing moves."""

from __future__ import annotations

from typing import Any

from atomiton.blueprint.bodies import implicit_bodies
from atomiton.blueprint.loader import load_blueprint


def bp(nodes: list[tuple[str, str]], edges: list[tuple[str, ...]], **params: Any) -> Any:
    """nodes: (id, type); edges: (source, target[, sourceHandle[, targetHandle]])."""
    return load_blueprint(
        {
            "id": "b",
            "name": "b",
            "nodes": [{"id": i, "type": t, "parameters": params.get(i, {})} for i, t in nodes],
            "edges": [
                {
                    "id": f"{e[0]}-{e[1]}",
                    "source": e[0],
                    "target": e[1],
                    "sourceHandle": e[2] if len(e) > 2 else "output",
                    "targetHandle": e[3] if len(e) > 3 else "input",
                }
                for e in edges
            ],
        }
    )


def test_chain_after_a_loop_becomes_its_body() -> None:
    """src -> loop -> a -> b : loop{a -> b}"""
    before = bp([("src", "x"), ("loop", "loop"), ("a", "x"), ("b", "x")],
                [("src", "loop"), ("loop", "a", "item"), ("a", "b")])  # fmt: skip
    after, decisions = implicit_bodies(before)
    assert [n.id for n in after.nodes] == ["src", "loop"]
    assert [(e.source, e.target) for e in after.edges] == [("src", "loop")]
    body = after.node("loop").blueprint
    assert [n.id for n in body.nodes] == ["a", "b"]
    assert [(e.source, e.target) for e in body.edges] == [("a", "b")]
    assert decisions[0].moved == ("a", "b")


def test_a_node_fed_from_outside_the_body_blocks_the_move() -> None:
    """loop -> a -> b <- other : b needs a value from outside, nothing moves."""
    before = bp([("loop", "loop"), ("other", "x"), ("a", "x"), ("b", "x")],
                [("loop", "a"), ("a", "b"), ("other", "b", "output", "extra")])  # fmt: skip
    after, decisions = implicit_bodies(before)
    assert after is before
    assert decisions[0].moved == ()
    assert "'b' is also fed by 'other'" in decisions[0].reason


def test_a_completion_handle_blocks_the_move() -> None:
    after, decisions = implicit_bodies(
        bp([("loop", "loop"), ("a", "x")], [("loop", "a", "complete")])
    )
    assert after.node("loop").blueprint is None
    assert "leaves from 'complete', not a per-item handle" in decisions[0].reason


def test_an_unknown_target_port_blocks_the_move() -> None:
    _, decisions = implicit_bodies(
        bp([("p", "parallel"), ("a", "x")], [("p", "a", "item", "data")])
    )
    assert "the item reaches a body node only on input, item, index, trigger" in decisions[0].reason


def test_explicit_children_and_sinks_are_left_alone() -> None:
    loaded = load_blueprint(
        {
            "id": "b",
            "name": "b",
            "nodes": [
                {"id": "l", "type": "loop", "nodes": [{"id": "in", "type": "x"}], "edges": []},
                {"id": "after", "type": "x"},
                {"id": "sink", "type": "parallel"},
            ],
            "edges": [{"source": "l", "target": "after", "sourceHandle": "results"}],
        }
    )
    after, decisions = implicit_bodies(loaded)
    assert after is loaded
    assert decisions == ()


def test_loop_takes_the_concurrency_of_its_parallel_body_unless_it_sets_one() -> None:
    nodes = [("loop", "loop"), ("par", "parallel"), ("a", "x")]
    edges = [("loop", "par", "item"), ("par", "a")]
    after, _ = implicit_bodies(bp(nodes, edges, par={"concurrency": 4}))
    assert after.node("loop").parameters["concurrency"] == 4
    after, _ = implicit_bodies(bp(nodes, edges, par={"concurrency": 4}, loop={"concurrency": 2}))
    assert after.node("loop").parameters["concurrency"] == 2


def test_templates_naming_body_nodes_from_outside_block_the_move() -> None:
    before = bp([("loop", "loop"), ("a", "x"), ("report", "x")], [("loop", "a")],
                report={"text": "{{ $nodes.a.output }}"})  # fmt: skip
    after, decisions = implicit_bodies(before)
    assert after is before
    assert "'report' names 'a'" in decisions[0].reason
