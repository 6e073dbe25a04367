"""Request dispatch: which handler answers, and the management middleware around it.

Owns the route table, gin's behaviour for unknown routes (text 404), the management
availability check (404, empty body, when no key is configured), the key check with its
``X-CPA-*`` headers, and the routes outside management (``/healthz``, ``/``). CORS headers
are added to every answer, and ``OPTIONS`` gets 204 like CPA's CORS middleware.
"""

from __future__ import annotations

import time

from reconciler.emulator import (
    routes_auth,
    routes_config,
    routes_lists,
    routes_maps,
    routes_oauth,
    routes_tools,
)
from reconciler.emulator.access import provided_key
from reconciler.emulator.defaults import BANNER_ENDPOINTS, CORS_HEADERS, MANAGEMENT_PREFIX
from reconciler.emulator.messages import (
    Request,
    Response,
    empty,
    error,
    json_response,
    page_not_found,
)
from reconciler.emulator.routes_config import Handler
from reconciler.emulator.state import EmulatorState

ROUTES: dict[tuple[str, str], Handler] = {
    **routes_config.routes(),
    **routes_auth.routes(),
    **routes_lists.routes(),
    **routes_maps.routes(),
    **routes_oauth.routes(),
    **routes_tools.routes(),
}
_KEYLESS = frozenset({("GET", "/oauth-callback"), ("POST", "/oauth-callback")})


def is_management(path: str) -> bool:
    return path == MANAGEMENT_PREFIX or path.startswith(MANAGEMENT_PREFIX + "/")


def dispatch(state: EmulatorState, req: Request) -> tuple[Response, bool]:
    """Answer ``req``; also says whether it carried a valid management key."""
    state.config.refresh_from_disk()
    if req.method == "OPTIONS":
        response, authenticated = empty(204), False
    elif is_management(req.path):
        response, authenticated = _management(state, req)
    else:
        response, authenticated = _public(req), False
    response.headers[:0] = list(CORS_HEADERS)
    return response, authenticated


def _public(req: Request) -> Response:
    if req.path == "/healthz" and req.method in ("GET", "HEAD"):
        return json_response(200, {"status": "ok"})
    if req.path == "/" and req.method == "GET":
        return json_response(
            200, {"endpoints": list(BANNER_ENDPOINTS), "message": "CLI Proxy API Server"}
        )
    return page_not_found()


def _management(state: EmulatorState, req: Request) -> tuple[Response, bool]:
    secret = state.config.secret_hash
    if not secret:
        return empty(404), False
    route = (req.method, req.path[len(MANAGEMENT_PREFIX) :])
    handler = ROUTES.get(route)
    if handler is None and req.method == "GET" and routes_oauth.PLUGIN_AUTH_URL.fullmatch(route[1]):
        handler = routes_oauth.plugin_auth_url  # CPA's /:provider-auth-url catch-all
    if handler is None:
        return page_not_found(), False
    routes_oauth.settle(state)  # what CPA's login goroutines did meanwhile (files they wrote)
    key = provided_key(req.headers)
    if route in _KEYLESS:
        return handler(state, req), state.access.would_accept(key, secret)
    verdict = state.access.authenticate(
        req.client_ip, key, secret_hash=secret, allow_remote=state.config.allow_remote
    )
    if verdict.checked_key and state.auth_cost > 0:
        time.sleep(state.auth_cost)
    response = handler(state, req) if verdict.allowed else error(verdict.status, verdict.error)
    response.headers.extend(state.build.headers())
    return response, verdict.allowed
