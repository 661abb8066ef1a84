"""The asyncio driver: carries out a RunState's instructions and feeds results back.

It never polls: each node call is a task whose completion calls :meth:`Driver._feed`, which
hands the stimulus to the pure state machine and applies the instructions it returns (start
tasks, cancel tasks, arm retry timers, publish events). A call the runtime can complete
synchronously (a trivially fast sync Python node) completes inline, without a task. Groups and
referenced Blueprints run as nested drivers on the same bus, their node ids prefixed with the
group's (``group/child``).
"""

from __future__ import annotations

import asyncio
import collections
import datetime as dt
import functools
import random
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from atomiton.blueprint import templates
from atomiton.errors import NodeCancelledError, NodeError, NodeTimeoutError
from atomiton.events import EventBus, EventKind
from atomiton.plan import ExecutionPlan, Step
from atomiton.runtimes import NodeCall, RuntimeRouter
from atomiton.runtimes.base import NodeResult
from atomiton.runtimes.router import InlineCall
from atomiton.schedule import (
    CancelRun,
    Dispatch,
    Failed,
    Finish,
    Instruction,
    Interrupt,
    NodeState,
    RetryDue,
    RunState,
    ScheduleRetry,
    Stimulus,
    Stopped,
    Succeeded,
    Transition,
)
from atomiton.validate.ports import GROUP_OUTPUT

_EVENT_FOR_STATE: Mapping[NodeState, EventKind] = {
    NodeState.READY: EventKind.NODE_QUEUED,
    NodeState.RUNNING: EventKind.NODE_STARTED,
    NodeState.SUCCEEDED: EventKind.NODE_SUCCEEDED,
    NodeState.FAILED: EventKind.NODE_FAILED,
    NodeState.SKIPPED: EventKind.NODE_SKIPPED,
    NodeState.ABANDONED: EventKind.NODE_ABANDONED,
    NodeState.CANCELLED: EventKind.NODE_CANCELLED,
}


# Read per event: module constants, as reading an enum member through its class costs about
# ten times a global in CPython 3.11 (see atomiton.schedule.state).
_READY = NodeState.READY
_RUNNING = NodeState.RUNNING
_SUCCEEDED = NodeState.SUCCEEDED
_FAILED = NodeState.FAILED


@dataclass(slots=True)
class Limits:
    max_running: int = 8
    pool_limits: Mapping[str, int] = field(default_factory=dict)
    gpus: int = 0
    backoff_base_s: float = 0.5
    backoff_max_s: float = 30.0


@dataclass(slots=True)
class NodeRecord:
    status: str = "pending"
    outputs: Mapping[str, Any] | None = None
    error: Mapping[str, Any] | None = None
    attempts: int = 0
    duration_ms: float | None = None
    reason: str = ""


class _Reporter:
    """Progress and logs of one call, published on the loop whatever thread calls it."""

    __slots__ = ("_driver", "_node_id")

    def __init__(self, driver: Driver, node_id: str) -> None:
        self._driver = driver
        self._node_id = node_id

    def progress(self, percent: float, message: str = "") -> None:
        self._driver.publish_soon(
            EventKind.NODE_PROGRESS, self._node_id, {"percent": percent, "message": message}
        )

    def log(self, message: str, level: str = "info") -> None:
        self._driver.publish_soon(
            EventKind.NODE_LOG, self._node_id, {"level": level, "message": message}
        )


