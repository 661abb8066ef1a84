"""LocalEngine: runs Blueprints in this process, nodes on their runtimes, history in a store.

The desktop default: embedded, nothing to install or start. One engine holds one registry,
one runtime router (warm workers live as long as the engine), one event bus and one store;
many runs may go on at once.
"""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import platformdirs

from atomiton.blueprint import Blueprint, load_blueprint
from atomiton.blueprint.bodies import with_implicit_bodies
from atomiton.engines.base import BlueprintSource
from atomiton.engines.collector import collector_spared
from atomiton.engines.driver import Driver, Limits, NodeRecord
from atomiton.engines.result import NodeRun, RunResult
from atomiton.errors import ValidationError
from atomiton.events import Event, EventBus, EventKind, Subscription
from atomiton.nodes import NodeRegistry
from atomiton.plan import ExecutionPlan, build_plan
from atomiton.runtimes import RuntimeRouter
from atomiton.runtimes.gpus import detect_gpus
from atomiton.schedule import NodeState
from atomiton.store import RunInfo, Store, open_store
from atomiton.validate import Report, validate

DEFAULT_STORE = "default"


def default_concurrency() -> int:
    """CPU count, at least 4 so that I/O-bound nodes overlap."""
    return max(4, os.cpu_count() or 1)


def new_run_id() -> str:
    """Sortable by start time, unique: ``20261126T132753-1a2b3c4d``."""
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + "-" + uuid.uuid4().hex[:8]


