"""The entries of ``GET /auth-files``.

Owns the shape of one listing entry as recorded (fixtures/GET-auth-files.json): identity
(``id``, ``name``, ``path``, ``auth_index``), provider, status, counters, the 20 ten-minute
``recent_requests`` buckets, timestamps, the policy fields the listing carries, and for codex
the ``id_token`` claims CPA decodes from the JWT. Entries are encoded field by field (every
value has a known type) and cached per record, so listing 10,000 files is mostly a string
join. A credential put into a run-time state (``auth_runtime``: failing, cooling down, with
request counts) is encoded afresh on each listing.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import time
from collections.abc import Iterable
from json.encoder import encode_basestring
from typing import Any

from reconciler.emulator.auth_json import bool_value, int_value
from reconciler.emulator.auth_runtime import Runtime
from reconciler.emulator.auth_store import AuthRecord
from reconciler.emulator.gotime import rfc3339nano

_BUCKET_SECONDS = 600
_BUCKETS = 20
_RECENT = "recent_requests"


def auth_index(record: AuthRecord) -> str:
    """First 8 bytes (16 hex) of SHA-256 over ``"<type>:<absolute path>"``."""
    seed = f"{record.provider.strip().lower()}:{record.path.absolute()}"
    return hashlib.sha256(seed.encode("utf-8")).hexdigest()[:16]


def recent_requests(now: float | None = None, counts: Runtime | None = None) -> str:
    """JSON of the 20 ten-minute buckets ending with the current one (struct order), empty
    unless ``counts`` says otherwise."""
    if now is None:
        now = time.time()
    recent = counts.recent if counts is not None else {}
    start = (int(now) // _BUCKET_SECONDS - (_BUCKETS - 1)) * _BUCKET_SECONDS
    buckets = []
    for index in range(_BUCKETS):
        begin = start + index * _BUCKET_SECONDS
        label = f"{_clock(begin)}-{_clock(begin + _BUCKET_SECONDS)}"
        ok, failed = recent.get(begin, (0, 0))
        buckets.append(f'{{"time":"{label}","success":{ok},"failed":{failed}}}')
    return "[" + ",".join(buckets) + "]"


def listing_body(records: Iterable[AuthRecord]) -> str:
    """The JSON body ``{"files":[...]}`` for these records, sorted case-insensitively."""
    buckets = recent_requests()
    parts = []
    for record in sorted(records, key=lambda record: record.name.lower()):
        if record.runtime is not None:
            before, after = _encoded_entry(record)
            parts.append(before + recent_requests(counts=record.runtime) + after)
            continue
        if record.entry is None:
            record.entry = _encoded_entry(record)
        before, after = record.entry
        parts.append(before + buckets + after)
    return '{"files":[' + ",".join(parts) + "]}"


def _encoded_entry(record: AuthRecord) -> tuple[str, str]:
    """The entry's JSON (keys sorted, like a Go map), split where ``recent_requests`` goes."""
    fields = entry_fields(record)
    fields[_RECENT] = ""
    members = [f'"{key}":{fields[key]}' for key in sorted(fields)]
    split = sorted(fields).index(_RECENT)
    before = "{" + ",".join(members[: split + 1])
    after = ("," if split + 1 < len(members) else "") + ",".join(members[split + 1 :]) + "}"
    return before, after


