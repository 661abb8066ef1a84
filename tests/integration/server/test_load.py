"""Load on loopback: 100 concurrent runs, each followed by 10 WebSocket subscribers.

Every subscriber must receive every event of its run exactly once, in order (seq 1..n with no
gap or repeat, ending with run.finished); subscribers join at different moments, so some get
everything live and others replay the start from the store. Afterwards nothing is left behind:
no bus subscription, no pending handle beyond the bound, and memory growth stays bounded.
"""

from __future__ import annotations

import asyncio
import json
import random
import resource
import time
from pathlib import Path
from typing import Any

import httpx
from server_support import TOKEN, chain, start_server
from websockets.asyncio.client import connect

RUNS = 100
SUBSCRIBERS = 10


async def follow(ws_url: str, run_id: str, delay: float) -> list[int]:
    await asyncio.sleep(delay)
    url = f"{ws_url}/api/v1/runs/{run_id}/events?token={TOKEN}"
    seqs: list[int] = []
    kinds: list[str] = []
    async with connect(url, max_size=None) as ws:
        async for message in ws:
            frame: dict[str, Any] = json.loads(message)
            seqs.append(frame["seq"])
            kinds.append(frame["kind"])
    assert kinds[-1] == "run.finished", (run_id, kinds[-3:])
    return seqs


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def load_round(url: str, ws_url: str) -> tuple[int, float]:
    rng = random.Random(7)
    # Idle pooled connections expire well before the server's 5 s keep-alive: with the same
    # 5 s on both sides, the last GET (after the followers, seconds later on a loaded machine)
    # could reuse a connection at the moment the server closed it.
    async with httpx.AsyncClient(
        base_url=url,
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=60,
        limits=httpx.Limits(keepalive_expiry=1.0),
    ) as client:
        started = time.perf_counter()
        responses = await asyncio.gather(
            *(client.post("/api/v1/runs", json={"blueprint": chain(4, 0.05)}) for _ in range(RUNS))
        )
        run_ids = [r.json()["run_id"] for r in responses]
        followers = [
            follow(ws_url, run_id, rng.uniform(0, 0.3))
            for run_id in run_ids
            for _ in range(SUBSCRIBERS)
        ]
        results = await asyncio.gather(*followers)
        elapsed = time.perf_counter() - started
        records = await client.get("/api/v1/runs", params={"limit": RUNS})
    assert {r["status"] for r in records.json()} == {"succeeded"}
    for seqs in results:
        assert seqs == list(range(1, len(seqs) + 1))  # no gap, no duplicate, in order
    per_run: dict[int, int] = {}
    for i, seqs in enumerate(results):
        per_run.setdefault(i // SUBSCRIBERS, len(seqs))
        assert len(seqs) == per_run[i // SUBSCRIBERS]  # every subscriber saw the whole run
    return sum(len(s) for s in results), elapsed


async def test_100_runs_10_subscribers_each_lose_nothing(tmp_path: Path) -> None:
    thread, live = start_server(tmp_path)
    with thread:
        runs = thread.app.state.runs
        baseline_subs = len(runs.engine.bus._subscriptions)
        frames, elapsed = await load_round(live.url, live.ws)
        after_first = rss_mb()
        frames2, _ = await load_round(live.url, live.ws)
        after_second = rss_mb()
        events_per_run = 1 + 3 + 3 * 6 + 1  # run.started, const, 3 sleeps (with progress, log), end
        assert frames == frames2 == RUNS * SUBSCRIBERS * events_per_run
        assert elapsed < 60
        await asyncio.sleep(0.2)
        assert len(runs.engine.bus._subscriptions) == baseline_subs  # every follower let go
        assert runs.engine.active_runs == ()
        assert after_second - after_first < 100, (after_first, after_second)
