"""The status report: one row per credential, its JSON form and the exit code. Pure.

The JSON format is documented in docs/status-format.md (``FORMAT_VERSION``). A row is
*unhealthy* when its state is ``unavailable``, ``error`` or ``missing`` (declared in DESIRED,
not on the server), or when its quota read says the credential itself is dead
(``auth_invalid``, ``suspended``); *exhausted* when a window is at 100 %. Quota read failures of
other classes (``rate_limited``, ``upstream_error``, ``cpa_error``, ``schema_error``,
``unsupported``) are reported, not counted as unhealthy.
"""

from __future__ import annotations

import fnmatch
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from reconciler.quota.health import STATES, Health
from reconciler.quota.recipes import CLASSES, Reading, Window, normalise_provider

FORMAT_VERSION = "1.0"
DEAD_CLASSES = ("auth_invalid", "suspended")


@dataclass(frozen=True)
class Row:
    """One credential: its health from the listing (None when declared but missing), whether
    the desired state declares it, and its quota when it was read."""

    name: str
    health: Health | None
    declared: str | None = None  # "declared" | "undeclared" | "missing" | None (no DESIRED)
    quota: Reading | None = None
    quota_note: str | None = None  # why no quota was read (disabled, filtered, ...)

    @property
    def state(self) -> str:
        return self.health.state if self.health is not None else "missing"

    @property
    def provider(self) -> str | None:
        return self.health.provider if self.health is not None else None

    @property
    def exhausted(self) -> bool:
        return any(is_exhausted(w) for w in self.windows)

    @property
    def windows(self) -> tuple[Window, ...]:
        return self.quota.windows if self.quota is not None else ()

    @property
    def failure_class(self) -> str | None:
        if self.quota is None or self.quota.failure is None:
            return None
        return self.quota.failure.cls

    @property
    def unhealthy(self) -> bool:
        if self.health is None:
            return True
        return not self.health.healthy or self.failure_class in DEAD_CLASSES


def is_exhausted(window: Window) -> bool:
    return window.used_percent is not None and window.used_percent >= 100


@dataclass(frozen=True)
class Report:
    rows: tuple[Row, ...]
    target: str
    server_version: str | None
    generated_at: float
    quota: bool
    requests: dict[str, int] = field(default_factory=dict)

    @property
    def problems(self) -> bool:
        """What ``--detailed-exitcode`` reports as 2."""
        return any(row.unhealthy or row.exhausted for row in self.rows)


def select(
    healths: Iterable[Health], *, provider: str | None = None, name: str | None = None
) -> list[Health]:
    """The credentials ``--provider`` and ``--name`` (a shell glob) keep."""
    wanted = normalise_provider(provider) if provider else None
    return [
        h
        for h in healths
        if (wanted is None or h.provider == wanted)
        and (name is None or fnmatch.fnmatchcase(h.name, name))
    ]


def rows_for(
    healths: Iterable[Health],
    readings: Mapping[str, Reading],
    notes: Mapping[str, str],
    *,
    declared: Iterable[str] | None = None,
    provider: str | None = None,
    name: str | None = None,
) -> tuple[Row, ...]:
    """The rows, in name order; with ``declared`` (names from DESIRED) also the declared
    files missing on the server (kept by ``--name``, left out by ``--provider``)."""
    listed = list(healths)
    wanted = set(declared) if declared is not None else None
    rows = [
        Row(
            h.name,
            h,
            None if wanted is None else ("declared" if h.name in wanted else "undeclared"),
            readings.get(h.name),
            notes.get(h.name),
        )
        for h in listed
    ]
    if wanted is not None and provider is None:
        present = {h.name for h in listed}
        rows += [
            Row(missing, None, "missing")
            for missing in sorted(wanted - present)
            if name is None or fnmatch.fnmatchcase(missing, name)
        ]
    return tuple(sorted(rows, key=lambda row: row.name.lower()))


def _when(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def window_json(window: Window, now: float) -> dict[str, Any]:
    return {
        "id": window.id,
        "label": window.label,
        "used_percent": window.used_percent,
        "resets_at": _when(window.resets_at),
        "reset_in_seconds": (
            max(0, round(window.resets_at - now)) if window.resets_at is not None else None
        ),
    }


def row_json(row: Row, now: float, quota: bool) -> dict[str, Any]:
    h = row.health
    doc: dict[str, Any] = {
        "name": row.name,
        "provider": row.provider,
        "account": h.account if h else None,
        "plan": (row.quota.plan if row.quota and row.quota.plan else None)
        or (h.plan if h else None),
        "state": row.state,
        "healthy": not row.unhealthy,
        "status_message": (h.status_message or None) if h else None,
        "disabled": h.disabled if h else None,
        "last_refresh": _when(h.last_refresh) if h else None,
        "next_retry_after": _when(h.next_retry_after) if h else None,
        "requests": (
            {
                "success": h.success,
                "failed": h.failed,
                "recent_success": h.recent_success,
                "recent_failed": h.recent_failed,
            }
            if h
            else None
        ),
        "declared": row.declared,
    }
    if quota:
        if row.quota is None:
            doc["quota"] = {"read": False, "note": row.quota_note, "windows": [], "error": None}
        else:
            failure = row.quota.failure
            doc["quota"] = {
                "read": True,
                "note": None,
                "windows": [window_json(w, now) for w in row.quota.windows],
                "error": (
                    {"class": failure.cls, "detail": failure.detail, "status_code": failure.status}
                    if failure
                    else None
                ),
            }
    return doc


def to_json(report: Report) -> dict[str, Any]:
    now = report.generated_at
    states = dict.fromkeys((*STATES, "missing"), 0)
    classes = dict.fromkeys(CLASSES, 0)
    for row in report.rows:
        states[row.state] += 1
        if row.failure_class:
            classes[row.failure_class] += 1
    return {
        "format_version": FORMAT_VERSION,
        "generated_at": _when(now),
        "target": report.target,
        "server_version": report.server_version,
        "quota": report.quota,
        "summary": {
            "credentials": len(report.rows),
            "unhealthy": sum(1 for row in report.rows if row.unhealthy),
            "exhausted": sum(1 for row in report.rows if row.exhausted),
            "states": states,
            "quota_errors": classes if report.quota else None,
            "requests": dict(report.requests),
        },
        "credentials": [row_json(row, now, report.quota) for row in report.rows],
    }


def exit_code(report: Report, detailed: bool) -> int:
    return 2 if detailed and report.problems else 0
