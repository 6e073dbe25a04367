"""The daemon's structured events: one JSON object a line (or one text line), and their names.

This module owns the event vocabulary and its two line formats. Every event has ``event``,
``time`` (RFC 3339, UTC, milliseconds), ``severity`` (``info`` or ``error``, as Flux) and
``target``; the rest depends on the event (see ``EVENTS``). Values reach this module already
masked; the sink adds nothing secret (the target URL loses any user-info). Lines are written
under a lock and flushed, so a reader (a log shipper, a test) sees whole lines at once.
Events can also be handed to a forwarder (the webhook).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Protocol, TextIO

from reconciler.output.plan_json import safe_url

# Every event the daemon emits, and what it means.
EVENTS: Mapping[str, str] = {
    "daemon.started": "the daemon started (mode, interval, listen address)",
    "daemon.stopped": "the daemon stopped (signal, whether a cycle was still running)",
    "desired.loaded": "the desired-state file was loaded and differs from the last good one",
    "drift.detected": "live state differs from desired at one place (announced once)",
    "drift.resolved": "a detected drift item is gone (resolved_by: apply, desired-state, server)",
    "credential.missing": "a declared auth file is gone from the server and has no source: "
    "apply cannot bring it back (the remedy is in the event)",
    "credential.resolved": "a missing credential is back or no longer declared (resolved_by)",
    "cycle.summary": "every --summary-interval: cycles by result since the last summary, the "
    "drift and missing credentials now (quiet and alive, or stuck: a stuck daemon says nothing)",
    "apply.succeeded": "heal applied a plan",
    "apply.failed": "heal tried to apply and stopped; what was and was not done",
    "apply.blocked": "heal found a plan blocked by a safety rule; nothing was sent",
    "apply.skipped": "heal did not apply this cycle (state dir locked, desired state invalid)",
    "reconcile.error": "a cycle failed (desired state, target, CPA); names file:line or endpoint",
    "reconcile.recovered": "a cycle succeeded after failed ones",
    "auth.backoff": "CPA refused the key: no authenticated request until the key changes or the window ends",
    "move.pending": "fleet: the placement moves a credential to another server (announced once; "
    "why it waits: observe mode, no --allow-moves, a blocker, a target not read)",
    "move.done": "fleet: heal moved a credential (journaled and backed up, as apply --allow-moves)",
    "move.failed": "fleet: a move stopped part-way; the journal holds it and the next heal ends it",
    "move.resolved": "fleet: a pending move is no longer required (resolved_by)",
    "duplicate.detected": "fleet: one credential live on two or more servers (announced once)",
    "duplicate.resolved": "fleet: a duplicate credential is live on one server again",
    "auth.retry": "one authenticated attempt after an auth backoff",
    "webhook.failed": "a webhook delivery failed (not forwarded)",
    "credential.unhealthy": "CPA reports a credential failing or cooling down (state, status_message)",
    "credential.recovered": "an unhealthy credential is ok (or disabled) again",
    "quota.low": "a quota window reached --quota-warn percent",
    "quota.exhausted": "a quota window is at 100 %",
    "quota.recovered": "a low or exhausted quota window is below --quota-warn again",
    "quota.error": "a credential's quota read failure class changed (class, previous_class)",
}

ERROR_EVENTS = frozenset(
    {
        "apply.failed",
        "apply.blocked",
        "reconcile.error",
        "auth.backoff",
        "move.failed",
        "duplicate.detected",
        "credential.missing",
        "credential.unhealthy",
        "quota.exhausted",
    }
)

# Events a forwarder (the webhook) receives: drift and failures, not the daemon's own chatter.
FORWARDED = frozenset(
    {
        "drift.detected",
        "drift.resolved",
        "credential.missing",
        "credential.resolved",
        "apply.succeeded",
        "apply.failed",
        "apply.blocked",
        "reconcile.error",
        "reconcile.recovered",
        "auth.backoff",
        "move.pending",
        "move.done",
        "move.failed",
        "move.resolved",
        "duplicate.detected",
        "duplicate.resolved",
        "credential.unhealthy",
        "credential.recovered",
        "quota.low",
        "quota.exhausted",
        "quota.recovered",
        "quota.error",
    }
)

Forwarder = Callable[[dict[str, Any]], None]


class Emitter(Protocol):
    """What emits events: the sink, or a view of it for one target of a fleet."""

    def emit(self, event: str, **fields: Any) -> dict[str, Any]: ...


def now_rfc3339(moment: datetime | None = None) -> str:
    """``2026-11-24T08:00:00.123Z``."""
    moment = moment or datetime.now(UTC)
    return (
        moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    )


class EventSink:
    """Writes events to a stream as JSON lines (``json``) or text lines (``text``)."""

    def __init__(
        self,
        stream: TextIO,
        *,
        log_format: str = "json",
        target: str | None = None,
        forward: Forwarder | None = None,
        clock: Callable[[], str] = now_rfc3339,
    ) -> None:
        if log_format not in ("json", "text"):
            raise ValueError(f"log format must be json or text, not {log_format!r}")
        self._stream = stream
        self._format = log_format
        self._forward = forward
        self._clock = clock
        self._lock = threading.Lock()
        self.target = safe_url(target)

    def set_target(self, url: str | None) -> None:
        self.target = safe_url(url)

    def emit(self, event: str, **fields: Any) -> dict[str, Any]:
        """Write one event; forward it when it is a forwarded kind. Returns the event."""
        if event not in EVENTS:
            raise ValueError(f"unknown event {event!r}")
        record: dict[str, Any] = {
            "event": event,
            "time": self._clock(),
            "severity": "error" if event in ERROR_EVENTS else "info",
            "target": self.target,
        }
        record.update({k: v for k, v in fields.items() if v is not None})
        line = format_json(record) if self._format == "json" else format_text(record)
        with self._lock:
            try:
                self._stream.write(line + "\n")
                self._stream.flush()
            except (OSError, ValueError):
                pass  # stdout closed (a pipe reader went away): events are best effort
        if self._forward is not None and event in FORWARDED:
            self._forward(record)
        return record


def format_json(record: Mapping[str, Any]) -> str:
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"), default=str)


def format_text(record: Mapping[str, Any]) -> str:
    """``<time> <severity> <event> key=value ...`` with JSON-quoted values where needed."""
    head = f"{record['time']} {record['severity'].upper():5} {record['event']}"
    rest = [
        f"{k}={_text_value(v)}" for k, v in record.items() if k not in ("time", "severity", "event")
    ]
    return " ".join([head, *rest])


def _text_value(value: Any) -> str:
    if isinstance(value, str) and value and all(c.isprintable() and c not in ' "=' for c in value):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


class TargetEvents:
    """The events of one target of a fleet: ``target`` is its name (as in the fleet file and the
    metrics' ``target`` label), ``url`` its URL without user-info."""

    def __init__(self, sink: EventSink, name: str, url: str | None = None) -> None:
        self.sink = sink
        self.name = name
        self.url = safe_url(url)

    def emit(self, event: str, **fields: Any) -> dict[str, Any]:
        return self.sink.emit(event, **{"target": self.name, "url": self.url, **fields})
