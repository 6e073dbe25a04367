"""Injected faults: the nth matching request gets a delay, a dropped connection, a canned
status, or a truncated answer.

Owns the fault rules and the per-rule counting of matching requests ("counted from now").
Paths are relative to ``/v0/management`` for management requests (``/auth-files``) and the
full path otherwise (``/healthz``).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from reconciler.emulator.defaults import MANAGEMENT_PREFIX


@dataclass(frozen=True)
class Fault:
    """What to do to one request."""

    status: int | None = None
    body: Any = None
    delay: float = 0.0
    drop: bool = False
    truncate: bool = False

    @property
    def replaces_handler(self) -> bool:
        return self.drop or self.truncate or self.status is not None


@dataclass
class _Rule:
    method: str
    path: str
    nth: int
    times: int
    fault: Fault
    seen: int = 0


def rule_path(path: str) -> str:
    """Normalise a rule's path: strip the management prefix, ensure a leading slash."""
    if path.startswith(MANAGEMENT_PREFIX + "/"):
        path = path[len(MANAGEMENT_PREFIX) :]
    return path if path.startswith("/") else "/" + path


class FaultPlan:
    """The active fault rules, thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[_Rule] = []

    def add(self, method: str, path: str, *, nth: int, times: int, fault: Fault) -> None:
        if nth < 1 or times < 1:
            raise ValueError("nth and times must be at least 1")
        rule = _Rule(method.upper(), rule_path(path), nth, times, fault)
        with self._lock:
            self._rules.append(rule)

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def match(self, method: str, path: str) -> Fault | None:
        """Count this request against every matching rule; return the first fault due."""
        due: Fault | None = None
        with self._lock:
            for rule in self._rules:
                if rule.method != method.upper() or rule.path != path:
                    continue
                rule.seen += 1
                if due is None and rule.nth <= rule.seen < rule.nth + rule.times:
                    due = rule.fault
        return due
