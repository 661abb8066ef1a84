"""JSON text for the history rows: the events codec's meaning at the json module's C speed.

``json_text`` lets the C encoder handle what JSON holds natively and calls ``to_jsonable`` (the
one codec) only for the values it cannot; a value the fast path rejects (a NaN, a key that is
not a string or number) is encoded through ``to_jsonable`` as a whole instead.
"""

from __future__ import annotations

import json
from typing import Any

from atomiton.events import to_jsonable

_fast = json.JSONEncoder(
    separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=to_jsonable
).encode
_plain = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def json_text(value: Any) -> str:
    try:
        return _fast(value)
    except (TypeError, ValueError):
        return _plain(to_jsonable(value))


def from_json(text: str | None) -> Any:
    return None if text is None else json.loads(text)
