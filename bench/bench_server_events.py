"""Event delivery through the server: events per second reaching WebSocket subscribers.

100 concurrent runs of a 5-node chain (each node sleeps 10 ms and reports progress), followed
by 10 subscribers per run, measured two ways in the same process:

1. baseline: a LocalEngine with 10 in-process bus listeners per run (no server, no sockets);
2. server: ``atomiton serve``'s app on loopback (uvicorn in a thread), runs started over REST,
   10 WebSocket subscribers per run, each checked for a complete, gap-free sequence.

    python bench/bench_server_events.py [--runs 100] [--subscribers 10]   # bench/results/server.md
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import connect

from atomiton import LocalEngine, NodeContext, NodeRegistry, node
from atomiton.events import Event
from atomiton.server import ServerConfig, create_app
from atomiton.server.launch import ServerThread

TOKEN = "bench-token-0123456789abcdef"


@node
def const(*, value: object = None) -> object:
    return value


@node
async def pause(input: object = None, *, seconds: float = 0.01, ctx: NodeContext) -> object:
    ctx.progress(50, "half way")
    await asyncio.sleep(seconds)
    return input


def chain(n: int = 5) -> dict[str, Any]:
    nodes = [{"id": "n1", "type": "const", "parameters": {"value": 1}}]
    nodes += [{"id": f"n{i}", "type": "pause"} for i in range(2, n + 1)]
    edges = [
        {
            "source": f"n{i}",
            "target": f"n{i + 1}",
            "sourceHandle": "output",
            "targetHandle": "input",
        }
        for i in range(1, n)
    ]
    return {"id": "bench", "name": "bench", "nodes": nodes, "edges": edges}


def registry() -> NodeRegistry:
    return NodeRegistry([const, pause])


async def baseline(runs: int, subscribers: int, tmp: Path) -> tuple[int, float]:
    delivered = 0

    def listener(_event: Event) -> None:
        nonlocal delivered
        delivered += 1

    async with LocalEngine(registry=registry(), store=str(tmp / "base.db")) as engine:
        for _ in range(subscribers):
            engine.subscribe(listener)
        started = time.perf_counter()
        await asyncio.gather(*(engine.execute(chain()) for _ in range(runs)))
        return delivered, time.perf_counter() - started


async def follow(ws: str, run_id: str) -> int:
    seqs = []
    url = f"{ws}/api/v1/runs/{run_id}/events?token={TOKEN}"
    async with connect(url, max_size=None) as sock:
        async for message in sock:
            seqs.append(json.loads(message)["seq"])
    assert seqs == list(range(1, len(seqs) + 1)), f"run {run_id}: gap or duplicate"
    return len(seqs)


async def through_server(runs: int, subscribers: int, tmp: Path) -> tuple[int, float]:
    engine = LocalEngine(registry=registry(), store=str(tmp / "server.db"))
    config = ServerConfig(token=TOKEN, port=0, flows_dir=tmp / "flows")
    with ServerThread(create_app(config, engine), config) as server:
        ws = f"ws://127.0.0.1:{server.port}"
        headers = {"Authorization": f"Bearer {TOKEN}"}
        async with httpx.AsyncClient(base_url=server.url, headers=headers, timeout=60) as client:
            started = time.perf_counter()
            posted = await asyncio.gather(
                *(client.post("/api/v1/runs", json={"blueprint": chain()}) for _ in range(runs))
            )
            ids = [p.json()["run_id"] for p in posted]
            counts = await asyncio.gather(
                *(follow(ws, run_id) for run_id in ids for _ in range(subscribers))
            )
            return sum(counts), time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--subscribers", type=int, default=10)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "server.md")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base_events, base_s = asyncio.run(baseline(args.runs, args.subscribers, Path(tmp)))
        srv_events, srv_s = asyncio.run(through_server(args.runs, args.subscribers, Path(tmp)))
    base_rate, srv_rate = base_events / base_s, srv_events / srv_s
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    lines = [
        "# Server event delivery",
        "",
        f"{args.runs} concurrent runs of a 5-node chain (10 ms per node, progress reports), "
        f"{args.subscribers} subscribers per run. Machine: {platform.machine()}, "
        f"Python {platform.python_version()}, one process (server in a thread).",
        "",
        "| path | events delivered | wall s | events/s | ratio |",
        "| --- | ---: | ---: | ---: | ---: |",
        f"| baseline: LocalEngine, in-process bus listeners | {base_events} | {base_s:.2f} "
        f"| {base_rate:,.0f} | 1.00 |",
        f"| server: REST start + WebSocket subscribers (loopback) | {srv_events} | {srv_s:.2f} "
        f"| {srv_rate:,.0f} | {srv_rate / base_rate:.2f} |",
        "",
        f"Every WebSocket subscriber received its run's events exactly once, in order (checked). "
        f"Peak RSS of the process: {rss:.0f} MB.",
        "",
        "    python bench/bench_server_events.py --runs 100 --subscribers 10",
        "",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
