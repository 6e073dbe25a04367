"""Handlers of the config endpoints: ``/config``, ``/config.yaml``, scalar settings, ``/api-keys``.

Owns request validation and answers for those endpoints (sections 2.1-2.3); the stores do the
writing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from reconciler.emulator.config_check import InvalidConfig
from reconciler.emulator.defaults import ROUTING_STRATEGIES, SCALAR_SETTINGS, ScalarSetting
from reconciler.emulator.messages import BadJson, Request, Response, error, json_response, ok
from reconciler.emulator.state import EmulatorState
from reconciler.emulator.yaml_doc import YamlSyntaxError

Handler = Callable[[EmulatorState, Request], Response]

_CLAMPS: dict[str, tuple[int, int]] = {
    "logs-max-total-size-mb": (0, 0),
    "error-logs-max-files": (0, 10),
    "max-retry-credentials": (0, 0),
}


def get_config(state: EmulatorState, req: Request) -> Response:
    return json_response(200, state.config.runtime_json())


def get_config_yaml(state: EmulatorState, req: Request) -> Response:
    data = state.config.read_bytes()
    if data is None:
        return json_response(404, {"error": "not_found", "message": "config file not found"})
    headers = [
        ("Cache-Control", "no-store"),
        ("Content-Type", "application/yaml; charset=utf-8"),
        ("X-Content-Type-Options", "nosniff"),
    ]
    return Response(200, data, headers)


def put_config_yaml(state: EmulatorState, req: Request) -> Response:
    try:
        state.config.put_yaml(req.body)
    except YamlSyntaxError as exc:
        return json_response(400, {"error": "invalid_yaml", "message": str(exc)})
    except InvalidConfig as exc:
        return json_response(422, {"error": "invalid_config", "message": str(exc)})
    return json_response(200, {"changed": ["config"], "ok": True})


def scalar_handlers(path: str, setting: ScalarSetting) -> dict[tuple[str, str], Handler]:
    """GET, PUT and PATCH (and DELETE for ``/proxy-url``) of one scalar setting."""

    def get(state: EmulatorState, req: Request) -> Response:
        value = state.config.get(setting.path, setting.default)
        if not isinstance(value, setting.kind) or (setting.kind is int and isinstance(value, bool)):
            value = setting.default
        return json_response(200, {setting.response_key: value})

    def put(state: EmulatorState, req: Request) -> Response:
        value = _scalar_value(req, setting.kind)
        if value is None:
            return error(400, "invalid body")
        if path == "/routing/strategy":
            value = ROUTING_STRATEGIES.get(str(value).strip().lower())
            if value is None:
                return error(400, "invalid strategy")
        clamp = _CLAMPS.get(setting.response_key)
        if clamp is not None and isinstance(value, int) and value < clamp[0]:
            value = clamp[1]
        state.config.set(setting.path, value)
        return ok()

    def delete(state: EmulatorState, req: Request) -> Response:
        state.config.set(setting.path, "")
        return ok()

    routes: dict[tuple[str, str], Handler] = {("GET", path): get, ("PUT", path): put}
    routes[("PATCH", path)] = put
    if setting.deletable:
        routes[("DELETE", path)] = delete
    return routes


def _scalar_value(req: Request, kind: type) -> Any:
    try:
        body = req.json()
    except BadJson:
        return None
    if not isinstance(body, dict):
        return None
    value = body.get("value")
    if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
        return None
    if not isinstance(value, kind):
        return None
    return value


def get_api_keys(state: EmulatorState, req: Request) -> Response:
    return json_response(200, {"api-keys": state.config.get(("api-keys",))})


def put_api_keys(state: EmulatorState, req: Request) -> Response:
    try:
        body = req.json()
    except BadJson:
        return error(400, "invalid body")
    if isinstance(body, dict):
        body = body.get("items")
        if not body:
            return error(400, "invalid body")
    if not isinstance(body, list) or not all(isinstance(item, str) for item in body):
        return error(400, "invalid body")
    _save_keys(state, list(body))
    return ok()


def patch_api_keys(state: EmulatorState, req: Request) -> Response:
    try:
        body = req.json()
    except BadJson:
        return error(400, "invalid body")
    if not isinstance(body, dict):
        return error(400, "invalid body")
    keys = list(state.config.get(("api-keys",)) or [])
    index, value = body.get("index"), body.get("value")
    if (
        isinstance(index, int)
        and _is_int(index)
        and isinstance(value, str)
        and 0 <= index < len(keys)
    ):
        keys[index] = value
    elif isinstance(body.get("old"), str) and isinstance(body.get("new"), str):
        if body["old"] in keys:
            keys[keys.index(body["old"])] = body["new"]
        else:
            keys.append(body["new"])
    else:
        return error(400, "missing fields")
    _save_keys(state, keys)
    return ok()


def delete_api_keys(state: EmulatorState, req: Request) -> Response:
    keys = list(state.config.get(("api-keys",)) or [])
    raw_index, value = req.arg("index"), req.arg("value")
    if raw_index.lstrip("-").isdigit() and 0 <= int(raw_index) < len(keys):
        del keys[int(raw_index)]
    elif value:
        keys = [key for key in keys if key.strip() != value]
    else:
        return error(400, "missing index or value")
    _save_keys(state, keys)
    return ok()


def _save_keys(state: EmulatorState, keys: list[str]) -> None:
    def change(doc: CommentedMap) -> None:
        doc["api-keys"] = CommentedSeq(keys)

    state.config.update(change)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def routes() -> dict[tuple[str, str], Handler]:
    table: dict[tuple[str, str], Handler] = {
        ("GET", "/config"): get_config,
        ("GET", "/config.yaml"): get_config_yaml,
        ("PUT", "/config.yaml"): put_config_yaml,
        ("GET", "/api-keys"): get_api_keys,
        ("PUT", "/api-keys"): put_api_keys,
        ("PATCH", "/api-keys"): patch_api_keys,
        ("DELETE", "/api-keys"): delete_api_keys,
    }
    for path, setting in SCALAR_SETTINGS.items():
        table.update(scalar_handlers(path, setting))
    return table
