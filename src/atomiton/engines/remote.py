"""RemoteEngine: the ExecutionEngine interface against an ``atomiton serve`` server.

``execute`` posts the Blueprint (``POST /api/v1/runs``), follows the run's event WebSocket
(resuming with ``?after=<seq>`` if the connection drops) and folds the events into the same
``RunResult`` a LocalEngine returns: node records from ``node.*`` events, the run's status,
sink outputs, error and duration from ``run.finished``. Values arrive JSON-encoded by the one
event codec, so ``result.to_dict()`` equals a local run's. Listeners get every event of the
runs this engine follows, decoded into ``Event`` records, on the caller's loop.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import yaml
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from atomiton.blueprint import Blueprint
from atomiton.engines.base import BlueprintSource
from atomiton.engines.result import NodeRun, RunResult
from atomiton.errors import AtomitonError, BlueprintError, ValidationError
from atomiton.events import Event, EventBus, EventKind, Subscription, decode_event
from atomiton.validate.report import Code, Issue, Report, Severity

_FINAL = {
    EventKind.NODE_SUCCEEDED: "succeeded",
    EventKind.NODE_FAILED: "failed",
    EventKind.NODE_SKIPPED: "skipped",
    EventKind.NODE_CANCELLED: "cancelled",
    EventKind.NODE_ABANDONED: "abandoned",
}
RECONNECTS = 5


class RemoteError(AtomitonError):
    """The server refused a request or could not be reached."""


def report_from_dict(data: Mapping[str, Any]) -> Report:
    issues = [
        Issue(
            Code(i["code"]),
            i["message"],
            Severity(i.get("severity", "error")),
            i.get("node_id"),
            i.get("port"),
            i.get("hint"),
        )
        for i in (*data.get("errors", ()), *data.get("warnings", ()))
    ]
    return Report(tuple(issues))


def blueprint_payload(blueprint: BlueprintSource) -> Any:
    """What the server is sent: a mapping, or the text of a file (parsed here as YAML/JSON)."""
    if isinstance(blueprint, Blueprint):
        if blueprint.source is None:
            raise BlueprintError(
                "a RemoteEngine sends Blueprints as files, text or mappings; this one was "
                "built in memory",
                hint="pass the file path or the mapping it was loaded from",
            )
        blueprint = Path(blueprint.source)
    if isinstance(blueprint, Mapping):
        return dict(blueprint)
    if isinstance(blueprint, Path) or (
        "\n" not in blueprint and blueprint.endswith((".yaml", ".yml", ".json"))
    ):
        try:
            text = Path(blueprint).read_text(encoding="utf-8")
        except OSError as exc:
            raise BlueprintError(f"cannot read: {exc.strerror}", source=str(blueprint)) from None
    else:
        text = blueprint
    return yaml.safe_load(text)


class RunFold:
    """Folds one run's events into the pieces of a RunResult."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        self.last_seq = 0
        self.blueprint_id = ""
        self.nodes: dict[str, dict[str, Any]] = {}
        self.finished: Mapping[str, Any] | None = None

    def apply(self, event: Event) -> None:
        self.last_seq = event.seq
        p = event.payload
        if event.kind is EventKind.RUN_STARTED:
            self.blueprint_id = str(p.get("blueprint_id", ""))
            for node_id in p.get("nodes", ()):
                self._node(node_id)
        elif event.kind is EventKind.RUN_FINISHED:
            self.finished = p
        elif event.node_id is not None:
            node = self._node(event.node_id)
            if event.kind is EventKind.NODE_STARTED:
                node.update(status="running", attempts=p.get("attempt", node["attempts"]))
            elif event.kind is EventKind.NODE_QUEUED:
                node["status"] = "ready"
            elif event.kind in _FINAL:
                node["status"] = _FINAL[event.kind]
                for key in ("outputs", "error", "duration_ms", "reason"):
                    if key in p:
                        node[key] = p[key]

    def _node(self, node_id: str) -> dict[str, Any]:
        return self.nodes.setdefault(node_id, {"status": "pending", "attempts": 0})

    def result(self) -> RunResult:
        assert self.finished is not None
        f = self.finished
        return RunResult(
            run_id=self.run_id,
            status=str(f["status"]),
            outputs=dict(f.get("outputs") or {}),
            nodes={
                k: NodeRun(
                    k,
                    n["status"],
                    n.get("outputs"),
                    n.get("error"),
                    n["attempts"],
                    n.get("duration_ms"),
                    n.get("reason") or "",
                )
                for k, n in self.nodes.items()
            },
            error=f.get("error"),
            duration_ms=float(f.get("duration_ms") or 0.0),
            blueprint_id=self.blueprint_id,
        )


