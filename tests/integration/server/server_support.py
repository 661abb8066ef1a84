"""Helpers of the server tests: a real server on an ephemeral loopback port, test nodes,
Blueprint builders."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from atomiton import LocalEngine, NodeRegistry
from atomiton.server import ServerConfig, create_app
from atomiton.server.launch import ServerThread

NODES = str(Path(__file__).with_name("nodes.py"))
TOKEN = "test-token-0123456789abcdef"


def flow(
    nodes: list[dict[str, Any]], edges: Sequence[tuple[str, str]] = (), **extra: Any
) -> dict[str, Any]:
    """A Blueprint mapping; each edge (source, target) wires ``output`` to ``input``."""
    return {
        "id": extra.pop("id", "test"),
        "name": extra.pop("name", "test"),
        "nodes": nodes,
        "edges": [
            {
                "id": f"e{i}",
                "source": s,
                "target": t,
                "sourceHandle": "output",
                "targetHandle": "input",
            }
            for i, (s, t) in enumerate(edges)
        ],
        **extra,
    }


def chain(n: int, seconds: float = 0.05) -> dict[str, Any]:
    """n1 -> n2 -> ... -> nN, each a ``sleep`` node passing its input on."""
    nodes = [{"id": "n1", "type": "const", "name": "Start", "parameters": {"value": 1}}]
    nodes += [
        {"id": f"n{i}", "type": "sleep", "name": f"Step {i}", "parameters": {"seconds": seconds}}
        for i in range(2, n + 1)
    ]
    return flow(nodes, [(f"n{i}", f"n{i + 1}") for i in range(1, n)])


@dataclass
class Live:
    url: str
    ws: str
    token: str
    config: ServerConfig
    tmp: Path

    def client(self, token: str | None = TOKEN) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)


def start_server(tmp: Path, **options: Any) -> tuple[ServerThread, Live]:
    engine = LocalEngine(
        registry=NodeRegistry.default([NODES]),
        store=str(tmp / "history.db"),
        retry_backoff_s=0.01,
    )
    config = ServerConfig(token=TOKEN, port=0, flows_dir=tmp / "flows", **options)
    thread = ServerThread(create_app(config, engine), config)
    live = Live(thread.url, f"ws://127.0.0.1:{thread.port}", TOKEN, config, tmp)
    return thread, live
