"""The log of every request the emulator answered.

Owns :class:`RequestRecord` (what tests assert on) and the thread-safe list of them.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass

from reconciler.emulator.defaults import MANAGEMENT_PREFIX

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class RequestRecord:
    """One request: ``path`` is the URL path, ``status`` 0 when the connection was dropped."""

    method: str
    path: str
    query: dict[str, list[str]]
    status: int
    client_ip: str
    authenticated: bool
    time: float

    @property
    def is_management(self) -> bool:
        return self.path == MANAGEMENT_PREFIX or self.path.startswith(MANAGEMENT_PREFIX + "/")

    def as_json(self) -> dict[str, object]:
        return {
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "status": self.status,
            "client_ip": self.client_ip,
            "authenticated": self.authenticated,
            "time": self.time,
        }


class RequestLog:
    """Append-only (until reset) list of records."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: list[RequestRecord] = []

    def add(self, record: RequestRecord) -> None:
        with self._lock:
            self._records.append(record)

    def records(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._records)

    def reset(self) -> None:
        with self._lock:
            self._records.clear()

    def counts(self) -> Counter[tuple[str, str]]:
        return Counter((record.method, record.path) for record in self.records())

    def mutating(self) -> list[RequestRecord]:
        return [r for r in self.records() if r.is_management and r.method not in READ_METHODS]