def entry_fields(record: AuthRecord) -> dict[str, str]:
    """Every listed field of ``record`` (but ``recent_requests``) as encoded JSON values."""
    data = record.data
    email = data.get("email") if isinstance(data.get("email"), str) else ""
    provider = _string(record.provider)
    fields = {
        "auth_index": f'"{auth_index(record)}"',
        "created_at": f'"{rfc3339nano(record.created_ns)}"',
        "disabled": _bool(record.disabled),
        "failed": "0",
        "id": _string(record.name),
        "label": _string(email or record.provider),
        "modtime": f'"{rfc3339nano(record.mtime_ns)}"',
        "name": _string(record.name),
        "path": _string(str(record.path.absolute())),
        "provider": provider,
        "runtime_only": "false",
        "size": str(record.size),
        "source": '"file"',
        "status": '"disabled"' if record.disabled else '"active"',
        "status_message": '""',
        "success": "0",
        "type": provider,
        "unavailable": "false",
        "updated_at": f'"{rfc3339nano(record.updated_ns)}"',
    }
    if email:
        fields.update(account=_string(email), account_type='"oauth"', email=_string(email))
    if record.last_refresh_ns is not None:
        fields["last_refresh"] = f'"{rfc3339nano(record.last_refresh_ns)}"'
    fields.update(_policy_fields(data))
    if record.provider == "codex":
        claims = codex_claims(data.get("id_token"))
        if claims:
            fields["id_token"] = json.dumps(claims, sort_keys=True, separators=(",", ":"))
    if record.runtime is not None:
        fields.update(_runtime_fields(record.runtime, record.disabled))
    return fields


def _runtime_fields(runtime: Runtime, disabled: bool) -> dict[str, str]:
    fields = {
        "status": '"disabled"' if disabled else _string(runtime.status),
        "status_message": _string(runtime.status_message),
        "unavailable": _bool(runtime.unavailable),
        "success": str(runtime.success),
        "failed": str(runtime.failed),
    }
    if runtime.next_retry_after_ns is not None:
        fields["next_retry_after"] = f'"{rfc3339nano(runtime.next_retry_after_ns)}"'
    return fields


def codex_claims(id_token: Any) -> dict[str, Any]:
    """What CPA lists as a codex file's ``id_token``: the OpenAI claims of the JWT (account
    id, plan, subscription dates), the empty ones left out; nothing for a token that does not
    decode."""
    if not isinstance(id_token, str) or id_token.count(".") != 2:
        return {}
    payload = id_token.split(".")[1]
    try:
        decoded = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (binascii.Error, ValueError):
        return {}
    auth = decoded.get("https://api.openai.com/auth") if isinstance(decoded, dict) else None
    if not isinstance(auth, dict):
        return {}
    names = {
        "chatgpt_account_id": "chatgpt_account_id",
        "chatgpt_plan_type": "plan_type",
        "chatgpt_subscription_active_start": "chatgpt_subscription_active_start",
        "chatgpt_subscription_active_until": "chatgpt_subscription_active_until",
    }
    return {shown: auth[claim] for claim, shown in names.items() if auth.get(claim)}


def _policy_fields(data: dict[str, Any]) -> dict[str, str]:
    fields: dict[str, str] = {}
    priority = int_value(data.get("priority"))
    if priority:
        fields["priority"] = str(priority)
    note = data.get("note")
    if isinstance(note, str) and note.strip():
        fields["note"] = _string(note.strip())
    weight = int_value(data.get("weight"))
    if weight is not None and not isinstance(data.get("weight"), str):
        fields["weight"] = str(weight)
    websockets = bool_value(data.get("websockets"))
    if websockets is not None:
        fields["websockets"] = _bool(websockets)
    retry = int_value(data.get("request_retry"))
    if retry is not None and retry >= 0:
        fields["request_retry"] = str(retry)
    project = data.get("project_id")
    if isinstance(project, str) and project:
        fields["project_id"] = _string(project)
    return fields


def _string(value: str) -> str:
    """A JSON string as Go writes it (HTML characters escaped, non-ASCII kept)."""
    text: str = encode_basestring(value)
    if "<" in text or ">" in text or "&" in text or "\u2028" in text or "\u2029" in text:
        for old, new in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
            text = text.replace(old, new)
        text = text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return text


def _bool(value: bool) -> str:
    return "true" if value else "false"


def _clock(seconds: int) -> str:
    return time.strftime("%H:%M", time.gmtime(seconds))
