"""RunState driven by hand on named graphs: stimuli in, instructions (in words) out.

The Driver (tests/graphs.py) checks every transition against TRANSITIONS as it goes.
"""

from __future__ import annotations

import pytest

from atomiton.blueprint.model import Blueprint, Edge, Node
from atomiton.nodes.definition import NodeDefinition, PortSpec
from atomiton.nodes.registry import NodeRegistry
from atomiton.plan.planner import build_plan
from atomiton.schedule.model import (
    FINAL_STATES,
    TRANSITIONS,
    CancelRun,
    NodeState,
    RunStatus,
    Transition,
)
from graphs import CHAIN, CROSSED, DIAMOND, FAN_OUT_FAN_IN, Driver, plan

S = NodeState


def test_diamond_runs_both_middles_together_and_joins_their_outputs() -> None:
    """a -> b -> d, a -> c -> d"""
    d = Driver(plan(DIAMOND))
    assert d.start() == ["run a"]
    assert d.succeed("a") == ["run b", "run c"]
    assert d.dispatches["b"].inputs == {"a": "a"}
    assert d.succeed("c") == []
    assert d.succeed("b") == ["run d"]
    assert d.dispatches["d"].inputs == {"b": "b", "c": "c"}
    assert d.succeed("d", {"out": 42}) == ["finish succeeded"]
    assert d.machine.status() is RunStatus.SUCCEEDED
    assert d.machine.sink_outputs() == {"d": {"out": 42}}
    assert d.moves[:2] == ["a queued", "a running"]


def test_fan_out_fan_in_bounded_by_max_running() -> None:
    """s -> w1 -> j, s -> w2 -> j, s -> w3 -> j"""
    d = Driver(plan(FAN_OUT_FAN_IN), max_running=2)
    assert d.start() == ["run s"]
    assert d.succeed("s") == ["run w1", "run w2"]
    assert d.state_of("w3") is S.READY
    assert d.succeed("w2") == ["run w3"]
    assert d.succeed("w1") == []
    assert d.succeed("w3") == ["run j"]
    assert d.dispatches["j"].inputs == {"w1": "w1", "w2": "w2", "w3": "w3"}
    assert d.succeed("j") == ["finish succeeded"]


def test_crossed_branches_wait_for_both_heads() -> None:
    """a1 -> b1 -> c1, a2 -> b2 -> c2, a1 -> b2, a2 -> b1"""
    d = Driver(plan(CROSSED))
    assert d.start() == ["run a1", "run a2"]
    assert d.succeed("a1") == []
    assert d.succeed("a2") == ["run b1", "run b2"]
    assert d.dispatches["b2"].inputs == {"a2": "a2", "a1": "a1"}
    assert d.succeed("b2") == ["run c2"]
    assert d.succeed("c2") == []
    assert d.succeed("b1") == ["run c1"]
    assert d.succeed("c1") == ["finish succeeded"]


def test_critical_path_first_then_declaration_order() -> None:
    """x (alone, declared first), a -> b -> c: with one slot, the long chain leads.

    Priorities: a 3, b 2, c 1, x 1; x and c tie, x was declared first.
    """
    d = Driver(plan(CHAIN, nodes=["x"]), max_running=1)
    assert d.start() == ["run a"]
    assert d.succeed("a") == ["run b"]
    assert d.succeed("b") == ["run x"]
    assert d.succeed("x") == ["run c"]
    assert d.succeed("c") == ["finish succeeded"]


def test_pool_limits_bound_each_runtime() -> None:
    """j1 j2 j3 (javascript) and p1 p2 (python), no edges; one javascript slot."""
    kinds = {"j1": "js", "j2": "js", "j3": "js"}
    d = Driver(
        plan("", nodes=["j1", "j2", "j3", "p1", "p2"], kinds=kinds), pool_limits={"javascript": 1}
    )
    assert d.start() == ["run j1", "run p1", "run p2"]
    assert d.succeed("p1") == []
    assert d.succeed("j1") == ["run j2"]
    assert d.succeed("j2") == ["run j3"]


def test_gpu_nodes_share_the_gpus() -> None:
    """g1 g2 g3 prefer a GPU; one GPU means one at a time, no GPUs means no accounting."""
    kinds = dict.fromkeys(("g1", "g2", "g3"), "gpu")
    d = Driver(plan("", nodes=["g1", "g2", "g3"], kinds=kinds), gpus=1)
    assert d.start() == ["run g1"]
    assert d.succeed("g1") == ["run g2"]
    assert d.succeed("g2") == ["run g3"]
    unlimited = Driver(plan("", nodes=["g1", "g2", "g3"], kinds=kinds), gpus=0)
    assert unlimited.start() == ["run g1", "run g2", "run g3"]


