"""The native API under ``/api/v1``: nodes, validation, flows, runs and a run's event stream.

Every route wants the server token (see :mod:`atomiton.server.config`). Errors are JSON
``{"detail": ...}``: 400 a Blueprint that does not load, 404 an unknown flow or run, 409 a run
id already taken, 413 a body over the limit, 422 a Blueprint that does not validate (with the
report under ``validation``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Annotated, Any, Literal

import yaml
from fastapi import APIRouter, Depends, HTTPException, Query, Request, WebSocket
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field
from starlette.websockets import WebSocketDisconnect

from atomiton.blueprint import Blueprint, load_blueprint
from atomiton.blueprint.format import blueprint_json_schema
from atomiton.errors import BlueprintError, RunNotFoundError, ValidationError
from atomiton.events import encode_event
from atomiton.server.flows import FlowNotFoundError, FlowStore
from atomiton.server.runs import RunManager
from atomiton.server.security import token_refusal

WS_POLICY = 1008
WS_TOO_BIG = 1009
WS_NOT_FOUND = 4404

_bearer = HTTPBearer(auto_error=False, description="The token 'atomiton serve' printed.")


def require_token(
    request: Request, _creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> None:
    refusal = token_refusal(
        request.app.state.config, request.headers, request.query_params, websocket=False
    )
    if refusal is not None:
        raise HTTPException(401, refusal, headers={"WWW-Authenticate": "Bearer"})


class BlueprintRequest(BaseModel):
    blueprint: dict[str, Any] | str | None = Field(
        None, description="An inline Blueprint: a mapping, or YAML/JSON text."
    )
    flow_id: str | None = Field(None, description="The id of a stored flow, instead.")
    inputs: dict[str, Any] = Field(default_factory=dict)


class RunRequest(BlueprintRequest):
    variables: dict[str, Any] = Field(default_factory=dict)
    run_id: str | None = Field(None, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
    on_error: Literal["fail-fast", "continue"] | None = None


def _runs(request: Request) -> RunManager:
    runs: RunManager = request.app.state.runs
    return runs


def _flows(request: Request) -> FlowStore:
    flows: FlowStore = request.app.state.flows
    return flows


def resolve_blueprint(body: BlueprintRequest, flows: FlowStore) -> Blueprint:
    if (body.blueprint is None) == (body.flow_id is None):
        raise HTTPException(400, "give exactly one of 'blueprint' (inline) or 'flow_id'")
    try:
        if body.flow_id is not None:
            return load_blueprint(flows.path(body.flow_id))
        data = body.blueprint
        if isinstance(data, str):  # parsed here: a one-line string must not name a server file
            data = yaml.safe_load(data)
            if not isinstance(data, dict):
                raise BlueprintError("expected a mapping with 'id', 'nodes' and 'edges'")
        assert data is not None
        return load_blueprint(data)
    except FlowNotFoundError as exc:
        raise HTTPException(404, str(exc)) from None
    except (BlueprintError, yaml.YAMLError, ValueError) as exc:
        raise HTTPException(400, str(exc)) from None


router = APIRouter(prefix="/api/v1", dependencies=[Depends(require_token)])
stream_router = APIRouter(prefix="/api/v1")


@router.get("/nodes", summary="The node catalogue, each with its JSON Schemas")
def list_nodes(request: Request) -> list[dict[str, Any]]:
    return [d.to_dict() for d in request.app.state.runs.engine.registry]


@router.get("/nodes/{node_type}", summary="One node definition")
def get_node(request: Request, node_type: str) -> dict[str, Any]:
    registry = request.app.state.runs.engine.registry
    definition = registry.get(node_type)
    if definition is None:
        hint = ", ".join(registry.suggest(node_type)) or "see GET /api/v1/nodes"
        raise HTTPException(404, f"no node type '{node_type}' (did you mean: {hint})")
    result: dict[str, Any] = definition.to_dict()
    return result


@router.get("/schema/blueprint", summary="The JSON Schema of a Blueprint")
def blueprint_schema() -> dict[str, Any]:
    return blueprint_json_schema()


@router.post("/validate", summary="Validate a Blueprint: every problem in one report")
def validate(request: Request, body: BlueprintRequest) -> dict[str, Any]:
    bp = resolve_blueprint(body, _flows(request))
    report: dict[str, Any] = _runs(request).engine.validate(bp, inputs=body.inputs).to_dict()
    return report


@router.get("/flows", summary="Stored flows")
def list_flows(request: Request) -> list[dict[str, Any]]:
    return _flows(request).list()


@router.get("/flows/{flow_id}", summary="One stored flow")
def get_flow(request: Request, flow_id: str) -> dict[str, Any]:
    try:
        return _flows(request).load(flow_id)
    except FlowNotFoundError as exc:
        raise HTTPException(404, str(exc)) from None
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from None


@router.put("/flows/{flow_id}", summary="Store a flow under an id")
def put_flow(request: Request, flow_id: str, flow: dict[str, Any]) -> dict[str, Any]:
    try:
        load_blueprint({**flow, "id": flow_id})  # refuse what could never run
        return _flows(request).save(flow, flow_id)
    except (BlueprintError, ValueError) as exc:
        raise HTTPException(400, str(exc)) from None


@router.delete("/flows/{flow_id}", summary="Delete a stored flow")
def delete_flow(request: Request, flow_id: str) -> dict[str, Any]:
    try:
        return _flows(request).delete(flow_id)
    except FlowNotFoundError as exc:
        raise HTTPException(404, str(exc)) from None
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from None


@router.post("/runs", status_code=202, summary="Start a run; it goes on in the background")
async def start_run(request: Request, body: RunRequest) -> dict[str, Any]:
    bp = resolve_blueprint(body, _flows(request))
    try:
        handle = await _runs(request).start(
            bp,
            inputs=body.inputs,
            variables=body.variables,
            run_id=body.run_id,
            on_error=body.on_error,
        )
    except ValidationError as exc:
        raise HTTPException(
            422, {"message": exc.message, "validation": exc.report.to_dict()}
        ) from None
    except ValueError as exc:
        raise HTTPException(409, str(exc)) from None
    return {"run_id": handle.run_id, "status": "running", "graph": handle.graph}


@router.get("/runs", summary="Recent runs, newest first")
def list_runs(
    request: Request,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    status: str | None = None,
) -> list[dict[str, Any]]:
    return [r.to_dict() for r in _runs(request).store.list_runs(limit=limit, status=status)]


@router.get("/runs/{run_id}", summary="A run: node states, outputs, errors, logs")
def get_run(request: Request, run_id: str) -> dict[str, Any]:
    runs = _runs(request)
    handle = runs.get(run_id)
    try:
        record = runs.store.get_run(run_id).to_dict()
    except RunNotFoundError as exc:
        if handle is None:
            raise HTTPException(404, str(exc)) from None
        status = "running" if not handle.done.is_set() else "failed"
        record = {"run_id": run_id, "status": status, "error": handle.error, "nodes": {}}
    handle = handle or runs.get(record["run_id"])
    record["graph"] = handle.graph if handle is not None else None
    return record


@router.get("/runs/{run_id}/events", summary="A run's stored events with seq > after")
def run_events(
    request: Request, run_id: str, after: Annotated[int, Query(ge=0)] = 0
) -> list[dict[str, Any]]:
    store = _runs(request).store
    store.flush()
    return [encode_event(e) for e in store.events(run_id, after_seq=after)]


@router.post("/runs/{run_id}/cancel", summary="Cancel a run in progress")
async def cancel_run(request: Request, run_id: str) -> dict[str, Any]:
    runs = _runs(request)
    if not await runs.exists(run_id):
        raise HTTPException(404, f"no run '{run_id}'")
    return {"run_id": run_id, "cancelled": runs.cancel(run_id)}


@stream_router.websocket("/runs/{run_id}/events")
async def stream_events(
    websocket: WebSocket, run_id: str, after: Annotated[int, Query(ge=0)] = 0
) -> None:
    """Replays the stored events with ``seq > after``, then live ones, one JSON frame each, and
    closes (1000) after ``run.finished``; reconnect with ``?after=<last seq>`` to resume."""
    app = websocket.app
    refusal = token_refusal(
        app.state.config, websocket.headers, websocket.query_params, websocket=True
    )
    if refusal is not None:
        await websocket.close(WS_POLICY, refusal[:120])
        return
    runs: RunManager = app.state.runs
    await websocket.accept()
    if not await runs.exists(run_id):
        await websocket.close(WS_NOT_FOUND, f"no run '{run_id}'")
        return
    limit = app.state.config.max_message_bytes

    async def pump() -> None:
        async for event in runs.follow(run_id, after):
            await websocket.send_text(json.dumps(encode_event(event), ensure_ascii=False))

    async def listen() -> None:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                raise WebSocketDisconnect(message.get("code", 1000))
            if len(message.get("text") or message.get("bytes") or b"") > limit:
                await websocket.close(WS_TOO_BIG, "message too big")
                raise WebSocketDisconnect(WS_TOO_BIG)

    tasks = [asyncio.create_task(pump()), asyncio.create_task(listen())]
    done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    if tasks[0] in done and tasks[0].exception() is None:
        with contextlib.suppress(Exception):
            await websocket.close(1000)
