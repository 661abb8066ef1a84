"""The Atomiton client's protocol, replayed from the frames captured in CLIENT.md.

The flow frame below is CLIENT.md section 3.1 with the node types swapped for this suite's test
nodes (the capture's metadata, ports, fields, positions, edge extras and context are kept):

    create-message (const) -> format-content (sleep) -> write-to-file (sleep)
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import datetime as dt
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from server_support import Live
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Origin

ORIGIN = Origin("http://127.0.0.1:5173")
GROUP_ID = "550e8400-e29b-41d4-a716-446655440001"
STATES = {"pending", "executing", "completed", "error", "skipped"}


def child(node_id: str, node_type: str, name: str, x: int, **parameters: Any) -> dict[str, Any]:
    return {
        "id": node_id,
        "type": node_type,
        "version": "1.0.0",
        "name": name,
        "position": {"x": x, "y": 200},
        "metadata": {
            "id": node_type,
            "name": name,
            "author": "Atomiton Core Team",
            "category": "data",
            "icon": "pencil-line",
            "keywords": [],
            "tags": [],
            "runtime": {"language": "typescript"},
            "experimental": False,
            "deprecated": False,
        },
        "parameters": {"enabled": True, "timeout": 30000, "retries": 1, **parameters},
        "fields": {},
        "inputPorts": [
            {
                "id": "input",
                "name": "Input",
                "type": "input",
                "dataType": "any",
                "required": False,
                "multiple": False,
            }
        ],
        "outputPorts": [
            {
                "id": "output",
                "name": "Output",
                "type": "output",
                "dataType": "any",
                "required": False,
                "multiple": False,
            }
        ],
    }


def hello_flow(seconds: float = 0.2, fail_second: bool = False) -> dict[str, Any]:
    second = (
        child("format-content", "fail", "Format Content", 300, message="bad template")
        if fail_second
        else child("format-content", "sleep", "Format Content", 300, seconds=seconds)
    )
    return {
        "id": GROUP_ID,
        "type": "group",
        "version": "1.0.0",
        "name": "Hello World Flow",
        "position": {"x": 0, "y": 0},
        "metadata": {
            "id": GROUP_ID,
            "name": "Hello World Flow",
            "author": "Atomiton Team",
            "category": "user",
            "icon": "file",
            "tags": ["example"],
            "runtime": {"language": "typescript"},
        },
        "parameters": {"enabled": True, "timeout": 30000, "retries": 1},
        "fields": {},
        "inputPorts": [],
        "outputPorts": [],
        "nodes": [
            child("create-message", "const", "Create Message", 100, value={"message": "hi"}),
            second,
            child("write-to-file", "sleep", "Write To File", 500, seconds=seconds),
        ],
        "edges": [
            {
                "id": "edge-1",
                "source": "create-message",
                "target": "format-content",
                "sourceHandle": "output",
                "targetHandle": "input",
                "animated": False,
                "hidden": False,
            },
            {
                "id": "edge-2",
                "source": "format-content",
                "target": "write-to-file",
                "sourceHandle": "output",
                "targetHandle": "input",
                "type": "smoothstep",
            },
        ],
    }


def execute_call(node: dict[str, Any], execution_id: str, **context: Any) -> dict[str, Any]:
    return {
        "type": "call",
        "id": str(uuid.uuid4()),
        "channel": "node",
        "command": "execute",
        "args": {
            "node": node,
            "context": {
                "nodeId": node["id"],
                "executionId": execution_id,
                "variables": {},
                **context,
            },
        },
    }


class Page:
    """Six sockets, like one page of the real client; frames are collected per socket."""

    def __init__(self, sockets: list[ClientConnection]) -> None:
        self.sockets = sockets
        self.frames: list[list[dict[str, Any]]] = [[] for _ in sockets]
        self._tasks = [asyncio.create_task(self._read(i)) for i in range(len(sockets))]

    async def _read(self, i: int) -> None:
        with contextlib.suppress(Exception):
            async for message in self.sockets[i]:
                self.frames[i].append(json.loads(message))

    async def call(self, frame: dict[str, Any], on: int = 0, timeout: float = 20) -> Any:
        await self.sockets[on].send(json.dumps(frame))
        return await self.response(frame["id"], on, timeout)

    async def response(self, call_id: str, on: int = 0, timeout: float = 20) -> dict[str, Any]:
        for _ in range(int(timeout / 0.01)):
            for f in self.frames[on]:
                if f.get("type") == "response" and f.get("id") == call_id:
                    return f
            await asyncio.sleep(0.01)
        raise AssertionError(f"no response to call {call_id}")

    def events(self, on: int, name: str | None = None) -> list[dict[str, Any]]:
        return [
            f
            for f in self.frames[on]
            if f["type"] == "event" and (name is None or f"{f['channel']}:{f['event']}" == name)
        ]

    async def settle(self) -> None:
        await asyncio.sleep(0.3)  # events after a response travel on the other sockets


@contextlib.asynccontextmanager
async def page(live: Live, n: int = 6) -> AsyncIterator[Page]:
    sockets = [await connect(f"{live.ws}/", origin=ORIGIN) for _ in range(n)]
    p = Page(sockets)
    try:
        yield p
    finally:
        for ws in sockets:
            await ws.close()
        await asyncio.gather(*p._tasks, return_exceptions=True)


def check_progress_event(data: dict[str, Any], child_ids: list[str]) -> None:
    """Atomiton's isValidProgressEvent, plus what CLIENT.md section 5 says the UI reads."""
    assert isinstance(data["nodeId"], str)
    assert isinstance(data["message"], str)
    assert isinstance(data["progress"], int) and 0 <= data["progress"] <= 100
    assert [n["id"] for n in data["nodes"]] == child_ids
    for n in data["nodes"]:
        assert isinstance(n["name"], str) and n["state"] in STATES
        assert 0 <= n["progress"] <= 100
        assert {"type", "weight", "dependencies", "dependents", "level"} <= set(n)
    graph = data["graph"]
    for key in ("executionOrder", "criticalPath", "edges"):
        assert isinstance(graph[key], list)
    assert isinstance(graph["totalWeight"], int) and isinstance(graph["maxParallelism"], int)