@pytest.mark.parametrize(("first", "second"), [("p", "g"), ("g", "p")])
def test_a_node_blocked_on_its_pool_wakes_whichever_node_frees_it(first: str, second: str) -> None:
    """p (python) and g (python, GPU), one python slot, one GPU: the second runs after the first.

    Regression: a GPU node waited on the GPU key even when its pool was what blocked it, and a
    finishing GPU node woke only GPU waiters, so the run never finished.
    """
    d = Driver(
        plan("", nodes=[first, second], kinds={"g": "gpu"}), pool_limits={"python": 1}, gpus=1
    )
    assert d.start() == [f"run {first}"]
    assert d.succeed(first) == [f"run {second}"]
    assert d.succeed(second) == ["finish succeeded"]


def test_fail_fast_interrupts_running_and_abandons_the_rest() -> None:
    """s -> w1 -> j, s -> w2 -> j, s -> w3 -> j; w1 fails while w2 runs and w3 waits."""
    d = Driver(plan(FAN_OUT_FAN_IN), max_running=2)
    d.start()
    d.succeed("s")
    assert d.fail("w1", "disk full") == ["interrupt w2"]
    assert d.states == {
        "s": "succeeded",
        "w1": "failed",
        "j": "abandoned",
        "w2": "running",
        "w3": "abandoned",
    }
    assert d.stopped("w2") == ["finish failed"]
    assert d.state_of("w2") is S.CANCELLED
    assert d.finishes[0].error == {"node_id": "w1", "message": "disk full"}
    assert d.machine.status() is RunStatus.FAILED


def test_fail_fast_accepts_a_result_that_raced_the_interrupt() -> None:
    """a, b, c side by side; a fails, b finishes anyway before it hears the interrupt."""
    d = Driver(plan("", nodes=["a", "b", "c"]))
    d.start()
    assert d.fail("a") == ["interrupt b", "interrupt c"]
    assert d.succeed("b") == []
    assert d.fail("c") == ["finish failed"]
    assert d.states == {"a": "failed", "b": "succeeded", "c": "failed"}
    assert d.finishes[0].error is not None
    assert d.finishes[0].error["node_id"] == "a"


def test_continue_abandons_exactly_the_descendants() -> None:
    """a -> b -> c, a -> e, x -> y; b fails: c is abandoned, everything else runs."""
    d = Driver(plan("a -> b -> c, a -> e, x -> y", on_error="continue"))
    assert d.start() == ["run a", "run x"]
    assert d.succeed("a") == ["run b", "run e"]
    assert d.fail("b") == []
    assert d.state_of("c") is S.ABANDONED
    assert d.succeed("x") == ["run y"]
    assert d.succeed("e") == []
    assert d.succeed("y") == ["finish failed"]
    assert d.states == {
        "a": "succeeded",
        "b": "failed",
        "c": "abandoned",
        "e": "succeeded",
        "x": "succeeded",
        "y": "succeeded",
    }
    assert any(i == d.index("c") and "'b' failed" in why for i, _, why in d.machine.story)


def test_retries_back_off_exponentially_then_succeed() -> None:
    """a, with retries: 2 - attempts 1 and 2 fail, attempt 3 succeeds."""
    d = Driver(plan("a", parameters={"a": {"retries": 2}}))
    assert d.start() == ["run a"]
    assert d.fail("a") == ["retry a#2 after 0.5s"]
    assert d.state_of("a") is S.RETRYING
    assert d.retry_due("a") == ["run a#2"]
    assert d.fail("a") == ["retry a#3 after 1.0s"]
    assert d.retry_due("a") == ["run a#3"]
    assert d.succeed("a") == ["finish succeeded"]
    assert d.machine.attempts == [3]
    assert d.moves == [
        "a queued",
        "a running",
        "a retrying",
        "a queued",
        "a running",
        "a retrying",
        "a queued",
        "a running",
        "a succeeded",
    ]


def test_retries_exhausted_fail_the_node_and_delays_are_capped() -> None:
    """a, with retries: 2, base 1 s and cap 1.5 s: every attempt fails."""
    d = Driver(plan("a", parameters={"a": {"retries": 2}}), backoff_base_s=1.0, backoff_max_s=1.5)
    d.start()
    assert d.fail("a") == ["retry a#2 after 1.0s"]
    d.retry_due("a")
    assert d.fail("a") == ["retry a#3 after 1.5s"]
    d.retry_due("a")
    assert d.fail("a", "still broken") == ["finish failed"]
    assert d.finishes[0].error == {"node_id": "a", "message": "still broken"}


