"""``parallel``: run the node's body (its children) for every operation, concurrently.

Atomiton's parallel node sleeps a random 0-100 ms per operation and returns a placeholder
(``SPEC.md`` 2.9); here each operation runs the body through ``ctx.run_body`` (fed
``{"input": op, "item": op, "index": i}``), at most ``concurrency`` at once, each within
``operationTimeout`` and all within ``globalTimeout``. Strategies:

- ``allSettled`` (default): every operation runs; failures become ``{"error": message}``
  entries (``failFast`` stops the rest at the first failure);
- ``all``: the first failure cancels the rest and fails the node;
- ``race``: the first success wins, the rest are cancelled; the node fails only if all fail.

Operations are the ``operations`` input, else the ``input`` value (a list is one operation per
item; any other value is one operation). Without a body, each operation's value is passed
through unchanged.
"""

from __future__ import annotations

import asyncio
import time
from typing import Annotated, Any, Literal, TypedDict

from pydantic import Field

from atomiton.library._compat import node_failure, unwrap
from atomiton.library.loop import Outcome, has_body, run_each
from atomiton.nodes import NodeContext, node

_TYPE = "parallel"


class ParallelOutput(TypedDict):
    results: list[Any]
    completed: int
    failed: int
    duration: float
    success: bool


@node(id="parallel", name="Parallel", category="logic", icon="git-branch")
async def parallel(
    input: Any = None,
    operations: Any = None,
    *,
    concurrency: Annotated[int, Field(ge=1, le=50)] = 5,
    strategy: Literal["all", "race", "allSettled"] = "allSettled",
    operationTimeout: Annotated[int, Field(ge=1000, le=300000)] = 30000,
    globalTimeout: Annotated[int, Field(ge=5000, le=600000)] = 120000,
    failFast: bool = False,
    maintainOrder: bool = True,
    preserveOrder: bool | None = None,
    maxIterations: Annotated[int, Field(ge=1)] = 1000,
    ctx: NodeContext,
) -> ParallelOutput:
    """Run the body for every operation at once (bounded), with all / race / allSettled."""
    started = time.perf_counter()
    ops = _operations(operations, input)
    if len(ops) > maxIterations:
        ctx.log(f"parallel: {len(ops)} operations, only the first {maxIterations} run", "warning")
        ops = ops[:maxIterations]
    body = has_body(ctx)
    finished: list[int] = []

    async def one(i: int, op: Any) -> Any:
        if not body:
            value = op
        else:
            try:
                async with asyncio.timeout(operationTimeout / 1000):
                    value = await ctx.run_body({"input": op, "item": op, "index": i}, str(i))
            except TimeoutError:
                raise node_failure(
                    _TYPE,
                    f"operation {i} did not finish within operationTimeout ({operationTimeout} ms)",
                    hint="raise operationTimeout or speed up the body",
                ) from None
        finished.append(i)
        return value

    def stop_after(outcome: Outcome) -> bool:
        if strategy == "race":
            return outcome.error is None
        return outcome.error is not None and (strategy == "all" or failFast)

    try:
        async with asyncio.timeout(globalTimeout / 1000):
            outcomes = await run_each(
                ops, one, concurrency=concurrency, stop_after=stop_after, ctx=ctx
            )
    except TimeoutError:
        raise node_failure(
            _TYPE,
            f"the operations did not finish within globalTimeout ({globalTimeout} ms)",
            hint="raise globalTimeout, raise concurrency, or give fewer operations",
        ) from None
    failures = [o for o in outcomes if o.error is not None]
    if strategy == "all" and failures:
        raise node_failure(
            _TYPE,
            f"One or more operations failed: operation {failures[0].index}: "
            f"{failures[0].error['message'] if failures[0].error else ''}",
            hint="use strategy allSettled to collect failures instead",
        )
    if strategy == "race":
        winners = [o for o in outcomes if o.error is None]
        if not winners and ops:
            raise node_failure(
                _TYPE,
                f"race: all {len(ops)} operations failed; the first: "
                f"{failures[0].error['message'] if failures and failures[0].error else ''}",
            )
        outcomes = winners[:1] + failures
    in_order = maintainOrder if preserveOrder is None else preserveOrder
    if not in_order:
        rank = {index: n for n, index in enumerate(finished)}
        outcomes.sort(key=lambda o: rank.get(o.index, len(rank)))
    results = [
        o.value if o.error is None else {"error": o.error["message"], "index": o.index}
        for o in outcomes
        if strategy != "race" or o.error is None
    ]
    completed = sum(1 for o in outcomes if o.error is None)
    failed = len(failures)
    return {
        "results": results,
        "completed": completed,
        "failed": failed,
        "duration": round((time.perf_counter() - started) * 1000, 3),
        "success": completed > 0 if strategy == "race" else failed == 0,
    }


def _operations(operations: Any, incoming: Any) -> list[Any]:
    value = unwrap(operations if operations is not None else incoming)
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return list(value)
    return [value]
