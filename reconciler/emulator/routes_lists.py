"""Handlers of the provider credential lists (section 2.4).

Owns ``/gemini-api-key``, ``/interactions-api-key``, ``/claude-api-key``, ``/codex-api-key``,
``/xai-api-key``, ``/vertex-api-key`` and ``/openai-compatibility``: read with the computed
``auth-index``, replace (weights checked, entries without a required ``base-url`` dropped,
gemini entries de-duplicated), patch one item, delete one item.
"""

from __future__ import annotations

import hashlib
from functools import partial
from typing import Any

from reconciler.emulator.config_check import MAX_WEIGHT
from reconciler.emulator.config_edits import Handler, Reject, guarded, json_body, save, text
from reconciler.emulator.messages import Request, Response, json_response, ok
from reconciler.emulator.state import EmulatorState

LISTS = (
    "gemini-api-key",
    "interactions-api-key",
    "claude-api-key",
    "codex-api-key",
    "xai-api-key",
    "vertex-api-key",
    "openai-compatibility",
)
_NEEDS_BASE_URL = frozenset({"codex-api-key", "xai-api-key", "openai-compatibility"})
_STRICT = frozenset({"gemini-api-key", "interactions-api-key"})
_INDEXED = frozenset({"gemini-api-key", "claude-api-key", "codex-api-key"})


def _match_field(key: str) -> str:
    return "name" if key == "openai-compatibility" else "api-key"


def _index_of(key: str, base_url: str, api_key: str) -> str:
    seed = f"{key}:{base_url}+{api_key}"
    return hashlib.sha256(seed.encode("utf-8")).hexdigest()[:16]


def _with_index(key: str, entry: Any) -> Any:
    if not isinstance(entry, dict):
        return entry
    out = dict(entry)
    if key in _INDEXED and text(entry, "api-key"):
        out["auth-index"] = _index_of(key, text(entry, "base-url"), text(entry, "api-key"))
    items = entry.get("api-key-entries")
    if key == "openai-compatibility" and isinstance(items, list):
        base = text(entry, "base-url")
        out["api-key-entries"] = [
            {**item, "auth-index": _index_of(key, base, text(item, "api-key"))}
            if isinstance(item, dict) and text(item, "api-key")
            else item
            for item in items
        ]
    return out


def _check_weights(key: str, index: int, entry: dict[str, Any]) -> None:
    holders = [(f"{key}[{index}]", entry)]
    for sub, item in enumerate(entry.get("api-key-entries") or []):
        if isinstance(item, dict):
            holders.append((f"{key}[{index}].api-key-entries[{sub}]", item))
    for where, holder in holders:
        weight = holder.get("weight")
        if weight is None:
            continue
        if isinstance(weight, bool) or not isinstance(weight, int) or not 0 <= weight <= MAX_WEIGHT:
            raise Reject(400, f"invalid weight for {where}: must be an integer <= {MAX_WEIGHT}")


def _kept(key: str, entries: list[Any]) -> list[dict[str, Any]]:
    """The entries the server keeps, or a 400 for an invalid one."""
    kept: list[dict[str, Any]] = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise Reject(400, "invalid body")
        _check_weights(key, index, entry)
        if key == "vertex-api-key" and not text(entry, "api-key"):
            raise Reject(400, f"{key}[{index}]: api-key is required")
        if key in _NEEDS_BASE_URL and not text(entry, "base-url"):
            continue
        if key in _STRICT and not (text(entry, "api-key") or text(entry, "base-url")):
            continue
        if key in _STRICT and any(_same_gemini(entry, other) for other in kept):
            continue
        kept.append(entry)
    return kept


def _same_gemini(a: dict[str, Any], b: dict[str, Any]) -> bool:
    fields = ("api-key", "base-url", "proxy-url", "prefix")
    return all(text(a, f) == text(b, f) for f in fields) and a.get("headers") == b.get("headers")


def _current(state: EmulatorState, key: str) -> list[dict[str, Any]]:
    return [dict(e) for e in state.config.get((key,)) or [] if isinstance(e, dict)]


def _base_ok(entry: dict[str, Any], base: str) -> bool:
    return not base or text(entry, "base-url") == base


def get_list(key: str, state: EmulatorState, req: Request) -> Response:
    entries = state.config.get((key,))
    shown = None if entries is None else [_with_index(key, e) for e in entries]
    return json_response(200, {key: shown})


def put_list(key: str, state: EmulatorState, req: Request) -> Response:
    save(state, key, _kept(key, json_body(req, list)))
    return ok()


def patch_list(key: str, state: EmulatorState, req: Request) -> Response:
    body = json_body(req, dict)
    entries = _current(state, key)
    position = _find(key, entries, body, req.arg("base-url"))
    value = body.get("value")
    if not isinstance(value, dict):
        raise Reject(400, "invalid body")
    merged = {**entries[position], **value}
    entries[position] = {k: v for k, v in merged.items() if v is not None}
    save(state, key, _kept(key, entries))
    return ok()


def _find(key: str, entries: list[dict[str, Any]], body: dict[str, Any], base: str) -> int:
    index = body.get("index")
    if isinstance(index, int) and not isinstance(index, bool):
        if 0 <= index < len(entries):
            return index
        raise Reject(404, "item not found")
    field = _match_field(key)
    wanted = body.get("name" if field == "name" else "match")
    if not isinstance(wanted, str) or not wanted.strip():
        raise Reject(400, "invalid body")
    hits = [i for i, e in enumerate(entries) if text(e, field) == wanted.strip()]
    hits = [i for i in hits if _base_ok(entries[i], base)]
    if not hits:
        raise Reject(404, "item not found")
    if len(hits) > 1 and key in _STRICT:
        raise Reject(400, "multiple items match; index is required")
    return hits[0]


def delete_item(key: str, state: EmulatorState, req: Request) -> Response:
    entries = _current(state, key)
    field = _match_field(key) if req.arg(_match_field(key)) else "api-key"
    if req.arg("index").lstrip("-").isdigit():
        position = int(req.arg("index"))
        if not 0 <= position < len(entries):
            raise Reject(404, "item not found")
        del entries[position]
    elif req.arg(field):
        base = req.arg("base-url")
        hits = [e for e in entries if text(e, field) == req.arg(field) and _base_ok(e, base)]
        if key in _STRICT and not hits:
            raise Reject(404, "item not found")
        if key in _STRICT and len(hits) > 1 and not base:
            raise Reject(400, "multiple items match; base-url is required")
        entries = [e for e in entries if not any(e is hit for hit in hits)]
    else:
        raise Reject(400, "missing api-key or index")
    save(state, key, entries)
    return ok()


def routes() -> dict[tuple[str, str], Handler]:
    table: dict[tuple[str, str], Handler] = {}
    for key in LISTS:
        for method, handler in (
            ("GET", get_list),
            ("PUT", put_list),
            ("PATCH", patch_list),
            ("DELETE", delete_item),
        ):
            table[(method, "/" + key)] = guarded(partial(handler, key))
    return table
