"""Engines: the same Blueprint runs locally (LocalEngine), on Ray, or on a server."""

from atomiton.engines.base import BlueprintSource, ExecutionEngine
from atomiton.engines.local import LocalEngine, default_concurrency, new_run_id
from atomiton.engines.result import NodeRun, RunResult

__all__ = [
    "BlueprintSource",
    "ExecutionEngine",
    "LocalEngine",
    "NodeRun",
    "RunResult",
    "default_concurrency",
    "new_run_id",
]
