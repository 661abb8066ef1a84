"""Running the app under uvicorn: in the foreground (``atomiton serve``) or in a thread
(tests, benchmarks, embedding). The listening socket is bound here, so port 0 works and the
real port is known before the first request.
"""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path
from types import TracebackType

import uvicorn
from fastapi import FastAPI

from atomiton.server.config import ServerConfig


def bind_socket(host: str, port: int) -> socket.socket:
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(address)
    sock.set_inheritable(True)
    return sock


def uvicorn_server(
    app: FastAPI,
    config: ServerConfig,
    *,
    tls_certfile: Path | None = None,
    tls_keyfile: Path | None = None,
    log_level: str = "warning",
) -> uvicorn.Server:
    return uvicorn.Server(
        uvicorn.Config(
            app,
            ws="websockets-sansio",
            ws_max_size=config.max_message_bytes,
            ssl_certfile=str(tls_certfile) if tls_certfile else None,
            ssl_keyfile=str(tls_keyfile) if tls_keyfile else None,
            log_level=log_level,
            lifespan="on",
            # The engine's loop, not uvloop: it busy-polls for worker answers (Node.js nodes,
            # the editor's JavaScript transforms), and moved events as fast as uvloop in
            # bench_server_events (5,107-5,251 against 4,731-4,911 events/s, one session).
            loop="atomiton.runtimes.worker.busypoll:new_event_loop",
            timeout_graceful_shutdown=5,
        )
    )


class ServerThread:
    """``with ServerThread(app, config) as s:`` serves on ``s.port`` until the block ends."""

    def __init__(self, app: FastAPI, config: ServerConfig) -> None:
        self.app = app
        self.sock = bind_socket(config.host, config.port)
        self.port: int = self.sock.getsockname()[1]
        self.server = uvicorn_server(app, config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the server thread did not start; see its log above")
            time.sleep(0.01)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.server.should_exit = True
        self.thread.join(30)
        self.sock.close()
