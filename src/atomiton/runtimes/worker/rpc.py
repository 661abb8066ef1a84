"""One worker process and the JSON-RPC conversation with it.

A :class:`WorkerConnection` owns a child process started in its own session (so killing its
process group also kills anything the node spawned), writes requests to its stdin, reads
responses and notifications from its stdout, and keeps the tail of its stderr for error messages.
It knows nothing of nodes or pools: :mod:`.supervisor` decides when to cancel, kill or replace.
Calls are strictly one at a time, so a response is read inline by the caller (no reader task,
no futures): that is what keeps a warm round trip in the tens of microseconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from atomiton.errors import ProtocolError
from atomiton.runtimes.worker.framing import encode_frame, read_frame

PROTOCOL_VERSION = "1.0"

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
NODE_FAILED = -32000
UNKNOWN_NODE = -32001
CANCELLED = -32800

STDERR_TAIL_BYTES = 8192

Notification = Callable[[str, Mapping[str, Any]], None]
"""Receives a worker notification: method name and params."""


class RemoteCallError(Exception):
    """The worker answered a request with a JSON-RPC error (converted by the supervisor)."""

    def __init__(self, code: int, message: str, data: Mapping[str, Any] | None) -> None:
        self.code = code
        self.remote_message = message
        self.data: dict[str, Any] = dict(data or {})
        super().__init__(f"[{code}] {message}")


class WorkerExitedError(Exception):
    """The worker's stdout closed: it died (converted to WorkerCrashedError by the supervisor)."""

    def __init__(self, returncode: int | None, stderr_tail: str) -> None:
        self.returncode = returncode
        self.stderr_tail = stderr_tail
        super().__init__(f"worker exited with {describe_exit(returncode)}")


def describe_exit(returncode: int | None) -> str:
    if returncode is None:
        return "no exit status yet"
    if returncode < 0:
        try:
            return f"signal {signal.Signals(-returncode).name} (status {returncode})"
        except ValueError:
            return f"signal {-returncode} (status {returncode})"
    return f"exit status {returncode}"


class WorkerConnection:
    """A live worker process speaking the protocol on its stdin/stdout."""

    def __init__(self, process: asyncio.subprocess.Process, name: str) -> None:
        assert process.stdin is not None
        assert process.stdout is not None
        assert process.stderr is not None
        self.process = process
        self.name = name
        self.info: dict[str, Any] = {}
        self._stdin = process.stdin
        self._stdout = process.stdout
        self._stderr = bytearray()
        self._stderr_task = asyncio.create_task(self._drain_stderr(process.stderr))
        self._next_id = 0
        self._killed = False

    @classmethod
    async def spawn(
        cls,
        argv: Sequence[str],
        *,
        name: str,
        cwd: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> WorkerConnection:
        process = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=cwd,
            env=dict(env) if env is not None else None,
            start_new_session=True,
        )
        return cls(process, name)

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def alive(self) -> bool:
        return self.process.returncode is None and not self._stdout.at_eof()

    def stderr_tail(self, limit: int = 2000) -> str:
        return bytes(self._stderr[-limit:]).decode("utf-8", errors="replace").strip()

    async def initialize(self, engine_version: str, timeout_s: float) -> dict[str, Any]:
        """The handshake: refuse a worker whose protocol major version differs from ours."""
        params = {
            "protocolVersion": PROTOCOL_VERSION,
            "engine": {"name": "atomiton", "version": engine_version},
        }
        async with asyncio.timeout(timeout_s):
            request_id = await self.send_request("initialize", params)
            result = await self.read_response(request_id)
        if not isinstance(result, dict):
            raise ProtocolError(f"{self.name}: initialize result must be an object, got {result!r}")
        version = str(result.get("protocolVersion", ""))
        if version.split(".")[0] != PROTOCOL_VERSION.split(".")[0]:
            raise ProtocolError(
                f"{self.name} speaks worker protocol {version!r}, "
                f"the engine speaks {PROTOCOL_VERSION!r}",
                hint="update the worker (or its SDK) to the engine's major protocol version",
            )
        self.info = result
        return result

    async def send_request(self, method: str, params: Mapping[str, Any] | None = None) -> int:
        self._next_id += 1
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": self._next_id, "method": method}
        if params is not None:
            message["params"] = params
        await self._write(message)
        return self._next_id

    async def notify(self, method: str, params: Mapping[str, Any] | None = None) -> None:
        message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            message["params"] = params
        await self._write(message)

    async def read_response(
        self, request_id: int, on_notification: Notification | None = None
    ) -> Any:
        """Read until the answer to ``request_id``; pass notifications on; raise on error."""
        while True:
            message = await read_frame(self._stdout)
            if message is None:
                raise await self._exited()
            if "id" not in message:
                if on_notification is not None and isinstance(message.get("method"), str):
                    on_notification(message["method"], message.get("params") or {})
                continue
            if message["id"] != request_id:
                continue  # a late answer to a call abandoned earlier
            error = message.get("error")
            if error is not None:
                if not isinstance(error, dict) or not isinstance(error.get("code"), int):
                    raise ProtocolError(f"{self.name}: malformed error object {error!r}")
                data = error.get("data")
                raise RemoteCallError(
                    error["code"],
                    str(error.get("message", "")),
                    data if isinstance(data, dict) else None,
                )
            if "result" not in message:
                raise ProtocolError(
                    f"{self.name}: response {request_id} has neither result nor error"
                )
            return message["result"]

    async def request(
        self,
        method: str,
        params: Mapping[str, Any] | None = None,
        on_notification: Notification | None = None,
    ) -> Any:
        return await self.read_response(await self.send_request(method, params), on_notification)

    async def kill(self) -> int | None:
        """SIGKILL the worker's whole process group and reap it; return its exit status."""
        if not self._killed:
            self._killed = True
            # Even when the leader is gone its children may still hold the group: kill it anyway.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, signal.SIGKILL)
        returncode = await self.process.wait()
        await self._finish_stderr()
        return returncode

    async def close(self, grace_s: float = 1.0) -> int | None:
        """Ask politely (``shutdown``, ``exit``), then kill what is left after ``grace_s``."""
        if self.process.returncode is None:
            try:
                async with asyncio.timeout(grace_s):
                    await self.request("shutdown")
                    await self.notify("exit")
                    await self.process.wait()
            except (TimeoutError, OSError, ProtocolError, RemoteCallError, WorkerExitedError):
                pass
        return await self.kill()

    async def _write(self, message: Mapping[str, Any]) -> None:
        try:
            self._stdin.write(encode_frame(message))
            await self._stdin.drain()
        except (BrokenPipeError, ConnectionResetError):
            raise await self._exited() from None

    async def _exited(self) -> WorkerExitedError:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(2.0):
                await self.process.wait()
        await self._finish_stderr()
        return WorkerExitedError(self.process.returncode, self.stderr_tail())

    async def _finish_stderr(self) -> None:
        # Grandchildren may keep stderr open after the worker died: do not wait for them long.
        await asyncio.wait({self._stderr_task}, timeout=0.5)
        self._stderr_task.cancel()

    async def _drain_stderr(self, stream: asyncio.StreamReader) -> None:
        while chunk := await stream.read(4096):
            self._stderr += chunk
            if len(self._stderr) > 2 * STDERR_TAIL_BYTES:
                del self._stderr[:-STDERR_TAIL_BYTES]
