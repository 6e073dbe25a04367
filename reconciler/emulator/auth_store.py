"""The auth directory: an in-memory index of auth files with write-through to disk.

Owns what the server's auth manager and file store do with credential files: registering a
file (upload, login, or one that appeared on disk, which is registered without a write-back),
saving the normalised form (mode 0600, skipped when semantically equal), status and metadata
changes, token refresh, and deletion. One stat per lookup and a directory scan per listing
stand in for the file watcher.
"""

from __future__ import annotations

import copy
import os
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reconciler.emulator import auth_json
from reconciler.emulator.auth_runtime import Runtime
from reconciler.emulator.gotime import parse_rfc3339, rfc3339

Stamp = tuple[int, int, int]


@dataclass
class AuthRecord:
    """One registered auth file."""

    name: str
    path: Path
    data: dict[str, Any]
    disabled: bool
    stamp: Stamp
    created_ns: int
    updated_ns: int
    last_refresh_ns: int | None
    on_disk: dict[str, Any] = field(default_factory=dict, repr=False)
    entry: tuple[str, str] | None = field(default=None, repr=False)
    #: run-time state set by tests (None: a fresh, healthy credential); kept across rewrites
    runtime: Runtime | None = None

    @property
    def size(self) -> int:
        return self.stamp[1]

    @property
    def mtime_ns(self) -> int:
        return self.stamp[0]

    @property
    def provider(self) -> str:
        value = self.data.get("type")
        return value if isinstance(value, str) and value else "unknown"


