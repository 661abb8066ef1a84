"""``loop``: run the node's body (its children) once per item, ``times`` times, or ``while``.

Atomiton's loop only counts (``SPEC.md`` 2.8); here the iterations run the body through
``ctx.run_body``, each fed ``{"input": item, "item": item, "index": i}`` by port name, at most
``concurrency`` at once (an ``asyncio.Semaphore``), results in item order. A loop with no body
iterates as Atomiton's does and returns its per-item records. The ``while`` condition is
JavaScript evaluated before each iteration with ``iteration`` (the index about to run) and
``lastResult``: ``iteration < 5`` runs five times (Atomiton runs six).

A failing iteration stops the loop and fails the node, unless ``continueOnError`` (or
``breakOnError: false``) is set: then errors are collected and ``success`` is false.
:func:`run_each` is the iteration engine ``parallel`` shares.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal, TypedDict

from pydantic import Field

from atomiton.errors import NodeError, RuntimeUnavailableError
from atomiton.library._compat import iso_now, node_failure, unwrap
from atomiton.nodes import NodeContext, node

_TYPE = "loop"


@dataclass(slots=True)
class Outcome:
    """One iteration: its value, or its error (``type``, ``message``)."""

    index: int
    value: Any = None
    error: dict[str, Any] | None = None


Body = Callable[[int, Any], Awaitable[Any]]


async def run_each(
    items: Sequence[Any],
    body: Body,
    *,
    concurrency: int,
    stop_after: Callable[[Outcome], bool],
    ctx: NodeContext,
) -> list[Outcome]:
    """Run ``body(i, item)`` for every item, at most ``concurrency`` at once.

    When ``stop_after(outcome)`` is true, iterations not yet started never start and running
    ones are cancelled (they get no outcome). Outcomes come back in index order.
    """
    gate = asyncio.Semaphore(max(1, concurrency))
    outcomes: dict[int, Outcome] = {}
    tasks: dict[int, asyncio.Task[None]] = {}
    stopped = False

    async def one(i: int, item: Any) -> None:
        nonlocal stopped
        async with gate:
            if stopped or ctx.cancelled:
                return
            try:
                outcome = Outcome(i, value=await body(i, item))
            except RuntimeUnavailableError:
                raise
            except NodeError as exc:
                outcome = Outcome(i, error={"type": exc.error_type, "message": str(exc)})
            except Exception as exc:  # a node error boundary: the body's failure is data here
                outcome = Outcome(i, error={"type": type(exc).__name__, "message": str(exc)})
            outcomes[i] = outcome
            ctx.progress(100 * len(outcomes) / max(1, len(items)), f"{len(outcomes)} done")
            if not stopped and stop_after(outcome):
                stopped = True
                for j, task in tasks.items():
                    if j != i:
                        task.cancel()

    async with asyncio.TaskGroup() as group:
        for i, item in enumerate(items):
            tasks[i] = group.create_task(one(i, item))
    return [outcomes[i] for i in sorted(outcomes)]


def has_body(ctx: NodeContext) -> bool:
    """Whether the engine gave this node children to run (a context without the capability,
    such as a test double, has none)."""
    return getattr(ctx, "has_body", False) is True


def error_list(outcomes: Sequence[Outcome]) -> list[dict[str, Any]]:
    return [{"index": o.index, **o.error} for o in outcomes if o.error is not None]


class LoopOutput(TypedDict):
    result: dict[str, Any]
    results: list[Any]
    iterationCount: int
    errors: list[dict[str, Any]]
    success: bool
    duration: float


@node(id="loop", name="Loop", category="logic", icon="repeat", raw=("condition",))
async def loop(
    input: Any = None,
    array: Any = None,
    items: Any = None,
    *,
    loopType: Literal["forEach", "times", "while"] = "forEach",
    count: Annotated[int, Field(ge=1, le=10000)] = 10,
    condition: str | None = None,
    collectResults: bool = True,
    concurrency: Annotated[int, Field(ge=1, le=50)] = 1,
    continueOnError: bool = False,
    breakOnError: bool | None = None,
    maxIterations: Annotated[int, Field(ge=1)] = 1000,
    iterateOver: str | None = None,
    ctx: NodeContext,
) -> LoopOutput:
    """Run the body once per item (forEach), count times (times) or while a condition holds."""
    started = time.perf_counter()
    keep_going = continueOnError or breakOnError is False
    body = has_body(ctx)
    if loopType == "while":
        outcomes, complete = await _while(condition, maxIterations, body, keep_going, ctx)
    else:
        if loopType == "times":
            values: list[Any] = list(range(count))
        else:
            values = _items(array, items, input, iterateOver)
        complete = len(values) <= maxIterations
        if not complete:
            ctx.log(f"loop: {len(values)} items, only the first {maxIterations} run", "warning")
            values = values[:maxIterations]
        step = _body_step if body else (_times_record if loopType == "times" else _each_record)
        outcomes = await run_each(
            values,
            lambda i, item: step(ctx, i, item),
            concurrency=concurrency,
            stop_after=lambda o: o.error is not None and not keep_going,
            ctx=ctx,
        )
        complete = complete and len(outcomes) == len(values)
    return _output(outcomes, keep_going, collectResults, complete, started)


def _items(array: Any, items: Any, incoming: Any, key: str | None) -> list[Any]:
    raw = next((v for v in (array, items, incoming) if v is not None), None)
    if key and isinstance(raw, dict) and key in raw:
        raw = raw[key]
    value = unwrap(raw)
    if key and isinstance(value, dict) and key in value:
        value = value[key]
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return list(value)
    raise node_failure(
        _TYPE,
        f"forEach needs a list to iterate over, got {type(value).__name__}",
        hint="connect a list to 'input' or 'array'"
        + (f", or set iterateOver to the field that holds it (not '{key}')" if key else ""),
    )


async def _body_step(ctx: NodeContext, i: int, item: Any) -> Any:
    return await ctx.run_body({"input": item, "item": item, "index": i}, str(i))


async def _each_record(ctx: NodeContext, i: int, item: Any) -> Any:
    return {"index": i, "item": item, "processed": True, "timestamp": iso_now()}


async def _times_record(ctx: NodeContext, i: int, item: Any) -> Any:
    return {"iteration": i, "timestamp": iso_now()}


async def _while(
    condition: str | None, limit: int, body: bool, keep_going: bool, ctx: NodeContext
) -> tuple[list[Outcome], bool]:
    outcomes: list[Outcome] = []
    last: Any = None
    for i in range(limit):
        if ctx.cancelled or not await _holds(condition or "false", i, last, ctx):
            return outcomes, True
        try:
            if body:
                value = await ctx.run_body(
                    {"input": last, "item": i, "index": i, "lastResult": last}, str(i)
                )
            else:
                value = {"iteration": i, "timestamp": iso_now(), "condition": True}
            outcomes.append(Outcome(i, value=value))
            last = value
        except NodeError as exc:
            outcomes.append(Outcome(i, error={"type": exc.error_type, "message": str(exc)}))
            if not keep_going:
                return outcomes, False
    ctx.log(f"loop: the while condition still held after maxIterations={limit}", "warning")
    return outcomes, False


async def _holds(condition: str, iteration: int, last: Any, ctx: NodeContext) -> bool:
    try:
        value = await ctx.evaluate_js(
            condition, mode="expression", bindings={"iteration": iteration, "lastResult": last}
        )
    except RuntimeUnavailableError:
        raise
    except NodeError as exc:
        raise node_failure(
            _TYPE,
            f"Invalid condition {condition!r} at iteration {iteration}: {exc.error_type}: {exc}",
            hint="write a JavaScript expression over iteration and lastResult, e.g. iteration < 5",
        ) from exc
    return bool(value)  # JSON of a JavaScript truthy value; NaN arrives as null


def _output(
    outcomes: list[Outcome], keep_going: bool, collect: bool, complete: bool, started: float
) -> LoopOutput:
    errors = error_list(outcomes)
    if errors and not keep_going:
        first = errors[0]
        raise node_failure(
            _TYPE,
            f"iteration {first['index']} failed: {first['message']}",
            hint="fix the body, or set continueOnError: true to collect errors and go on",
        )
    results = [o.value for o in outcomes if o.error is None] if collect else []
    duration = round((time.perf_counter() - started) * 1000, 3)
    success = not errors
    summary = {
        "results": results,
        "iterationCount": len(outcomes),
        "errors": errors,
        "success": success,
        "duration": duration,
        "completed": complete,
        "stopped": not complete,
    }
    return {
        "result": summary,
        "results": results,
        "iterationCount": len(outcomes),
        "errors": errors,
        "success": success,
        "duration": duration,
    }
