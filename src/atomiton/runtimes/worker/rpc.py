"""One worker process and the JSON-RPC conversation with it.

A :class:`WorkerConnection` owns a child process started in its own session (so killing its
process group also kills anything the node spawned), writes requests to its stdin, reads
responses and notifications from its stdout, and keeps the tail of its stderr for error messages.
It knows nothing of nodes or pools: :mod:`.supervisor` decides when to cancel, kill or replace.

The hot path is as short as asyncio allows, because a warm round trip is tens of microseconds:
the worker's stdin and stdout are plain non-blocking pipes, not asyncio streams. A request is one
``os.write`` of the whole frame (the rest, if the pipe is full, goes out from a writer callback);
a reader callback registered once reads whatever arrived, decodes frames into an inbox and wakes
the caller waiting in :meth:`WorkerConnection.read_response`. One event-loop turn per response,
no reader task, no thread; on the engine's own loop the caller usually polls for its answer in
place first (:class:`~.busypoll.AnswerPoller`) and reads it with no loop turn at all. Calls are
strictly one at a time, so the inbox holds at most one response plus the notifications that
came before it; an abandoned call's late answer is skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from atomiton.errors import ProtocolError
from atomiton.runtimes.worker.busypoll import answer_poller, selector_of
from atomiton.runtimes.worker.framing import (
    EncodedParams,
    FrameDecoder,
    encode_frame,
    encode_request,
)

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

    def __init__(
        self, process: asyncio.subprocess.Process, name: str, stdin_fd: int, stdout_fd: int
    ) -> None:
        """Take over ``process`` and our ends of its stdin (write) and stdout (read) pipes."""
        assert process.stderr is not None
        self.process = process
        self.name = name
        self.info: dict[str, Any] = {}
        self._loop = asyncio.get_running_loop()
        self._spinner = selector_of(self._loop)
        """The loop's busy-polling selector, told when an answer is due (see .busypoll)."""
        self._answers = answer_poller(self._loop, stdout_fd)
        """Waits for an answer in the calling task, no loop turn (see busypoll.AnswerPoller)."""
        self._stdin_fd, self._stdout_fd = stdin_fd, stdout_fd
        os.set_blocking(stdin_fd, False)
        os.set_blocking(stdout_fd, False)
        self._decoder = FrameDecoder()
        self._inbox: deque[dict[str, Any]] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._eof = False
        self._broken: ProtocolError | None = None
        self._unsent = bytearray()
        """Frame bytes the pipe did not take yet (a full pipe); sent by :meth:`_on_writable`."""
        self._flushed = asyncio.Event()
        self._flushed.set()
        self._write_failed = False
        self._loop.add_reader(stdout_fd, self._on_readable)
        self._stderr = bytearray()
        self._stderr_task = asyncio.create_task(self._drain_stderr(process.stderr))
        self._next_id = 0
        self._killed = False
        self._pipes_open = True

    @classmethod
    async def spawn(
        cls,
        argv: Sequence[str],
        *,
        name: str,
        cwd: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> WorkerConnection:
        # Our ends are close-on-exec (os.pipe's default): no other child inherits them, so the
        # worker's death is an end of file here.
        child_stdin, stdin_fd = os.pipe()
        stdout_fd, child_stdout = os.pipe()
        try:
            process = await asyncio.create_subprocess_exec(
                *argv,
                stdin=child_stdin,
                stdout=child_stdout,
                stderr=asyncio.subprocess.PIPE,
                cwd=cwd,
                env=dict(env) if env is not None else None,
                start_new_session=True,
            )
        except BaseException:
            os.close(stdin_fd)
            os.close(stdout_fd)
            raise
        finally:
            os.close(child_stdin)
            os.close(child_stdout)
        return cls(process, name, stdin_fd, stdout_fd)

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def alive(self) -> bool:
        return self.process.returncode is None and not self._eof

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

    async def send_request(
        self, method: str, params: Mapping[str, Any] | EncodedParams | None = None
    ) -> int:
        self._next_id += 1
        if params is None:
            frame = encode_frame({"jsonrpc": "2.0", "id": self._next_id, "method": method})
        else:
            frame = encode_request(self._next_id, method, params)
        await self._send(frame)
        if self._spinner is not None:
            self._spinner.expect_answer()
        return self._next_id

    async def notify(self, method: str, params: Mapping[str, Any] | None = None) -> None:
        message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            message["params"] = params
        await self._send(encode_frame(message))

    async def read_response(
        self, request_id: int, on_notification: Notification | None = None
    ) -> Any:
        """Read until the answer to ``request_id``; pass notifications on; raise on error.

        Cancel-safe: a message stays in the inbox until it is handled.
        """
        inbox = self._inbox
        while True:
            while not inbox:
                if self._broken is not None:
                    raise self._broken
                if self._eof:
                    raise await self._exited()
                if self._answers is not None and self._answers.wait():
                    self._on_readable()  # the answer is there: read it in this task step
                    continue
                self._waiter = self._loop.create_future()
                try:
                    await self._waiter
                finally:
                    self._waiter = None
            message = inbox.popleft()
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
        params: Mapping[str, Any] | EncodedParams | None = None,
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
        self._close_pipes()
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

    async def _send(self, frame: bytes) -> None:
        """Send one frame: a single ``os.write`` unless the pipe is full."""
        if not self._pipes_open or self._write_failed:
            raise await self._exited()
        if not self._unsent:
            try:
                sent = os.write(self._stdin_fd, frame)
            except BlockingIOError:
                sent = 0
            except (BrokenPipeError, ConnectionResetError):
                raise await self._exited() from None
            if sent == len(frame):
                return
            self._unsent += memoryview(frame)[sent:]
            self._flushed.clear()
            self._loop.add_writer(self._stdin_fd, self._on_writable)
        else:
            self._unsent += frame  # after the bytes still queued: frames never interleave
        await self._flushed.wait()
        if self._write_failed or not self._pipes_open:
            raise await self._exited()

    def _on_writable(self) -> None:
        try:
            sent = os.write(self._stdin_fd, self._unsent)
        except BlockingIOError:
            return
        except OSError:  # the worker closed its stdin or died
            self._write_failed = True
            sent = len(self._unsent)
        del self._unsent[:sent]
        if not self._unsent:
            self._loop.remove_writer(self._stdin_fd)
            self._flushed.set()

    def _on_readable(self) -> None:
        try:
            data = os.read(self._stdout_fd, 1 << 16)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._eof = True
            self._loop.remove_reader(self._stdout_fd)
        elif self._broken is None:
            try:
                self._inbox.extend(self._decoder.feed(data))
            except ProtocolError as exc:
                self._broken = exc  # the stream is garbage from here on
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _close_pipes(self) -> None:
        if self._pipes_open:
            self._pipes_open = False
            self._answers = None
            self._loop.remove_reader(self._stdout_fd)
            self._loop.remove_writer(self._stdin_fd)
            os.close(self._stdout_fd)
            os.close(self._stdin_fd)
            self._unsent.clear()
            self._flushed.set()
            self._eof = True
            if self._waiter is not None and not self._waiter.done():
                self._waiter.set_result(None)

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