class AuthStore:
    """All auth files of the emulator, keyed by file name."""

    def __init__(self, auth_dir: Path) -> None:
        self.auth_dir = auth_dir
        self._lock = threading.RLock()
        self._records: dict[str, AuthRecord] = {}
        self._by_index: dict[str, str] = {}  # auth_index -> file name, as last seen

    # -- reading ---------------------------------------------------------------------------

    def scan(self) -> list[AuthRecord]:
        """Sync the index with the directory and return every record."""
        with self._lock:
            seen: set[str] = set()
            with os.scandir(self.auth_dir) as entries:
                for entry in entries:
                    if entry.name.lower().endswith(".json") and entry.is_file():
                        seen.add(entry.name)
                        st = entry.stat()
                        stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
                        record = self._records.get(entry.name)
                        if record is None or record.stamp != stamp:
                            self._register_from_disk(entry.name)
            for name in [name for name in self._records if name not in seen]:
                del self._records[name]
            return list(self._records.values())

    def get(self, name: str) -> AuthRecord | None:
        """The record named ``name`` (file name), checked against the disk."""
        if not name or "/" in name or "\\" in name:
            return None
        with self._lock:
            path = self.auth_dir / name
            try:
                st = os.stat(path)
            except FileNotFoundError:
                self._records.pop(name, None)
                return None
            record = self._records.get(name)
            if record is None or record.stamp != (st.st_mtime_ns, st.st_size, st.st_ino):
                record = self._register_from_disk(name)
            return record

    def find_by_index(
        self, auth_index: str, index_of: Callable[[AuthRecord], str]
    ) -> AuthRecord | None:
        """The record whose ``auth_index`` is this: the last match is remembered and checked
        with one stat (CPA looks it up in memory); otherwise one directory scan."""
        name = self._by_index.get(auth_index)
        if name is not None:
            record = self.get(name)
            if record is not None and index_of(record) == auth_index:
                return record
        found = None
        for record in self.scan():
            index = index_of(record)
            self._by_index[index] = record.name
            if index == auth_index:
                found = record
        return found

    def read_bytes(self, name: str) -> bytes | None:
        try:
            return (self.auth_dir / name).read_bytes()
        except (FileNotFoundError, IsADirectoryError):
            return None

    # -- writing ---------------------------------------------------------------------------

    def upload(self, name: str, raw: bytes) -> None:
        """``writeAuthFile``: write the bytes, register, then persist the normalised form."""
        data = auth_json.parse(raw)
        with self._lock:
            path = self.auth_dir / name
            stamp = _write(path, raw)
            disabled = auth_json.bool_value(data.get("disabled")) is True
            record = self._register(name, data, disabled, stamp)
            self._persist(record)

    def write_external(self, name: str, data: dict[str, Any], raw: bytes) -> None:
        """A file written by someone else: registered without a write-back."""
        with self._lock:
            stamp = _write(self.auth_dir / name, raw)
            disabled = auth_json.bool_value(data.get("disabled")) is True
            self._register(name, data, disabled, stamp)

    def update(self, record: AuthRecord, change: Callable[[AuthRecord], None]) -> None:
        """Apply ``change`` to a record, then save it through the store."""
        with self._lock:
            record.data = copy.deepcopy(record.data)
            change(record)
            record.updated_ns = time.time_ns()
            self._persist(record)

    def refresh(self, record: AuthRecord) -> None:
        """What a token refresh writes: rotated tokens, new expiry and ``last_refresh``."""
        now = time.time()

        def rotate(rec: AuthRecord) -> None:
            rec.data["access_token"] = secrets.token_urlsafe(32)
            rec.data["refresh_token"] = secrets.token_urlsafe(32)
            rec.data["expired"] = rfc3339(now + 3600)
            rec.data["last_refresh"] = rfc3339(now)
            rec.last_refresh_ns = int(now * 1e9)

        self.update(record, rotate)

    def set_runtime(
        self,
        record: AuthRecord,
        runtime: Runtime | None,
        *,
        disabled: bool | None = None,
        last_refresh_ns: int | None = None,
    ) -> None:
        """Put a credential into a run-time state (and, with ``disabled``, the persisted
        status that ``PATCH /auth-files/status`` sets)."""
        with self._lock:
            if disabled is not None and disabled != record.disabled:

                def change(rec: AuthRecord) -> None:
                    rec.disabled = disabled
                    rec.data["disabled"] = disabled

                self.update(record, change)
            record.runtime = runtime
            if last_refresh_ns is not None:
                record.last_refresh_ns = last_refresh_ns
            record.entry = None

    def delete(self, name: str) -> bool:
        """Remove one file; False when it does not exist."""
        with self._lock:
            try:
                os.remove(self.auth_dir / name)
            except FileNotFoundError:
                self._records.pop(name, None)
                return False
            self._records.pop(name, None)
            return True

    def delete_all(self) -> int:
        """Remove every ``*.json`` directly in the auth dir."""
        with self._lock:
            names = [
                entry.name
                for entry in os.scandir(self.auth_dir)
                if entry.is_file() and entry.name.lower().endswith(".json")
            ]
            return sum(1 for name in names if self.delete(name))

    # -- internals -------------------------------------------------------------------------

    def _register_from_disk(self, name: str) -> AuthRecord | None:
        try:
            with open(os.path.join(self.auth_dir, name), "rb") as handle:
                st = os.fstat(handle.fileno())
                raw = handle.read()
            data = auth_json.parse(raw)
        except (OSError, auth_json.InvalidAuthFile):
            self._records.pop(name, None)
            return None
        disabled = auth_json.bool_value(data.get("disabled")) is True
        return self._register(name, data, disabled, (st.st_mtime_ns, st.st_size, st.st_ino))

    def _register(
        self, name: str, data: dict[str, Any], disabled: bool, stamp: Stamp
    ) -> AuthRecord:
        now = time.time_ns()
        existing = self._records.get(name)
        last_refresh = _last_refresh_of(data)
        if last_refresh is None and existing is not None:
            last_refresh = existing.last_refresh_ns
        if last_refresh is None and "expired" not in data:
            last_refresh = now
        record = AuthRecord(
            name=name,
            path=self.auth_dir / name,
            data=data,
            disabled=disabled,
            stamp=stamp,
            created_ns=existing.created_ns if existing else now,
            updated_ns=now,
            last_refresh_ns=last_refresh,
            on_disk=data,
            runtime=existing.runtime if existing else None,
        )
        self._records[name] = record
        return record

    def _persist(self, record: AuthRecord) -> None:
        """``FileTokenStore.Save``: normalise, skip when semantically equal, else rewrite."""
        target = auth_json.normalised(record.data, record.disabled)
        record.entry = None
        record.data = target
        if target == record.on_disk and record.path.exists():
            return
        record.on_disk = target
        record.stamp = _write(record.path, auth_json.serialise(target))


def _last_refresh_of(data: dict[str, Any]) -> int | None:
    value = data.get("last_refresh")
    return parse_rfc3339(value) if isinstance(value, str) else None


def _write(path: Path, data: bytes) -> Stamp:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, data)
        st = os.fstat(fd)
    finally:
        os.close(fd)
    return (st.st_mtime_ns, st.st_size, st.st_ino)
