"""The emulator's own loopback-only control API under ``/_emulator/``.

Owns the out-of-process counterparts of the Python API, for the demo and the benchmark when
the emulator runs as ``reconciler emulator``: the request log, fault injection, token refresh
and unban. These requests are never recorded in the request log.
"""

from __future__ import annotations

from reconciler.emulator.faults import Fault
from reconciler.emulator.messages import BadJson, Request, Response, error, json_response, ok
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
