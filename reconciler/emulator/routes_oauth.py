"""Handlers of the interactive OAuth login endpoints (section 2.7).

Owns ``/<provider>-auth-url``, ``/get-auth-status``, ``/oauth-callback`` (no key needed) and
``/oauth-session``; a completed callback writes the provider's auth file through the store.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

from reconciler.emulator.messages import BadJson, Request, Response, error, json_response, ok
from reconciler.emulator.oauth import PROVIDERS, STATE_PATTERN, Session, login_file
from reconciler.emulator.state import EmulatorState

Handler = Callable[[EmulatorState, Request], Response]
_ALIASES = {"claude": "anthropic", "openai": "codex", "gemini": "antigravity"}


def auth_url_handler(provider: str) -> Handler:
    def start(state: EmulatorState, req: Request) -> Response:
        return json_response(200, state.oauth.start(provider))

    return start


def get_auth_status(state: EmulatorState, req: Request) -> Response:
    key = req.arg("state").strip()
    if not key:
        return json_response(200, {"status": "ok"})
    if not STATE_PATTERN.fullmatch(key):
        return error(400, "invalid state")
    session = state.oauth.get(key)
    if session is None:
        return json_response(200, {"error": "unknown or expired state", "status": "error"})
    if session.status == "error":
        return json_response(200, {"error": session.error, "status": "error"})
    return json_response(200, {"status": session.status})


def oauth_callback(state: EmulatorState, req: Request) -> Response:
    try:
        params = _callback_params(req)
    except BadJson:
        return error(400, "invalid body")
    key = params.get("state", "").strip()
    if not key:
        return error(400, "state is required")
    if not STATE_PATTERN.fullmatch(key):
        return error(400, "invalid state")
    session = state.oauth.get(key)
    if session is None:
        return error(404, "unknown or expired state")
    provider = params.get("provider", "").strip().lower()
    if provider and _ALIASES.get(provider, provider) != session.provider:
        return error(400, "provider does not match state")
    if session.status != "wait":
        return error(409, "oauth flow is not pending")
    if params.get("error"):
        state.oauth.finish(session, error=params["error"])
        return ok()
    if not params.get("code"):
        return error(400, "code is required")
    _complete(state, session, params.get("email") or f"user-{key[:8].lower()}@example.com")
    return ok()


def _complete(state: EmulatorState, session: Session, email: str) -> None:
    name, data = login_file(session, email)
    state.auths.upload(name, json.dumps(data).encode("utf-8"))
    state.oauth.finish(session, file_name=name)


def _callback_params(req: Request) -> dict[str, str]:
    params = {key: values[0] for key, values in req.query.items() if values}
    if req.method == "POST" and req.body.strip():
        if "application/x-www-form-urlencoded" in req.headers.get("content-type", ""):
            form = parse_qs(req.body.decode("utf-8", errors="replace"))
            params.update({key: values[0] for key, values in form.items()})
        else:
            body: Any = req.json()
            if not isinstance(body, dict):
                raise BadJson("not an object")
            params.update({k: v for k, v in body.items() if isinstance(v, str)})
    redirect = params.get("redirect_url", "")
    if redirect:
        query = parse_qs(urlsplit(redirect).query)
        for name in ("state", "code", "error"):
            if name in query and not params.get(name):
                params[name] = query[name][0]
    return params


def delete_session(state: EmulatorState, req: Request) -> Response:
    key = req.arg("state").strip()
    if not key:
        return error(400, "state is required")
    return json_response(200, {"cancelled": state.oauth.cancel(key), "status": "ok"})


def routes() -> dict[tuple[str, str], Handler]:
    table: dict[tuple[str, str], Handler] = {
        ("GET", "/get-auth-status"): get_auth_status,
        ("GET", "/oauth-callback"): oauth_callback,
        ("POST", "/oauth-callback"): oauth_callback,
        ("DELETE", "/oauth-session"): delete_session,
    }
    for provider in PROVIDERS:
        table[("GET", f"/{provider}-auth-url")] = auth_url_handler(provider)
    return table
