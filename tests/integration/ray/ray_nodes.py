"""Nodes the Ray tests need beyond tests/integration/engine/nodes.py: big values, a crash."""

from __future__ import annotations

import os

from atomiton import NodeContext, node


@node
def blob(*, size: int = 1024) -> bytes:
    """``size`` bytes: more than the inline limit stays in Ray's object store."""
    return bytes(range(256)) * (size // 256) + bytes(size % 256)


@node
def measure(data: bytes) -> int:
    return len(data)


@node
def crash(x: object = None) -> object:
    """Kills the process it runs in, as a segfault or the OOM killer would."""
    os._exit(3)


@node
def where(x: object = None) -> int:
    """The pid of the process that ran the node."""
    return os.getpid()


@node(parallelizable=True)
def ray_node(x: object = None, *, seconds: float = 0.5) -> str:
    """Holds a whole CPU for ``seconds`` and returns the id of the Ray node it ran on."""
    import time

    import ray

    time.sleep(seconds)
    return str(ray.get_runtime_context().get_node_id())


@node
def wait_for(x: object = None, *, path: str, seconds: float = 10.0, ctx: NodeContext) -> bool:
    """Reports progress, then waits until ``path`` exists (a test creates it when it sees the
    report): True when it did, False when ``seconds`` passed first."""
    import time

    ctx.progress(50, "waiting for the file")
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if os.path.exists(path):
            ctx.log("the file is there")
            return True
        time.sleep(0.02)
    return False