CHILDREN = ["create-message", "format-content", "write-to-file"]


async def test_execute_replays_the_captured_flow_frame(live: Live) -> None:
    async with page(live) as p:
        call = execute_call(hello_flow(), "flow_exec_1795697000413", slowMo=250)
        reply = await p.call(call, on=2)
        await p.settle()
    result = reply["result"]
    assert set(reply) == {"type", "id", "result"}
    assert result["success"] is True
    assert result["executedNodes"] == [GROUP_ID, *CHILDREN]
    assert result["data"] == {"message": "hi"}
    assert isinstance(result["duration"], int)
    assert result["context"]["executionId"] == "flow_exec_1795697000413"
    assert result["context"]["slowMo"] == 250
    for i in range(6):  # every socket gets every event; only the caller gets the response
        names = [f"{f['channel']}:{f['event']}" for f in p.events(i)]
        assert names[0] == "node:started"
        assert names[-1] == "node:completed"
        assert set(names[1:-1]) == {"node:progress"}
        assert any(f["type"] == "response" for f in p.frames[i]) == (i == 2)
    started = p.events(0, "node:started")[0]["data"]
    assert started["executionId"] == "flow_exec_1795697000413"
    assert (started["nodeId"], started["nodeType"]) == (GROUP_ID, "group")
    progress = [f["data"] for f in p.events(0, "node:progress")]
    for data in progress:
        check_progress_event(data, CHILDREN)
    assert progress[0]["message"] == "Waiting to start..."
    assert progress[-1] == {
        **progress[-1],
        "progress": 100,
        "message": "All nodes completed",
        "nodeId": "",
    }
    executing = [d for d in progress if d["message"].startswith("Executing: ")]
    assert {d["message"] for d in executing} >= {"Executing: Format Content"}
    assert all(d["nodeId"] in CHILDREN for d in executing)
    values = [d["progress"] for d in progress]
    assert values == sorted(values)
    graph = progress[0]["graph"]
    assert graph["executionOrder"] == [[c] for c in CHILDREN]
    assert graph["criticalPath"] == CHILDREN
    assert graph["totalWeight"] == 300  # const and sleep weigh Atomiton's default, 100
    assert graph["edges"] == [
        {"from": "create-message", "to": "format-content"},
        {"from": "format-content", "to": "write-to-file"},
    ]
    final = {n["id"]: n for n in progress[-1]["nodes"]}
    assert all(n["state"] == "completed" and n["endTime"] >= n["startTime"] for n in final.values())
    completed = p.events(5, "node:completed")[0]["data"]
    assert completed["result"] == result
    assert (completed["executionId"], completed["nodeId"]) == ("flow_exec_1795697000413", GROUP_ID)
    assert isinstance(completed["timestamp"], int)


async def test_a_failure_is_a_result_with_success_false(live: Live) -> None:
    async with page(live, n=2) as p:
        reply = await p.call(execute_call(hello_flow(fail_second=True), "flow_exec_fail"))
        await p.settle()
    assert "error" not in reply
    result = reply["result"]
    assert result["success"] is False
    error = result["error"]
    assert error["code"] == "EXECUTION_FAILED"
    assert "bad template" in error["message"]
    assert (error["nodeId"], error["executionId"]) == ("format-content", "flow_exec_fail")
    assert dt.datetime.fromisoformat(error["timestamp"].replace("Z", "+00:00"))
    assert result["executedNodes"] == ["create-message", "format-content"]
    last = p.events(1, "node:progress")[-1]["data"]
    states = {n["id"]: (n["state"], n.get("error")) for n in last["nodes"]}
    assert states["create-message"] == ("completed", None)
    assert states["format-content"][0] == "error" and "bad template" in states["format-content"][1]
    assert states["write-to-file"] == ("pending", None)
    assert last["progress"] == 33
    assert p.events(1, "node:completed")[0]["data"]["result"]["success"] is False


