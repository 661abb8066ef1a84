"""Adaptive inlining: when a node's calls keep finishing in microseconds, call it on the event
loop instead of handing each call to a thread.

A thread hand-off costs ~50-80 µs on the 2-core VM this project is measured on (wake the pool
thread, take the GIL, run, wake the loop), which dwarfs a node that works for 5. So a runtime
that runs calls on threads watches how long each takes: after ``INLINE_AFTER`` consecutive
calls under ``INLINE_BELOW_S`` the node is called inline; inline calls slower than
``INLINE_SLOW_S`` (net of the fast ones between them) send it back to the threads for good after
``INLINE_ABANDON_AFTER``, so one pause of the machine does not end inlining and a node that
really blocks does. A node's ``runtime.options.inline`` (True or False) overrides the policy.

Used by the Python runtime (sync functions) and the WebAssembly runtime (reactor modules without
granted directories, whose inline calls also run under a deadline, see runtimes/wasm.py).
"""

from __future__ import annotations

import dataclasses

INLINE_AFTER = 8
"""Consecutive thread calls under INLINE_BELOW_S before a node is called inline."""
INLINE_BELOW_S = 100e-6
INLINE_SLOW_S = 1e-3
INLINE_ABANDON_AFTER = 3
"""Inline calls slower than INLINE_SLOW_S (net of fast ones in between) before a node goes back
to the threads for good."""


@dataclasses.dataclass(slots=True, kw_only=True)
class InlinePolicy:
    """One node's inlining state; runtimes read ``inline`` before each call."""

    policy: bool | None = None
    """``runtime.options.inline``: True always inline, False never, None adaptive."""
    streak: int = 0
    slow: int = 0
    inline: bool = False

    def set_policy(self, option: object) -> None:
        """Apply ``runtime.options.inline`` (anything but a bool means adaptive)."""
        self.policy = option if isinstance(option, bool) else None
        self.inline = option is True

    def observe(self, seconds: float) -> None:
        """Count one call that took ``seconds`` (on a thread or inline, as ``inline`` says)."""
        if self.policy is not None:
            return
        if self.inline:
            if seconds > INLINE_SLOW_S:
                self.slow += 1
                if self.slow >= INLINE_ABANDON_AFTER:
                    self.abandon()
            elif self.slow:
                self.slow -= 1
        elif seconds < INLINE_BELOW_S:
            self.streak += 1
            self.inline = self.streak >= INLINE_AFTER
        else:
            self.streak = 0

    def abandon(self) -> None:
        """Back to the threads for good (the adaptive policy only)."""
        if self.policy is None:
            self.inline, self.policy = False, False
