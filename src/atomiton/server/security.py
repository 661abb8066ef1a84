"""Request checks: the token of the native API, the allow-lists of the Atomiton endpoints, and
the request body limit (an ASGI middleware, so no route can forget it)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from atomiton.server.config import ServerConfig, is_loopback


def presented_token(
    headers: Mapping[str, str], query: Mapping[str, str], *, allow_query: bool
) -> str | None:
    """The token a caller presents: ``Authorization: Bearer``, or ``?token=`` where allowed."""
    auth = headers.get("authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    if allow_query:
        return query.get("token") or None
    return None


def token_refusal(
    config: ServerConfig,
    headers: Mapping[str, str],
    query: Mapping[str, str],
    *,
    websocket: bool,
) -> str | None:
    """Why a native-API request is refused, or None when its token is right."""
    token = presented_token(headers, query, allow_query=websocket)
    if token is None:
        where = "'Authorization: Bearer <token>'" + (" or '?token=<token>'" if websocket else "")
        return f"this API needs the server token: send {where} (atomiton serve prints it)"
    if not config.token_ok(token):
        return "wrong token: use the one 'atomiton serve' printed (or the file it names)"
    return None


def atomiton_refusal(
    config: ServerConfig,
    headers: Mapping[str, str],
    query: Mapping[str, str],
    peer: str | None,
    *,
    websocket: bool,
) -> str | None:
    """Why an Atomiton-protocol request is refused, or None when it may go on.

    With the right token any caller may go on. Without one, only a loopback peer, on an allowed
    ``Host``, from an allowed ``Origin`` (a browser always sends one), and only while the server
    listens on loopback: token-free access is a local convenience, never a remote one.
    """
    token = presented_token(headers, query, allow_query=True)
    if token is not None:
        return None if config.token_ok(token) else "wrong token"
    host = headers.get("host", "")
    if not config.host_allowed(host):
        return f"Host {host!r} is not allowed (DNS rebinding protection); see --allow-host"
    origin = headers.get("origin")
    if origin is None:
        kind = "WebSocket" if websocket else "request"
        return f"a {kind} without an Origin header must present the server token"
    if not config.origin_allowed(origin):
        return f"Origin {origin!r} is not allowed; add it with --allow-origin"
    if config.remote or peer is None or not is_loopback(peer):
        return "token-free access is only for loopback clients of a loopback server"
    return None


class BodyLimit:
    """Refuse request bodies over ``max_bytes`` with 413: by Content-Length, or by counting a
    chunked body before the app sees any of it."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        length = headers.get("content-length", "")
        if length.isdigit() and int(length) > self.max_bytes:
            await self._refuse(send, int(length))
            return
        if length.isdigit():  # the server holds the client to its Content-Length
            await self.app(scope, receive, send)
            return
        body = bytearray()  # chunked: read it all here, counting, then hand it on whole
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            body += message.get("body", b"")
            if len(body) > self.max_bytes:
                await self._refuse(send, len(body))
                return
            if not message.get("more_body", False):
                break
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": bytes(body), "more_body": False}

        await self.app(scope, replay, send)

    async def _refuse(self, send: Send, size: int) -> None:
        body: dict[str, Any] = {
            "detail": f"request body of {size} bytes is over the limit of {self.max_bytes} "
            "bytes; send a smaller Blueprint or raise --max-body-bytes"
        }
        data = json.dumps(body).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(data)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": data})
