"""Native (Rust) nodes for atomiton; see docs/runtimes-rust.md.

Every node function takes ``(inputs, parameters[, context])``: a name is looked up in ``inputs``
first, then in ``parameters``; it returns a dict of output port to value.
"""

from collections.abc import Callable
from typing import Any

__version__: str
HASH_ALGORITHMS: list[str]

class CallContext:
    """A cancel flag polled by native code without the GIL, and a progress callback."""

    def __init__(self, progress: Callable[[float, str], object] | None = None) -> None: ...
    def cancel(self) -> None: ...
    @property
    def cancelled(self) -> bool: ...

def add(
    inputs: dict[str, Any], parameters: dict[str, Any], context: CallContext | None = None
) -> dict[str, Any]: ...
def hash_file(
    inputs: dict[str, Any], parameters: dict[str, Any], context: CallContext | None = None
) -> dict[str, Any]: ...
def process_large_csv(
    inputs: dict[str, Any], parameters: dict[str, Any], context: CallContext | None = None
) -> dict[str, Any]: ...
