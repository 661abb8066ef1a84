"""The engine a command runs on: local (default) or Ray, chosen by --engine.

``--artifacts`` names where large values go. On Ray it is an fsspec URL or folder that every
machine of the cluster can reach (``s3://bucket/prefix``); without it, ``$ATOMITON_ARTIFACTS``,
else Ray's object store. The local engine keeps values in memory and only needs a folder for
the files nodes write (``ctx.artifact_dir``), so it takes a local folder and refuses a URL.
"""

from __future__ import annotations

import os

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
    artifacts: str | None = None,
) -> LocalEngine:
    """A LocalEngine, or a RayEngine (the same scheduler, nodes as Ray tasks)."""
    registry = NodeRegistry.default(nodes)
    if kind == "local":
        return LocalEngine(
            registry=registry,
            router=RuntimeRouter.default(),
            store=db or "default",
            concurrency=concurrency,
            artifact_root=local_folder(artifacts) if artifacts else None,
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
        ray_address,
        registry=registry,
        store=db or "default",
        concurrency=concurrency,
        artifacts=artifacts or os.environ.get("ATOMITON_ARTIFACTS") or None,
    )


def local_folder(location: str) -> str:
    """``location`` as a local folder (a plain path or a ``file://`` URL), or why not."""
    if location.startswith("file://"):
        return location.removeprefix("file://")
    if "://" in location:
        raise AtomitonError(
            f"--artifacts {location}: the local engine keeps values in memory and writes node "
            "files to a local folder, so it takes a folder, not a URL",
            hint="use --engine ray to put large values on shared storage, or pass a folder",
        )
    return location
