"""The entries of ``GET /auth-files``.

Owns the shape of one listing entry as recorded (fixtures/GET-auth-files.json): identity
(``id``, ``name``, ``path``, ``auth_index``), provider, status, counters, the 20 ten-minute
``recent_requests`` buckets, timestamps, and the policy fields the listing carries.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable
from typing import Any

from reconciler.emulator.auth_json import bool_value, int_value
from reconciler.emulator.auth_store import AuthRecord
from reconciler.emulator.gojson import Raw, dumps
from reconciler.emulator.gotime import rfc3339nano

_BUCKET_SECONDS = 600
_BUCKETS = 20


def auth_index(record: AuthRecord) -> str:
    """First 8 bytes (16 hex) of SHA-256 over ``"<type>:<absolute path>"``."""
    seed = f"{record.provider.strip().lower()}:{record.path.absolute()}"
    return hashlib.sha256(seed.encode("utf-8")).hexdigest()[:16]


def recent_requests(now: float | None = None) -> Raw:
    """The 20 empty ten-minute buckets ending with the current one (struct field order)."""
    if now is None:
        now = time.time()
    start = (int(now) // _BUCKET_SECONDS - (_BUCKETS - 1)) * _BUCKET_SECONDS
    buckets = []
    for index in range(_BUCKETS):
        begin = start + index * _BUCKET_SECONDS
        label = f"{_clock(begin)}-{_clock(begin + _BUCKET_SECONDS)}"
        buckets.append(f'{{"time":{json.dumps(label)},"success":0,"failed":0}}')
    return Raw("[" + ",".join(buckets) + "]")


def listing_body(records: Iterable[AuthRecord]) -> str:
    """The JSON body ``{"files":[...]}`` for these records, sorted case-insensitively."""
    buckets = recent_requests()
    ordered = sorted(records, key=lambda record: record.name.lower())
    files = []
    for record in ordered:
        entry = record.entry
        if entry is None:
            entry = record.entry = build_entry(record)
        files.append({**entry, "recent_requests": buckets})
    return dumps({"files": files})


def build_entry(record: AuthRecord) -> dict[str, Any]:
    """One listing entry without its ``recent_requests`` (those depend on the clock)."""
    data = record.data
    email = data.get("email") if isinstance(data.get("email"), str) else ""
    entry: dict[str, Any] = {
        "auth_index": auth_index(record),
        "created_at": rfc3339nano(record.created_ns),
        "disabled": record.disabled,
        "failed": 0,
        "id": record.name,
        "label": email or record.provider,
        "modtime": rfc3339nano(record.mtime_ns),
        "name": record.name,
        "path": str(record.path.absolute()),
        "provider": record.provider,
        "runtime_only": False,
        "size": record.size,
        "source": "file",
        "status": "disabled" if record.disabled else "active",
        "status_message": "",
        "success": 0,
        "type": record.provider,
        "unavailable": False,
        "updated_at": rfc3339nano(record.updated_ns),
    }
    if email:
        entry.update(account=email, account_type="oauth", email=email)
    if record.last_refresh_ns is not None:
        entry["last_refresh"] = rfc3339nano(record.last_refresh_ns)
    entry.update(_policy_fields(data))
    return entry


def _policy_fields(data: dict[str, Any]) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    priority = int_value(data.get("priority"))
    if priority:
        fields["priority"] = priority
    note = data.get("note")
    if isinstance(note, str) and note.strip():
        fields["note"] = note.strip()
    weight = int_value(data.get("weight"))
    if weight is not None and not isinstance(data.get("weight"), str):
        fields["weight"] = weight
    websockets = bool_value(data.get("websockets"))
    if websockets is not None:
        fields["websockets"] = websockets
    retry = int_value(data.get("request_retry"))
    if retry is not None and retry >= 0:
        fields["request_retry"] = retry
    project = data.get("project_id")
    if isinstance(project, str) and project:
        fields["project_id"] = project
    return fields


def _clock(seconds: int) -> str:
    return time.strftime("%H:%M", time.gmtime(seconds))
