"""The polyglot example: one run through Python, TypeScript, Go, Rust and WebAssembly nodes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]


@pytest.mark.toolchain("node", "go", "native")
def test_polyglot_blueprint_runs_every_runtime_in_one_run(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "atomiton",
            "run",
            "examples/polyglot.flow.yaml",
            "--nodes",
            "examples/nodes",
            "--json",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "ATOMITON_DB": str(tmp_path / "h.db")},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    doc = json.loads(proc.stdout)
    sentence = "atomiton runs nodes in five languages. atomiton runs nodes in five languages."
    nodes = doc["nodes"]
    assert nodes["python"]["outputs"] == {"output": sentence}
    assert nodes["typescript"]["outputs"]["output"] == sentence[::-1]
    assert nodes["go"]["outputs"] == {"output": sentence}
    assert nodes["rust"]["outputs"]["words"] == 12
    assert doc["outputs"]["wasm"]["output"] == f"{sentence} (12 words)"[::-1]
