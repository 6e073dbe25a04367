"""Handlers of the provider credential lists and the OAuth-channel maps (sections 2.4, 2.5).

Owns ``/gemini-api-key``, ``/interactions-api-key``, ``/claude-api-key``, ``/codex-api-key``,
``/xai-api-key``, ``/vertex-api-key``, ``/openai-compatibility`` and ``/oauth-excluded-models``,
``/oauth-model-alias``, ``/oauth-request-scoped-errors``: read with the computed
``auth-index``, replace, patch one item, delete one item; every write is a per-field save.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from reconciler.emulator.config_check import MAX_WEIGHT
from reconciler.emulator.messages import BadJson, Request, Response, error, json_response, ok
from reconciler.emulator.state import EmulatorState

Handler = Callable[[EmulatorState, Request], Response]
LISTS = (
    "gemini-api-key",
    "interactions-api-key",
    "claude-api-key",
    "codex-api-key",
    "xai-api-key",
    "vertex-api-key",
    "openai-compatibility",
)
MAPS = {"oauth-excluded-models": "models", "oauth-model-alias": "aliases"}
MAPS["oauth-request-scoped-errors"] = "rules"
_NEEDS_BASE_URL = frozenset({"codex-api-key", "xai-api-key", "openai-compatibility"})
_STRICT_DELETE = frozenset({"gemini-api-key", "interactions-api-key"})
_INDEXED = frozenset({"gemini-api-key", "claude-api-key", "codex-api-key"})


class _Reject(Exception):
    """A 4xx answer: ``(status, message)``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _yaml(value: Any) -> Any:
    """Plain data as round-trip nodes, so the save writes block style."""
    if isinstance(value, dict):
        return CommentedMap((k, _yaml(v)) for k, v in value.items())
    if isinstance(value, list):
        return CommentedSeq(_yaml(v) for v in value)
    return value


def _save(state: EmulatorState, key: str, value: Any) -> None:
    def change(doc: CommentedMap) -> None:
        doc[key] = _yaml(value)

    state.config.update(change)


def _body(req: Request, container: type) -> Any:
    try:
        body = req.json()
    except BadJson:
        raise _Reject(400, "invalid body") from None
    if isinstance(body, dict) and container is list and "items" in body:
        body = body["items"] or None
    elif isinstance(body, dict) and container is dict and isinstance(body.get("items"), dict):
        body = body["items"]
    if not isinstance(body, container):
        raise _Reject(400, "invalid body")
    return body


def _str(entry: dict[str, Any], name: str) -> str:
    value = entry.get(name)
    return value.strip() if isinstance(value, str) else ""


def _index_of(key: str, base_url: str, api_key: str) -> str:
    seed = f"{key}:{base_url}+{api_key}"
    return hashlib.sha256(seed.encode("utf-8")).hexdigest()[:16]


def _with_index(key: str, entry: Any) -> Any:
    if not isinstance(entry, dict):
        return entry
    out = dict(entry)
    if key in _INDEXED and _str(entry, "api-key"):
        out["auth-index"] = _index_of(key, _str(entry, "base-url"), _str(entry, "api-key"))
    if key == "openai-compatibility" and isinstance(entry.get("api-key-entries"), list):
        out["api-key-entries"] = [
            {**item, "auth-index": _index_of(key, _str(entry, "base-url"), _str(item, "api-key"))}
            if isinstance(item, dict) and _str(item, "api-key")
            else item
            for item in entry["api-key-entries"]
        ]
    return out


def _checked(key: str, entries: list[Any]) -> list[dict[str, Any]]:
    """The entries the server keeps, or a 400 for an invalid one."""
    kept: list[dict[str, Any]] = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise _Reject(400, "invalid body")
        for where, holder in [(f"{key}[{index}]", entry)] + [
            (f"{key}[{index}].api-key-entries[{sub}]", item)
            for sub, item in enumerate(entry.get("api-key-entries") or [])
            if isinstance(item, dict)
        ]:
            weight = holder.get("weight")
            bad = isinstance(weight, bool) or not isinstance(weight, int | None)
            if bad or (isinstance(weight, int) and not 0 <= weight <= MAX_WEIGHT):
                raise _Reject(
                    400, f"invalid weight for {where}: must be an integer <= {MAX_WEIGHT}"
                )
        if key == "vertex-api-key" and not _str(entry, "api-key"):
            raise _Reject(400, f"{key}[{index}]: api-key is required")
        if key in _NEEDS_BASE_URL and not _str(entry, "base-url"):
            continue
        if key in _STRICT_DELETE and not (_str(entry, "api-key") or _str(entry, "base-url")):
            continue
        if key in _STRICT_DELETE and any(_same_gemini(entry, other) for other in kept):
            continue
        kept.append(entry)
    return kept


def _same_gemini(a: dict[str, Any], b: dict[str, Any]) -> bool:
    fields = ("api-key", "base-url", "proxy-url", "prefix")
    return all(_str(a, f) == _str(b, f) for f in fields) and a.get("headers") == b.get("headers")


def _current(state: EmulatorState, key: str) -> list[dict[str, Any]]:
    return [dict(e) for e in state.config.get((key,)) or [] if isinstance(e, dict)]


