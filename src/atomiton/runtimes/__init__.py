"""Runtimes: where node code runs, chosen by the RuntimeRouter from ``runtime.language``.

The Python runtime and the router load on first use (see :mod:`atomiton._lazy`).
"""

from typing import TYPE_CHECKING

from atomiton._lazy import attach
from atomiton.runtimes.base import NodeCall, NodeResult, NullReporter, Runtime

if TYPE_CHECKING:
    from atomiton.runtimes.python import PythonRuntime
    from atomiton.runtimes.router import RuntimeRouter

if not TYPE_CHECKING:  # type checkers see the imports above, not a catch-all __getattr__
    __getattr__, __dir__ = attach(
        __name__,
        {"PythonRuntime": "atomiton.runtimes.python", "RuntimeRouter": "atomiton.runtimes.router"},
    )

__all__ = ["NodeCall", "NodeResult", "NullReporter", "PythonRuntime", "Runtime", "RuntimeRouter"]