async def test_a_repeated_execution_id_joins_the_run_instead_of_starting_another(
    live: Live, api: httpx.Client
) -> None:
    """The client re-sends execute after 30 s with a new call id and the same executionId."""
    async with page(live, n=2) as p:
        first = execute_call(hello_flow(seconds=0.6), "flow_exec_retry")
        again = {**copy.deepcopy(first), "id": str(uuid.uuid4())}
        await p.sockets[0].send(json.dumps(first))
        await asyncio.sleep(0.3)
        await p.sockets[1].send(json.dumps(again))
        one, two = await asyncio.gather(p.response(first["id"], 0), p.response(again["id"], 1))
        late = await p.call({**first, "id": str(uuid.uuid4())})
        await p.settle()
    assert one["result"]["success"] is True
    assert one["result"] == two["result"] == late["result"]
    runs = await asyncio.to_thread(api.get, "/api/v1/runs")
    assert len(runs.json()) == 1
    assert len(p.events(0, "node:started")) == 1


async def test_cancel_by_the_clients_execution_id(live: Live) -> None:
    async with page(live, n=2) as p:
        call = execute_call(hello_flow(seconds=20), "exec_cancel_me")
        await p.sockets[0].send(json.dumps(call))
        await asyncio.sleep(0.5)
        cancel = {
            "type": "call",
            "id": "c1",
            "channel": "node",
            "command": "cancel",
            "args": "exec_cancel_me",
        }
        assert (await p.call(cancel, on=1))["result"] == {"success": True}
        reply = await p.response(call["id"], 0)
        missing = await p.call({**cancel, "id": "c2", "args": "exec_unknown"})
        await p.settle()
    assert reply["result"]["success"] is False
    assert reply["result"]["error"]["code"] == "CANCELLED"
    assert missing["result"] == {"success": False, "error": "Execution not found"}
    cancelled = p.events(0, "node:cancelled")[0]["data"]
    assert cancelled["executionId"] == "exec_cancel_me"
    assert isinstance(cancelled["timestamp"], int)
    states = {n["id"]: n["state"] for n in p.events(0, "node:progress")[-1]["data"]["nodes"]}
    assert states["format-content"] == "error"


async def test_single_node_validate_and_health(live: Live) -> None:
    """CLIENT.md 3.3 ("Run Node") sends one node; 3.4 the health call with no args key."""
    node = child("const_1795697273301", "const", "Unnamed Node", 0, value=7)
    async with page(live, n=1) as p:
        single = (await p.call(execute_call(node, "exec_1795697273316")))["result"]
        health = await p.call({"type": "call", "id": "h", "channel": "system", "command": "health"})
        node_health = await p.call(
            {"type": "call", "id": "nh", "channel": "node", "command": "health"}
        )
        valid = await p.call(
            {
                "type": "call",
                "id": "v1",
                "channel": "node",
                "command": "validate",
                "args": {"node": hello_flow()},
            }
        )
        bad = copy.deepcopy(hello_flow())
        bad["nodes"][1]["type"] = "slep"
        invalid = await p.call(
            {
                "type": "call",
                "id": "v2",
                "channel": "node",
                "command": "validate",
                "args": {"node": bad},
            }
        )
    assert single["success"] is True and single["data"] == 7
    assert single["executedNodes"] == ["const_1795697273301"]
    assert health["result"]["status"] == "ok" and health["result"]["message"]
    assert isinstance(health["result"]["timestamp"], int)
    assert node_health["result"]["status"] == "ok"
    assert valid["result"] == {"valid": True, "errors": []}
    assert invalid["result"]["valid"] is False
    assert "slep" in invalid["result"]["errors"][0]


async def test_templates_are_atomitons_three(live: Live) -> None:
    async with page(live, n=1) as p:
        listed = await p.call(
            {"type": "call", "id": "t", "channel": "flow", "command": "listTemplates", "args": {}}
        )
        got = await p.call(
            {
                "type": "call",
                "id": "g",
                "channel": "flow",
                "command": "getTemplate",
                "args": {"id": GROUP_ID},
            }
        )
        missing = await p.call(
            {
                "type": "call",
                "id": "m",
                "channel": "flow",
                "command": "getTemplate",
                "args": {"id": "nope"},
            }
        )
    templates = {t["name"]: t["nodeCount"] for t in listed["result"]["templates"]}
    assert templates == {
        "Hello World Flow": 3,
        "Data Transform Pipeline": 4,
        "Image Processing Workflow": 6,
    }
    assert got["result"]["definition"]["name"] == "Hello World Flow"
    assert missing["error"] == "Flow template nope not found"


