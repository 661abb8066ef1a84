"""The web page in real headless Chromium: start a Blueprint, watch it turn green, cancel another.

The server runs as ``atomiton serve`` would, in a subprocess on an ephemeral port, with this
suite's test nodes; screenshots are saved under ``test-artifacts/``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).parent
NODES = ROOT / "tests" / "integration" / "server" / "nodes.py"
TOKEN = "e2e-token-0123456789abcdef"
ARTIFACTS = ROOT / "test-artifacts"
SERVE = "import typer; from atomiton.cli.serve import serve; typer.run(serve)"


def chain(prefix: str, n: int, seconds: float) -> dict[str, object]:
    nodes = [{"id": f"{prefix}1", "type": "const", "name": "Start", "parameters": {"value": 1}}]
    nodes += [
        {"id": f"{prefix}{i}", "type": "sleep", "name": f"Step {i}",
         "parameters": {"seconds": seconds}}
        for i in range(2, n + 1)
    ]  # fmt: skip
    edges = [
        {"source": f"{prefix}{i}", "target": f"{prefix}{i + 1}", "sourceHandle": "output",
         "targetHandle": "input"}
        for i in range(1, n)
    ]  # fmt: skip
    return {"id": prefix, "name": f"{prefix} chain", "nodes": nodes, "edges": edges}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "quick.flow.json").write_text(json.dumps(chain("quick", 4, 0.6)))
    (flows / "slow.flow.json").write_text(json.dumps(chain("slow", 3, 30)))
    command = [
        sys.executable, "-c", SERVE,
        "--port", "0", "--token", TOKEN, "--flows-dir", str(flows),
        "--db", str(tmp_path / "history.db"), "--nodes", str(NODES),
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
    try:
        assert proc.stderr is not None
        url = None
        for line in proc.stderr:
            found = re.search(r"listening on (http://\S+)", line)
            if found:
                url = found.group(1)
                break
        assert url, "the server did not start"
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()


@pytest.mark.toolchain("chromium")
@pytest.mark.toolchain("node")
def test_start_watch_and_cancel_in_headless_chromium(server: str) -> None:
    if not (HERE / "node_modules" / "playwright-core").is_dir():
        pytest.fail("tests/e2e/node_modules is missing: run scripts/setup.d/60-server-e2e.sh")
    ARTIFACTS.mkdir(exist_ok=True)
    done = subprocess.run(
        ["node", str(HERE / "drive.mjs"), server, TOKEN, str(ARTIFACTS)],
        capture_output=True, text=True, timeout=100, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["errors"] == []
    assert sorted(summary["flows"]) == ["quick", "slow"]
    assert summary["seenRunning"] is True
    assert summary["quickStates"] == ["succeeded"] * 4
    assert summary["quickStatus"] == "succeeded"
    assert "cancelled" in summary["slowStates"]
    assert sorted(summary["runs"]) == ["cancelled", "succeeded"]
    for name in ("web-page-succeeded.png", "web-page-cancelled.png"):
        assert (ARTIFACTS / name).stat().st_size > 10_000
