"""A pool of warm, long-lived workers: the supervision every out-of-process runtime shares.

Policy, in one place:

- workers start lazily, on the first call that finds no idle one, up to ``size`` at once;
- each worker runs one call at a time; the pool is what gives concurrency;
- a worker that dies (mid-call or while idle) is dropped; the next call starts a fresh one, and
  the call it was running fails with :class:`WorkerCrashedError` (exit status, stderr tail);
- a call past its timeout has its worker's process group killed: :class:`NodeTimeoutError`;
- a cancelled call sends ``cancel``, gives the worker ``cancel_grace_s`` to answer, then kills
  its process group anyway (the node may have spawned children) before re-raising;
- ``aclose`` sends ``shutdown``/``exit`` to every worker, then kills and reaps what is left.

Errors the worker reports come back as :class:`NodeError` with the remote type, message and stack.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from atomiton.errors import (
    NodeCancelledError,
    NodeError,
    NodeTimeoutError,
    ProtocolError,
    RuntimeUnavailableError,
    WorkerCrashedError,
)
from atomiton.nodes.context import LOG_LEVELS, Reporter
from atomiton.runtimes.worker.framing import EncodedParams
from atomiton.runtimes.worker.rpc import (
    CANCELLED,
    NODE_FAILED,
    RemoteCallError,
    WorkerConnection,
    WorkerExitedError,
    describe_exit,
)

ENGINE_VERSION = "0.1.0"


@dataclass(frozen=True, slots=True)
class WorkerSpec:
    """How to start one kind of worker."""

    name: str
    argv: tuple[str, ...]
    cwd: str | None = None
    env: Mapping[str, str] | None = None
    start_timeout_s: float = 30.0
    hint: str = ""
    """What to do when the worker cannot start (e.g. "run scripts/setup")."""


@dataclass(slots=True)  # not frozen: made for every call, and a frozen __init__ costs twice as much
class CallContext:
    """Who a call is for, so errors name the node and run."""

    node_id: str | None = None
    run_id: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


class WorkerPool:
    """Up to ``size`` warm workers of one :class:`WorkerSpec`."""

    def __init__(self, spec: WorkerSpec, *, size: int = 2, cancel_grace_s: float = 0.5) -> None:
        if size < 1:
            raise ValueError(f"a worker pool needs size >= 1, got {size}")
        self.spec = spec
        self.size = size
        self.cancel_grace_s = cancel_grace_s
        self._idle: list[WorkerConnection] = []
        self._all: set[WorkerConnection] = set()
        self._slots = asyncio.Semaphore(size)
        self._closed = False

    @property
    def pids(self) -> list[int]:
        """Process ids of the live workers (for tests and diagnostics)."""
        return sorted(w.pid for w in self._all if w.alive)

    async def call(
        self,
        method: str,
        params: Mapping[str, Any] | EncodedParams,
        *,
        reporter: Reporter | None = None,
        timeout_s: float | None = None,
        context: CallContext | None = None,
    ) -> Any:
        """Send one request to a free worker and return its result."""
        ctx = context or CallContext()
        async with self._slots:
            worker = await self._acquire(ctx)
            keep = False
            try:
                result = await self._run(worker, method, params, reporter, timeout_s, ctx)
                keep = True
                return result
            except NodeError as exc:
                keep = not isinstance(exc, WorkerCrashedError | NodeTimeoutError) and worker.alive
                raise
            finally:
                if keep and not self._closed:
                    self._idle.append(worker)
                else:
                    await self._discard(worker)

    async def aclose(self) -> None:
        """Shut every worker down and reap it. Idempotent."""
        self._closed = True
        workers, self._idle = list(self._all), []
        await asyncio.gather(*(self._discard(w, polite=True) for w in workers))

    async def _acquire(self, ctx: CallContext) -> WorkerConnection:
        if self._closed:
            raise RuntimeUnavailableError(
                f"the {self.spec.name} pool is closed", node_id=ctx.node_id
            )
        while self._idle:
            worker = self._idle.pop()
            if worker.alive:
                return worker
            await self._discard(worker)  # died while idle
        return await self._start(ctx)

    async def _start(self, ctx: CallContext) -> WorkerConnection:
        try:
            worker = await WorkerConnection.spawn(
                self.spec.argv, name=self.spec.name, cwd=self.spec.cwd, env=self.spec.env
            )
        except OSError as exc:
            raise RuntimeUnavailableError(
                f"cannot start the {self.spec.name} ({self.spec.argv[0]}): {exc}",
                node_id=ctx.node_id,
                hint=self.spec.hint or None,
            ) from None
        self._all.add(worker)
        try:
            await worker.initialize(ENGINE_VERSION, self.spec.start_timeout_s)
        except BaseException as exc:
            await self._discard(worker)
            if isinstance(exc, ProtocolError | asyncio.CancelledError):
                raise
            why = "did not answer initialize in time" if isinstance(exc, TimeoutError) else str(exc)
            tail = worker.stderr_tail()
            raise RuntimeUnavailableError(
                f"the {self.spec.name} failed to start: {why}"
                + (f"; stderr: {tail}" if tail else ""),
                node_id=ctx.node_id,
                hint=self.spec.hint or None,
            ) from None
        return worker

    async def _discard(self, worker: WorkerConnection, *, polite: bool = False) -> None:
        self._all.discard(worker)
        if polite:
            await worker.close()
        else:
            await worker.kill()

    async def _run(
        self,
        worker: WorkerConnection,
        method: str,
        params: Mapping[str, Any] | EncodedParams,
        reporter: Reporter | None,
        timeout_s: float | None,
        ctx: CallContext,
    ) -> Any:
        on_note = _forwarder(reporter) if reporter is not None else None
        try:
            if timeout_s is None:  # no deadline: skip the timeout's own bookkeeping
                return await self._exchange(worker, method, params, on_note, None)
            async with asyncio.timeout(timeout_s) as deadline:
                return await self._exchange(worker, method, params, on_note, deadline)
        except TimeoutError:
            status = await worker.kill()
            raise NodeTimeoutError(
                f"timed out after {timeout_s:g} s; "
                f"the {self.spec.name} was killed ({describe_exit(status)})",
                node_id=ctx.node_id,
                run_id=ctx.run_id,
                details={"timeout_s": timeout_s},
                hint="raise the node's timeout, or make it faster",
            ) from None
        except WorkerExitedError as exc:
            raise WorkerCrashedError(
                f"the {self.spec.name} (pid {worker.pid}) died during the call with "
                f"{describe_exit(exc.returncode)}"
                + (f"; stderr tail:\n{exc.stderr_tail}" if exc.stderr_tail else ""),
                node_id=ctx.node_id,
                run_id=ctx.run_id,
                details={
                    "exit_status": exc.returncode,
                    "stderr_tail": exc.stderr_tail,
                    "pid": worker.pid,
                },
            ) from None
        except RemoteCallError as exc:
            raise _node_error(exc, ctx) from None

    async def _exchange(
        self,
        worker: WorkerConnection,
        method: str,
        params: Mapping[str, Any] | EncodedParams,
        on_note: Any,
        deadline: asyncio.Timeout | None,
    ) -> Any:
        request_id = await worker.send_request(method, params)
        try:
            return await worker.read_response(request_id, on_note)
        except asyncio.CancelledError:
            if deadline is None or not deadline.expired():  # cancelled, not timed out
                await self._cancel_remote(worker, request_id, on_note)
            raise

    async def _cancel_remote(self, worker: WorkerConnection, request_id: int, on_note: Any) -> None:
        """Tell the worker, give it a moment to let the node clean up, then kill the group."""
        try:
            await worker.notify("cancel", {"requestId": request_id})
            async with asyncio.timeout(self.cancel_grace_s):
                await worker.read_response(request_id, on_note)
        except (TimeoutError, RemoteCallError, WorkerExitedError, ProtocolError, OSError):
            pass
        finally:
            await worker.kill()


def _forwarder(reporter: Reporter) -> Any:
    def forward(method: str, params: Mapping[str, Any]) -> None:
        if method == "progress":
            percent = params.get("percent", 0)
            reporter.progress(
                float(percent) if isinstance(percent, int | float) else 0.0,
                str(params.get("message") or ""),
            )
        elif method == "log":
            level = params.get("level")
            reporter.log(str(params.get("message", "")), level if level in LOG_LEVELS else "info")

    return forward


def _node_error(exc: RemoteCallError, ctx: CallContext) -> NodeError:
    data = exc.data
    remote_type = str(data.get("type") or "")
    remote_message = str(data.get("message") or exc.remote_message)
    details = {
        "code": exc.code,
        **({"stack": data["stack"]} if data.get("stack") else {}),
        **ctx.extra,
    }
    kwargs: dict[str, Any] = {"node_id": ctx.node_id, "run_id": ctx.run_id, "details": details}
    if exc.code == CANCELLED:
        return NodeCancelledError(remote_message or "cancelled", **kwargs)
    if exc.code == NODE_FAILED:
        text = f"{remote_type}: {remote_message}" if remote_type else remote_message
        return NodeError(text, error_type=remote_type or None, **kwargs)
    return NodeError(
        f"the worker refused the call ({_CODE_NAMES.get(exc.code, 'error')} {exc.code}): "
        f"{exc.remote_message}",
        error_type=remote_type or None,
        **kwargs,
    )


_CODE_NAMES = {
    -32700: "parse error",
    -32600: "invalid request",
    -32601: "method not found",
    -32602: "invalid params",
    -32001: "unknown node",
}
