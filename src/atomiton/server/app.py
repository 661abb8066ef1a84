"""The server's ASGI app: one port serves the Atomiton client, the native API and the web page.

    WebSocket /                        the Atomiton client's protocol (ws://localhost:3001)
    POST      /api/{channel}/{command} the same calls over HTTP (the client's fallback)
    *         /api/v1/...              the native API (token), OpenAPI at /openapi.json
    GET       /, /static/...           the web page (its API calls carry the token)

The default port is the Atomiton client's, 3001, so the real client connects with no setting.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources
from typing import Any

from fastapi import FastAPI, Request, WebSocket
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.middleware.cors import CORSMiddleware

from atomiton.engines import LocalEngine
from atomiton.server import api
from atomiton.server.config import ServerConfig
from atomiton.server.flows import FlowStore, Templates
from atomiton.server.hub import Connection, Hub
from atomiton.server.protocol import AtomitonService, CallError
from atomiton.server.runs import RunManager
from atomiton.server.security import BodyLimit, atomiton_refusal

LOOPBACK_ORIGIN = r"^https?://(localhost|127\.0\.0\.1|\[::1\])(:\d+)?$"


def create_app(config: ServerConfig, engine: LocalEngine, *, own_engine: bool = True) -> FastAPI:
    """The app serving ``engine``; with ``own_engine`` the app closes it on shutdown."""
    if engine.store is None:
        raise ValueError("the server's engine needs a store: events are replayed from it")
    runs = RunManager(engine)
    hub = Hub()
    flows = FlowStore(config.flows_dir)
    service = AtomitonService(runs, flows, Templates(), hub)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        await runs.aclose()
        if own_engine:
            await engine.aclose()

    app = FastAPI(
        title="atomiton server",
        version="1",
        description="Run Atomiton Blueprints: node catalogue, validation, flows, runs, events.",
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.config = config
    app.state.runs = runs
    app.state.flows = flows
    app.state.service = service
    app.state.hub = hub
    app.add_middleware(
        CORSMiddleware,
        allow_origins=list(config.allowed_origins),
        allow_origin_regex=LOOPBACK_ORIGIN,
        allow_methods=["GET", "POST", "PUT", "DELETE"],
        allow_headers=["authorization", "content-type"],
    )
    app.add_middleware(BodyLimit, max_bytes=config.max_body_bytes)
    app.include_router(api.router)
    app.include_router(api.stream_router)

    @app.post("/api/{channel}/{command}", summary="An Atomiton call over HTTP", tags=["atomiton"])
    async def atomiton_http(request: Request, channel: str, command: str) -> Response:
        peer = request.client.host if request.client else None
        refusal = atomiton_refusal(
            config, request.headers, request.query_params, peer, websocket=False
        )
        if refusal is not None:
            return PlainTextResponse(refusal, 403)
        body = await request.body()
        try:
            args = json.loads(body) if body.strip() else None
        except json.JSONDecodeError as exc:
            return PlainTextResponse(f"the body is not JSON: {exc.msg}", 400)
        try:
            return JSONResponse(await service.call(channel, command, args))
        except CallError as exc:
            return PlainTextResponse(str(exc), 400)

    @app.websocket("/")
    async def atomiton_socket(websocket: WebSocket) -> None:
        peer = websocket.client.host if websocket.client else None
        refusal = atomiton_refusal(
            config, websocket.headers, websocket.query_params, peer, websocket=True
        )
        if refusal is not None:
            await websocket.close(api.WS_POLICY, refusal[:120])
            return
        await websocket.accept()
        conn = Connection(websocket)
        conn.start()
        hub.add(conn)
        tasks: set[asyncio.Task[None]] = set()
        try:
            while True:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    break
                raw = message.get("bytes") or b""
                text = message.get("text") or raw.decode("utf-8", "replace")
                if len(text.encode("utf-8")) > config.max_message_bytes:
                    await websocket.close(api.WS_TOO_BIG, "message too big")
                    break
                task = asyncio.create_task(_answer(service, conn, text))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
        finally:
            hub.remove(conn)
            for task in tasks:
                task.cancel()
            await conn.aclose()

    static = resources.files("atomiton.server").joinpath("static")

    @app.get("/", include_in_schema=False)
    async def page() -> HTMLResponse:
        return HTMLResponse(static.joinpath("index.html").read_text(encoding="utf-8"))

    app.mount("/static", StaticFiles(packages=[("atomiton.server", "static")]), name="static")
    return app


async def _answer(service: AtomitonService, conn: Connection, text: str) -> None:
    """Answer one frame: a ``call`` gets a ``response`` with ``result`` or a string ``error``."""
    try:
        frame: Any = json.loads(text)
    except json.JSONDecodeError as exc:
        conn.send({"type": "response", "id": None, "error": f"invalid JSON: {exc.msg}"})
        return
    if not isinstance(frame, dict) or frame.get("type") != "call":
        return  # the client ignores what it does not know; so does the server
    call_id = frame.get("id")
    try:
        result = await service.call(
            str(frame.get("channel")), str(frame.get("command")), frame.get("args")
        )
    except CallError as exc:
        conn.send({"type": "response", "id": call_id, "error": str(exc)})
    except Exception as exc:  # a bug must still answer the call, as a string
        conn.send({"type": "response", "id": call_id, "error": f"internal error: {exc}"})
    else:
        conn.send({"type": "response", "id": call_id, "result": result})
