"""ExecutionEngine: the one interface every engine offers (local, Ray, remote)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from atomiton.blueprint.model import Blueprint
from atomiton.engines.result import RunResult
from atomiton.events import Event, Subscription

BlueprintSource = Blueprint | str | Path | Mapping[str, Any]


@runtime_checkable
class ExecutionEngine(Protocol):
    async def execute(
        self,
        blueprint: BlueprintSource,
        *,
        inputs: Mapping[str, Any] | None = None,
        variables: Mapping[str, Any] | None = None,
        run_id: str | None = None,
        on_error: str | None = None,
    ) -> RunResult:
        """Validate, plan and run ``blueprint``; an invalid one raises ValidationError first."""
        ...

    def cancel(self, run_id: str) -> bool:
        """Cancel a run in progress; False when no such run is running."""
        ...

    def subscribe(
        self, listener: Callable[[Event], None], *, run_id: str | None = None
    ) -> Subscription:
        """Call ``listener`` with every event (of one run, if given) from now on."""
        ...

    async def aclose(self) -> None: ...
