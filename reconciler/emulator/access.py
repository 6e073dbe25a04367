"""Who may use the management API: client IP, key headers, check order and the IP ban.

Owns gin's ``ClientIP()`` as CPA configures it (every peer trusted, so ``X-Forwarded-For``
and ``X-Real-IP`` are honoured), the key extraction of ``Middleware()``, the failed-attempt
counter with its ban, and ``AuthenticateManagementKey``'s order of checks and messages.
"""

from __future__ import annotations

import ipaddress
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass

from reconciler.emulator.gotime import format_duration
from reconciler.emulator.keys import KeyVerifier

LOOPBACK_IPS = frozenset({"127.0.0.1", "::1"})


@dataclass(frozen=True)
class Verdict:
    """The outcome of the key check: allowed, or a status and an error message."""

    allowed: bool
    status: int = 200
    error: str = ""
    checked_key: bool = False


def client_ip(headers: Mapping[str, str], peer: str) -> str:
    """gin's ``ClientIP()`` with every proxy trusted."""
    for name in ("x-forwarded-for", "x-real-ip"):
        value = headers.get(name, "")
        if not value:
            continue
        items = [item.strip() for item in value.split(",")]
        if all(_is_ip(item) for item in items):
            return items[0]
    return peer


def provided_key(headers: Mapping[str, str]) -> str:
    """The key of ``Authorization: Bearer K`` (or the whole value), else ``X-Management-Key``."""
    auth = headers.get("authorization", "")
    if auth:
        scheme, sep, rest = auth.partition(" ")
        key = rest if sep and scheme.lower() == "bearer" else auth
        if key:
            return key
    return headers.get("x-management-key", "")


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


class AccessControl:
    """``AuthenticateManagementKey`` with its in-memory failure counters."""

    def __init__(self, *, ban_window: float, max_failures: int) -> None:
        self.ban_window = ban_window
        self.max_failures = max_failures
        self.verifier = KeyVerifier()
        self._lock = threading.Lock()
        self._failures: dict[str, int] = {}
        self._banned_until: dict[str, float] = {}

    def authenticate(
        self, ip: str, provided: str, *, secret_hash: str, allow_remote: bool
    ) -> Verdict:
        """Run the checks of section 1.4 in order."""
        remaining = self._ban_remaining(ip)
        if remaining is not None:
            wait = format_duration(round(remaining) * 1_000_000_000)
            message = f"IP banned due to too many failed attempts. Try again in {wait}"
            return Verdict(False, 403, message)
        if ip not in LOOPBACK_IPS and not allow_remote:
            return Verdict(False, 403, "remote management disabled")
        if not secret_hash:
            return Verdict(False, 403, "remote management key not set")
        if not provided:
            self._fail(ip)
            return Verdict(False, 401, "missing management key")
        if not self.verifier.matches(secret_hash, provided):
            self._fail(ip)
            return Verdict(False, 401, "invalid management key", checked_key=True)
        self._reset(ip)
        return Verdict(True, checked_key=True)

    def would_accept(self, provided: str, secret_hash: str) -> bool:
        """Whether ``provided`` is the key, without touching the counters."""
        return bool(provided) and self.verifier.matches(secret_hash, provided)

    def unban(self) -> None:
        """Forget every failure and ban (like a server restart)."""
        with self._lock:
            self._failures.clear()
            self._banned_until.clear()

    def _ban_remaining(self, ip: str) -> float | None:
        now = time.monotonic()
        with self._lock:
            until = self._banned_until.get(ip)
            if until is None:
                return None
            if now < until:
                return until - now
            del self._banned_until[ip]
            self._failures.pop(ip, None)
            return None

    def _fail(self, ip: str) -> None:
        with self._lock:
            count = self._failures.get(ip, 0) + 1
            if count >= self.max_failures:
                self._banned_until[ip] = time.monotonic() + self.ban_window
                count = 0
            self._failures[ip] = count

    def _reset(self, ip: str) -> None:
        with self._lock:
            self._failures.pop(ip, None)
            self._banned_until.pop(ip, None)
