"""The run-time state CPA keeps per credential and lists in ``GET /auth-files``.

Owns what CPA's auth manager tracks in memory, never in the file: ``status`` (``active``,
``error``, ``pending``, ``refreshing``, ``unknown``), ``status_message``, ``unavailable`` with
``next_retry_after`` (a cooling-down credential), the ``success``/``failed`` counters and the
twenty ten-minute ``recent_requests`` buckets. A real server sets them from the outcome of
proxied requests; the emulator has no proxied traffic, so tests set them through the control
API (``POST /_emulator/auth-state``) or ``Emulator.set_auth_state``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from reconciler.emulator.gotime import parse_rfc3339

STATUSES = ("active", "error", "pending", "refreshing", "unknown")
BUCKET_SECONDS = 600
BUCKETS = 20


class InvalidState(ValueError):
    """A control request that does not describe a state."""


@dataclass
class Runtime:
    """One credential's run-time state; the defaults are what a fresh credential lists."""

    status: str = "active"
    status_message: str = ""
    unavailable: bool = False
    next_retry_after_ns: int | None = None
    success: int = 0
    failed: int = 0
    #: ten-minute bucket start (Unix seconds) -> (success, failed)
    recent: dict[int, tuple[int, int]] = field(default_factory=dict)


def updated(current: Runtime | None, body: dict[str, Any], now: float | None = None) -> Runtime:
    """``current`` with the fields of a control request applied (see the module docstring)."""
    now = time.time() if now is None else now
    state = Runtime() if current is None else Runtime(**vars(current))
    state.recent = dict(state.recent)
    if "status" in body:
        status = body["status"]
        if status not in STATUSES:
            raise InvalidState(f"status must be one of {', '.join(STATUSES)}")
        state.status = status
    if "status_message" in body:
        state.status_message = _string(body, "status_message")
    if "unavailable" in body:
        state.unavailable = _bool(body, "unavailable")
    if "next_retry_after" in body:
        state.next_retry_after_ns = _instant(body["next_retry_after"], now)
    for name in ("success", "failed"):
        if name in body:
            setattr(state, name, _count(body, name))
    if "recent" in body:
        state.recent = _recent(body["recent"], now)
    return state


def instant_ns(value: Any, now: float | None = None) -> int | None:
    """An RFC 3339 time, or a number of seconds from now, in Unix nanoseconds (None: unset)."""
    return _instant(value, time.time() if now is None else now)


def _instant(value: Any, now: float) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise InvalidState("a time is an RFC 3339 string or seconds from now")
    if isinstance(value, int | float):
        return int((now + value) * 1e9)
    if isinstance(value, str):
        parsed = parse_rfc3339(value)
        if parsed is not None:
            return parsed
    raise InvalidState("a time is an RFC 3339 string or seconds from now")


def _recent(value: Any, now: float) -> dict[int, tuple[int, int]]:
    """Counts of the last buckets, oldest first, the last one the current bucket."""
    if not isinstance(value, list) or len(value) > BUCKETS:
        raise InvalidState(f"recent is a list of at most {BUCKETS} {{success, failed}} objects")
    current = int(now) // BUCKET_SECONDS * BUCKET_SECONDS
    buckets: dict[int, tuple[int, int]] = {}
    for back, item in enumerate(reversed(value)):
        if not isinstance(item, dict):
            raise InvalidState("recent is a list of {success, failed} objects")
        start = current - back * BUCKET_SECONDS
        buckets[start] = (_count(item, "success"), _count(item, "failed"))
    return buckets


def _string(body: dict[str, Any], name: str) -> str:
    value = body[name]
    if not isinstance(value, str):
        raise InvalidState(f"{name} must be a string")
    return value


def _bool(body: dict[str, Any], name: str) -> bool:
    value = body[name]
    if not isinstance(value, bool):
        raise InvalidState(f"{name} must be true or false")
    return value


def _count(body: dict[str, Any], name: str) -> int:
    value = body.get(name, 0)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidState(f"{name} must be a whole number, 0 or more")
    return value
