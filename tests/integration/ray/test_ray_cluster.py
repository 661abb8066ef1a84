"""A real two-node Ray cluster on this machine: ``ray start --head`` plus a second node process.

The fixture starts both with ``--block`` in their own process groups and always stops them (a
signal to each group, then SIGKILL if they linger), even when the test fails. The driver joins
with ``RayEngine(address=...)``, exactly as ``atomiton run --engine ray --ray-address`` does.

    head (1 CPU)  <-  worker node (1 CPU)
         \\              /
          a    b    c    d     four 1-CPU nodes: two run on each Ray node at a time
           \\   |    |   /
               collect
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

if os.environ.get("ATOMITON_REQUIRE_TOOLCHAINS") != "1":
    pytest.importorskip("ray", reason="needs the optional 'ray' package: pip install atomiton[ray]")

import ray

from atomiton import NodeRegistry
from atomiton.engines.ray import RayEngine

HERE = Path(__file__).resolve().parent
RAY = str(Path(sys.executable).with_name("ray"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _group(pgid: int) -> list[int]:
    """The live processes of process group ``pgid``."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:
            found.append(int(stat.parent.name))
    return found


def _workers_of(raylets: set[int]) -> list[int]:
    """Ray workers run in sessions of their own; their environment names their raylet."""
    found = []
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            env = environ.read_bytes().split(b"\0")
        except OSError:
            continue
        for item in env:
            if item.startswith(b"RAY_RAYLET_PID=") and int(item[15:] or 0) in raylets:
                found.append(int(environ.parent.name))
    return found


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Stop one ``ray start --block``, its group, and the workers of its raylet."""
    raylets = {
        pid
        for pid in _group(process.pid)
        if Path(f"/proc/{pid}/comm").read_text(errors="replace").strip() == "raylet"
    }
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=5)
    with contextlib.suppress(ProcessLookupError):  # whatever is left in its group
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)
    for pid in _workers_of(raylets):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _wait_for_nodes(
    address: str, count: int, processes: list[subprocess.Popen[bytes]], log: Path
) -> None:
    probe = (
        "import ray, sys; ray.init(address=sys.argv[1], log_to_driver=False); "
        "print(sum(1 for n in ray.nodes() if n['Alive']))"
    )
    deadline = time.monotonic() + 60
    alive = 0
    while time.monotonic() < deadline:
        dead = [p.args for p in processes if p.poll() is not None]
        if dead:
            raise AssertionError(f"{dead} exited early:\n{log.read_text()[-3000:]}")
        try:
            done = subprocess.run(
                [sys.executable, "-c", probe, address], capture_output=True, text=True, timeout=20
            )
        except subprocess.TimeoutExpired:
            continue
        if done.returncode == 0 and done.stdout.strip().isdigit():
            alive = int(done.stdout.strip())
            if alive >= count:
                return
        time.sleep(1)
    raise AssertionError(f"the Ray cluster at {address} has {alive} live node(s), want {count}")


@pytest.fixture
def cluster() -> Iterator[str]:
    if ray.is_initialized():
        ray.shutdown()
    temp = tempfile.mkdtemp(prefix="ray-")  # short: Ray's socket paths must fit 107 bytes
    port = free_port()
    address = f"127.0.0.1:{port}"
    common = [
        "--block",
        "--num-cpus=1",
        "--num-gpus=0",
        f"--temp-dir={temp}",
        "--disable-usage-stats",
    ]
    log = Path(temp) / "test-start.log"
    # a throwaway loopback cluster: no token (the driver of this process has no token set up)
    env = {**os.environ, "RAY_AUTH_MODE": "disabled"}
    processes: list[subprocess.Popen[bytes]] = []
    try:
        with log.open("ab") as out:
            processes.append(
                subprocess.Popen(
                    [
                        RAY,
                        "start",
                        "--head",
                        f"--port={port}",
                        "--include-dashboard=false",
                        *common,
                    ],
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    env=env,
                )
            )
            _wait_for_nodes(address, 1, processes, log)
            processes.append(
                subprocess.Popen(
                    [RAY, "start", f"--address={address}", *common],
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    env=env,
                )
            )
            _wait_for_nodes(address, 2, processes, log)
        yield address
    finally:
        if ray.is_initialized():
            ray.shutdown()
        for process in reversed(processes):
            _stop(process)
        shutil.rmtree(temp, ignore_errors=True)


async def test_a_blueprint_runs_across_two_ray_nodes(cluster: str) -> None:
    registry = NodeRegistry.default(
        [str(HERE / "ray_nodes.py"), str(HERE.parent / "engine" / "nodes.py")]
    )
    bp: dict[str, Any] = {
        "id": "spread",
        "name": "spread",
        "nodes": [
            *({"id": k, "type": "ray-node", "parameters": {"seconds": 1.0}} for k in "abcd"),
            {"id": "all", "type": "collect"},
            {"id": "sum", "type": "add", "parameters": {"a": 1, "b": 2}},
        ],
        "edges": [
            {"source": "a", "target": "all", "sourceHandle": "output", "targetHandle": "a"},
            {"source": "b", "target": "all", "sourceHandle": "output", "targetHandle": "b"},
        ],
    }
    async with RayEngine(address=cluster, registry=registry, store=None) as engine:
        assert engine.cluster.cpus == 2 and engine.cluster.connected_here
        started = time.perf_counter()
        result = await engine.execute(bp)
        elapsed = time.perf_counter() - started
    assert result.status == "succeeded", result.error
    ids = {result.nodes[k].outputs["output"] for k in "abcd"}  # type: ignore[index]
    assert len(ids) == 2, f"expected the four 1-CPU nodes on both Ray nodes, got {ids}"
    assert result.outputs["sum"] == {"output": 3}
    assert elapsed < 15
