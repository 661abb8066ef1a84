"""Small nodes the engine integration tests build Blueprints from."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import TypedDict

from atomiton import NodeContext, node
from atomiton.runtimes.worker import busypoll


@node
def add(a: float, b: float = 0) -> float:
    return a + b


@node
def const(*, value: object = None) -> object:
    return value


@node
async def sleep(x: object = None, *, seconds: float = 1.0, ctx: NodeContext) -> object:
    """Sleep on the loop, reporting progress."""
    ctx.progress(10, "sleeping")
    await asyncio.sleep(seconds)
    ctx.log(f"slept {seconds}s")
    return x


@node
async def busy_polling() -> bool:
    """Whether the loop running this node busy-polls for worker answers (see busypoll)."""
    return busypoll.selector_of(asyncio.get_running_loop()) is not None


@node
def block(x: object = None, *, seconds: float = 1.0) -> object:
    """Sleep in a worker thread (a sync node)."""
    time.sleep(seconds)
    return x


@node
def fail(x: object = None, *, message: str = "boom") -> object:
    raise ValueError(message)


@node
def flaky(x: object = None, *, counter: str, succeed_on: int = 2) -> int:
    """Fails until its attempt number (counted in a file) reaches ``succeed_on``."""
    path = Path(counter)
    n = int(path.read_text()) + 1 if path.exists() else 1
    path.write_text(str(n))
    if n < succeed_on:
        raise ConnectionError(f"attempt {n} failed")
    return n


class Parity(TypedDict, total=False):
    even: int
    odd: int


@node
def parity(n: int) -> Parity:
    """A branch node: produces only the port that matches."""
    return {"even": n} if n % 2 == 0 else {"odd": n}


@node
def collect(a: object = None, b: object = None) -> dict[str, object]:
    return {"a": a, "b": b}


@node(parallelizable=True)
def pid(x: object = None) -> int:
    """Runs in the process pool; returns the worker's pid."""
    return os.getpid()


@node
def write_marker(x: object = None, *, path: str) -> str:
    Path(path).write_text("done")
    return path


@node
async def each(items: list[object], *, ctx: NodeContext) -> list[object]:
    """A container: runs its children once per item (their input port 'a')."""
    return [await ctx.run_body({"a": item}, str(i)) for i, item in enumerate(items)]


@node
async def js_map(items: list[object], *, function: str, ctx: NodeContext) -> list[object]:
    """Maps items through a JavaScript function in the engine's warm Node.js workers."""
    return list(await ctx.evaluate_js(f"(items) => items.map({function})", args=[items]))
