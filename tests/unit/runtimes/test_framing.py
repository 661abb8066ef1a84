"""Framing, references and the return-value rule of the worker protocol, without processes."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from atomiton.errors import NodeError, ProtocolError
from atomiton.nodes.definition import NodeDefinition, PortSpec, RuntimeSpec
from atomiton.runtimes.base import NodeCall
from atomiton.runtimes.worker import (
    FrameDecoder,
    encode_frame,
    encode_value,
    outputs_from_return,
    read_frame,
    resolve_value,
)
from atomiton.runtimes.worker.calls import encoded_execute_params, execute_params
from atomiton.runtimes.worker.framing import EncodedParams, encode_body, encode_request

MESSAGES: list[dict[str, Any]] = [
    {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "1.0"}},
    {
        "jsonrpc": "2.0",
        "method": "log",
        "params": {"requestId": 1, "level": "info", "message": "héllo ✓"},
    },
    {"jsonrpc": "2.0", "id": 1, "result": None},
]


def test_round_trip_one_frame() -> None:
    assert FrameDecoder().feed(encode_frame(MESSAGES[0])) == [MESSAGES[0]]


def test_content_length_counts_bytes() -> None:
    frame = encode_frame({"t": "é"})
    assert frame == b'Content-Length: 10\r\n\r\n{"t":"\xc3\xa9"}'


def test_several_frames_in_one_chunk() -> None:
    stream = b"".join(encode_frame(m) for m in MESSAGES)
    assert FrameDecoder().feed(stream) == MESSAGES


@pytest.mark.parametrize("size", [1, 2, 5, 17, 100])
def test_partial_reads_in_any_chunking(size: int) -> None:
    stream = b"".join(encode_frame(m) for m in MESSAGES)
    decoder, got = FrameDecoder(), []
    for i in range(0, len(stream), size):
        got += decoder.feed(stream[i : i + size])
    assert got == MESSAGES
    assert decoder.pending == 0


def test_header_names_are_case_insensitive_and_content_type_is_allowed() -> None:
    frame = (
        b"content-length: 2\r\nContent-Type: application/vscode-jsonrpc; charset=utf-8\r\n\r\n{}"
    )
    assert FrameDecoder().feed(frame) == [{}]


@pytest.mark.parametrize(
    ("stream", "expected"),
    [
        (b"Content-Length: x\r\n\r\n{}", "non-negative integer"),
        (b"Content-Length: -1\r\n\r\n{}", "non-negative integer"),
        (b"X-Other: 1\r\nContent-Length: 2\r\n\r\n{}", "unknown frame header"),
        (b"garbage\r\n\r\n", "malformed frame header"),
        (b"Content-Type: a\r\n\r\n", "no Content-Length"),
        (b"Content-Length: 3\r\n\r\n{x}", "not UTF-8 JSON"),
        (b"Content-Length: 2\r\n\r\n[]", "must be a JSON object"),
        (b"hello world " * 100, "no frame header end"),
    ],
)
def test_bad_frames_are_protocol_errors(stream: bytes, expected: str) -> None:
    with pytest.raises(ProtocolError, match=expected):
        FrameDecoder().feed(stream)


def test_unencodable_message_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError, match="cannot encode"):
        encode_frame({"x": object()})


async def test_read_frame_from_a_stream() -> None:
    reader = asyncio.StreamReader()
    stream = b"".join(encode_frame(m) for m in MESSAGES)
    reader.feed_data(stream[:10])
    pending = asyncio.ensure_future(read_frame(reader))
    await asyncio.sleep(0)
    reader.feed_data(stream[10:])
    reader.feed_eof()
    assert [await pending, await read_frame(reader), await read_frame(reader)] == MESSAGES
    assert await read_frame(reader) is None  # a clean end between frames


async def test_read_frame_eof_inside_a_body_is_a_protocol_error() -> None:
    reader = asyncio.StreamReader()
    reader.feed_data(encode_frame(MESSAGES[0])[:-3])
    reader.feed_eof()
    with pytest.raises(ProtocolError, match="inside a frame body"):
        await read_frame(reader)


def execute_calls(folder: Path) -> list[NodeCall]:
    """Calls whose ``execute`` params cover every field: empty and full mappings, non-ASCII
    text, a timeout, a retry, output ports, bytes inline."""
    definition = NodeDefinition(
        id="reverse-text",
        runtime=RuntimeSpec("javascript", "reverse.mjs", "reverse"),
        outputs=(PortSpec("output"), PortSpec("lengths")),
    )
    plain = NodeDefinition(id="echo", runtime=RuntimeSpec("python", "echo", "echo"))
    return [
        NodeCall("r", "n", plain, {}, {}, artifact_dir=folder),
        NodeCall("r", "n", plain, {"value": 1}, {}, artifact_dir=folder),
        NodeCall(
            "run-0001",
            "reverse-1",
            definition,
            {"text": "héllo wörld ✓", "raw": b"\x00\xff", "nested": {"a": [1, 2.5, None, True]}},
            {"times": 2, "mode": "words"},
            attempt=3,
            artifact_dir=folder,
            timeout_s=30.0,
            variables={"user": "Zoë", "limit": 10},
        ),
        NodeCall("r", "n", plain, {"value": 1}, {}, artifact_dir=folder, timeout_s=0.0001),
    ]


def test_encoded_execute_params_are_the_bytes_of_the_params(tmp_path: Path) -> None:
    """Cached fixed fields joined with each call's values: the same bytes as encoding the whole
    params, so the canonical encoding (and the golden frames) still hold."""
    for call in execute_calls(tmp_path) * 2:  # the second time round, from the cache
        options: dict[str, Any] = {"module": "/srv/m.mjs", "handler": "h"}
        encoded = encoded_execute_params(call, artifact_dir=tmp_path, **options)
        params = execute_params(call, artifact_dir=tmp_path, **options)
        assert encoded.body == encode_body(params)
        assert encoded.decoded() == params
        assert encode_request(7, "execute", encoded) == encode_frame(
            {"jsonrpc": "2.0", "id": 7, "method": "execute", "params": params}
        )


def test_encode_request_takes_params_as_a_mapping_too() -> None:
    params = {"protocolVersion": "1.0"}
    assert encode_request(1, "initialize", params) == encode_frame(MESSAGES[0])
    assert encode_request(1, "initialize", EncodedParams(b'{"protocolVersion":"1.0"}')) == (
        encode_frame(MESSAGES[0])
    )


def test_small_bytes_travel_inline_large_bytes_by_reference(tmp_path: Path) -> None:
    small, large = b"\x00\x01", bytes(range(256)) * 300
    wire = encode_value({"small": small, "large": large}, tmp_path)
    assert wire["small"] == {"$bytes": "AAE="}
    ref = wire["large"]["$ref"]
    assert ref["kind"] == "bytes"
    assert Path(ref["path"]).parent == tmp_path.resolve()
    assert resolve_value(wire, tmp_path) == {"small": small, "large": large}


def test_large_strings_spill_and_come_back_as_strings(tmp_path: Path) -> None:
    text = "é" * 40_000
    wire = encode_value([text, "short"], tmp_path)
    assert wire[0]["$ref"]["mediaType"].startswith("text/")
    assert resolve_value(wire, tmp_path) == [text, "short"]


def test_tables_travel_as_arrow_ipc(tmp_path: Path) -> None:
    frame = pl.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]})
    wire = encode_value({"table": frame}, tmp_path)
    assert wire["table"]["$ref"]["kind"] == "arrow"
    assert resolve_value(wire, tmp_path)["table"].equals(frame)


def test_a_reference_outside_the_artifact_dir_is_refused(tmp_path: Path) -> None:
    wire = {"$ref": {"kind": "bytes", "path": "/etc/hostname", "mediaType": "text/plain"}}
    with pytest.raises(ProtocolError, match="outside the artifact dir"):
        resolve_value(wire, tmp_path)


def test_unsupported_values_name_their_type(tmp_path: Path) -> None:
    with pytest.raises(ProtocolError, match="complex"):
        encode_value({"x": 1j}, tmp_path)


def test_return_values_map_onto_output_ports() -> None:
    assert outputs_from_return({"a": 1}, ["a", "b"]) == {"a": 1}
    assert outputs_from_return(5, []) == {"output": 5}
    assert outputs_from_return({"x": 1}, ["output"]) == {"output": {"x": 1}}
    with pytest.raises(NodeError, match="declares outputs"):
        outputs_from_return(5, ["a", "b"])
