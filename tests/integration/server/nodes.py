"""Small nodes the server tests build Blueprints from."""

from __future__ import annotations

import asyncio

from atomiton import NodeContext, node
from atomiton.runtimes.worker import busypoll


@node
def const(*, value: object = None) -> object:
    return value


@node
def add(a: float, b: float = 0) -> float:
    return a + b


@node
async def sleep(input: object = None, *, seconds: float = 0.2, ctx: NodeContext) -> object:
    """Sleep on the loop, reporting progress half way."""
    ctx.progress(10, "sleeping")
    await asyncio.sleep(seconds / 2)
    ctx.progress(50, "half way")
    await asyncio.sleep(seconds / 2)
    ctx.log(f"slept {seconds}s")
    return input


@node
async def busy_polling() -> bool:
    """Whether the loop running this node busy-polls for worker answers (see busypoll)."""
    return busypoll.selector_of(asyncio.get_running_loop()) is not None


@node
def fail(input: object = None, *, message: str = "boom") -> object:
    raise ValueError(message)
