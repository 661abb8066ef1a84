"""Open Atomiton-protocol sockets, and event frames broadcast to every one of them.

One page of the Atomiton client opens six sockets and listens for events on other sockets than
the one it calls on (CLIENT.md, finding 3), so every event frame goes to every connection.
Each connection sends through its own bounded queue and writer task: a broadcast never waits
on a slow client, and a client that falls ``max_queue`` frames behind is disconnected.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

from starlette.websockets import WebSocket

from atomiton.events.codec import to_jsonable

WS_TOO_SLOW = 1013  # "try again later": the client did not read its frames


class Connection:
    def __init__(self, websocket: WebSocket, *, max_queue: int = 10_000) -> None:
        self.websocket = websocket
        self._queue: asyncio.Queue[str | None] = asyncio.Queue(max_queue)
        self._writer: asyncio.Task[None] | None = None
        self.closed = False
        self._writer_stop: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._writer = asyncio.create_task(self._write())

    def send(self, frame: dict[str, Any]) -> None:
        if self.closed:
            return
        try:
            self._queue.put_nowait(json.dumps(to_jsonable(frame), ensure_ascii=False))
        except asyncio.QueueFull:
            self.closed = True
            self._writer_stop = asyncio.create_task(self._close_slow())

    async def _close_slow(self) -> None:
        with contextlib.suppress(Exception):
            await self.websocket.close(WS_TOO_SLOW, "too many unread frames")

    async def _write(self) -> None:
        while True:
            text = await self._queue.get()
            if text is None:
                return
            try:
                await self.websocket.send_text(text)
            except Exception:  # the peer went away; the reader loop will notice and clean up
                self.closed = True
                return

    async def aclose(self) -> None:
        self.closed = True
        if self._writer is not None and not self._writer.done():
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer


class Hub:
    def __init__(self) -> None:
        self.connections: set[Connection] = set()

    def add(self, conn: Connection) -> None:
        self.connections.add(conn)

    def remove(self, conn: Connection) -> None:
        self.connections.discard(conn)

    def broadcast(self, channel: str, event: str, data: Any) -> None:
        frame = {"type": "event", "channel": channel, "event": event, "data": data}
        for conn in tuple(self.connections):
            conn.send(frame)
