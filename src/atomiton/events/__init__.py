"""Events: every state change of a run, as frozen records on one bus, with one codec."""

from atomiton.events.bus import EventBus, Subscription
from atomiton.events.codec import decode_event, encode_event, to_jsonable
from atomiton.events.model import Event, EventKind

__all__ = [
    "Event",
    "EventBus",
    "EventKind",
    "Subscription",
    "decode_event",
    "encode_event",
    "to_jsonable",
]
