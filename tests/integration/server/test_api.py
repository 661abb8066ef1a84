"""The native REST API and the run event stream, against a real server on loopback."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
import pytest
from server_support import Live, chain, flow
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosedError


def wait_finished(api: httpx.Client, run_id: str, timeout: float = 20) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        record: dict[str, Any] = api.get(f"/api/v1/runs/{run_id}").json()
        if record["status"] not in ("running",):
            return record
        time.sleep(0.05)
    raise AssertionError(f"run {run_id} did not finish within {timeout} s")


async def collect(live: Live, run_id: str, after: int = 0, limit: int | None = None) -> list[Any]:
    url = f"{live.ws}/api/v1/runs/{run_id}/events?after={after}&token={live.token}"
    frames: list[Any] = []
    async with connect(url) as ws:
        async for message in ws:
            frames.append(json.loads(message))
            if limit is not None and len(frames) >= limit:
                break
    return frames


def test_node_catalogue_lists_definitions_with_json_schemas(api: httpx.Client) -> None:
    nodes = api.get("/api/v1/nodes").json()
    by_id = {n["id"]: n for n in nodes}
    assert "sleep" in by_id
    sleep = api.get("/api/v1/nodes/sleep").json()
    assert sleep["parametersSchema"]["properties"]["seconds"]["type"] == "number"
    missing = api.get("/api/v1/nodes/slep")
    assert missing.status_code == 404
    assert "sleep" in missing.json()["detail"]
    schema = api.get("/api/v1/schema/blueprint").json()
    assert schema["title"] == "Atomiton Blueprint"


def test_openapi_document_names_every_route(live: Live) -> None:
    paths = httpx.get(f"{live.url}/openapi.json").json()["paths"]
    for path in ("/api/v1/nodes", "/api/v1/validate", "/api/v1/flows", "/api/v1/runs",
                 "/api/v1/runs/{run_id}", "/api/v1/runs/{run_id}/cancel",
                 "/api/v1/flows/{flow_id}", "/api/{channel}/{command}"):  # fmt: skip
        assert path in paths


def test_validate_reports_every_problem(api: httpx.Client) -> None:
    ok = api.post("/api/v1/validate", json={"blueprint": chain(3)}).json()
    assert ok["valid"] is True
    bad = flow([{"id": "a", "type": "slep"}, {"id": "b", "type": "const"}], [("a", "zz")])
    report = api.post("/api/v1/validate", json={"blueprint": bad}).json()
    codes = {e["code"] for e in report["errors"]}
    assert report["valid"] is False
    assert {"unknown-node-type", "edge-missing-target"} <= codes
    text = api.post("/api/v1/validate", json={"blueprint": "id: t\nnodes: [{id: a, type: const}]"})
    assert text.json()["valid"] is True
    broken = api.post("/api/v1/validate", json={"blueprint": {"nodes": "nope"}})
    assert broken.status_code == 400
    neither = api.post("/api/v1/validate", json={})
    assert neither.status_code == 400


def test_flows_crud_on_the_flows_directory(live: Live, api: httpx.Client) -> None:
    assert api.get("/api/v1/flows").json() == []
    saved = api.put("/api/v1/flows/my-flow", json=chain(3)).json()
    assert saved["id"] == "my-flow"
    assert (live.tmp / "flows" / "my-flow.flow.json").is_file()
    listed = api.get("/api/v1/flows").json()
    assert [(f["id"], f["nodeCount"]) for f in listed] == [("my-flow", 3)]
    assert api.get("/api/v1/flows/my-flow").json()["nodes"][0]["id"] == "n1"
    assert api.put("/api/v1/flows/..%2Fescape", json=chain(2)).status_code in (400, 404)
    assert api.put("/api/v1/flows/bad", json={"nodes": 5}).status_code == 400
    assert api.delete("/api/v1/flows/my-flow").json()["id"] == "my-flow"
    assert api.get("/api/v1/flows/my-flow").status_code == 404
    assert api.delete("/api/v1/flows/my-flow").status_code == 404


def test_start_returns_at_once_and_the_run_is_inspectable(api: httpx.Client) -> None:
    started = time.monotonic()
    response = api.post("/api/v1/runs", json={"blueprint": chain(3, seconds=0.5)})
    assert response.status_code == 202
    assert time.monotonic() - started < 0.5  # the run goes on in the background
    run_id = response.json()["run_id"]
    assert api.get(f"/api/v1/runs/{run_id}").json()["status"] == "running"
    record = wait_finished(api, run_id)
    assert record["status"] == "succeeded"
    assert record["outputs"] == {"n3": {"output": 1}}
    assert record["nodes"]["n2"]["logs"][0]["message"] == "slept 0.5s"
    assert [n["id"] for n in record["graph"]["nodes"]] == ["n1", "n2", "n3"]
    assert run_id in [r["run_id"] for r in api.get("/api/v1/runs").json()]
    assert api.get("/api/v1/runs/nope").status_code == 404


def test_runs_started_through_the_server_busy_poll_for_worker_answers(api: httpx.Client) -> None:
    """The server runs on the engine's loop (busypoll.new_event_loop), not uvicorn's default."""
    response = api.post(
        "/api/v1/runs", json={"blueprint": flow([{"id": "b", "type": "busy-polling"}])}
    )
    record = wait_finished(api, response.json()["run_id"])
    assert record["outputs"] == {"b": {"output": True}}


def test_start_a_stored_flow_with_inputs_and_variables(api: httpx.Client) -> None:
    bp = flow(
        [{"id": "c", "type": "const", "parameters": {"value": "{{ $vars.greeting }}"}}],
        variables={"greeting": "hi"},
    )
    api.put("/api/v1/flows/greet", json=bp)
    run = api.post("/api/v1/runs", json={"flow_id": "greet", "variables": {"greeting": "yo"}})
    record = wait_finished(api, run.json()["run_id"])
    assert record["outputs"] == {"c": {"output": "yo"}}
    assert api.post("/api/v1/runs", json={"flow_id": "nope"}).status_code == 404


def test_invalid_blueprint_is_refused_before_it_runs(api: httpx.Client) -> None:
    response = api.post("/api/v1/runs", json={"blueprint": flow([{"id": "a", "type": "x"}])})
    assert response.status_code == 422
    assert response.json()["detail"]["validation"]["errors"][0]["code"] == "unknown-node-type"


def test_a_taken_run_id_is_a_conflict(api: httpx.Client) -> None:
    body = {"blueprint": chain(2, seconds=0.3), "run_id": "fixed-id"}
    assert api.post("/api/v1/runs", json=body).status_code == 202
    assert api.post("/api/v1/runs", json=body).status_code == 409


def test_cancel_a_run(api: httpx.Client) -> None:
    run_id = api.post("/api/v1/runs", json={"blueprint": chain(3, seconds=10)}).json()["run_id"]
    time.sleep(0.2)
    assert api.post(f"/api/v1/runs/{run_id}/cancel").json() == {"run_id": run_id, "cancelled": True}
    record = wait_finished(api, run_id)
    assert record["status"] == "cancelled"
    assert api.post(f"/api/v1/runs/{run_id}/cancel").json()["cancelled"] is False
    assert api.post("/api/v1/runs/nope/cancel").status_code == 404


async def test_event_stream_replays_then_goes_live_without_gaps(
    live: Live, api: httpx.Client
) -> None:
    """Subscribe mid-run: the early events come from the store, the rest live."""
    body = {"blueprint": chain(5, seconds=0.3)}
    run_id = (await asyncio.to_thread(api.post, "/api/v1/runs", json=body)).json()["run_id"]
    await asyncio.sleep(0.4)
    first, second = await asyncio.gather(collect(live, run_id), collect(live, run_id))
    seqs = [f["seq"] for f in first]
    assert seqs == list(range(1, len(seqs) + 1))
    assert first == second
    assert first[0]["kind"] == "run.started"
    assert first[-1]["kind"] == "run.finished"
    assert {"run_id", "seq", "kind", "time", "node_id", "payload"} == set(first[0])
    stored = (await asyncio.to_thread(api.get, f"/api/v1/runs/{run_id}/events")).json()
    assert stored == first


async def test_event_stream_resumes_after_a_sequence_number(live: Live, api: httpx.Client) -> None:
    body = {"blueprint": chain(4, seconds=0.3)}
    run_id = (await asyncio.to_thread(api.post, "/api/v1/runs", json=body)).json()["run_id"]
    head = await collect(live, run_id, limit=3)  # then the connection drops
    tail = await collect(live, run_id, after=head[-1]["seq"])
    seqs = [f["seq"] for f in head + tail]
    assert seqs == list(range(1, len(seqs) + 1))
    assert tail[-1]["kind"] == "run.finished"
    finished = await collect(live, run_id, after=seqs[-2])  # a finished run: replay only
    assert [f["seq"] for f in finished] == [seqs[-1]]


async def test_event_stream_of_an_unknown_run_closes_with_4404(live: Live) -> None:
    with pytest.raises(ConnectionClosedError) as caught:
        await collect(live, "no-such-run")
    assert caught.value.rcvd is not None
    assert caught.value.rcvd.code == 4404
