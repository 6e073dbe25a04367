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
from typing import Any

import httpx

from reconciler import errors

__all__ = [
    "describe_exception",
    "error_from_response",
    "parse_error_body",
    "redact",
]

#: Longest piece of server text copied into a message (protects the logs).
_MAX_TEXT = 300

_HINTS: dict[type[errors.ApiError], str] = {
    errors.UnauthorizedError: (
        "Check the management key. CPA bans the client IP for 30 minutes after 5 failed "
        "attempts, so nothing more is sent with this key (a ManagementClient resumes after "
        "reset() or set_management_key())."
    ),
    errors.BannedError: (
        "CPA refuses this client IP after repeated failed authentications, even with the right "
        "key, until the ban ends (30 minutes, or a server restart). This client sends nothing "
        "more until reset()."
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


def _one_line(text: str, limit: int = _MAX_TEXT) -> str:
    flat = " ".join(text.split())
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
        message += f" {response.reason_phrase}".rstrip()
    hint = _HINTS.get(cls)
    if hint:
        message += f". {hint}"
    return cls(
        message,
        status=status,
        code=code,
        details=details,
        data=data,
        method=method,
        endpoint=endpoint,
    )


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


def redact(error: errors.ApiError, secret: str | None) -> errors.ApiError:
    """Replace any occurrence of ``secret`` in the error's texts and parsed body (defence in
    depth: a proxy or a debug handler may echo the Authorization header back)."""
    if not secret:
        return error
    if secret in error.message:
        error.message = error.message.replace(secret, "***")
        error.args = (error.message,)
    if error.details and secret in error.details:
        error.details = error.details.replace(secret, "***")
    if error.code and secret in error.code:
        error.code = error.code.replace(secret, "***")
    if error.data is not None:
        error.data = _redacted(error.data, secret)
    return error


def _redacted(value: Any, secret: str) -> Any:
    if isinstance(value, str):
        return value.replace(secret, "***")
    if isinstance(value, dict):
        return {_redacted(k, secret): _redacted(v, secret) for k, v in value.items()}
    if isinstance(value, list):
        return [_redacted(v, secret) for v in value]
    return value
