"""Public names that load on first use (PEP 562).

A package's ``__init__`` that imports everything it re-exports makes every process that needs one
corner of it pay for all of it. The isolated Python worker (``atomiton.runtimes._python_worker``)
is started for every warm worker and again after every crash or timeout, and needs the protocol
and the node context only; with eager ``__init__`` files it imported the engine, the history
store, SQLAlchemy and pydantic first (~440 ms of its start-up). Packages whose re-exports are
heavy list them here instead; type checkers and import-linter still see them through
``if TYPE_CHECKING`` imports beside the table.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any


def attach(
    package: str, names: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package``, loading ``names[name]`` on first use."""

    def __getattr__(name: str) -> Any:
        module = names.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        setattr(sys.modules[package], name, value)  # later lookups skip this function
        return value

    def __dir__() -> list[str]:
        return sorted({*vars(sys.modules[package]), *names})

    return __getattr__, __dir__
