"""The built-in node library: Atomiton's node types plus data and ML nodes.

Each public module here holds ``@node`` functions, and ``manifests/`` holds ``node.yaml``
manifests of the built-in nodes written in other languages (the Rust native nodes); this
package collects both (the ``atomiton.nodes`` entry point ``builtin`` names it). Modules import
heavy dependencies (polars, Pillow, onnxruntime) inside the node functions, so building a
registry stays fast.
"""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path
from typing import Any

from atomiton.nodes.decorator import definition_of
from atomiton.nodes.manifest import load_manifest


def _collect() -> list[Any]:
    found: list[Any] = []
    for manifest in sorted((Path(__file__).parent / "manifests").glob("*.yaml")):
        found += load_manifest(manifest)
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        found += [v for v in vars(module).values() if definition_of(v) is not None]
    return found


NODES = _collect()