class LocalEngine:
    def __init__(
        self,
        *,
        registry: NodeRegistry | None = None,
        router: RuntimeRouter | None = None,
        store: Store | str | None = DEFAULT_STORE,
        concurrency: int | None = None,
        pool_limits: Mapping[str, int] | None = None,
        artifact_root: str | Path | None = None,
        retry_backoff_s: float = 0.5,
    ) -> None:
        self.registry = registry if registry is not None else NodeRegistry.default()
        self.router = router if router is not None else RuntimeRouter.default()
        self.bus = EventBus()
        self.store: Store | None = (
            open_store(None if store == DEFAULT_STORE else store)
            if isinstance(store, str)
            else store
        )
        if self.store is not None:
            self.store.mark_interrupted()
            self.bus.subscribe(self.store.record)
        self.limits = Limits(
            max_running=concurrency or default_concurrency(),
            pool_limits=dict(pool_limits or {}),
            gpus=detect_gpus(),
            backoff_base_s=retry_backoff_s,
        )
        self.artifact_root = Path(
            artifact_root or Path(platformdirs.user_cache_dir("atomiton")) / "artifacts"
        ).absolute()  # where it is now: a node that changes directory must not move a run's files
        self._active: dict[str, Driver] = {}
        self._loops: dict[str, tuple[asyncio.AbstractEventLoop, int]] = {}

    # -- the ExecutionEngine interface -------------------------------------------------------

    def validate(
        self, blueprint: BlueprintSource, *, inputs: Mapping[str, Any] | None = None
    ) -> Report:
        """Every problem of ``blueprint`` as this engine would run it (no run is started)."""
        return self._report(self._load(blueprint), inputs or {})

    async def execute(
        self,
        blueprint: BlueprintSource,
        *,
        inputs: Mapping[str, Any] | None = None,
        variables: Mapping[str, Any] | None = None,
        run_id: str | None = None,
        on_error: str | None = None,
    ) -> RunResult:
        bp = self._load(blueprint)
        with collector_spared(len(bp.nodes)):  # validation, plan, run and result: see collector
            return await self._execute(bp, dict(inputs or {}), variables, run_id, on_error)

    async def _execute(
        self,
        bp: Blueprint,
        inputs: dict[str, Any],
        variables: Mapping[str, Any] | None,
        run_id: str | None,
        on_error: str | None,
    ) -> RunResult:
        report = self._report(bp, inputs)
        if not report.ok:
            raise ValidationError(report)
        plan = build_plan(bp, self.registry, variables=variables, on_error=on_error)
        run_id = run_id or new_run_id()
        if run_id in self._active:
            raise ValueError(f"run '{run_id}' is already running")
        started = time.time()
        if self.store is not None:
            self.store.begin_run(
                RunInfo(
                    run_id=run_id,
                    blueprint_id=bp.id,
                    blueprint_name=bp.name,
                    source=bp.source,
                    blueprint={},
                    inputs=inputs,
                    variables=dict(plan.variables),
                    pid=os.getpid(),
                    host=socket.gethostname(),
                    started_at=started,
                )
            )
        records: dict[str, NodeRecord] = {}
        driver = Driver(
            plan,
            run_id=run_id,
            router=self.router,
            bus=self.bus,
            artifact_dir=self.artifact_root / run_id,
            limits=self.limits,
            records=records,
            run_inputs=inputs,
        )
        self._active[run_id] = driver
        self._loops[run_id] = (asyncio.get_running_loop(), threading.get_ident())
        self.bus.publish(
            run_id,
            EventKind.RUN_STARTED,
            started,
            None,
            {
                "blueprint_id": bp.id,
                "blueprint_name": bp.name,
                "nodes": [s.node_id for s in plan.steps],
                "inputs": inputs,
                "variables": dict(plan.variables),
                "warnings": [i.to_dict() for i in report.warnings],
            },
        )
        try:
            state = await driver.run()
        except asyncio.CancelledError:
            self._finish(run_id, "cancelled", {}, {"message": "the run was cancelled"}, started)
            raise
        finally:
            self._active.pop(run_id, None)
            self._loops.pop(run_id, None)
        finish = driver.finish
        status = state.status().value
        error = dict(finish.error) if finish is not None and finish.error else None
        if status == "cancelled" and error is None:
            error = {"type": "Cancelled", "message": _cancel_reason(state.story) or "cancelled"}
        outputs = state.sink_outputs()
        duration = self._finish(run_id, status, outputs, error, started)
        return RunResult(
            run_id=run_id,
            status=status,
            outputs=outputs,
            nodes={
                k: NodeRun.of(k, r.status, r.outputs, r.error, r.attempts, r.duration_ms, r.reason)
                for k, r in records.items()
            },
            error=error,
            duration_ms=duration,
            blueprint_id=bp.id,
        )

    def cancel(self, run_id: str) -> bool:
        """Cancel a running run; safe to call from any thread."""
        driver = self._active.get(run_id)
        found = self._loops.get(run_id)
        if driver is None or found is None:
            return False
        loop, thread = found
        if threading.get_ident() == thread:
            driver.cancel("cancelled by request")
        else:
            loop.call_soon_threadsafe(driver.cancel, "cancelled by request")
        return True

    @property
    def active_runs(self) -> tuple[str, ...]:
        return tuple(self._active)

    def plan_of(self, run_id: str) -> ExecutionPlan | None:
        """The plan an active run follows (its top level), or None once it has ended."""
        driver = self._active.get(run_id)
        return driver.plan if driver is not None else None

    def subscribe(
        self, listener: Callable[[Event], None], *, run_id: str | None = None
    ) -> Subscription:
        return self.bus.subscribe(listener, run_id=run_id)

    async def aclose(self) -> None:
        for driver in list(self._active.values()):
            driver.cancel("the engine is closing")
        await self.router.aclose()
        if self.store is not None:
            self.store.close()

    async def __aenter__(self) -> LocalEngine:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- helpers -----------------------------------------------------------------------------

    def _report(self, bp: Blueprint, inputs: Mapping[str, Any]) -> Report:
        return validate(
            bp, self.registry, runtime_check=self.router.check, provided_inputs=inputs.keys()
        )

    def _load(self, blueprint: BlueprintSource) -> Blueprint:
        bp = blueprint if isinstance(blueprint, Blueprint) else load_blueprint(blueprint)
        return with_implicit_bodies(bp)  # childless loop/parallel adopt what follows them

    def _finish(
        self,
        run_id: str,
        status: str,
        outputs: Mapping[str, Any],
        error: Mapping[str, Any] | None,
        started: float,
    ) -> float:
        now = time.time()
        duration = (now - started) * 1000
        self.bus.publish(
            run_id,
            EventKind.RUN_FINISHED,
            now,
            None,
            {
                "status": status,
                "outputs": outputs,
                "error": error,
                "duration_ms": duration,
            },
        )
        return duration


def _cancel_reason(story: list[tuple[int, NodeState, str]]) -> str | None:
    for _, state, reason in reversed(story):
        if state is NodeState.CANCELLED and reason != "interrupted":
            return reason
    return None
