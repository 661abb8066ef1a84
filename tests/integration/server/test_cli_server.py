"""``atomiton run --server``: the same Blueprint, the same JSON document, run on a server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from server_support import NODES, TOKEN, Live


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "atomiton", "run", *args, "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **env},
        check=False,
    )


def test_run_on_a_server_prints_what_a_local_run_prints(live: Live, tmp_path: Path) -> None:
    flow = tmp_path / "f.flow.yaml"
    flow.write_text(
        "id: remote\nname: remote\nnodes:\n  - {id: c, type: const, parameters: {value: 2}}\n"
        "  - {id: s, type: sleep, parameters: {seconds: 0.05}}\n"
        "edges:\n  - {source: c, target: s, sourceHandle: output, targetHandle: input}\n"
    )
    remote = run_cli(str(flow), "--server", live.url, env={"ATOMITON_TOKEN": TOKEN})
    assert remote.returncode == 0, remote.stderr
    local = run_cli(str(flow), "--nodes", NODES, "--db", str(tmp_path / "local.db"), env={})
    assert local.returncode == 0, local.stderr
    a, b = json.loads(remote.stdout), json.loads(local.stdout)
    assert a["status"] == b["status"] == "succeeded"
    assert a["outputs"] == b["outputs"]
    assert {k: v["status"] for k, v in a["nodes"].items()} == {
        k: v["status"] for k, v in b["nodes"].items()
    }


def test_run_on_a_server_with_a_wrong_token_is_refused(live: Live, tmp_path: Path) -> None:
    flow = tmp_path / "f.flow.yaml"
    flow.write_text("id: r\nname: r\nnodes:\n  - {id: c, type: const}\nedges: []\n")
    proc = run_cli(str(flow), "--server", live.url, "--token", "wrong", env={})
    assert proc.returncode != 0
    assert "token" in (proc.stderr + proc.stdout).lower()