async def test_storage_channel_saves_to_the_flows_directory_and_broadcasts(live: Live) -> None:
    flow = {"id": "my-flow", "name": "Mine", "nodes": hello_flow()["nodes"], "edges": []}
    async with page(live, n=2) as p:
        saved = (
            await p.call(
                {
                    "type": "call",
                    "id": "s",
                    "channel": "storage",
                    "command": "saveFlow",
                    "args": {"flow": flow},
                }
            )
        )["result"]
        listed = (
            await p.call(
                {
                    "type": "call",
                    "id": "l",
                    "channel": "storage",
                    "command": "listFlows",
                    "args": {},
                }
            )
        )["result"]
        loaded = (
            await p.call(
                {
                    "type": "call",
                    "id": "o",
                    "channel": "storage",
                    "command": "loadFlow",
                    "args": {"id": "my-flow"},
                }
            )
        )["result"]
        deleted = await p.call(
            {
                "type": "call",
                "id": "d",
                "channel": "storage",
                "command": "deleteFlow",
                "args": {"id": "my-flow"},
            }
        )
        gone = await p.call(
            {
                "type": "call",
                "id": "x",
                "channel": "storage",
                "command": "loadFlow",
                "args": {"id": "my-flow"},
            }
        )
        await p.settle()
    assert saved["id"] == "my-flow" and saved["version"] == "1.0.0" and saved["savedAt"]
    assert listed["total"] == 1
    assert set(listed["flows"][0]) == {"id", "name", "nodeCount", "savedAt", "updatedAt", "version"}
    assert listed["flows"][0]["nodeCount"] == 3
    assert {"id", "name", "nodes", "edges", "metadata", "savedAt", "version"} <= set(loaded)
    assert deleted == {"type": "response", "id": "d", "result": None}
    assert gone["error"] == "Flow with id my-flow not found"
    saved_event = p.events(1, "storage:flowSaved")[0]["data"]
    assert saved_event == {"id": "my-flow", "name": "Mine", "savedAt": saved["savedAt"]}
    deleted_event = p.events(1, "storage:flowDeleted")[0]["data"]
    assert (deleted_event["id"], deleted_event["name"]) == ("my-flow", "Mine")
    assert not (live.tmp / "flows" / "my-flow.flow.json").exists()


async def test_protocol_errors_are_strings(live: Live) -> None:
    async with page(live, n=1) as p:
        unknown = await p.call({"type": "call", "id": "u", "channel": "node", "command": "fly"})
        channel = await p.call({"type": "call", "id": "c", "channel": "auth", "command": "login"})
        invalid = await p.call(
            {
                "type": "call",
                "id": "i",
                "channel": "node",
                "command": "execute",
                "args": {"node": {"id": "x"}},
            }
        )
        unknown_type = await p.call(execute_call({"id": "x", "type": "nope"}, "exec_x"))
        await p.sockets[0].send("{not json")
        await p.sockets[0].send(json.dumps({"type": "ping"}))  # ignored, like the client does
        await asyncio.sleep(0.2)
    assert unknown["error"] == "No handler for method: fly"
    assert isinstance(channel["error"], str) and "auth" in channel["error"]
    assert invalid["result"]["success"] is False
    assert invalid["result"]["error"]["code"] == "VALIDATION_FAILED"
    assert invalid["result"]["executedNodes"] == [] and invalid["result"]["duration"] == 0
    assert unknown_type["result"]["error"]["code"] == "VALIDATION_FAILED"
    assert "nope" in unknown_type["result"]["error"]["message"]
    assert unknown_type["result"]["error"]["context"]["validationErrors"]
    errors = [f for f in p.frames[0] if f.get("id") is None and "error" in f]
    assert len(errors) == 1 and errors[0]["error"].startswith("invalid JSON")


@pytest.mark.parametrize("transport", ["http"])
def test_http_fallback_takes_the_same_calls(live: Live, transport: str) -> None:
    headers = {"Origin": ORIGIN}
    call = execute_call(hello_flow(seconds=0.05), "exec_http")
    result = httpx.post(f"{live.url}/api/node/execute", json=call["args"], headers=headers)
    assert result.status_code == 200
    assert result.json()["success"] is True
    assert result.json()["executedNodes"][0] == GROUP_ID
    health = httpx.post(f"{live.url}/api/system/health", headers=headers)
    assert health.json()["message"] == "IPC connection active"
    unknown = httpx.post(f"{live.url}/api/node/fly", headers=headers)
    assert (unknown.status_code, unknown.text) == (400, "No handler for method: fly")
