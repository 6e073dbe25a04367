"""Handlers of the operational endpoints: ``/api-call`` and ``/latest-version``.

Owns the emulator's ``/api-call``: it really performs the call, with httpx, only when the
target is on loopback (``$TOKEN$`` in headers becomes the credential's access token);
anything else answers ``status_code`` 502 without leaving the machine.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import httpx

from reconciler.emulator.auth_listing import auth_index
from reconciler.emulator.messages import BadJson, Request, Response, error, json_response
from reconciler.emulator.state import EmulatorState

Handler = Callable[[EmulatorState, Request], Response]
_OFFLINE = "cpa emulator: only loopback URLs are reachable from /api-call"


def latest_version(state: EmulatorState, req: Request) -> Response:
    return json_response(200, {"latest-version": state.build.version})


def api_call(state: EmulatorState, req: Request) -> Response:
    try:
        body = req.json()
    except BadJson:
        return error(400, "invalid body")
    if not isinstance(body, dict) or not isinstance(body.get("url", ""), str):
        return error(400, "invalid body")
    url = body.get("url", "").strip()
    if not url:
        return error(400, "missing url")
    given = body.get("header")
    token = _token_for(state, str(body.get("auth_index") or ""))
    headers = {
        str(k): str(v).replace("$TOKEN$", token)
        for k, v in (given.items() if isinstance(given, dict) else ())
    }
    method = str(body.get("method") or "GET").upper()
    if not _is_loopback(url):
        return json_response(200, {"body": _OFFLINE, "header": {}, "status_code": 502})
    data = body.get("data")
    try:
        with httpx.Client(timeout=30.0, trust_env=False) as client:
            answer = client.request(method, url, headers=headers, content=_content(data))
    except httpx.HTTPError as exc:
        return error(502, f"request failed: {type(exc).__name__}")
    header: dict[str, list[str]] = {}
    for name, value in answer.headers.multi_items():
        header.setdefault("-".join(p.capitalize() for p in name.split("-")), []).append(value)
    return json_response(
        200, {"body": answer.text, "header": header, "status_code": answer.status_code}
    )


def _content(data: Any) -> bytes | None:
    if data is None or data == "":
        return None
    return data.encode("utf-8") if isinstance(data, str) else str(data).encode("utf-8")


def _token_for(state: EmulatorState, index: str) -> str:
    if not index:
        return ""
    record = state.auths.find_by_index(index.strip(), auth_index)
    token = record.data.get("access_token") if record else None
    return token if isinstance(token, str) else ""


def _is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def routes() -> dict[tuple[str, str], Handler]:
    return {
        ("GET", "/latest-version"): latest_version,
        ("POST", "/api-call"): api_call,
    }
