"""Handlers of the operational endpoints: ``/api-call`` and ``/latest-version``.

``/api-call`` answers as CPA v7.2.140 does (observed-v7.2.140.md, "api-call and OAuth answers";
quota-and-oauth.md section 1): the body is bound as Go's ``ShouldBindJSON`` would (a header
value or a field of the wrong type is ``invalid body``), then ``missing method``, ``missing
url``, ``invalid url`` and ``invalid proxy_url`` in that order. ``$TOKEN$`` in a header value
becomes the credential's token (``auth_index``, ``authIndex`` or ``AuthIndex``); an unknown
index leaves the literal ``$TOKEN$``, as CPA does. An antigravity credential whose ``expired``
is missing or within 30 s is refreshed first, rewriting its file (CPA does this against Google;
the emulator rotates the tokens itself). The call itself really happens, but only to loopback:
this machine has no internet, so anything else fails the way CPA fails offline,
``502 {"error": "request failed"}``.
"""

from __future__ import annotations

import datetime
import ipaddress
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import httpx

from reconciler.emulator.auth_listing import auth_index
from reconciler.emulator.auth_store import AuthRecord
from reconciler.emulator.messages import BadJson, Request, Response, error, json_response
from reconciler.emulator.state import EmulatorState

Handler = Callable[[EmulatorState, Request], Response]
TOKEN = "$TOKEN$"
UPSTREAM_TIMEOUT = 60.0  # CPA's defaultAPICallTimeout
PROXY_SCHEMES = ("http", "https", "socks5", "socks5h")
_STRING_FIELDS = ("auth_index", "authIndex", "AuthIndex", "method", "url", "proxy_url", "data")


def latest_version(state: EmulatorState, req: Request) -> Response:
    return json_response(200, {"latest-version": state.build.version})


def api_call(state: EmulatorState, req: Request) -> Response:
    try:
        body = req.json()
    except BadJson:
        return error(400, "invalid body")
    if not _binds(body):
        return error(400, "invalid body")
    method = str(body.get("method") or "").strip().upper()
    if not method:
        return error(400, "missing method")
    url = str(body.get("url") or "").strip()
    if not url:
        return error(400, "missing url")
    if not _valid_url(url):
        return error(400, "invalid url")
    if not _valid_proxy(str(body.get("proxy_url") or "").strip()):
        return error(400, "invalid proxy_url")
    headers: dict[str, str] = dict(body.get("header") or {})
    if any(TOKEN in v for v in headers.values()):
        index = next(
            (str(body[k]).strip() for k in _INDEX_KEYS if str(body.get(k) or "").strip()), ""
        )
        record = state.auths.find_by_index(index, auth_index) if index else None
        if record is not None:
            token = _token_of(state, record)
            if token is None:
                return error(400, "auth token not found")
            headers = {k: v.replace(TOKEN, token) for k, v in headers.items()}
    if not _is_loopback(url):
        return error(502, "request failed")
    data = body.get("data") or None
    try:
        answer = _upstream(state.upstream_timeout).request(
            method, url, headers=headers, content=data
        )
    except httpx.HTTPError:
        return error(502, "request failed")
    header: dict[str, list[str]] = {}
    for name, value in answer.headers.multi_items():
        header.setdefault("-".join(p.capitalize() for p in name.split("-")), []).append(value)
    return json_response(
        200, {"body": answer.text, "header": header, "status_code": answer.status_code}
    )


_INDEX_KEYS = ("auth_index", "authIndex", "AuthIndex")
_CLIENTS: dict[float, httpx.Client] = {}
_CLIENTS_LOCK = threading.Lock()


def _upstream(timeout: float) -> httpx.Client:
    """One shared client per timeout (CPA keeps one transport): building a client per call
    costs an SSL context each time, which serialised concurrent api-calls on the GIL."""
    with _CLIENTS_LOCK:
        client = _CLIENTS.get(timeout)
        if client is None:
            client = _CLIENTS[timeout] = httpx.Client(
                timeout=timeout, trust_env=False, limits=httpx.Limits(max_connections=256)
            )
        return client


def _binds(body: Any) -> bool:
    """Whether Go's JSON binding of ``apiCallRequest`` would succeed."""
    if not isinstance(body, dict):
        return False
    for key in _STRING_FIELDS:
        if body.get(key) is not None and not isinstance(body[key], str):
            return False
    header = body.get("header")
    if header is None:
        return True
    return isinstance(header, dict) and all(isinstance(v, str) for v in header.values())


def _valid_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return bool(parts.scheme and parts.netloc)


def _valid_proxy(proxy: str) -> bool:
    if not proxy or proxy.lower() in ("direct", "none"):
        return True
    try:
        parts = urlsplit(proxy)
    except ValueError:
        return False
    return parts.scheme.lower() in PROXY_SCHEMES and bool(parts.hostname)


def _token_of(state: EmulatorState, record: AuthRecord) -> str | None:
    """The token CPA's ``tokenValueFromMetadata`` picks, refreshing antigravity first."""
    if record.data.get("type") == "antigravity" and _expires_soon(record.data.get("expired")):
        state.auths.refresh(record)
    data = record.data
    for key in ("accessToken", "access_token"):
        if isinstance(data.get(key), str) and data[key].strip():
            return str(data[key]).strip()
    token = data.get("token")
    if isinstance(token, str) and token.strip():
        return token.strip()
    if isinstance(token, dict):
        for key in ("access_token", "accessToken"):
            if isinstance(token.get(key), str) and token[key].strip():
                return str(token[key]).strip()
    for key in ("id_token", "cookie"):
        if isinstance(data.get(key), str) and data[key].strip():
            return str(data[key]).strip()
    return None


def _expires_soon(expired: Any) -> bool:
    if not isinstance(expired, str):
        return True
    try:
        when = datetime.datetime.fromisoformat(expired.replace("Z", "+00:00"))
    except ValueError:
        return True
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.UTC)
    return when - datetime.datetime.now(datetime.UTC) < datetime.timedelta(seconds=30)


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