def test_a_non_retryable_failure_is_final_at_once() -> None:
    """a -> b, a has retries: 3 but its error says do not retry."""
    d = Driver(plan("a -> b", parameters={"a": {"retries": 3}}))
    d.start()
    assert d.fail("a", retryable=False) == ["finish failed"]
    assert d.states == {"a": "failed", "b": "abandoned"}


def test_an_error_port_handles_the_failure() -> None:
    """a.error -> h, a -> b: the error value flows to h, b is skipped, the run succeeds."""
    d = Driver(plan("a.error -> h, a -> b"))
    d.start()
    assert d.fail("a", "bad row") == ["run h"]
    assert d.dispatches["h"].inputs == {"a": {"message": "bad row"}}
    assert d.state_of("b") is S.SKIPPED
    payload = next(
        t.payload for t in d.instructions if isinstance(t, Transition) and t.state is S.FAILED
    )
    assert payload["handled"] is True
    assert d.succeed("h") == ["finish succeeded"]
    assert d.machine.status() is RunStatus.SUCCEEDED


def test_an_error_port_stays_quiet_when_the_node_succeeds() -> None:
    """a.error -> h, a -> b: a succeeds, so b runs and h is skipped."""
    d = Driver(plan("a.error -> h, a -> b"))
    d.start()
    assert d.succeed("a") == ["run b"]
    assert d.state_of("h") is S.SKIPPED


def test_untaken_branches_are_skipped_and_mixed_nodes_run() -> None:
    """br.yes -> y -> m, br.no -> n -> m, n -> after: br takes 'yes' only.

    n and after are fed only by the untaken port: skipped. m has y: it runs without n.
    """
    d = Driver(plan("br.yes -> y -> m, br.no -> n -> m, n -> after", kinds={"br": "branch"}))
    d.start()
    assert d.succeed("br", {"yes": 1}) == ["run y"]
    assert d.states["n"] == "skipped"
    assert d.states["after"] == "skipped"
    assert d.succeed("y") == ["run m"]
    assert d.dispatches["m"].inputs == {"y": "y"}
    assert d.succeed("m") == ["finish succeeded"]


def test_a_required_input_left_unproduced_skips_the_node() -> None:
    """br.no -> q, y -> q with q's inputs required: br takes 'yes', so q lacks 'br'."""
    d = Driver(plan("br.no -> q, y -> q", kinds={"br": "branch", "q": "needy"}))
    d.start()
    d.succeed("br", {"yes": True})
    assert d.succeed("y") == ["finish succeeded"]
    why = [w for i, s, w in d.machine.story if i == d.index("q") and s is S.SKIPPED]
    assert why == ["input 'br' was not produced upstream"]


def test_a_disabled_node_is_skipped_with_its_dependents() -> None:
    """a -> b -> c, b has enabled: false."""
    d = Driver(plan(CHAIN, parameters={"b": {"enabled": False}}))
    d.start()
    assert d.succeed("a") == ["finish succeeded"]
    assert d.states == {"a": "succeeded", "b": "skipped", "c": "skipped"}
    assert d.machine.sink_outputs() == {}


def test_a_template_reference_is_a_dependency() -> None:
    """a -> b and c, whose parameter names {{ $nodes.b.out }}: c waits for b; skipped without."""
    bp = plan(
        "a -> b", nodes=["a", "b", "c"], parameters={"c": {"text": "{{ $nodes.b.out }}"}}
    ).blueprint
    d = Driver(plan(bp))
    assert d.start() == ["run a"]
    assert d.succeed("a") == ["run b"]
    assert d.succeed("b") == ["run c"]
    skipping = plan(
        "a -> b",
        nodes=["a", "b", "c"],
        parameters={"b": {"enabled": False}, "c": {"text": "{{ $nodes.b.out }}"}},
    )
    d = Driver(skipping)
    d.start()
    assert d.succeed("a") == ["finish succeeded"]
    assert d.states["c"] == "skipped"


