"""The emulator's own loopback-only control API under ``/_emulator/``.

Owns the out-of-process counterparts of the Python API, for the demo and the benchmark when
the emulator runs as ``reconciler emulator``: the request log, fault injection, token refresh,
unban, the OAuth logins (``POST /_emulator/oauth``: durations, the account a login returns,
``offline``; ``GET /_emulator/oauth``: the sessions; ``POST /_emulator/oauth/approve``: approve
or deny a device code), and a credential's run-time state (``POST /_emulator/auth-state``: disabled, failing
with a ``status_message``, cooling down until ``next_retry_after``, request counts,
``last_refresh``; ``DELETE /_emulator/auth-state?name=`` makes it fresh again). These requests
are never recorded in the request log.
"""

from __future__ import annotations

from typing import Any

from reconciler.emulator import auth_runtime, routes_oauth
from reconciler.emulator.faults import Fault
from reconciler.emulator.messages import BadJson, Request, Response, error, json_response, ok
from reconciler.emulator.oauth import OAuthSettings, Session
from reconciler.emulator.state import EmulatorState

PREFIX = "/_emulator/"


def handle(state: EmulatorState, req: Request) -> Response:
    """Answer one control request."""
    route = (req.method, req.path[len(PREFIX) - 1 :])
    if route == ("GET", "/requests"):
        return json_response(200, [record.as_json() for record in state.log.records()])
    if route == ("DELETE", "/requests"):
        state.log.reset()
        return ok()
    if route == ("POST", "/faults"):
        return _add_fault(state, req)
    if route == ("DELETE", "/faults"):
        state.faults.clear()
        return ok()
    if route == ("POST", "/refresh"):
        record = state.auths.get(req.arg("name").strip())
        if record is None:
            return error(404, "auth file not found")
        state.auths.refresh(record)
        return ok()
    if route == ("POST", "/auth-state"):
        return _set_auth_state(state, req)
    if route == ("DELETE", "/auth-state"):
        record = state.auths.get(req.arg("name").strip())
        if record is None:
            return error(404, "auth file not found")
        state.auths.set_runtime(record, None)
        return ok()
    if route == ("POST", "/oauth"):
        return _set_oauth(state, req)
    if route == ("GET", "/oauth"):
        routes_oauth.settle(state)
        return json_response(200, [session_json(s) for s in state.oauth.sessions()])
    if route == ("POST", "/oauth/approve"):
        try:
            body = req.json()
        except BadJson:
            return error(400, "invalid approval: not JSON")
        if not isinstance(body, dict):
            return error(400, "invalid approval: not an object")
        status, answer = routes_oauth.approve_device(state, body)
        return json_response(status, answer)
    if route == ("POST", "/unban"):
        state.access.unban()
        return ok()
    return error(404, "unknown control endpoint")


def _add_fault(state: EmulatorState, req: Request) -> Response:
    try:
        body = req.json()
        fault = Fault(
            status=body.get("status"),
            body=body.get("body"),
            delay=float(body.get("delay", 0.0)),
            drop=bool(body.get("drop", False)),
            truncate=bool(body.get("truncate", False)),
        )
        state.faults.add(
            str(body["method"]),
            str(body["path"]),
            nth=int(body.get("nth", 1)),
            times=int(body.get("times", 1)),
            fault=fault,
        )
    except (BadJson, AttributeError, KeyError, TypeError, ValueError):
        return error(400, "invalid fault")
    return ok()


def _set_auth_state(state: EmulatorState, req: Request) -> Response:
    try:
        body = req.json()
    except BadJson:
        return error(400, "invalid auth state: not JSON")
    if not isinstance(body, dict) or not isinstance(body.get("name"), str):
        return error(400, "invalid auth state: name is required")
    record = state.auths.get(body["name"].strip())
    if record is None:
        return error(404, "auth file not found")
    try:
        apply_auth_state(state, record.name, body)
    except auth_runtime.InvalidState as exc:
        return error(400, f"invalid auth state: {exc}")
    return ok()


def apply_auth_state(state: EmulatorState, name: str, body: dict[str, Any]) -> None:
    """Put the credential ``name`` into the state ``body`` describes (fields left out keep
    their value): ``disabled``, ``status``, ``status_message``, ``unavailable``,
    ``next_retry_after`` (RFC 3339 or seconds from now), ``success``, ``failed``, ``recent``
    (``[{success, failed}, ...]``, the last item the current ten minutes), ``last_refresh``."""
    record = state.auths.get(name)
    if record is None:
        raise KeyError(name)
    disabled = body.get("disabled")
    if disabled is not None and not isinstance(disabled, bool):
        raise auth_runtime.InvalidState("disabled must be true or false")
    last_refresh = auth_runtime.instant_ns(body.get("last_refresh"))
    runtime = auth_runtime.updated(record.runtime, body)
    state.auths.set_runtime(record, runtime, disabled=disabled, last_refresh_ns=last_refresh)


def _set_oauth(state: EmulatorState, req: Request) -> Response:
    try:
        body = req.json()
        set_oauth(state, body)
    except (BadJson, AttributeError, TypeError, ValueError) as exc:
        return error(400, f"invalid oauth settings: {exc}")
    return ok()


def set_oauth(state: EmulatorState, body: dict[str, Any]) -> None:
    """Change the OAuth settings named in ``body`` (``OAuthSettings`` fields)."""
    settings = state.oauth.settings
    known = OAuthSettings.__dataclass_fields__
    for key, value in body.items():
        if key not in known:
            raise ValueError(f"unknown setting {key!r}")
        current = getattr(settings, key)
        if isinstance(current, bool):
            if not isinstance(value, bool):
                raise ValueError(f"{key} must be true or false")
        elif isinstance(current, int | float):
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise ValueError(f"{key} must be a number of seconds, 0 or more")
            value = type(current)(value)
        elif not isinstance(value, str):
            raise ValueError(f"{key} must be a string")
        setattr(settings, key, value)


def session_json(session: Session) -> dict[str, Any]:
    return {
        "state": session.state,
        "provider": session.provider.name,
        "status": session.status,
        "error": session.error,
        "file": session.file_name,
        "user_code": session.user_code,
        "callback_pending": session.callback is not None,
    }
