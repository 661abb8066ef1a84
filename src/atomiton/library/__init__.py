"""The built-in node library: Atomiton's node types plus data and ML nodes.

Each public module here holds ``@node`` functions; this package collects them (the
``atomiton.nodes`` entry point ``builtin`` names it). Modules import heavy dependencies (polars,
Pillow, onnxruntime) inside the node functions, so building a registry stays fast.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

from atomiton.nodes.decorator import definition_of


def _collect() -> list[Any]:
    found: list[Any] = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        found += [v for v in vars(module).values() if definition_of(v) is not None]
    return found


NODES = _collect()
