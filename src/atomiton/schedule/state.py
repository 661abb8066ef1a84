"""RunState: the pure scheduler. Stimuli in, instructions out; no clock, no I/O, no asyncio.

In the style of dask's ``local.py`` and distributed's worker state machine. The driver calls
:meth:`RunState.start` once, then :meth:`RunState.handle` with each stimulus, and carries out
the instructions returned, in order. Every state change goes through :meth:`_move`, which checks
it against :data:`TRANSITIONS` and appends it to ``story`` (why each node is where it is).

How a node becomes ready: when all its dependencies are final, ``_decide`` looks at them.
An upstream that failed unhandled, or was abandoned, abandons it; a disabled node, or one whose
connected inputs were all left unproduced (untaken branches), is skipped; otherwise it is
queued with its inputs gathered. Queued nodes start by critical-path priority, then declaration
order, within the global limit, their runtime pool's limit and the GPU count.

Failure policy: ``fail-fast`` interrupts every running node and abandons everything not started;
``continue`` abandons exactly the failed node's descendants. A failure routed to a connected
``error`` port is handled: its value flows there and the run is not failed by it.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping
from typing import Any

from atomiton.nodes.definition import ERROR_PORT
from atomiton.plan.model import ExecutionPlan, Step
from atomiton.schedule.model import (
    FINAL_STATES,
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
    RunStatus,
    ScheduleRetry,
    Stimulus,
    Stopped,
    Succeeded,
    Transition,
)
from atomiton.validate.ports import TRIGGER

# The states as module constants: reading ``NodeState.READY`` goes through the enum's
# metaclass (about 0.14 µs in CPython 3.11, ten times a global), and the hot path reads
# dozens of them per node.
PENDING = NodeState.PENDING
READY = NodeState.READY
RUNNING = NodeState.RUNNING
RETRYING = NodeState.RETRYING
SUCCEEDED = NodeState.SUCCEEDED
FAILED = NodeState.FAILED
SKIPPED = NodeState.SKIPPED
ABANDONED = NodeState.ABANDONED
CANCELLED = NodeState.CANCELLED


_INDEX_BITS = 32
_INDEX_MASK = (1 << _INDEX_BITS) - 1
"""The ready heap holds one int per step, ``-(priority << 32) | index``: it orders like the
tuple ``(-priority, index)`` (higher priority first, then declaration order) without a tuple
per push, and ``key & _INDEX_MASK`` is the index again."""


class InvalidTransition(RuntimeError):
    """The driver or the machine tried a move the transitions table forbids (a bug)."""


class RunState:
    def __init__(
        self,
        plan: ExecutionPlan,
        *,
        max_running: int = 8,
        pool_limits: Mapping[str, int] | None = None,
        gpus: int = 0,
        run_inputs: Mapping[str, Any] | None = None,
        backoff_base_s: float = 0.5,
        backoff_max_s: float = 30.0,
    ) -> None:
        self.plan = plan
        self.steps = plan.steps
        n = len(self.steps)
        self.max_running = max(1, max_running)
        self.pool_limits = dict(pool_limits or {})
        self.gpus = gpus
        self.run_inputs = dict(run_inputs or {})
        self.backoff_base_s = backoff_base_s
        self.backoff_max_s = backoff_max_s
        self.fail_fast = plan.on_error != "continue"

        self.state = [PENDING] * n
        self.attempts = [0] * n
        self.remaining = [len(s.deps) for s in self.steps]
        self.inputs: list[Mapping[str, Any]] = [{}] * n
        self.outputs: list[Mapping[str, Any] | None] = [None] * n
        self.errors: list[Mapping[str, Any] | None] = [None] * n
        self.story: list[tuple[int, NodeState, str]] = []

        self._heap: list[int] = []  # queued steps by _heap_key: critical path first
        self._order = [-(s.priority << _INDEX_BITS) | s.index for s in self.steps]
        self._blocked: dict[str, list[int]] = {}
        self._pool_running: dict[str, int] = {}
        self._running = 0
        self._gpus_used = 0
        self._unhandled: int | None = None  # first node whose failure fails the run
        self._stopping = False
        self._cancelled = False
        self._finished = False
        self._final = 0
        self._troubled = False  # some node failed, was abandoned or cancelled: _decide looks

    # -- public interface ----------------------------------------------------------------------

    @property
    def finished(self) -> bool:
        return self._finished

    @property
    def running(self) -> int:
        return self._running

    def start(self) -> list[Instruction]:
        out: list[Instruction] = []
        for step in self.steps:
            if not step.deps:
                self._decide(step, out)
        self._fill(out)
        self._maybe_finish(out)
        return out

    def handle(self, stimulus: Stimulus) -> list[Instruction]:
        out: list[Instruction] = []
        if isinstance(stimulus, Succeeded):
            if self.state[stimulus.index] is RUNNING:
                self._release(stimulus.index)
                self._succeed(stimulus.index, stimulus.outputs, out)
        elif isinstance(stimulus, Failed):
            if self.state[stimulus.index] is RUNNING:
                self._release(stimulus.index)
                self._fail(stimulus.index, stimulus.error, stimulus.retryable, out)
        elif isinstance(stimulus, Stopped):
            if self.state[stimulus.index] is RUNNING:
                self._release(stimulus.index)
                self._move(stimulus.index, CANCELLED, "interrupted", out)
        elif isinstance(stimulus, RetryDue):
            if self.state[stimulus.index] is RETRYING and not self._stopping:
                self._queue(stimulus.index, out)
        elif isinstance(stimulus, Completed):
            if self.state[stimulus.index] in (PENDING, READY):
                self._succeed(stimulus.index, stimulus.outputs, out, cached=True)
        elif isinstance(stimulus, CancelRun):
            self._cancel(stimulus.reason, out)
        if not self._stopping:
            self._fill(out)
        if not self._running:  # the usual case has nodes running: no call to decide that
            self._maybe_finish(out)
        return out

    def status(self) -> RunStatus:
        if not self._finished:
            return RunStatus.RUNNING
        if self._cancelled:
            return RunStatus.CANCELLED
        return RunStatus.FAILED if self._unhandled is not None else RunStatus.SUCCEEDED

    def sink_outputs(self) -> dict[str, Mapping[str, Any]]:
        return {
            self.steps[i].node_id: out
            for i in self.plan.sinks
            if (out := self.outputs[i]) is not None and self.state[i] is SUCCEEDED
        }

    # -- moves ---------------------------------------------------------------------------------

    def _move(
        self,
        i: int,
        new: NodeState,
        reason: str,
        out: list[Instruction],
        payload: Mapping[str, Any] | None = None,
    ) -> None:
        old = self.state[i]
        if new not in TRANSITIONS[old]:
            raise InvalidTransition(f"{self.steps[i].node_id}: {old} -> {new} ({reason})")
        self.state[i] = new
        self.story.append((i, new, reason))
        if new in FINAL_STATES:  # NodeState.is_final, without a property call per move
            self._final += 1
            if new is not SUCCEEDED and new is not SKIPPED:
                self._troubled = True
        out.append(Transition(i, new, reason, payload or {}))

    def _decide(self, step: Step, out: list[Instruction]) -> None:
        """All of ``step``'s dependencies are final: queue, skip or abandon it."""
        i = step.index
        state = self.state
        for d in step.deps if self._troubled else ():  # untroubled: every dep succeeded or skipped
            if state[d] is ABANDONED or (state[d] is FAILED and not self.steps[d].error_routed):
                self._move(i, ABANDONED, f"upstream '{self.steps[d].node_id}' failed", out)
                return
            if state[d] is CANCELLED:
                self._move(i, CANCELLED, f"upstream '{self.steps[d].node_id}' was cancelled", out)
                return
        if not step.enabled:
            self._skip(step, "disabled (enabled: false)", out)
            return
        for d in step.template_refs:
            if state[d] is not SUCCEEDED:
                self._skip(
                    step, f"a template names '{self.steps[d].node_id}', which produced nothing", out
                )
                return
        inputs: dict[str, Any] = {}
        missing: list[str] = []
        triggered = False
        outputs = self.outputs
        succeeded = SUCCEEDED
        for b in step.bindings:
            src = b.source
            if state[src] is succeeded:
                produced = outputs[src] or {}
                source_port = b.source_port
                if b.target_port == TRIGGER:
                    triggered = True
                elif source_port is None:
                    inputs[b.target_port] = produced
                elif source_port in produced:
                    inputs[b.target_port] = produced[source_port]
                else:
                    missing.append(b.target_port)
            elif state[src] is FAILED and b.source_port == ERROR_PORT:
                inputs[b.target_port] = self.errors[src]
            else:
                missing.append(b.target_port)
        if not inputs and not triggered and step.bindings:
            self._skip(step, "no upstream branch produced an input", out)
            return
        if self.run_inputs and not step.bindings:
            self._take_run_inputs(step, inputs)
        if missing and step.definition is not None:
            for port in step.definition.inputs:
                if (
                    port.name in missing
                    and port.required
                    and not port.has_default
                    and port.name not in step.parameters
                ):
                    self._skip(step, f"input '{port.name}' was not produced upstream", out)
                    return
        self.inputs[i] = inputs
        self._queue(i, out)

    def _take_run_inputs(self, step: Step, inputs: dict[str, Any]) -> None:
        if step.definition is None:  # a group takes every run input
            inputs.update(self.run_inputs)
            return
        for name in step.definition.input_names:
            if name in self.run_inputs:
                inputs[name] = self.run_inputs[name]

    def _skip(self, step: Step, reason: str, out: list[Instruction]) -> None:
        self._move(step.index, SKIPPED, reason, out)
        self._propagate(step, out)

    def _queue(self, i: int, out: list[Instruction]) -> None:
        self._move(i, READY, "inputs ready", out)
        heapq.heappush(self._heap, self._order[i])

    def _fill(self, out: list[Instruction]) -> None:
        heap = self._heap
        state = self.state
        limits = self.pool_limits
        while heap and self._running < self.max_running:
            i = heapq.heappop(heap) & _INDEX_MASK
            if state[i] is not READY:
                continue  # completed without running, or abandoned, while queued
            step = self.steps[i]
            pool = step.pool
            gpu = step.needs_gpu and self.gpus > 0
            if limits or gpu:  # only limited pools and GPUs are counted
                limit = limits.get(pool)
                pool_full = limit is not None and self._pool_running.get(pool, 0) >= limit
                if pool_full or (gpu and self._gpus_used >= self.gpus):
                    # wait on the limit that blocked it; _release wakes that key's waiters
                    self._blocked.setdefault(pool if pool_full else "gpu", []).append(i)
                    continue
                if limit is not None:
                    self._pool_running[pool] = self._pool_running.get(pool, 0) + 1
                if gpu:
                    self._gpus_used += 1
            self._running += 1
            attempt = self.attempts[i] = self.attempts[i] + 1
            self._move(i, RUNNING, "started", out, {"attempt": attempt})
            out.append(Dispatch(i, self.inputs[i], attempt))

    def _release(self, i: int) -> None:
        step = self.steps[i]
        self._running -= 1
        pool = step.pool
        if pool in self.pool_limits:
            self._pool_running[pool] -= 1
        gpu = step.needs_gpu and self.gpus > 0
        if gpu:
            self._gpus_used -= 1
        if not self._blocked:
            return  # nothing waits on a limit: the usual case
        # a GPU node frees both its pool slot and its GPU
        for key in (pool, "gpu") if gpu else (pool,):
            for b in self._blocked.pop(key, ()):
                heapq.heappush(self._heap, self._order[b])

    def _succeed(
        self, i: int, outputs: Mapping[str, Any], out: list[Instruction], cached: bool = False
    ) -> None:
        self.outputs[i] = outputs
        self._move(
            i,
            SUCCEEDED,
            "completed without running" if cached else "succeeded",
            out,
            {"attempt": self.attempts[i], "cached": cached},
        )
        self._propagate(self.steps[i], out)

    def _fail(
        self, i: int, error: Mapping[str, Any], retryable: bool, out: list[Instruction]
    ) -> None:
        step = self.steps[i]
        attempt = self.attempts[i]
        if retryable and attempt <= step.retries and not self._stopping:
            delay = min(self.backoff_base_s * 2 ** (attempt - 1), self.backoff_max_s)
            self._move(i, RETRYING, "failed, will retry", out, {"attempt": attempt})
            out.append(ScheduleRetry(i, attempt + 1, delay, error))
            return
        self.errors[i] = error
        self._move(
            i,
            FAILED,
            "failed",
            out,
            {"attempt": attempt, "error": error, "handled": step.error_routed},
        )
        if step.error_routed or self._stopping:
            self._propagate(step, out)
            return
        if self._unhandled is None:
            self._unhandled = i
        if self.fail_fast:
            self._stop(f"'{step.node_id}' failed (fail-fast)", ABANDONED, out)
        else:
            self._abandon_descendants(step, out)

    def _propagate(self, step: Step, out: list[Instruction]) -> None:
        if self._stopping:
            return
        remaining = self.remaining
        for d in step.dependents:
            left = remaining[d] = remaining[d] - 1
            if left == 0 and self.state[d] is PENDING:
                self._decide(self.steps[d], out)

    def _abandon_descendants(self, step: Step, out: list[Instruction]) -> None:
        stack = list(step.dependents)
        while stack:
            d = stack.pop()
            if self.state[d] is PENDING:
                self._move(d, ABANDONED, f"upstream '{step.node_id}' failed", out)
                stack.extend(self.steps[d].dependents)

    def _stop(self, reason: str, fate: NodeState, out: list[Instruction]) -> None:
        """Interrupt every running node; give every node not started ``fate``."""
        self._stopping = True
        for i, state in enumerate(self.state):
            if state is RUNNING:
                out.append(Interrupt(i))
            elif state in (PENDING, READY, RETRYING):
                self._move(i, fate, reason, out)
        self._heap.clear()
        self._blocked.clear()

    def _cancel(self, reason: str, out: list[Instruction]) -> None:
        if self._finished or self._cancelled:
            return
        self._cancelled = True
        self._stop(reason, CANCELLED, out)

    def _maybe_finish(self, out: list[Instruction]) -> None:
        if self._finished or self._running:
            return
        if self._final < len(self.steps) and not self._stopping:
            return
        self._finished = True
        error = None
        if self._unhandled is not None:
            failed = self.steps[self._unhandled]
            error = {"node_id": failed.node_id, **(self.errors[self._unhandled] or {})}
        out.append(Finish(self.status(), error))
