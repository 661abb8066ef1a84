"""RemoteEngine against a real server: the same RunResult a LocalEngine returns."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import yaml
from server_support import NODES, TOKEN, Live, chain, flow

from atomiton import LocalEngine, NodeRegistry, ValidationError
from atomiton.engines import ExecutionEngine
from atomiton.engines.remote import RemoteEngine, RemoteError
from atomiton.events import Event, EventKind


def comparable(result: dict[str, Any]) -> dict[str, Any]:
    """A run's ``--json`` document without what differs between two runs (ids, timings)."""
    nodes = {
        k: {**v, "duration_ms": None, "error": v["error"] and v["error"]["message"]}
        for k, v in result["nodes"].items()
    }
    error = result["error"] and result["error"]["message"]
    return {**result, "run_id": None, "duration_ms": None, "nodes": nodes, "error": error}


BRANCHES = flow(
    [
        {"id": "a", "type": "const", "parameters": {"value": {"n": [1, 2.5, None, "x"]}}},
        {"id": "b", "type": "sleep", "parameters": {"seconds": 0.05}},
        {"id": "c", "type": "fail", "parameters": {"message": "nope"}},
        {"id": "d", "type": "sleep", "parameters": {"seconds": 0.05}},
    ],
    [("a", "b"), ("a", "c"), ("c", "d")],
    settings={"runtime": {"onError": "continue"}},
)


@pytest.mark.parametrize("blueprint", [chain(3), BRANCHES], ids=["chain", "failing-branch"])
async def test_remote_result_equals_local_result(live: Live, blueprint: dict[str, Any]) -> None:
    async with LocalEngine(registry=NodeRegistry.default([NODES]), store=None) as local:
        expected = (await local.execute(blueprint)).to_dict()
    async with RemoteEngine(live.url, token=TOKEN) as remote:
        assert isinstance(remote, ExecutionEngine)
        result = await remote.execute(blueprint)
    assert comparable(result.to_dict()) == comparable(expected)
    assert result.duration_ms > 0


async def test_listeners_get_every_event_in_order(live: Live, tmp_path: Path) -> None:
    path = tmp_path / "chain.flow.yaml"
    path.write_text(yaml.safe_dump(chain(3)))
    seen: list[Event] = []
    async with RemoteEngine(live.url, token=TOKEN) as remote:
        remote.subscribe(seen.append)
        result = await remote.execute(path, run_id="remote-run-1")
    assert result.run_id == "remote-run-1"
    assert [e.seq for e in seen] == list(range(1, len(seen) + 1))
    assert seen[0].kind is EventKind.RUN_STARTED and seen[-1].kind is EventKind.RUN_FINISHED
    assert result.outputs == {"n3": {"output": 1}}


async def test_invalid_blueprint_raises_validation_error_with_the_report(live: Live) -> None:
    async with RemoteEngine(live.url, token=TOKEN) as remote:
        with pytest.raises(ValidationError) as caught:
            await remote.execute(flow([{"id": "a", "type": "slep"}]))
        report = await asyncio.to_thread(remote.validate, flow([{"id": "a", "type": "slep"}]))
    assert caught.value.report.codes() == ["unknown-node-type"]
    assert report.codes() == ["unknown-node-type"]


async def test_cancel_a_remote_run(live: Live) -> None:
    started = asyncio.Event()

    def on_event(event: Event) -> None:
        if event.kind is EventKind.NODE_STARTED and event.node_id == "n2":
            started.set()

    async with RemoteEngine(live.url, token=TOKEN) as remote:
        remote.subscribe(on_event)
        task = asyncio.create_task(remote.execute(chain(3, seconds=20), run_id="to-cancel"))
        await asyncio.wait_for(started.wait(), 10)
        assert await asyncio.to_thread(remote.cancel, "to-cancel") is True
        result = await task
        assert await asyncio.to_thread(remote.cancel, "no-such-run") is False
    assert result.status == "cancelled"
    assert result.nodes["n2"].status == "cancelled"


async def test_wrong_token_says_how_to_fix_it(live: Live) -> None:
    async with RemoteEngine(live.url, token="wrong-token-0123456789") as remote:
        with pytest.raises(RemoteError, match="HTTP 401") as caught:
            await remote.execute(chain(2))
    assert "token" in str(caught.value)