class RemoteEngine:
    def __init__(self, url: str, *, token: str, timeout_s: float = 30.0) -> None:
        parts = urlsplit(url.rstrip("/"))
        if parts.scheme not in ("http", "https"):
            raise ValueError(f"server URL must start with http:// or https://, got {url!r}")
        self.url = urlunsplit(parts)
        self.ws_url = urlunsplit(parts._replace(scheme="wss" if parts.scheme == "https" else "ws"))
        self.token = token
        self.bus = EventBus()
        self._headers = {"Authorization": f"Bearer {token}"}
        self._http = httpx.AsyncClient(base_url=self.url, headers=self._headers, timeout=timeout_s)
        self._timeout = timeout_s

    async def execute(
        self,
        blueprint: BlueprintSource,
        *,
        inputs: Mapping[str, Any] | None = None,
        variables: Mapping[str, Any] | None = None,
        run_id: str | None = None,
        on_error: str | None = None,
    ) -> RunResult:
        body = {
            "blueprint": blueprint_payload(blueprint),
            "inputs": dict(inputs or {}),
            "variables": dict(variables or {}),
            "run_id": run_id,
            "on_error": on_error,
        }
        started = self._check(await self._http.post("/api/v1/runs", json=body))
        fold = RunFold(started["run_id"])
        for _ in range(RECONNECTS):
            try:
                await self._follow(fold)
            except (ConnectionClosed, OSError):
                continue  # resume after the last event seen
            if fold.finished is not None:
                return fold.result()
        raise RemoteError(
            f"lost the event stream of run '{fold.run_id}' after event {fold.last_seq}",
            run_id=fold.run_id,
            hint=f"see it with: atomiton show {fold.run_id} (on the server)",
        )

    async def _follow(self, fold: RunFold) -> None:
        url = f"{self.ws_url}/api/v1/runs/{fold.run_id}/events?after={fold.last_seq}"
        try:
            async with connect(url, additional_headers=self._headers, max_size=None) as ws:
                async for message in ws:
                    event = decode_event(json.loads(message))
                    fold.apply(event)
                    self._publish(event)
        except InvalidStatus as exc:
            raise RemoteError(f"the server refused the event stream: {exc}") from None

    def _publish(self, event: Event) -> None:
        # Events arrive once each, in order from seq 1, so the local bus numbers them as the
        # server did; it fans them out to listeners like a LocalEngine's bus.
        self.bus.publish(event.run_id, event.kind, event.time, event.node_id, event.payload)

    def cancel(self, run_id: str) -> bool:
        """Ask the server to cancel; a blocking call, safe from any thread."""
        response = httpx.post(
            f"{self.url}/api/v1/runs/{run_id}/cancel", headers=self._headers, timeout=self._timeout
        )
        if response.status_code == 404:
            return False
        return bool(self._check(response)["cancelled"])

    def validate(
        self, blueprint: BlueprintSource, *, inputs: Mapping[str, Any] | None = None
    ) -> Report:
        response = httpx.post(
            f"{self.url}/api/v1/validate",
            json={"blueprint": blueprint_payload(blueprint), "inputs": dict(inputs or {})},
            headers=self._headers,
            timeout=self._timeout,
        )
        return report_from_dict(self._check(response))

    def subscribe(
        self, listener: Callable[[Event], None], *, run_id: str | None = None
    ) -> Subscription:
        return self.bus.subscribe(listener, run_id=run_id)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> RemoteEngine:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def _check(self, response: httpx.Response) -> Any:
        if response.status_code < 400:
            return response.json()
        try:
            detail = response.json().get("detail")
        except ValueError:
            detail = response.text
        if response.status_code == 422 and isinstance(detail, dict):
            raise ValidationError(report_from_dict(detail["validation"]))
        if response.status_code == 400:
            raise BlueprintError(str(detail))
        raise RemoteError(
            f"{response.request.method} {response.request.url.path}: "
            f"HTTP {response.status_code}: {detail}",
            hint="check the server URL and token (atomiton serve prints both)"
            if response.status_code == 401
            else None,
        )
