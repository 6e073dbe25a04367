"""Handlers of the interactive OAuth login endpoints (section 2.7), answering as CPA v7.2.140
answered on record (``observed-v7.2.140.md``, "OAuth").

Owns ``/<provider>-auth-url`` (and the plugin catch-all: ``/<anything>-auth-url`` of no loaded
plugin is 404 with an empty body), ``/get-auth-status``, ``/oauth-callback`` (no key needed)
and ``/oauth-session``; ``settle`` plays the per-login pollers of CPA (take a handed-in
callback and write the auth file, time out, expire a device code), and ``approve_device``
the person approving a device code. Every error body is ``{"error": ..., "status": "error"}``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

from reconciler.emulator.messages import BadJson, Request, Response, empty, json_response, ok
from reconciler.emulator.oauth import (
    ALIASES,
    PROVIDERS,
    STATE_PATTERN,
    Session,
    login_file,
    offline_exchange_error,
)
from reconciler.emulator.state import EmulatorState

Handler = Callable[[EmulatorState, Request], Response]
PLUGIN_AUTH_URL = re.compile(r"/[A-Za-z0-9][A-Za-z0-9._-]*-auth-url")


def fail(status: int, message: str) -> Response:
    return json_response(status, {"error": message, "status": "error"})


def valid_state(key: str) -> bool:
    return bool(STATE_PATTERN.fullmatch(key)) and ".." not in key


def auth_url_handler(provider: str) -> Handler:
    def start(state: EmulatorState, req: Request) -> Response:
        status, body = state.oauth.start(provider)
        return json_response(status, body)

    return start


def plugin_auth_url(state: EmulatorState, req: Request) -> Response:
    """``ServePluginAuthURL`` with no plugin of that name loaded (e.g. the gemini-cli login
    removed in v7.2.20, or CLIProxyAPIPlus' kiro/github): 404, empty body."""
    return empty(404)


def get_auth_status(state: EmulatorState, req: Request) -> Response:
    settle(state)
    key = req.arg("state").strip()
    if not key:
        return json_response(200, {"status": "ok"})
    if not valid_state(key):
        return fail(400, "invalid state")
    session = state.oauth.get(key)
    if session is None:
        return fail(200, "unknown or expired state")
    if session.status == "error":
        return fail(200, session.error)
    return json_response(200, {"status": session.status})


def oauth_callback(state: EmulatorState, req: Request) -> Response:
    settle(state)
    try:
        params = _callback_params(req)
    except BadJson:
        return fail(400, "invalid body")
    except ValueError:
        return fail(400, "invalid redirect_url")
    key = params.get("state", "").strip()
    if not key:
        return fail(400, "state is required")
    if not valid_state(key):
        return fail(400, "invalid state")
    if not params.get("code", "").strip() and not params.get("error", "").strip():
        return fail(400, "code or error is required")
    session = state.oauth.get(key)
    if session is None:
        return fail(404, "unknown or expired state")
    provider = params.get("provider", "").strip().lower()
    if provider and ALIASES.get(provider) != session.provider.name:
        return fail(400, "provider does not match state")
    if session.status == "ok":
        return fail(409, "oauth flow is already completed")
    if session.status == "error":
        return fail(409, session.error)
    state.oauth.hand_in(session, params)
    return ok()


def settle(state: EmulatorState) -> None:
    """Do what CPA's per-login goroutines would have done by now."""
    settings = state.oauth.settings
    for session in state.oauth.sessions():
        due = state.oauth.due(session)
        if due == "timeout":
            state.oauth.finish(session, error=session.provider.timeout_error)
        elif due == "expired":
            state.oauth.finish(session, error="device code expired")
        elif due == "take" and session.callback is not None:
            if session.callback.get("error"):
                cause = session.callback["error"]
                state.oauth.finish(session, error=f"Authentication failed: {cause}")
            elif settings.offline:
                state.oauth.finish(session, error=offline_exchange_error(session.provider))
            else:
                complete(state, session, settings.email, settings.plan, settings.account_id)


def complete(state: EmulatorState, session: Session, email: str, plan: str, account_id: str) -> str:
    """Finish a login: write its auth file (a re-login of the same account rewrites it)."""
    name, data = login_file(session.provider, email, plan, account_id)
    state.auths.upload(name, json.dumps(data).encode("utf-8"))
    state.oauth.finish(session, file_name=name)
    return name


def approve_device(state: EmulatorState, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """The person approved (or denied, ``"deny": true``) a device code: by ``user_code`` or
    ``state``, as the account ``email``/``plan`` (defaults: the settings')."""
    settle(state)
    code = str(body.get("user_code") or "").strip()
    key = str(body.get("state") or "").strip()
    session = state.oauth.by_user_code(code) if code else state.oauth.get(key) if key else None
    if session is None or not session.provider.device:
        return 404, {"error": "no pending device login with that user_code or state"}
    if session.status != "wait":
        return 409, {"error": "device login already finished"}
    if body.get("deny"):
        state.oauth.finish(session, error="access denied")
        return 200, {"status": "ok"}
    settings = state.oauth.settings
    name = complete(
        state,
        session,
        str(body.get("email") or settings.email),
        str(body.get("plan") or settings.plan),
        str(body.get("account_id") or settings.account_id),
    )
    return 200, {"status": "ok", "file": name}


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
        query = parse_qs(urlsplit(redirect).query)  # ValueError: invalid redirect_url
        for name in ("state", "code", "error"):
            if name in query and not params.get(name):
                params[name] = query[name][0]
        if "error_description" in query and not params.get("error"):
            params["error"] = query["error_description"][0]
    return params


def delete_session(state: EmulatorState, req: Request) -> Response:
    settle(state)
    key = req.arg("state").strip()
    if not key:
        return fail(400, "missing state")
    if not valid_state(key):
        return fail(400, "invalid state")
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
