"""Handlers of the OAuth-channel maps (section 2.5).

Owns ``/oauth-excluded-models``, ``/oauth-model-alias`` and ``/oauth-request-scoped-errors``:
channel keys lower-cased, excluded-model lists trimmed, lower-cased and de-duplicated, a
patch with an empty list deleting its channel (404 when absent), and an emptied map kept in
the file as ``{}``.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from reconciler.emulator.config_edits import Handler, Reject, guarded, json_body, save
from reconciler.emulator.messages import Request, Response, json_response, ok
from reconciler.emulator.state import EmulatorState

ITEMS_FIELD = {
    "oauth-excluded-models": "models",
    "oauth-model-alias": "aliases",
    "oauth-request-scoped-errors": "rules",
}


def _channel_fields(key: str) -> tuple[str, ...]:
    return ("provider",) if key == "oauth-excluded-models" else ("channel", "provider")


def _normal(key: str, value: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for channel, items in value.items():
        name = str(channel).strip().lower()
        if not name or not isinstance(items, list):
            raise Reject(400, "invalid body")
        if key == "oauth-excluded-models":
            models = [str(m).strip().lower() for m in items if str(m).strip()]
            items = list(dict.fromkeys(models))
        else:
            items = [item for item in items if isinstance(item, dict)]
        if items:
            out[name] = items
    return out


def get_map(key: str, state: EmulatorState, req: Request) -> Response:
    return json_response(200, {key: state.config.get((key,))})


def put_map(key: str, state: EmulatorState, req: Request) -> Response:
    save(state, key, _normal(key, json_body(req, dict)))
    return ok()


def patch_map(key: str, state: EmulatorState, req: Request) -> Response:
    body = json_body(req, dict)
    fields = _channel_fields(key)
    channel = next((body[f] for f in fields if isinstance(body.get(f), str)), "")
    items = body.get(ITEMS_FIELD[key])
    if not channel.strip() or not isinstance(items, list):
        raise Reject(400, "invalid body")
    return _set_channel(key, state, channel.strip().lower(), items)


def delete_channel(key: str, state: EmulatorState, req: Request) -> Response:
    fields = _channel_fields(key)
    channel = next((req.arg(f) for f in fields if req.arg(f)), "")
    if not channel.strip():
        raise Reject(400, f"missing {fields[0]}")
    return _set_channel(key, state, channel.strip().lower(), [])


def _set_channel(key: str, state: EmulatorState, channel: str, items: list[Any]) -> Response:
    current = dict(state.config.get((key,)) or {})
    if not items and channel not in current:
        raise Reject(404, f"{_channel_fields(key)[0]} not found")
    current.pop(channel, None)
    current.update(_normal(key, {channel: items}))
    save(state, key, current)
    return ok()


def routes() -> dict[tuple[str, str], Handler]:
    table: dict[tuple[str, str], Handler] = {}
    for key in ITEMS_FIELD:
        for method, handler in (
            ("GET", get_map),
            ("PUT", put_map),
            ("PATCH", patch_map),
            ("DELETE", delete_channel),
        ):
            table[(method, "/" + key)] = guarded(partial(handler, key))
    return table
