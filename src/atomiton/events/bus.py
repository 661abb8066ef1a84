"""One bus per engine: publishers hand it events, subscribers get every event in order.

The bus is synchronous and does no I/O: ``publish`` assigns the run's next sequence number and
calls each subscriber in subscription order. A subscriber that must not block the publisher
(the store, a WebSocket) queues the event and does its work elsewhere. A subscriber that raises
is removed and the error kept in ``errors``, so one broken listener cannot stop a run.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from atomiton.events.model import Event, EventKind, make_event

Listener = Callable[[Event], None]
_RUN_FINISHED = EventKind.RUN_FINISHED  # a global: cheaper than the enum's attribute per event


@dataclass(eq=False, slots=True)
class Subscription:
    listener: Listener
    run_id: str | None = None
    _bus: EventBus | None = field(default=None, repr=False)

    def close(self) -> None:
        if self._bus is not None:
            self._bus.unsubscribe(self)
            self._bus = None


class EventBus:
    def __init__(self) -> None:
        self._subscriptions: list[Subscription] = []
        self._snapshot: tuple[tuple[Listener, str | None, Subscription], ...] = ()
        """``_subscriptions`` frozen for publish (a listener may (un)subscribe mid-publish),
        unpacked: publish runs three times per node."""
        self._seq: dict[str, int] = {}
        self.errors: list[BaseException] = []

    def subscribe(self, listener: Listener, *, run_id: str | None = None) -> Subscription:
        """Call ``listener`` with every event (of ``run_id`` only, if given)."""
        sub = Subscription(listener, run_id, self)
        self._subscriptions.append(sub)
        self._freeze()
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        if sub in self._subscriptions:
            self._subscriptions.remove(sub)
            self._freeze()

    def _freeze(self) -> None:
        self._snapshot = tuple((s.listener, s.run_id, s) for s in self._subscriptions)

    def publish(
        self,
        run_id: str,
        kind: EventKind,
        time: float,
        node_id: str | None = None,
        payload: Mapping[str, Any] | None = None,
    ) -> Event:
        seq = self._seq.get(run_id, 0) + 1
        self._seq[run_id] = seq
        event = make_event(run_id, seq, kind, time, node_id, payload or {})
        for listener, only, sub in self._snapshot:
            if only is not None and only != run_id:
                continue
            try:
                listener(event)
            except Exception as exc:  # a broken listener must not stop the run
                self.errors.append(exc)
                self.unsubscribe(sub)
        if kind is _RUN_FINISHED:
            self._seq.pop(run_id, None)
        return event
