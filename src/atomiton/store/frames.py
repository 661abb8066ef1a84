"""The wire between the engine and its history writer process: pickled frames on a pipe.

A frame is a 4-byte big-endian length and a pickle (protocol 5) of one message tuple:

    engine -> writer   ("config", {...})              first frame: where and how to write
                       ("events", [row, ...])         rows are (run_id, seq, kind, time,
                                                      node_id, payload), kind as its string
                       ("flush", token)               acknowledge once all before is committed
                       ("abort",)                     stop retrying a failing write
                       (end of file)                  write what is left, then exit
    writer -> engine   ("ready",)                     it has taken over
                       ("ack", token, done)           done: queue items handled so far
                       ("status", done, failure, [(row, reason), ...])

Payload values of the built-in JSON-like types (and bytes) travel as they are and are encoded
in the writer process. Any other value is turned into its ``to_jsonable`` form here, on the
engine's side, while pickling (``reducer_override`` is only consulted for such values, so
plain payloads cost nothing extra): a class the writer process cannot import (one defined in
``__main__`` or loaded from a file) or an unpicklable object then never breaks a run, and the
JSON stored is exactly what the writer would have produced from the value itself.
"""

from __future__ import annotations

import io
import pickle
import struct
from collections.abc import Iterable
from typing import IO, Any

from atomiton.events import Event, EventKind, to_jsonable

Row = tuple[str, int, str, float, "str | None", Any]

_HEADER = struct.Struct(">I")
_PROTOCOL = 5


class _JsonablePickler(pickle.Pickler):
    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, type):  # classes pickle by reference; an event holds none
            return NotImplemented
        value = to_jsonable(obj)
        if value is obj:  # a subclass of int, float or str, which to_jsonable keeps
            value = _plain(obj)
        return type(value), (value,)


def _plain(value: Any) -> Any:
    if isinstance(value, int):
        return int.__int__(value)
    if isinstance(value, float):
        return float.__float__(value)
    if isinstance(value, str):
        return str.__str__(value)
    return to_jsonable(repr(value))


def dumps(message: tuple[Any, ...]) -> bytes:
    buffer = io.BytesIO()
    _JsonablePickler(buffer, protocol=_PROTOCOL).dump(message)
    return buffer.getvalue()


def event_rows(events: Iterable[Event]) -> list[Row]:
    return [(e.run_id, e.seq, e.kind.value, e.time, e.node_id, e.payload) for e in events]


def to_event(row: Row) -> Event:
    run_id, seq, kind, time, node_id, payload = row
    return Event(run_id, seq, EventKind(kind), time, node_id, payload)


def write_frame(stream: IO[bytes], data: bytes) -> None:
    stream.write(_HEADER.pack(len(data)))
    stream.write(data)
    stream.flush()


def read_frame(stream: IO[bytes]) -> tuple[Any, ...] | None:
    """The next message, or ``None`` at end of file (the other side closed or died)."""
    header = stream.read(_HEADER.size)
    if len(header) < _HEADER.size:
        return None
    (size,) = _HEADER.unpack(header)
    data = stream.read(size)
    if len(data) < size:
        return None
    message = pickle.loads(data)
    assert isinstance(message, tuple)
    return message