def test_cancel_interrupts_running_and_cancels_the_rest() -> None:
    """a -> b -> c, x: cancelled while a and x run."""
    d = Driver(plan(CHAIN, nodes=["x"]))
    assert d.start() == ["run a", "run x"]  # critical path first
    assert d.cancel() == ["interrupt x", "interrupt a"]
    assert d.cancel() == []
    assert d.states["b"] == "cancelled"
    assert d.succeed("x") == []
    assert d.stopped("a") == ["finish cancelled"]
    assert d.machine.status() is RunStatus.CANCELLED
    assert d.states == {"x": "succeeded", "a": "cancelled", "b": "cancelled", "c": "cancelled"}


def test_cancel_after_finish_changes_nothing() -> None:
    d = Driver(plan("a"))
    d.start()
    d.succeed("a")
    assert d.machine.handle(CancelRun()) == []
    assert d.machine.status() is RunStatus.SUCCEEDED


def test_completed_without_running_from_pending_and_from_ready() -> None:
    """a -> b -> c and r alone, one slot: b completes from PENDING, r from READY."""
    d = Driver(plan(CHAIN, nodes=["a", "b", "c", "r"]), max_running=1)
    assert d.start() == ["run a"]
    assert d.state_of("r") is S.READY
    assert d.complete("r") == []
    assert d.complete("b", {"out": "cached"}) == []
    assert d.state_of("c") is S.READY
    assert d.succeed("a") == ["run c"]
    assert d.dispatches["c"].inputs == {"b": "cached"}
    assert d.succeed("c") == ["finish succeeded"]
    assert "r" not in d.dispatches and "b" not in d.dispatches
    assert "b succeeded" in d.moves


def test_stale_stimuli_are_ignored() -> None:
    """a -> b: results for nodes that are not running change nothing."""
    d = Driver(plan("a -> b"))
    d.start()
    assert d.succeed("b") == []
    assert d.fail("b") == []
    assert d.retry_due("a") == []
    assert d.complete("a") == []
    assert d.state_of("a") is S.RUNNING


def test_run_inputs_reach_source_nodes_by_port_name() -> None:
    """src (inputs: text, n) -> sink; the run gives text and an unrelated key."""
    definition = NodeDefinition(
        "echo", inputs=(PortSpec("text"), PortSpec("n")), outputs=(PortSpec("out"),)
    )
    bp = Blueprint(
        id="f",
        name="f",
        nodes=(Node("src", "echo"), Node("sink", "echo")),
        edges=(Edge("e1", "src", "sink", "out", "text"),),
    )
    p = build_plan(bp, NodeRegistry([definition]))
    d = Driver(p, run_inputs={"text": "hi", "other": 1})
    d.start()
    assert d.dispatches["src"].inputs == {"text": "hi"}
    d.succeed("src", {"out": "HI"})
    assert d.dispatches["sink"].inputs == {"text": "HI"}


def test_a_group_step_takes_every_run_input() -> None:
    """grp (inline group: inner) alone: the group receives all run inputs."""
    inner = Blueprint(id="grp", name="grp", nodes=(Node("inner", "join"),))
    bp = Blueprint(id="f", name="f", nodes=(Node("grp", "group", blueprint=inner),))
    d = Driver(plan(bp), run_inputs={"a": 1, "b": 2})
    assert d.start() == ["run grp"]
    assert d.dispatches["grp"].inputs == {"a": 1, "b": 2}


def test_transitions_table_is_closed_and_final_states_are_dead_ends() -> None:
    assert set(TRANSITIONS) == set(NodeState)
    for state, targets in TRANSITIONS.items():
        assert (not targets) == (state in FINAL_STATES)
    assert S.SUCCEEDED in TRANSITIONS[S.PENDING]
    assert S.SUCCEEDED in TRANSITIONS[S.READY]


@pytest.mark.parametrize(("enabled", "ran"), [(True, True), (False, False)])
def test_a_trigger_edge_orders_without_passing_a_value(enabled: bool, ran: bool) -> None:
    """a -> go, where go has no inputs: go waits for a, gets nothing, and runs only if a did."""
    join = NodeDefinition("join", inputs=(PortSpec("x"),), outputs=(PortSpec("out"),))
    bare = NodeDefinition("bare", outputs=(PortSpec("out"),))
    bp = Blueprint(
        id="f",
        name="f",
        nodes=(Node("a", "join", parameters={"enabled": enabled}), Node("go", "bare")),
        edges=(Edge("e1", "a", "go"),),
    )
    d = Driver(build_plan(bp, NodeRegistry([join, bare])))
    words = d.start()
    if ran:
        assert words == ["run a"]
        assert d.succeed("a") == ["run go"]
        assert d.dispatches["go"].inputs == {}
    else:
        assert words == ["finish succeeded"]
        assert d.states == {"a": "skipped", "go": "skipped"}
