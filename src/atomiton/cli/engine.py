"""The engine a command runs on: local (default) or Ray, chosen by --engine."""

from __future__ import annotations

from atomiton.engines import LocalEngine
from atomiton.errors import AtomitonError
from atomiton.nodes import NodeRegistry
from atomiton.runtimes import RuntimeRouter

ENGINES = ("local", "ray")


def make_engine(
    kind: str,
    *,
    nodes: list[str],
    db: str | None,
    concurrency: int | None,
    ray_address: str | None = None,
) -> LocalEngine:
    """A LocalEngine, or a RayEngine (the same scheduler, nodes as Ray tasks)."""
    registry = NodeRegistry.default(nodes)
    if kind == "local":
        return LocalEngine(
            registry=registry,
            router=RuntimeRouter.default(),
            store=db or "default",
            concurrency=concurrency,
        )
    if kind != "ray":
        raise AtomitonError(f"--engine {kind!r} is not an engine", hint="use 'local' or 'ray'")
    try:
        from atomiton.engines.ray import create_engine
    except ImportError:
        raise AtomitonError(
            "--engine ray needs Ray, which is not installed",
            hint="pip install 'atomiton[ray]'",
        ) from None
    return create_engine(
        ray_address, registry=registry, store=db or "default", concurrency=concurrency
    )
