"""Turn CPA's error answers (and the lack of an answer) into ``reconciler.errors`` classes.

Pure functions: they look at a finished ``httpx.Response`` or a caught httpx exception and
return the error to raise; the transport raises it (``raise ... from exc`` for exceptions).

Every message starts with the method and the endpoint path (never the query string, never a
request body, never the key) and then gives the status, the server's ``error`` code and its
``message`` text, e.g.
``PUT /v0/management/config.yaml: 400 invalid_yaml: yaml: line 1: did not find expected ','``.

Status mapping:

==========================================  =================================================
answer                                      error
==========================================  =================================================
401                                         ``UnauthorizedError``
403 "IP banned ..."                         ``BannedError``
403 "remote management disabled"            ``RemoteDisabledError``
403 "remote management key not set"         ``KeyNotSetError``
other 403                                   ``ForbiddenError``
404 with an empty body                      ``ManagementDisabledError``
404 with gin's text "404 page not found"    ``UnsupportedError`` (route not served)
404 with a JSON body                        ``NotFoundError``
400 ``invalid_yaml``, 422 ``invalid_config``  ``InvalidConfigError``
other 4xx (and unexpected 1xx/3xx)          ``ApiError``
5xx                                         ``ServerError``
no answer, cut-off answer                   ``UnreachableError``
==========================================  =================================================
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

import httpx

from reconciler import errors

__all__ = [
    "ban_seconds",
    "describe_exception",
    "error_from_response",
    "parse_error_body",
    "redact",
    "redirect_target",
    "sanitize",
]

#: Longest piece of server text copied into a message (protects the logs).
_MAX_TEXT = 300

_HINTS: dict[type[errors.ApiError], str] = {
    errors.UnauthorizedError: (
        "Check the management key (CPA_MANAGEMENT_KEY, --management-key-file or "
        "target.management-key) against the server's remote-management.secret-key, then run "
        "again. CPA bans the client IP for 30 minutes after 5 failed attempts, so nothing more "
        "is sent with this key now"
    ),
    errors.BannedError: (
        "CPA refuses this client IP after repeated failed authentications, even with the right "
        "key, until the ban ends (30 minutes, or a server restart). Nothing more is sent now: "
        "fix the key, wait for the ban to end, then run again"
    ),
    errors.RemoteDisabledError: (
        "CPA accepts management requests only from loopback: set "
        "remote-management.allow-remote: true on the server or connect from the same host."
    ),
    errors.KeyNotSetError: (
        "CPA has no management key configured (remote-management.secret-key is empty and "
        "MANAGEMENT_PASSWORD is unset)."
    ),
    errors.ManagementDisabledError: (
        "The management API is off on this server: it has no remote-management.secret-key and "
        "no MANAGEMENT_PASSWORD, or it runs in Home mode."
    ),
    errors.UnsupportedError: (
        "The server does not serve this endpoint (an older CPA version, or a provider or "
        "plugin that is not loaded)."
    ),
}


#: Characters never copied raw into a message: C0/C1 controls (ESC starts terminal escape
#: sequences), DEL, and the bidi and zero-width controls that reorder or hide text.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")


def sanitize(text: str) -> str:
    """``text`` with every control character shown as an escape (``\\x1b``), readable and
    inert on a terminal; white space (newlines, tabs) folded into single spaces first."""
    flat = " ".join(text.split())
    return _CONTROL.sub(lambda m: repr(m.group())[1:-1], flat)


def _one_line(text: str, limit: int = _MAX_TEXT) -> str:
    flat = sanitize(text)
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def parse_error_body(response: httpx.Response) -> tuple[Any, str | None, str | None]:
    """Return ``(data, code, details)`` of an error answer.

    ``data`` is the parsed JSON (None when the body is not JSON), ``code`` the ``error`` field
    and ``details`` the ``message`` field. A non-JSON body gives its text (cut) as ``details``.
    """
    text = response.text
    if not text.strip():
        return None, None, None
    try:
        data = json.loads(text)
    except ValueError:
        return None, None, _one_line(text)
    code = details = None
    if isinstance(data, dict):
        if isinstance(data.get("error"), str):
            code = data["error"]
        if isinstance(data.get("message"), str):
            details = data["message"]
    return data, code, details


def _forbidden_class(code: str | None, details: str | None) -> type[errors.ApiError]:
    text = f"{code or ''} {details or ''}".lower()
    if "banned" in text:
        return errors.BannedError
    if "remote management disabled" in text:
        return errors.RemoteDisabledError
    if "key not set" in text:
        return errors.KeyNotSetError
    return errors.ForbiddenError


def _error_class(
    status: int, data: Any, code: str | None, details: str | None, *, empty: bool
) -> type[errors.ApiError]:
    if status == 401:
        return errors.UnauthorizedError
    if status == 403:
        return _forbidden_class(code, details)
    if status == 404:
        if empty:
            return errors.ManagementDisabledError
        return errors.NotFoundError if data is not None else errors.UnsupportedError
    if (status, code) in ((400, "invalid_yaml"), (422, "invalid_config")):
        return errors.InvalidConfigError
    if status >= 500:
        return errors.ServerError
    return errors.ApiError


def _summary(status: int, code: str | None, details: str | None) -> str:
    text = str(status)
    if code:
        text += f" {_one_line(code)}"
    if details:
        text += f": {_one_line(details)}"
    return text


def error_from_response(response: httpx.Response, method: str, endpoint: str) -> errors.ApiError:
    """The error for a non-success answer of ``method endpoint``."""
    status = response.status_code
    data, code, details = parse_error_body(response)
    empty = not response.content.strip()
    cls = _error_class(status, data, code, details, empty=empty)
    message = f"{method} {endpoint}: {_summary(status, code, details)}"
    if empty and cls is errors.ApiError:
        message += f" {sanitize(response.reason_phrase)}".rstrip()
    if 300 <= status < 400:
        message += (
            f": a redirect to {redirect_target(response)}, not followed (the management key is "
            "never sent on to another address). Point the target URL at the CPA server itself"
        )
    hint = _HINTS.get(cls)
    if hint:
        message += f". {hint}"
    return cls(
        message,
        status=status,
        code=None if code is None else sanitize(code),
        details=None if details is None else sanitize(details),
        data=data,
        method=method,
        endpoint=endpoint,
    )


def redirect_target(response: httpx.Response, *, path: bool = True) -> str:
    """Where a redirect points (its ``Location``, made absolute), without query, fragment or
    ``user:password@``; only scheme and host when ``path`` is False (the path may hold a
    token, as a webhook URL's does). ``(no Location)`` when it names none."""
    location = response.headers.get("location", "").strip()
    if not location:
        return "(no Location)"
    try:
        try:
            url = response.request.url.join(location)
        except RuntimeError:  # a response built without its request
            url = httpx.URL(location)
        port = f":{url.port}" if url.port else ""
        host = f"[{url.host}]" if ":" in url.host else url.host
        shown = f"{url.scheme}://{host}{port}" + (url.path if path else "/…")
    except (httpx.InvalidURL, ValueError, TypeError):
        return "(a Location that is not a URL)"
    return sanitize(shown)


def describe_exception(exc: Exception) -> str:
    """A short, key-free description of an httpx exception for a message."""
    if isinstance(exc, httpx.TimeoutException):
        kind = {
            httpx.ConnectTimeout: "timed out connecting",
            httpx.ReadTimeout: "timed out waiting for the answer",
            httpx.WriteTimeout: "timed out sending the request",
            httpx.PoolTimeout: "timed out waiting for a free connection",
        }.get(type(exc), "timed out")
        return kind
    detail = _one_line(str(exc), 200)
    if isinstance(exc, httpx.ConnectError):
        prefix = "cannot connect"
        if "CERTIFICATE" in detail.upper() or "SSL" in detail.upper():
            prefix = "TLS handshake failed"
        return f"{prefix}: {detail}" if detail else prefix
    if isinstance(exc, httpx.RemoteProtocolError):
        return f"the connection broke before a complete answer: {detail}"
    name = type(exc).__name__
    return f"{name}: {detail}" if detail else name


#: Shortest piece of a secret that is redacted when it appears alone: CPA's YAML errors quote
#: the first 7 characters of a value (``cannot unmarshal !!str `sk-abcd...` into int``).
_PREFIX = 6
#: Secrets shorter than this are not searched for (they would mask ordinary words).
_SHORTEST = 4


def redact(error: errors.ApiError, secrets: str | Iterable[str] | None) -> errors.ApiError:
    """Mask every secret in the error's texts and parsed body: the whole value, and any run of
    6 or more of its first characters (a server that quotes a value cut short). Defence in
    depth: a proxy or a debug handler may echo the Authorization header back."""
    values = _secret_list(secrets)
    if not values:
        return error
    error.message = _masked(error.message, values)
    error.args = (error.message,)
    if error.details:
        error.details = _masked(error.details, values)
    if error.code:
        error.code = _masked(error.code, values)
    if error.data is not None:
        error.data = _redacted(error.data, values)
    return error


def _secret_list(secrets: str | Iterable[str] | None) -> list[str]:
    if not secrets:
        return []
    items = [secrets] if isinstance(secrets, str) else list(secrets)
    unique = {s for s in items if isinstance(s, str) and len(s) >= _SHORTEST}
    return sorted(unique, key=len, reverse=True)


def _masked(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, "***")
        head = secret[: min(len(secret), _PREFIX)]
        start = text.find(head)
        while start != -1:
            end = start + len(head)
            while (
                end < len(text) and end - start < len(secret) and text[end] == secret[end - start]
            ):
                end += 1
            text = text[:start] + "***" + text[end:]
            start = text.find(head, start + 3)
    return text


def _redacted(value: Any, secrets: list[str]) -> Any:
    if isinstance(value, str):
        return _masked(value, secrets)
    if isinstance(value, dict):
        return {_redacted(k, secrets): _redacted(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [_redacted(v, secrets) for v in value]
    return value


_GO_DURATION = re.compile(r"(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m(?!s))?(?:(\d+(?:\.\d+)?)s)?")


def ban_seconds(error: errors.ApiError) -> float | None:
    """How long CPA says its IP ban lasts, from ``... Try again in 29m59s`` (Go's duration
    format), or None when the answer does not say."""
    text = " ".join(t for t in (error.details, error.code) if t)
    found = re.search(r"try again in ([0-9hms.]+)", text, re.IGNORECASE)
    if not found:
        return None
    parts = _GO_DURATION.fullmatch(found.group(1))
    if parts is None or not any(parts.groups()):
        return None
    hours, minutes, seconds = (float(p) if p else 0.0 for p in parts.groups())
    return hours * 3600 + minutes * 60 + seconds
