"""Times and durations in the text forms Go prints and parses.

Owns RFC 3339 timestamps (``time.RFC3339Nano`` in UTC, as the recorded server printed them)
and ``time.Duration`` strings such as ``250ms``, ``30m0s`` or ``1h0m0s``.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

_UNITS_NS = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,
    "μs": 1_000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
}
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")


def rfc3339nano(ns: int | None = None) -> str:
    """``time.RFC3339Nano`` in UTC for a Unix time in nanoseconds (default: now)."""
    if ns is None:
        ns = time.time_ns()
    seconds, frac = divmod(ns, 1_000_000_000)
    base = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    if frac == 0:
        return base + "Z"
    return f"{base}.{frac:09d}".rstrip("0") + "Z"


def rfc3339(seconds: float | None = None) -> str:
    """``time.RFC3339`` (whole seconds) in UTC for a Unix time (default: now)."""
    if seconds is None:
        seconds = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(seconds)))


def parse_rfc3339(text: str) -> int | None:
    """Unix nanoseconds for an RFC 3339 timestamp, or None when it does not parse."""
    match = re.fullmatch(r"(.+?T\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)", text.strip())
    if match is None:
        return None
    zone = "+00:00" if match.group(3) == "Z" else match.group(3)
    try:
        moment = datetime.fromisoformat(match.group(1) + zone)
    except ValueError:
        return None
    frac = (match.group(2) or ".")[1:]
    nanos = int((frac + "000000000")[:9]) if frac else 0
    return int(moment.astimezone(UTC).timestamp()) * 1_000_000_000 + nanos


def format_duration(ns: int) -> str:
    """Go's ``time.Duration.String()`` for a duration in nanoseconds."""
    if ns == 0:
        return "0s"
    sign = "-" if ns < 0 else ""
    ns = abs(ns)
    if ns < 1_000_000_000:
        for unit, size in (("ms", 1_000_000), ("µs", 1_000), ("ns", 1)):
            if ns >= size:
                return sign + _fraction(ns, size) + unit
    hours, rest = divmod(ns, 3_600_000_000_000)
    minutes, rest = divmod(rest, 60_000_000_000)
    text = _fraction(rest, 1_000_000_000) + "s"
    if hours or minutes:
        text = f"{minutes}m{text}"
    if hours:
        text = f"{hours}h{text}"
    return sign + text


def parse_duration(text: str) -> int:
    """Nanoseconds for a Go duration string; raises ValueError when it is not one."""
    raw = text.strip()
    body = raw[1:] if raw[:1] in ("+", "-") else raw  # one sign at most, as Go
    if body == "0":
        return 0
    if not body or _DURATION_PART.sub("", body):
        raise ValueError(f'time: invalid duration "{raw}"')
    total = 0.0
    for number, unit in _DURATION_PART.findall(body):
        total += float(number) * _UNITS_NS[unit]
    return -int(total) if raw.startswith("-") else int(total)


def _fraction(value: int, size: int) -> str:
    whole, frac = divmod(value, size)
    if frac == 0:
        return str(whole)
    width = len(str(size)) - 1
    return f"{whole}.{frac:0{width}d}".rstrip("0")
