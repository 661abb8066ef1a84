"""Hypothesis drives RunState on random DAGs with injected failures and random timing.

A scenario is a random DAG (edges from earlier to later nodes), each node in a random pool
(python, javascript, or python wanting a GPU), random limits, and a failure plan: a node fails
its first ``k`` attempts, retryably or not, and has ``retries`` extra attempts. The harness lets
Hypothesis pick which running node finishes next (or which due retry fires), answers an
interrupted node with ``Stopped`` or with the result that raced the interrupt, and checks the
invariants after every batch of instructions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from atomiton.plan.model import ExecutionPlan
from atomiton.schedule.model import (
    CancelRun,
    Dispatch,
    Failed,
    Finish,
    Instruction,
    Interrupt,
    NodeState,
    RetryDue,
    RunStatus,
    Stimulus,
    Stopped,
    Succeeded,
    Transition,
)
from atomiton.schedule.state import RunState
from graphs import Driver, dag_spec, plan, random_dags

S = NodeState
PROPERTY = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@dataclass(frozen=True)
class Scenario:
    plan: ExecutionPlan
    fail_first: tuple[int, ...]
    """How many first attempts of each node fail."""
    retryable: tuple[bool, ...]
    max_running: int
    pool_limits: dict[str, int]
    gpus: int

    @property
    def options(self) -> dict[str, object]:
        return {"max_running": self.max_running, "pool_limits": self.pool_limits, "gpus": self.gpus}

    def fails_for_good(self, i: int) -> bool:
        step = self.plan.steps[i]
        k = self.fail_first[i]
        return k > 0 and (not self.retryable[i] or k > step.retries)


@st.composite
def scenarios(draw: st.DrawFn, on_error: st.SearchStrategy[str]) -> Scenario:
    n, edges = draw(random_dags(max_nodes=40))
    spec, ids = dag_spec(n, edges)
    kinds = {i: draw(st.sampled_from(("join", "join", "js", "gpu"))) for i in ids}
    retries = [draw(st.integers(0, 2)) for _ in ids]
    fail_first = tuple(draw(st.sampled_from((0, 0, 0, 0, 0, 1, 1, 2, 3))) for _ in ids)
    retryable = tuple(draw(st.booleans()) for _ in ids)
    p = plan(
        spec,
        nodes=ids,
        kinds=kinds,
        parameters={i: {"retries": r} for i, r in zip(ids, retries, strict=True)},
        on_error=draw(on_error),
    )
    limits = draw(
        st.fixed_dictionaries(
            {}, optional={"python": st.integers(1, 4), "javascript": st.integers(1, 3)}
        )
    )
    return Scenario(
        p, fail_first, retryable, draw(st.integers(1, 6)), limits, draw(st.integers(0, 2))
    )


Choose = Callable[[int], int]


class Play:
    """One run of a scenario to its Finish; the invariants are checked after every batch.

    The run is *stopping* once a CancelRun went in, or, under fail-fast, once a node failed
    (every failure here is unhandled): from then on nothing may be dispatched.
    """

    def __init__(self, sc: Scenario, choose: Choose, cancel_at: int | None = None) -> None:
        self.sc, self.choose = sc, choose
        self.d = Driver(sc.plan, **sc.options)
        self.stimuli: list[Stimulus] = []
        self.cancelled_after: int | None = None
        """How many instructions had come out when CancelRun went in."""
        self._check(self.d.machine.start(), stopping_before=False)
        while not self.d.finishes:
            assert len(self.stimuli) < 20 * len(sc.plan) + 50, "the run does not terminate"
            if cancel_at is not None and len(self.stimuli) == cancel_at:
                self.cancelled_after = len(self.d.instructions)
                stimulus: Stimulus = CancelRun()
            else:
                stimulus = self._next()
            stopping = self.stopping
            self.stimuli.append(stimulus)
            self._check(self.d.machine.handle(stimulus), stopping_before=stopping)

    @property
    def stopping(self) -> bool:
        if self.cancelled_after is not None:
            return True
        return self.sc.plan.on_error == "fail-fast" and any(
            isinstance(t, Transition) and t.state is S.FAILED for t in self.d.instructions
        )

    def _next(self) -> Stimulus:
        state = self.d.machine.state
        running = [i for i, s in enumerate(state) if s is S.RUNNING]
        due = [i for i, s in enumerate(state) if s is S.RETRYING]
        options = running + [-1 - i for i in due]
        assert options, f"stalled without a Finish: {self.d.states}"
        pick = options[self.choose(len(options))]
        if pick < 0:
            return RetryDue(-1 - pick)
        if self.sc.plan.steps[pick].node_id in self.d.interrupted and self.choose(2) == 0:
            return Stopped(pick)
        attempt = self.d.machine.attempts[pick]
        if attempt <= self.sc.fail_first[pick]:
            return Failed(pick, {"message": f"attempt {attempt}"}, self.sc.retryable[pick])
        return Succeeded(pick, {"out": pick})

    def _check(self, batch: list[Instruction], *, stopping_before: bool) -> None:
        self.d._take(batch)  # checks each transition against TRANSITIONS
        sc, state = self.sc, self.d.machine.state
        steps = sc.plan.steps
        for ins in batch:
            if isinstance(ins, Dispatch):
                assert not stopping_before, "dispatched after the run began stopping"
                for dep in steps[ins.index].deps:
                    assert state[dep] is S.SUCCEEDED, f"{ins.index} ran before {dep} succeeded"
        running = [i for i, s in enumerate(state) if s is S.RUNNING]
        assert len(running) <= sc.max_running
        for pool, limit in sc.pool_limits.items():
            assert sum(steps[i].pool == pool for i in running) <= limit
        if sc.gpus:
            assert sum(steps[i].needs_gpu for i in running) <= sc.gpus
        finishes = [i for i in batch if isinstance(i, Finish)]
        if finishes:
            assert finishes == [batch[-1]]
            assert all(s.is_final for s in state), self.d.states
        if self.stopping and not stopping_before:
            # the stopping batch: everything running is interrupted, the rest is given its fate
            assert {i.index for i in batch if isinstance(i, Interrupt)} == set(running)
            assert all(s.is_final or s is S.RUNNING for s in state), self.d.states
            fate = S.CANCELLED if self.cancelled_after is not None else S.ABANDONED
            moved = {t.state for t in batch if isinstance(t, Transition)}
            assert moved <= {fate, S.FAILED}, moved

    def replay(self) -> list[Instruction]:
        """The same stimuli into a fresh machine."""
        machine = RunState(self.sc.plan, **self.sc.options)  # type: ignore[arg-type]
        out = machine.start()
        for stimulus in self.stimuli:
            out += machine.handle(stimulus)
        return out


def descendants(sc: Scenario, roots: set[int]) -> set[int]:
    found: set[int] = set()
    stack = [d for r in roots for d in sc.plan.steps[r].dependents]
    while stack:
        i = stack.pop()
        if i not in found:
            found.add(i)
            stack.extend(sc.plan.steps[i].dependents)
    return found


def chooser(data: st.DataObject) -> Choose:
    return lambda k: data.draw(st.integers(0, k - 1)) if k > 1 else 0


@PROPERTY
@given(scenarios(st.just("continue")), st.data())
def test_continue_abandons_exactly_the_descendants_of_failures(
    sc: Scenario, data: st.DataObject
) -> None:
    play = Play(sc, chooser(data))
    doomed = {i for i in range(len(sc.plan)) if sc.fails_for_good(i)}
    abandoned = descendants(sc, doomed)
    expected = [
        S.ABANDONED if i in abandoned else S.FAILED if i in doomed else S.SUCCEEDED
        for i in range(len(sc.plan))
    ]
    assert play.d.machine.state == expected
    failed = S.FAILED in expected
    assert play.d.finishes[0].status is (RunStatus.FAILED if failed else RunStatus.SUCCEEDED)
    assert play.replay() == play.d.instructions


@PROPERTY
@given(scenarios(st.just("fail-fast")), st.data())
def test_fail_fast_stops_everything_at_the_first_failure(sc: Scenario, data: st.DataObject) -> None:
    play = Play(sc, chooser(data))
    d = play.d
    state = d.machine.state
    failures = [
        t.index for t in d.instructions if isinstance(t, Transition) and t.state is S.FAILED
    ]
    if not failures:
        assert d.finishes[0].status is RunStatus.SUCCEEDED
        assert all(s is S.SUCCEEDED for s in state)
    else:
        assert d.finishes[0].status is RunStatus.FAILED
        assert d.finishes[0].error is not None
        assert d.finishes[0].error["node_id"] == sc.plan.steps[failures[0]].node_id
        never_ran = [i for i in range(len(sc.plan)) if d.machine.attempts[i] == 0]
        assert all(state[i] is S.ABANDONED for i in never_ran)
        for i, s in enumerate(state):
            assert s is not S.CANCELLED or sc.plan.steps[i].node_id in d.interrupted
    assert play.replay() == d.instructions


@PROPERTY
@given(scenarios(st.sampled_from(("fail-fast", "continue"))), st.data(), st.integers(0, 30))
def test_cancel_at_any_moment_stops_the_run(sc: Scenario, data: st.DataObject, when: int) -> None:
    play = Play(sc, chooser(data), cancel_at=when)
    d = play.d
    if play.cancelled_after is None:
        return  # the run finished before the cancel came
    assert d.finishes[0].status is RunStatus.CANCELLED
    after = d.instructions[play.cancelled_after :]
    assert not any(isinstance(i, Dispatch) for i in after)
    assert all(s.is_final for s in d.machine.state)
    assert play.replay() == d.instructions