def list_handlers(key: str) -> dict[tuple[str, str], Handler]:
    """GET, PUT, PATCH and DELETE of one provider list."""
    match_field = "name" if key == "openai-compatibility" else "api-key"

    def get(state: EmulatorState, req: Request) -> Response:
        entries = state.config.get((key,))
        shown = None if entries is None else [_with_index(key, e) for e in entries]
        return json_response(200, {key: shown})

    def put(state: EmulatorState, req: Request) -> Response:
        _save(state, key, _checked(key, _body(req, list)))
        return ok()

    def patch(state: EmulatorState, req: Request) -> Response:
        body = _body(req, dict)
        entries = _current(state, key)
        position = _find(entries, body, req.arg("base-url"), match_field, key)
        value = body.get("value")
        if not isinstance(value, dict):
            raise _Reject(400, "invalid body")
        merged = {**entries[position], **value}
        entries[position] = {k: v for k, v in merged.items() if v is not None}
        _save(state, key, _checked(key, entries))
        return ok()

    def delete(state: EmulatorState, req: Request) -> Response:
        entries = _current(state, key)
        if req.arg("index").lstrip("-").isdigit():
            position = int(req.arg("index"))
            if not 0 <= position < len(entries):
                raise _Reject(404, "item not found")
            del entries[position]
        elif req.arg(match_field) or req.arg("api-key"):
            wanted = req.arg(match_field) or req.arg("api-key")
            field = match_field if req.arg(match_field) else "api-key"
            base = req.arg("base-url")
            hits = [e for e in entries if _str(e, field) == wanted and _base_ok(e, base)]
            if key in _STRICT_DELETE and not hits:
                raise _Reject(404, "item not found")
            if key in _STRICT_DELETE and len(hits) > 1 and not base:
                raise _Reject(400, "multiple items match; base-url is required")
            entries = [e for e in entries if not any(e is h for h in hits)]
        else:
            raise _Reject(400, "missing api-key or index")
        _save(state, key, entries)
        return ok()

    path = "/" + key
    return {
        (m, path): _guarded(h)
        for m, h in (("GET", get), ("PUT", put), ("PATCH", patch), ("DELETE", delete))
    }


def _base_ok(entry: dict[str, Any], base: str) -> bool:
    return not base or _str(entry, "base-url") == base


def _find(
    entries: list[dict[str, Any]], body: dict[str, Any], base: str, field: str, key: str
) -> int:
    index = body.get("index")
    if isinstance(index, int) and not isinstance(index, bool):
        if 0 <= index < len(entries):
            return index
        raise _Reject(404, "item not found")
    wanted = body.get("name" if field == "name" else "match")
    if not isinstance(wanted, str) or not wanted.strip():
        raise _Reject(400, "invalid body")
    hits = [
        i for i, e in enumerate(entries) if _str(e, field) == wanted.strip() and _base_ok(e, base)
    ]
    if not hits:
        raise _Reject(404, "item not found")
    if len(hits) > 1 and key in _STRICT_DELETE:
        raise _Reject(400, "multiple items match; index is required")
    return hits[0]


def _normal_map(key: str, value: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for channel, items in value.items():
        name = str(channel).strip().lower()
        if not name or not isinstance(items, list):
            raise _Reject(400, "invalid body")
        if key == "oauth-excluded-models":
            models = [str(m).strip().lower() for m in items if str(m).strip()]
            items = list(dict.fromkeys(models))
        else:
            items = [item for item in items if isinstance(item, dict)]
        if items:
            out[name] = items
    return out


def map_handlers(key: str) -> dict[tuple[str, str], Handler]:
    """GET, PUT, PATCH and DELETE of one OAuth-channel map."""
    items_field = MAPS[key]
    channel_fields = ("provider",) if key == "oauth-excluded-models" else ("channel", "provider")

    def get(state: EmulatorState, req: Request) -> Response:
        return json_response(200, {key: state.config.get((key,))})

    def put(state: EmulatorState, req: Request) -> Response:
        _save(state, key, _normal_map(key, _body(req, dict)))
        return ok()

    def patch(state: EmulatorState, req: Request) -> Response:
        body = _body(req, dict)
        channel = next((body[f] for f in channel_fields if isinstance(body.get(f), str)), "")
        items = body.get(items_field)
        if not channel.strip() or not isinstance(items, list):
            raise _Reject(400, "invalid body")
        return _set_channel(state, channel.strip().lower(), items)

    def delete(state: EmulatorState, req: Request) -> Response:
        channel = next((req.arg(f) for f in channel_fields if req.arg(f)), "")
        if not channel.strip():
            raise _Reject(400, f"missing {channel_fields[0]}")
        return _set_channel(state, channel.strip().lower(), [])

    def _set_channel(state: EmulatorState, channel: str, items: list[Any]) -> Response:
        current = dict(state.config.get((key,)) or {})
        if not items and channel not in current:
            raise _Reject(404, f"{channel_fields[0]} not found")
        current.pop(channel, None)
        current.update(_normal_map(key, {channel: items}))
        _save(state, key, current)
        return ok()

    path = "/" + key
    return {
        (m, path): _guarded(h)
        for m, h in (("GET", get), ("PUT", put), ("PATCH", patch), ("DELETE", delete))
    }


def _guarded(handler: Handler) -> Handler:
    def run(state: EmulatorState, req: Request) -> Response:
        try:
            return handler(state, req)
        except _Reject as exc:
            return error(exc.status, str(exc))

    return run


def routes() -> dict[tuple[str, str], Handler]:
    table: dict[tuple[str, str], Handler] = {}
    for key in LISTS:
        table.update(list_handlers(key))
    for key in MAPS:
        table.update(map_handlers(key))
    return table
