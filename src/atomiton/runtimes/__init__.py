"""Runtimes: where node code runs, chosen by the RuntimeRouter from ``runtime.language``."""

from atomiton.runtimes.base import NodeCall, NodeResult, NullReporter, Runtime
from atomiton.runtimes.python import PythonRuntime
from atomiton.runtimes.router import RuntimeRouter

__all__ = ["NodeCall", "NodeResult", "NullReporter", "PythonRuntime", "Runtime", "RuntimeRouter"]
