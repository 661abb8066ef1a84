"""The Atomiton client's own protocol: channels ``node``, ``system``, ``flow`` and ``storage``.

Calls arrive as ``{"type": "call", "id", "channel", "command", "args"}`` over the WebSocket at
``/`` or as ``POST /api/{channel}/{command}``; :meth:`AtomitonService.call` returns the result
value itself (no ``{result}`` wrapper) or raises :class:`CallError`, whose message goes back as
the string ``error``. Execution failures are results (``{"success": false, "error": {...}}``),
which the client shows at once instead of retrying.

``node/execute`` is keyed by ``context.executionId``: the client re-sends a call after 30 s with
the same id, so a repeat attaches to the run already going (every pending call is answered when
it ends) and a repeat of a finished one gets the same result; it never starts a second run.
"""

from __future__ import annotations

import asyncio
import time
import traceback
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from atomiton.blueprint import load_blueprint
from atomiton.engines import new_run_id
from atomiton.errors import AtomitonError, BlueprintError, ValidationError
from atomiton.events import Event, EventKind
from atomiton.server.flows import FlowNotFoundError, FlowStore, Templates
from atomiton.server.hub import Hub
from atomiton.server.progress import ProgressTracker, iso_now
from atomiton.server.runs import RunManager

KEEP_RESULTS = 256
PROGRESS_INTERVAL_S = 0.1  # the desktop app throttles progress to one frame per 100 ms


class CallError(Exception):
    """A protocol failure; its message is the ``error`` string the client receives."""


def _ms() -> int:
    return int(time.time() * 1000)


def _failure(code: str, message: str, **context: Any) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message, "timestamp": iso_now()}
    if context:
        error["context"] = context
    return {"success": False, "error": error, "duration": 0, "executedNodes": []}


def as_blueprint(node: Mapping[str, Any]) -> dict[str, Any]:
    """A group NodeDefinition is a Blueprint; a single node runs as a one-node Blueprint."""
    if node.get("type") == "group" or node.get("nodes"):
        return dict(node)
    return {"id": node["id"], "name": node.get("name") or node["id"], "nodes": [dict(node)]}


class ProgressEmitter:
    """Sends ``node:progress`` at once on a state change, throttled on progress reports."""

    def __init__(self, tracker: ProgressTracker, hub: Hub) -> None:
        self.tracker = tracker
        self.hub = hub
        self._last = 0.0
        self._timer: asyncio.TimerHandle | None = None

    def on_event(self, event: Event) -> None:
        changed = self.tracker.apply(event)
        if changed:
            self.emit()
        elif event.kind is EventKind.NODE_PROGRESS and self._timer is None:
            delay = max(0.0, self._last + PROGRESS_INTERVAL_S - time.monotonic())
            self._timer = asyncio.get_running_loop().call_later(delay, self.emit)

    def emit(self) -> None:
        self.close()
        self._last = time.monotonic()
        self.hub.broadcast("node", "progress", self.tracker.snapshot())

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