class Driver:
    def __init__(
        self,
        plan: ExecutionPlan,
        *,
        run_id: str,
        router: RuntimeRouter,
        bus: EventBus,
        artifact_dir: Path,
        limits: Limits,
        records: dict[str, NodeRecord],
        run_inputs: Mapping[str, Any] | None = None,
        prefix: str = "",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.plan = plan
        self.run_id = run_id
        self.router = router
        self.bus = bus
        self.artifact_dir = artifact_dir
        self.limits = limits
        self.records = records
        self.prefix = prefix
        self.clock = clock
        self.state = RunState(
            plan,
            max_running=limits.max_running,
            pool_limits=limits.pool_limits,
            gpus=limits.gpus,
            run_inputs=run_inputs,
            backoff_base_s=limits.backoff_base_s,
            backoff_max_s=limits.backoff_max_s,
        )
        self.finish: Finish | None = None
        self._ids = [prefix + s.node_id for s in plan.steps]
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._started: list[float | None] = [None] * len(plan.steps)  # perf_counter at dispatch
        self._ran_ms: dict[int, float] = {}  # durations the runtime measured (NodeResult's)
        self._templated = [
            bool(s.parameters) and templates.has_template(dict(s.parameters)) for s in plan.steps
        ]
        self._done: asyncio.Future[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = 0
        self._timers: list[asyncio.TimerHandle] = []
        self._pending: collections.deque[Stimulus | None] = collections.deque()
        self._pumping = False
        self._port_params = [  # input ports a node's parameters set
            tuple(p for p in s.definition.input_names if p in s.parameters)
            if s.definition is not None and s.parameters
            else ()
            for s in plan.steps
        ]
        self._inline = self._inline_calls(plan, router)
        self._services = router.services
        self._records = [NodeRecord() for _ in self._ids]  # by step index: no lookup per event
        for node_id, record in zip(self._ids, self._records, strict=True):
            records[node_id] = record

    @staticmethod
    def _inline_calls(plan: ExecutionPlan, router: RuntimeRouter) -> list[InlineCall | None]:
        """Per step, its runtime's synchronous path (see :meth:`RuntimeRouter.inline_for`),
        for plain calls without a deadline; None: always a task."""
        by_definition: dict[int, InlineCall | None] = {}
        calls: list[InlineCall | None] = []
        for step in plan.steps:
            definition = step.definition
            if definition is None or step.sub_plan is not None or step.timeout_s:
                calls.append(None)
                continue
            key = id(definition)  # the plan holds every definition alive
            if key not in by_definition:
                by_definition[key] = router.inline_for(definition)
            calls.append(by_definition[key])
        return calls

    # -- running -------------------------------------------------------------------------------

    async def run(self) -> RunState:
        self._loop = asyncio.get_running_loop()
        self._thread = threading.get_ident()
        self._done = self._loop.create_future()
        if self.plan.timeout_s:
            seconds = self.plan.timeout_s
            self._timers.append(
                self._loop.call_later(
                    seconds, self.cancel, f"the run passed its timeout of {seconds:g} s"
                )
            )
        self._pending.append(None)  # None: start the run
        self._pump()
        try:
            if not self.state.finished:
                await self._done
        except asyncio.CancelledError:
            self.cancel("cancelled")
            await self._drain()
            raise
        finally:
            for timer in self._timers:
                timer.cancel()
        return self.state

    def cancel(self, reason: str = "cancelled") -> None:
        if not self.state.finished:
            self._feed(CancelRun(reason))

    async def _drain(self) -> None:
        tasks = [t for t in self._tasks.values() if not t.done()]
        if tasks:
            await asyncio.wait(tasks)

    def publish_soon(self, kind: EventKind, node_id: str, payload: Mapping[str, Any]) -> None:
        if threading.get_ident() == self._thread or self._loop is None:
            self.bus.publish(self.run_id, kind, self.clock(), node_id, payload)
        else:
            self._loop.call_soon_threadsafe(
                self.bus.publish, self.run_id, kind, self.clock(), node_id, payload
            )

    # -- instructions --------------------------------------------------------------------------

    def _feed(self, stimulus: Stimulus) -> None:
        self._pending.append(stimulus)
        self._pump()

    def _pump(self) -> None:
        """Hand queued stimuli to the state machine one by one. A stimulus produced while
        applying instructions (an inline call's result) waits its turn: no recursion, so a
        chain of 10,000 inline nodes runs in one flat loop."""
        if self._pumping:
            return
        self._pumping = True
        try:
            while self._pending:
                stimulus = self._pending.popleft()
                if stimulus is None:
                    self._apply(self.state.start())
                else:
                    self._apply(self.state.handle(stimulus))
        finally:
            self._pumping = False

    def _apply(self, instructions: list[Instruction]) -> None:
        for ins in instructions:
            if isinstance(ins, Transition):
                self._transition(ins)
            elif isinstance(ins, Dispatch):
                i = ins.index
                self._started[i] = time.perf_counter()
                inline = self._inline[i]
                if inline is None or not self._run_inline(ins, inline):
                    self._tasks[i] = asyncio.ensure_future(self._invoke(ins))
            elif isinstance(ins, ScheduleRetry):
                delay = ins.delay_s * (0.5 + random.random() / 2)  # jitter: 50-100 %
                node_id = self._ids[ins.index]
                self.bus.publish(
                    self.run_id,
                    EventKind.NODE_RETRYING,
                    self.clock(),
                    node_id,
                    {"attempt": ins.attempt, "delay_s": round(delay, 3), "error": ins.error},
                )
                assert self._loop is not None
                self._timers.append(self._loop.call_later(delay, self._feed, RetryDue(ins.index)))
            elif isinstance(ins, Interrupt):
                running = self._tasks.get(ins.index)
                if running is not None and not running.done():
                    running.cancel()
            elif isinstance(ins, Finish):
                self.finish = ins
                if self._done is not None and not self._done.done():
                    self._done.set_result(None)

    def _transition(self, ins: Transition) -> None:
        i = ins.index
        record = self._records[i]
        state = ins.state
        record.status = state  # a StrEnum: already the status string
        kind = _EVENT_FOR_STATE.get(state)
        if kind is None:
            return  # RETRYING: the ScheduleRetry instruction publishes node.retrying
        payload: Mapping[str, Any]
        if state is _READY:
            payload = ins.payload  # {}, made for this move (as every Transition's payload)
        elif state is _RUNNING:
            payload = ins.payload  # {"attempt": n}
            record.attempts = payload["attempt"]
        elif state is _SUCCEEDED or state is _FAILED:
            started = self._started[i]
            if started is not None:
                self._started[i] = None
                record.duration_ms = (time.perf_counter() - started) * 1000
            if self._ran_ms and i in self._ran_ms:
                record.duration_ms = self._ran_ms.pop(i)
            if state is _SUCCEEDED:
                record.outputs = self.state.outputs[i]
                payload = {
                    "outputs": record.outputs,
                    "attempt": record.attempts,
                    "duration_ms": record.duration_ms,
                    "cached": ins.payload.get("cached"),
                }
            else:
                record.error = self.state.errors[i]
                payload = {
                    "error": record.error,
                    "attempt": record.attempts,
                    "duration_ms": record.duration_ms,
                    "handled": ins.payload.get("handled", False),
                }
        else:
            record.reason = ins.reason
            payload = {"reason": ins.reason}
        self.bus.publish(self.run_id, kind, self.clock(), self._ids[i], payload)

    # -- one node call -------------------------------------------------------------------------

    def _run_inline(self, ins: Dispatch, inline: InlineCall) -> bool:
        """Try the call synchronously (the runtime decides); True when it completed."""
        step = self.plan.steps[ins.index]
        stimulus: Stimulus
        try:
            parameters = (
                self._parameters(step, ins.inputs)
                if self._templated[step.index]
                else step.parameters
            )
            call = self._make_call(step, ins, parameters)
            result = inline(call, _Reporter(self, call.node_id))
            if result is None:
                return False
            if result.duration_ms is not None:
                self._ran_ms[ins.index] = result.duration_ms
            stimulus = Succeeded(ins.index, result.outputs)
        except NodeError as exc:
            stimulus = Failed(ins.index, _error_dict(exc, self._ids[ins.index]), exc.retryable)
        except Exception as exc:  # the error boundary around user code
            stimulus = Failed(ins.index, _exception_dict(exc))
        self._pending.append(stimulus)
        return True

    async def _invoke(self, ins: Dispatch) -> None:
        i = ins.index
        step = self.plan.steps[i]
        stimulus: Stimulus
        try:
            parameters = self._parameters(step, ins.inputs)
            if step.timeout_s:
                async with asyncio.timeout(step.timeout_s):
                    result = await self._call(step, ins, parameters)
            else:
                result = await self._call(step, ins, parameters)
            if result.duration_ms is not None:
                self._ran_ms[i] = result.duration_ms
            stimulus = Succeeded(i, result.outputs)
        except asyncio.CancelledError:
            stimulus = Stopped(i)
        except TimeoutError:
            err = NodeTimeoutError(
                f"did not finish within its timeout of {step.timeout_s:g} s",
                node_id=self._ids[i],
                hint="raise the node's 'timeout' parameter (milliseconds) or speed it up",
            )
            stimulus = Failed(i, err.to_dict(), err.retryable)
        except NodeError as exc:
            stimulus = Failed(i, _error_dict(exc, self._ids[i]), exc.retryable)
        except Exception as exc:  # the error boundary around user code: keep the traceback
            stimulus = Failed(i, _exception_dict(exc))
        self._tasks.pop(i, None)
        self._feed(stimulus)

    def _parameters(self, step: Step, inputs: Mapping[str, Any]) -> Mapping[str, Any]:
        if not self._templated[step.index]:
            return step.parameters
        scope = templates.Scope(
            now=dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z"),
            run_id=self.run_id,
            inputs=inputs,
            variables=self.plan.variables,
            nodes={
                self.plan.steps[r].node_id: self.state.outputs[r] or {} for r in step.template_refs
            },
        )
        definition = step.definition
        rendered: dict[str, Any] = {}
        for name, value in step.parameters.items():
            spec = definition.parameter(name) if definition is not None else None
            keep = spec is not None and not spec.render_templates
            rendered[name] = value if keep else templates.render(value, scope)
        return rendered

    async def _call(self, step: Step, ins: Dispatch, parameters: Mapping[str, Any]) -> NodeResult:
        if step.definition is None:  # a plain group: the engine runs its children itself
            value = await self._sub_run(step, {**parameters, **ins.inputs}, "")
            return NodeResult({GROUP_OUTPUT: value})
        call = self._make_call(step, ins, parameters)
        return await self.router.invoke(call, _Reporter(self, call.node_id))

    def _make_call(self, step: Step, ins: Dispatch, parameters: Mapping[str, Any]) -> NodeCall:
        definition = step.definition
        assert definition is not None
        inputs = ins.inputs
        if parameters and self._port_params[step.index]:
            # An input port set under 'parameters' (no edge feeds it) is that input's value, for
            # every runtime; an edge still wins.
            inputs = {
                **{p: parameters[p] for p in self._port_params[step.index] if p in parameters},
                **inputs,
            }
        return NodeCall(
            run_id=self.run_id,
            node_id=self._ids[step.index],
            definition=definition,
            inputs=inputs,
            parameters=parameters,
            attempt=ins.attempt,
            artifact_dir=self.artifact_dir,
            timeout_s=step.timeout_s,
            variables=self.plan.variables,
            services=self._services,
            body=functools.partial(self._sub_run, step) if step.sub_plan is not None else None,
        )

    async def _sub_run(self, step: Step, inputs: Mapping[str, Any], label: str) -> Any:
        """Run ``step``'s sub-plan once; its node ids are prefixed ``step[/label]/``."""
        assert step.sub_plan is not None
        where = f"{step.node_id}/{label}" if label else step.node_id
        sub = Driver(
            step.sub_plan,
            run_id=self.run_id,
            router=self.router,
            bus=self.bus,
            artifact_dir=self.artifact_dir,
            limits=self.limits,
            records=self.records,
            run_inputs=inputs,
            prefix=f"{self.prefix}{where}/",
            clock=self.clock,
        )
        state = await sub.run()
        status = state.status().value
        if status == "cancelled":
            raise NodeCancelledError(
                f"the sub-run of '{where}' was cancelled", node_id=self._ids[step.index]
            )
        if status == "failed":
            error = dict(sub.finish.error or {}) if sub.finish else {}
            inner = error.get("node_id", "?")
            raise NodeError(
                f"node '{where}/{inner}' failed: {error.get('message', 'unknown error')}",
                error_type=str(error.get("type", "NodeError")),
                details={"inner": error},
            )
        return group_value(state.sink_outputs())


def group_value(sinks: Mapping[str, Mapping[str, Any]]) -> Any:
    """A group's output: its one sink's one port value, else every sink's outputs by node id."""
    if len(sinks) == 1:
        (only,) = sinks.values()
        if len(only) == 1:
            return next(iter(only.values()))
    return dict(sinks)


def _exception_dict(exc: Exception) -> dict[str, Any]:
    return {
        "type": type(exc).__name__,
        "message": str(exc) or type(exc).__name__,
        "stack": "".join(traceback.format_exception(exc)),
    }


def _error_dict(exc: NodeError, node_id: str) -> dict[str, Any]:
    data = exc.to_dict()
    data.setdefault("node_id", node_id)
    if "stack" not in data and exc.__traceback__ is not None and exc.__cause__ is not None:
        data["stack"] = "".join(traceback.format_exception(exc.__cause__))
    return data
