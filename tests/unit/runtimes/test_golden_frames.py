"""The golden frames of schemas/golden/worker/ are what Python, Node.js and Go all produce.

Every golden ``.json`` file is a canonical message body: decoding and re-encoding it gives the
same bytes. ``frames.txt`` is the framed session named by ``frames.order``. The Node.js side runs
the same checks under ``node --test`` (workers/node/test/), started from here.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from atomiton.runtimes.worker import FrameDecoder, encode_body, encode_frame

ROOT = Path(__file__).resolve().parents[3]
GOLDEN = ROOT / "schemas" / "golden" / "worker"
SCHEMA = ROOT / "schemas" / "worker-protocol.schema.json"
GOLDEN_FILES = sorted(GOLDEN.glob("*.json"))


def test_every_message_kind_has_a_golden_frame() -> None:
    names = {p.name.removesuffix(".json") for p in GOLDEN_FILES}
    for kind in (
        "initialize.request",
        "initialize.result",
        "execute.request",
        "execute.result",
        "execute.error",
        "progress",
        "log",
        "cancel",
        "shutdown.request",
        "exit",
        "ref-value",
    ):
        assert kind in names


@pytest.mark.parametrize("path", GOLDEN_FILES, ids=lambda p: p.name)
def test_golden_frame_re_encodes_byte_for_byte(path: Path) -> None:
    raw = path.read_bytes()
    assert encode_body(json.loads(raw)) == raw


@pytest.mark.parametrize("path", GOLDEN_FILES, ids=lambda p: p.name)
def test_golden_frame_matches_the_schema(path: Path) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    if path.name == "ref-value.json":
        schema = {**schema, "$ref": "#/$defs/Ref"}
        del schema["oneOf"]
    jsonschema.Draft202012Validator(schema).validate(json.loads(path.read_bytes()))


def test_frames_txt_is_the_framed_session() -> None:
    stream = (GOLDEN / "frames.txt").read_bytes()
    order = (GOLDEN / "frames.order").read_text().split()
    expected = [json.loads((GOLDEN / f"{name}.json").read_bytes()) for name in order]
    assert b"".join(encode_frame(m) for m in expected) == stream
    decoder, got = FrameDecoder(), []
    for i in range(0, len(stream), 13):
        got += decoder.feed(stream[i : i + 13])
    assert got == expected


@pytest.mark.toolchain("node")
def test_node_worker_passes_the_same_golden_frames() -> None:
    node = shutil.which("node")
    assert node is not None
    result = subprocess.run(
        [node, "--test", "test/"],
        cwd=ROOT / "workers" / "node",
        capture_output=True,
        text=True,
        timeout=100,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "# fail 0" in result.stdout