class AtomitonService:
    def __init__(self, runs: RunManager, flows: FlowStore, templates: Templates, hub: Hub) -> None:
        self.runs = runs
        self.flows = flows
        self.templates = templates
        self.hub = hub
        self._pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._results: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._run_ids: dict[str, str] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._handlers: dict[tuple[str, str], Callable[[Any], Awaitable[Any]]] = {
            ("node", "execute"): self.execute,
            ("node", "cancel"): self.cancel,
            ("node", "validate"): self.validate,
            ("node", "health"): self.node_health,
            ("system", "health"): self.system_health,
            ("flow", "listTemplates"): self.list_templates,
            ("flow", "getTemplate"): self.get_template,
            ("storage", "saveFlow"): self.save_flow,
            ("storage", "loadFlow"): self.load_flow,
            ("storage", "listFlows"): self.list_flows,
            ("storage", "deleteFlow"): self.delete_flow,
            ("storage", "health"): self.storage_health,
        }
        self.channels = sorted({c for c, _ in self._handlers})

    async def call(self, channel: str, command: str, args: Any) -> Any:
        handler = self._handlers.get((channel, command))
        if handler is None:
            if channel not in self.channels:
                raise CallError(f"Unknown channel: {channel} (this server has {self.channels})")
            raise CallError(f"No handler for method: {command}")
        return await handler(args)

    # -- node ----------------------------------------------------------------------------------

    async def execute(self, args: Any) -> dict[str, Any]:
        node = args.get("node") if isinstance(args, Mapping) else None
        context = args.get("context") if isinstance(args, Mapping) else None
        context = dict(context) if isinstance(context, Mapping) else {}
        if not isinstance(node, Mapping) or not node.get("id") or not node.get("type"):
            return _failure(
                "VALIDATION_FAILED",
                "Invalid execute parameters: 'node' must be a NodeDefinition with 'id' and 'type'",
            )
        execution_id = str(context.get("executionId") or f"exec_{uuid.uuid4()}")
        if execution_id in self._results:
            return self._results[execution_id]
        pending = self._pending.get(execution_id)
        if pending is None:
            pending = asyncio.get_running_loop().create_future()
            self._pending[execution_id] = pending
            task = asyncio.create_task(self._execute(node, context, execution_id, pending))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return await asyncio.shield(pending)

    async def _execute(
        self,
        node: Mapping[str, Any],
        context: dict[str, Any],
        execution_id: str,
        future: asyncio.Future[dict[str, Any]],
    ) -> None:
        root_id = str(node["id"])
        try:
            result = await self._run(node, context, execution_id, root_id)
        except Exception as exc:  # an engine fault, not a node failure: the client's node:error
            message = str(exc) or type(exc).__name__
            self.hub.broadcast(
                "node",
                "error",
                {
                    "executionId": execution_id,
                    "nodeId": root_id,
                    "error": message,
                    "code": "EXECUTION_FAILED",
                    "timestamp": _ms(),
                },
            )
            result = _failure(
                "EXECUTION_FAILED",
                message,
                nodeId=root_id,
                executionId=execution_id,
                stack=traceback.format_exc(),
            )
        self._pending.pop(execution_id, None)
        self._results[execution_id] = result
        while len(self._results) > KEEP_RESULTS:
            self._results.popitem(last=False)
        future.set_result(result)

    async def _run(
        self, node: Mapping[str, Any], context: dict[str, Any], execution_id: str, root_id: str
    ) -> dict[str, Any]:
        try:
            bp = load_blueprint(as_blueprint(node))
        except BlueprintError as exc:
            return _failure("VALIDATION_FAILED", f"Invalid execute parameters: {exc}")
        tracker = ProgressTracker(bp)
        emitter = ProgressEmitter(tracker, self.hub)
        run_id = new_run_id()
        self._run_ids[execution_id] = run_id
        sub = self.runs.engine.subscribe(emitter.on_event, run_id=run_id)
        started = {"executionId": execution_id, "nodeId": root_id, "nodeType": node["type"]}
        self.hub.broadcast("node", "started", {**started, "timestamp": _ms()})
        emitter.emit()
        inputs = context.get("input")
        variables = context.get("variables")
        try:
            handle = await self.runs.start(
                bp,
                inputs=inputs if isinstance(inputs, Mapping) else None,
                variables=variables if isinstance(variables, Mapping) else None,
                run_id=run_id,
            )
            await handle.done.wait()
            if handle.result is None:
                raise RuntimeError(handle.error or "the run ended without a result")
            result = tracker.result(
                handle.result, root_id=root_id, execution_id=execution_id, context=context
            )
        except ValidationError as exc:
            issues = exc.report.errors
            result = _failure(
                "VALIDATION_FAILED",
                "; ".join(str(i) for i in issues),
                validationErrors=[i.to_dict() for i in issues],
            )
        finally:
            sub.close()
            self._run_ids.pop(execution_id, None)
        emitter.emit()
        self.hub.broadcast(
            "node",
            "completed",
            {"executionId": execution_id, "nodeId": root_id, "result": result, "timestamp": _ms()},
        )
        return result

    async def cancel(self, args: Any) -> dict[str, Any]:
        execution_id = args.get("executionId") if isinstance(args, Mapping) else args
        run_id = self._run_ids.get(str(execution_id))
        if run_id is None or not self.runs.cancel(run_id):
            return {"success": False, "error": "Execution not found"}
        self.hub.broadcast("node", "cancelled", {"executionId": execution_id, "timestamp": _ms()})
        return {"success": True}

    async def validate(self, args: Any) -> dict[str, Any]:
        node = args.get("node") if isinstance(args, Mapping) else None
        if not isinstance(node, Mapping) or not node.get("id") or not node.get("type"):
            return {"valid": False, "errors": ["node: a NodeDefinition with 'id' and 'type'"]}
        try:
            bp = load_blueprint(as_blueprint(node))
        except BlueprintError as exc:
            return {"valid": False, "errors": [str(exc)]}
        report = self.runs.engine.validate(bp)
        return {"valid": report.ok, "errors": [str(i) for i in report.errors]}

    async def node_health(self, _args: Any) -> dict[str, Any]:
        return {"status": "ok", "timestamp": _ms()}

    async def system_health(self, _args: Any) -> dict[str, Any]:
        return {"status": "ok", "timestamp": _ms(), "message": "IPC connection active"}

    # -- flow (templates) ----------------------------------------------------------------------

    async def list_templates(self, _args: Any) -> dict[str, Any]:
        return {"templates": self.templates.list()}

    async def get_template(self, args: Any) -> dict[str, Any]:
        try:
            return {"definition": self.templates.get(str(_arg(args, "id")))}
        except FlowNotFoundError as exc:
            raise CallError(exc.message) from None

    # -- storage (the flows directory) ---------------------------------------------------------

    async def save_flow(self, args: Any) -> dict[str, Any]:
        flow = _arg(args, "flow")
        if not isinstance(flow, Mapping) or not isinstance(flow.get("nodes"), list):
            raise CallError("saveFlow needs {flow: {name, nodes: [...], edges?, metadata?}}")
        try:
            doc = await asyncio.to_thread(self.flows.save, flow)
        except ValueError as exc:
            raise CallError(str(exc)) from None
        saved = {"id": doc["id"], "name": doc["name"], "savedAt": doc["metadata"]["updatedAt"]}
        self.hub.broadcast("storage", "flowSaved", saved)
        return {"id": doc["id"], "savedAt": saved["savedAt"], "version": doc["version"]}

    async def load_flow(self, args: Any) -> dict[str, Any]:
        return await self._flow_call(self.flows.load, str(_arg(args, "id")))

    async def list_flows(self, args: Any) -> dict[str, Any]:
        opts = args if isinstance(args, Mapping) else {}
        sort_by = str(opts.get("sortBy") or "savedAt")
        if sort_by not in ("savedAt", "name", "updatedAt"):
            raise CallError(f"sortBy must be savedAt, name or updatedAt, got {sort_by!r}")
        flows = await asyncio.to_thread(self.flows.list)
        flows.sort(key=lambda f: f[sort_by], reverse=opts.get("sortOrder", "desc") != "asc")
        offset, limit = int(opts.get("offset") or 0), int(opts.get("limit") or 50)
        page = [{k: f[k] for k in ("id", "name", "nodeCount", "savedAt", "updatedAt", "version")}
                for f in flows[offset : offset + limit]]  # fmt: skip
        return {"flows": page, "total": len(flows)}

    async def delete_flow(self, args: Any) -> None:
        gone = await self._flow_call(self.flows.delete, str(_arg(args, "id")))
        deleted = {"id": gone["id"], "name": gone["name"], "deletedAt": iso_now()}
        self.hub.broadcast("storage", "flowDeleted", deleted)

    async def storage_health(self, _args: Any) -> dict[str, Any]:
        return {"status": "ok", "flowCount": len(await asyncio.to_thread(self.flows.list))}

    async def _flow_call(self, fn: Callable[[str], dict[str, Any]], flow_id: str) -> dict[str, Any]:
        try:
            return await asyncio.to_thread(fn, flow_id)
        except (FlowNotFoundError, ValueError) as exc:
            message = exc.message if isinstance(exc, AtomitonError) else str(exc)
            raise CallError(message) from None


def _arg(args: Any, name: str) -> Any:
    if not isinstance(args, Mapping) or name not in args:
        raise CallError(f"missing argument '{name}'")
    return args[name]
