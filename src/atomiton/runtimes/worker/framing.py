"""LSP-style framing of the worker protocol: ``Content-Length: N\\r\\n\\r\\n`` then N bytes of JSON.

Sans-I/O on purpose: :class:`FrameDecoder` is fed whatever bytes arrived (half a header, three
frames at once) and returns the complete messages; :func:`read_frame` is the thin asyncio reader
the supervisor uses. The canonical body is compact UTF-8 JSON in insertion order (see
docs/worker-protocol.md), which the golden frames in ``schemas/golden/worker/`` pin byte for byte.
"""

from __future__ import annotations

import _json  # the C accelerators behind json, called directly on the hot path
import asyncio
import functools
import json
from collections.abc import Callable, Mapping
from typing import Any

from atomiton.errors import ProtocolError

HEADER_END = b"\r\n\r\n"
MAX_HEADER_BYTES = 1024
"""A header block longer than this is garbage on the pipe, not a frame."""

_CANONICAL_HEADER = b"Content-Length: "


def _not_json(value: Any) -> Any:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


# The C encoder, built once (JSONEncoder.encode builds one per call): compact, UTF-8, no NaN.
# No circular-reference markers: a cyclic value fails with RecursionError.
_encode = _json.make_encoder(
    None, _not_json, _json.encode_basestring, None, ":", ",", False, False, False
)
_scan: Callable[[str, int], tuple[Any, int]]
_scan = json.JSONDecoder().scan_once  # type: ignore[attr-defined]


def encode_body(message: Mapping[str, Any]) -> bytes:
    """The canonical JSON body of a message: compact, UTF-8, keys in the mapping's order."""
    try:
        return "".join(_encode(message, 0)).encode("utf-8")
    except (TypeError, ValueError, RecursionError) as exc:
        raise ProtocolError(
            f"cannot encode a worker message as JSON: {exc}",
            hint="values crossing a process boundary must be JSON, or references (see refs.py)",
        ) from None


def encode_frame(message: Mapping[str, Any]) -> bytes:
    """One complete frame: header plus canonical body."""
    body = encode_body(message)
    return b"Content-Length: %d\r\n\r\n%b" % (len(body), body)


class EncodedParams:
    """A request's ``params`` object already in canonical JSON, spliced into the frame as it is.

    For the ``execute`` request, whose fixed fields (run, node, module, handler ...) are encoded
    once per node attempt and joined with its inputs each call (:mod:`.calls`): the frame is the
    same bytes :func:`encode_frame` makes of the message with these params decoded.
    """

    __slots__ = ("body",)

    def __init__(self, body: bytes) -> None:
        self.body = body

    def decoded(self) -> dict[str, Any]:
        return decode_body(self.body)

    def __repr__(self) -> str:
        return f"EncodedParams({self.body[:80]!r})"


def encode_request(
    request_id: int, method: str, params: Mapping[str, Any] | EncodedParams
) -> bytes:
    """The frame of a request: ``encode_frame`` of ``{jsonrpc, id, method, params}``."""
    if not isinstance(params, EncodedParams):
        return encode_frame(
            {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}
        )
    body = b'{"jsonrpc":"2.0","id":%d,"method":%b,"params":%b}' % (
        request_id,
        _encoded_method(method),
        params.body,
    )
    return b"Content-Length: %d\r\n\r\n%b" % (len(body), body)


@functools.lru_cache(maxsize=64)
def _encoded_method(method: str) -> bytes:
    return "".join(_encode(method, 0)).encode("utf-8")


def parse_header(block: bytes) -> int:
    """The body length a header block announces (``block`` excludes the blank line)."""
    if block.startswith(_CANONICAL_HEADER) and block[16:].isdigit():  # the header every side writes
        return int(block[16:])
    length: int | None = None
    for line in block.split(b"\r\n"):
        name, sep, value = line.partition(b":")
        key = name.strip().lower()
        if not sep or not key:
            raise ProtocolError(
                f"malformed frame header line {line[:80]!r}; expected 'Name: value'"
            )
        if key == b"content-length":
            text = value.strip()
            if not text.isdigit():
                raise ProtocolError(f"Content-Length must be a non-negative integer, got {text!r}")
            length = int(text)
        elif key != b"content-type":
            raise ProtocolError(f"unknown frame header {name.decode('latin-1')!r}")
    if length is None:
        raise ProtocolError(f"frame header {block[:80]!r} has no Content-Length")
    return length


def decode_body(body: bytes) -> dict[str, Any]:
    """Parse one frame body; it must be a JSON object."""
    try:
        text = body.decode("utf-8")
        try:
            message, end = _scan(text, 0)
        except StopIteration:  # not a value at index 0: let json.loads say why
            end = -1
        if end != len(text):  # whitespace around it, or trailing garbage
            message = json.loads(text)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ProtocolError(
            f"frame body is not UTF-8 JSON: {exc}; body starts {body[:80]!r}"
        ) from None
    if not isinstance(message, dict):
        raise ProtocolError(f"frame body must be a JSON object, got {type(message).__name__}")
    return message


class FrameDecoder:
    """Incremental decoder: ``feed`` bytes in any chunking, get back every complete message."""

    __slots__ = ("_buffer", "_length")

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._length: int | None = None

    @property
    def pending(self) -> int:
        """Bytes received but not yet part of a complete message."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[dict[str, Any]]:
        if not self._buffer and self._length is None:  # the common case: one whole frame
            end = data.find(HEADER_END)
            if 0 <= end <= MAX_HEADER_BYTES:
                length = parse_header(data[:end])
                if end + len(HEADER_END) + length == len(data):
                    return [decode_body(data[end + len(HEADER_END) :])]
        self._buffer += data
        messages: list[dict[str, Any]] = []
        while True:
            if self._length is None:
                end = self._buffer.find(HEADER_END)
                if end < 0:
                    if len(self._buffer) > MAX_HEADER_BYTES:
                        raise ProtocolError(
                            f"no frame header end within {MAX_HEADER_BYTES} bytes; "
                            f"the stream starts {bytes(self._buffer[:80])!r}",
                            hint="a worker must write only frames on stdout; print to stderr",
                        )
                    return messages
                self._length = parse_header(bytes(self._buffer[:end]))
                del self._buffer[: end + len(HEADER_END)]
            if len(self._buffer) < self._length:
                return messages
            body = bytes(self._buffer[: self._length])
            del self._buffer[: self._length]
            self._length = None
            messages.append(decode_body(body))


async def read_frame(reader: asyncio.StreamReader) -> dict[str, Any] | None:
    """The next message on ``reader``, or None at a clean end of stream (between frames).

    Cancel-safe: StreamReader only consumes bytes once a whole header or body is buffered.
    """
    try:
        header = await reader.readuntil(HEADER_END)
    except asyncio.IncompleteReadError as exc:
        if not exc.partial:
            return None
        raise ProtocolError(f"stream ended inside a frame header: {exc.partial[:80]!r}") from None
    except asyncio.LimitOverrunError:
        raise ProtocolError(
            "frame header too long", hint="a worker must write only frames on stdout"
        ) from None
    if len(header) > MAX_HEADER_BYTES:
        raise ProtocolError(f"frame header of {len(header)} bytes: {header[:80]!r}")
    length = parse_header(header[: -len(HEADER_END)])
    try:
        body = await reader.readexactly(length)
    except asyncio.IncompleteReadError as exc:
        raise ProtocolError(
            f"stream ended inside a frame body: got {len(exc.partial)} of {length} bytes"
        ) from None
    return decode_body(body)
