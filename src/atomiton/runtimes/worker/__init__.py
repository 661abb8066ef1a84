"""Out-of-process workers: framing, one connection, a supervised pool, values by reference.

Every out-of-process runtime (Node.js, Go, isolated Python) speaks the worker protocol of
docs/worker-protocol.md (JSON-RPC 2.0 with LSP ``Content-Length`` framing on stdin/stdout) and
is run by a :class:`~atomiton.runtimes.worker.supervisor.WorkerPool`. Layers, bottom up:
:mod:`.framing` (bytes <-> messages, no I/O), :mod:`.rpc` (one process), :mod:`.supervisor`
(pool policy), :mod:`.calls` (NodeCall <-> ``execute``), :mod:`.refs` (large values).

This package's ``__init__`` imports only the light modules, because the isolated Python worker
imports them at start-up; import ``supervisor`` and ``calls`` by their full names.
"""

from atomiton.runtimes.worker.framing import FrameDecoder, encode_body, encode_frame, read_frame
from atomiton.runtimes.worker.outputs import outputs_from_return
from atomiton.runtimes.worker.refs import (
    encode_value,
    resolve_value,
    write_arrow_ref,
    write_bytes_ref,
)
from atomiton.runtimes.worker.rpc import PROTOCOL_VERSION

__all__ = [
    "PROTOCOL_VERSION",
    "FrameDecoder",
    "encode_body",
    "encode_frame",
    "encode_value",
    "outputs_from_return",
    "read_frame",
    "resolve_value",
    "write_arrow_ref",
    "write_bytes_ref",
]
