"""When the daemon may talk to CPA again after a failure: the two backoff policies.

Pure: no I/O, no clock of its own (every method takes ``now``, seconds on a monotonic clock).

* ``FailureBackoff``: after a failed cycle (CPA unreachable, a 5xx, an apply that stopped) the
  next attempt waits ``interval * 2**n`` seconds, capped (10 minutes, or the interval if that is
  longer). Argo CD retries the same way (5 s x 2 up to 3 min) instead of parking after one
  failure.
* ``AuthHold``: after a 401 or 403 no authenticated request is sent for the hold window
  (``--ban-backoff``), or until the key changes. CPA bans an IP for 30 minutes after 5 failed
  authentications and only forgets failures after a success (or 2 idle hours), so the hold
  doubles after each further failure (up to 4x the window) and a changed key is tried at once
  only while fewer than ``KEY_CHANGE_BUDGET`` failures reached CPA since the last success.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

# Longest wait between attempts after ordinary failures (seconds), unless the interval is longer.
FAILURE_CAP = 600.0

# The auth hold grows up to this multiple of --ban-backoff.
HOLD_GROWTH_CAP = 4

# Failed authentications since the last success after which even a changed key waits out the
# hold: CPA bans at 5, and a person trying a key by hand must not be the one to trip it.
KEY_CHANGE_BUDGET = 3


@dataclass
class FailureBackoff:
    """Capped exponential backoff over consecutive failed cycles."""

    interval: float
    cap: float = FAILURE_CAP
    failures: int = 0
    not_before: float = 0.0

    def ready(self, now: float) -> bool:
        return now >= self.not_before

    def failed(self, now: float) -> float:
        """Record a failure; return the delay before the next attempt."""
        self.failures += 1
        delay = min(max(self.cap, self.interval), self.interval * 2.0**self.failures)
        self.not_before = now + delay
        return delay

    def succeeded(self) -> None:
        self.failures = 0
        self.not_before = 0.0


class Gate(Enum):
    """What the auth hold says about sending a request now."""

    SEND = "send"  # no hold
    HOLD = "hold"  # held: send nothing
    RETRY_KEY_CHANGED = "retry-key-changed"  # held, but the key changed: one try
    RETRY_WINDOW_ENDED = "retry-window-ended"  # the hold is over: one try


@dataclass
class AuthHold:
    """The hold after a refused authentication. Keys are compared by a fingerprint only."""

    window: float
    until: float | None = None
    key_fingerprint: str | None = None
    failures_since_success: int = 0
    consecutive: int = 0

    @property
    def held(self) -> bool:
        return self.until is not None

    def gate(self, now: float, key_fingerprint: str) -> Gate:
        if self.until is None:
            return Gate.SEND
        if now >= self.until:
            return Gate.RETRY_WINDOW_ENDED
        key_changed = key_fingerprint != self.key_fingerprint
        if key_changed and self.failures_since_success < KEY_CHANGE_BUDGET:
            return Gate.RETRY_KEY_CHANGED
        return Gate.HOLD

    def refused(self, now: float, key_fingerprint: str, *, counted: bool = True) -> float:
        """Record a 401/403 for the key; return the hold in seconds.

        ``counted`` is False for refusals CPA does not count as a failed attempt (a ban in
        force, remote management disabled, a key that was never sent).
        """
        if counted:
            self.failures_since_success += 1
        self.consecutive += 1
        growth = min(HOLD_GROWTH_CAP, 2 ** (self.consecutive - 1))
        hold = self.window * float(growth)
        self.until = now + hold
        self.key_fingerprint = key_fingerprint
        return hold

    def succeeded(self) -> None:
        self.until = None
        self.key_fingerprint = None
        self.failures_since_success = 0
        self.consecutive = 0
