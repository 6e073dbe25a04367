"""The request machinery under ``ManagementClient``: one place that talks HTTP to CPA.

``Session`` owns the ``httpx.Client`` and every rule that applies to all endpoints:

* **Authentication.** ``Authorization: Bearer <key>`` on every management request, built as
  bytes so the key never reaches an encoder error message. A missing or empty key raises
  ``UnauthorizedError`` (status None) *before* anything is sent: CPA counts a request without
  a key as a failed attempt.
* **Ban safety.** After a 401 or 403 the session is *halted*: every later authenticated call
  raises the same error class without sending, until ``reset()`` or ``set_management_key()``.
  Until one authenticated request has succeeded with the current key, authenticated requests
  go out one at a time, so concurrent callers cannot spend several failed attempts at once.
* **Server version.** ``X-CPA-VERSION`` / ``X-SERVER-VERSION``, ``X-CPA-BUILD-DATE`` /
  ``X-SERVER-BUILD-DATE``, ``X-CPA-COMMIT`` and ``X-CPA-SUPPORT-PLUGIN`` are read from every
  answer, errors included.
* **Retries.** Only where the caller allows it (by default: GET). Two retries, after 0.2 s and
  0.5 s, when the connection failed or broke, when a JSON answer was cut off, or on 5xx. A
  read timeout is not retried (the server may be busy; trying again triples the wait).
* **Errors** are translated once, here, into ``reconciler.errors`` (see ``client_errors``).
  A body that should be JSON but is not: ``UnreachableError`` when it looks cut off (starts
  like JSON), ``ApiError`` otherwise (e.g. an HTML page from something that is not CPA). A
  file answer (config.yaml, an auth file) labelled as a web page (``text/html``) is an
  ``ApiError`` too.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import logging
import os
import re
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import httpx
from pydantic import BaseModel, SecretStr, ValidationError

from reconciler import errors
from reconciler.client.errors import describe_exception, error_from_response, redact
from reconciler.client.models import ServerVersion

__all__ = [
    "MANAGEMENT_PREFIX",
    "Expect",
    "Reply",
    "Session",
    "normalize_api_base",
    "parse_model",
    "server_version_from_headers",
]

log = logging.getLogger(__name__)


def _user_agent() -> str:
    try:
        return f"cpa-reconciler/{importlib.metadata.version('cpa-reconciler')}"
    except importlib.metadata.PackageNotFoundError:
        return "cpa-reconciler"


MANAGEMENT_PREFIX = "/v0/management"
RETRY_DELAYS: tuple[float, ...] = (0.2, 0.5)

#: How to read a successful answer: parsed JSON, text, bytes, or a file (the YAML config as
#: text, a JSON auth file as bytes) that must not come labelled as a web page. ``call`` also
#: takes a model class: JSON validated by it straight from the bytes.
Expect = Literal["json", "text", "bytes", "yaml", "json-file"]
_FILE_EXPECTS = ("yaml", "json-file")
_WEB_PAGE_TYPES = ("text/html", "application/xhtml+xml")
QueryParams = Sequence[tuple[str, str]]
FileParts = Sequence[tuple[str, tuple[str, bytes, str]]]

_VERSION_HEADERS = ("x-cpa-version", "x-server-version")
_BUILD_DATE_HEADERS = ("x-cpa-build-date", "x-server-build-date")
_COMMIT_HEADERS = ("x-cpa-commit",)
_PLUGIN_HEADERS = ("x-cpa-support-plugin",)
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_NOT_RETRIED = (httpx.ReadTimeout, httpx.WriteTimeout, httpx.PoolTimeout)


def normalize_api_base(api_base: str) -> str:
    """Return the origin of ``api_base`` the way ZeroLimit does.

    Trim, strip trailing ``/`` and a trailing ``/v0/management``, add ``http://`` when there is
    no scheme. ``http://h:8317/v0/management/`` and ``h:8317`` both give ``http://h:8317``.
    """
    base = (api_base or "").strip()
    has_scheme = _SCHEME.match(base) is not None
    base = base.rstrip("/")
    if base.lower().endswith(MANAGEMENT_PREFIX):
        base = base[: -len(MANAGEMENT_PREFIX)].rstrip("/")
    if base and not has_scheme:
        base = f"http://{base}"
    try:
        url = httpx.URL(base)
    except (httpx.InvalidURL, TypeError) as exc:
        raise errors.UsageError(f"CPA URL {api_base!r} is not a valid URL.") from exc
    if url.scheme not in ("http", "https") or not url.host:
        raise errors.UsageError(
            f"CPA URL {api_base!r} must be an http:// or https:// address with a host, "
            "e.g. http://127.0.0.1:8317."
        )
    return base


def _first_header(headers: httpx.Headers, names: Sequence[str]) -> str | None:
    for name in names:
        for value in headers.get_list(name):
            if value.strip():
                return value.strip()
    return None


def server_version_from_headers(headers: httpx.Headers) -> ServerVersion | None:
    """The ``ServerVersion`` the headers announce, or None when they carry none."""
    version = _first_header(headers, _VERSION_HEADERS)
    build_date = _first_header(headers, _BUILD_DATE_HEADERS)
    commit = _first_header(headers, _COMMIT_HEADERS)
    plugin = _first_header(headers, _PLUGIN_HEADERS)
    if version is None and build_date is None and commit is None and plugin is None:
        return None
    normalized = version
    if version and version[0] in "vV" and version[1:2].isdigit():
        normalized = version[1:]
    support = None if plugin is None else plugin.lower() in ("1", "true", "yes")
    return ServerVersion(
        version=version,
        normalized=normalized,
        commit=commit,
        build_date=build_date,
        support_plugin=support,
    )


def _verify_option(verify: bool | str) -> bool | ssl.SSLContext:
    if isinstance(verify, bool):
        return verify
    try:
        if os.path.isdir(verify):
            return ssl.create_default_context(capath=verify)
        return ssl.create_default_context(cafile=verify)
    except (OSError, ssl.SSLError) as exc:
        raise errors.UsageError(f"CA bundle {verify!r} cannot be loaded: {exc}.") from exc


@dataclass(frozen=True)
class Reply:
    """A successful answer: status and decoded body (JSON value, text or bytes)."""

    status: int
    body: Any


@dataclass(frozen=True)
class _Halt:
    cls: type[errors.ApiError]
    status: int | None
    code: str | None
    where: str


class Session:
    """HTTP session to one CPA server. Thread-safe; see the module docstring for the rules."""

    def __init__(
        self,
        origin: str,
        management_key: str | None,
        *,
        timeout: float,
        verify: bool | str,
        on_server_version: Callable[[ServerVersion], object] | None,
        on_unauthorized: Callable[[errors.UnauthorizedError], object] | None,
        transport: httpx.BaseTransport | None,
    ) -> None:
        self.origin = origin
        self._key = SecretStr((management_key or "").strip())
        self._on_server_version = on_server_version
        self._on_unauthorized = on_unauthorized
        self.retry_delays: tuple[float, ...] = RETRY_DELAYS
        self._http = httpx.Client(
            timeout=httpx.Timeout(timeout),
            verify=_verify_option(verify),
            transport=transport,
            follow_redirects=False,
            headers={"User-Agent": _user_agent()},
        )
        self._state_lock = threading.Lock()
        self._probe_lock = threading.Lock()
        self._verified = False
        self._halt: _Halt | None = None
        self.request_count = 0
        self.server_version: ServerVersion | None = None

    # -- key and halt state ---------------------------------------------------------------

    @property
    def key(self) -> SecretStr:
        """The management key, masked in repr and str."""
        return self._key

    @property
    def halted(self) -> bool:
        """True after a 401/403, until ``reset()`` or ``set_key()``."""
        return self._halt is not None

    def set_key(self, management_key: str | None) -> None:
        """Use a new key and lift the halt."""
        with self._state_lock:
            self._key = SecretStr((management_key or "").strip())
            self._halt = None
            self._verified = False

    def reset(self) -> None:
        """Lift the halt; the next request tries the current key again."""
        with self._state_lock:
            self._halt = None
            self._verified = False

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    # -- public request entry points ------------------------------------------------------

    def call(
        self,
        method: str,
        path: str,
        *,
        params: QueryParams | None = None,
        json_body: Any = None,
        content: bytes | None = None,
        files: FileParts | None = None,
        content_type: str | None = None,
        expect: Expect | type[BaseModel] = "json",
        retry: bool | None = None,
    ) -> Reply:
        """Send an authenticated management request and return its successful answer.

        ``path`` is relative to ``/v0/management``. ``retry`` defaults to True for GET.
        ``expect`` a model class: the body is that model, validated by pydantic's own JSON
        parser straight from the bytes, so that fields the model does not declare are skipped
        rather than built (``ApiError`` when the shape does not fit, as ``parse_model``).
        """
        endpoint = MANAGEMENT_PREFIX + path
        self._check_may_send(method, endpoint)
        request = self._build(method, endpoint, params, json_body, content, files, content_type)
        delays = self.retry_delays if (method == "GET" if retry is None else retry) else ()
        with self._gate(method, endpoint):
            return self._send_with_retries(request, method, endpoint, expect, delays)

    def healthz(self) -> bool:
        """GET ``/healthz`` without a key; True on 200, False on any other answer or none."""
        try:
            response = self._http.get(f"{self.origin}/healthz")
        except httpx.HTTPError as exc:
            self._count(exc)
            log.debug("GET /healthz: %s", describe_exception(exc))
            return False
        self._count(None)
        self._note_version(response.headers)
        return response.status_code == 200

    # -- internals --------------------------------------------------------------------------

    def _check_may_send(self, method: str, endpoint: str) -> None:
        halt = self._halt
        if halt is not None:
            refusal = f"{halt.status} {halt.code}" if halt.code else str(halt.status)
            raise halt.cls(
                f"{method} {endpoint}: not sent: this client is halted since {halt.where} was "
                f"refused ({refusal}). CPA bans the client IP after 5 failed authentications, "
                "so no further request is sent. Fix the key and call "
                "set_management_key(new_key), or call reset() to try again.",
                status=halt.status,
                code=halt.code,
                method=method,
                endpoint=endpoint,
            )
        key = self._key.get_secret_value()
        if not key:
            raise errors.UnauthorizedError(
                f"{method} {endpoint}: not sent: no management key is set. CPA counts a request "
                "without a key as a failed attempt (5 ban the IP for 30 minutes); give the key "
                "to ManagementClient or call set_management_key().",
                method=method,
                endpoint=endpoint,
            )
        if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in key):
            raise errors.UnauthorizedError(
                f"{method} {endpoint}: not sent: the management key contains control "
                "characters (a stray newline in a key file?).",
                method=method,
                endpoint=endpoint,
            )

    def _build(
        self,
        method: str,
        endpoint: str,
        params: QueryParams | None,
        json_body: Any,
        content: bytes | None,
        files: FileParts | None,
        content_type: str | None,
    ) -> httpx.Request:
        # Bytes, so that no encoder error can ever quote the key.
        headers = {
            b"Authorization": b"Bearer " + self._key.get_secret_value().encode("utf-8"),
            b"Accept": b"application/json, */*;q=0.5",
        }
        if content_type:
            headers[b"Content-Type"] = content_type.encode("ascii")
        return self._http.build_request(
            method,
            self.origin + endpoint,
            params=list(params) if params is not None else None,
            json=json_body,
            content=content,
            files=files,
            headers=headers,
        )

    @contextlib.contextmanager
    def _gate(self, method: str, endpoint: str) -> Iterator[None]:
        """Serialise requests until the current key is known to work."""
        if self._verified:
            yield
            return
        with self._probe_lock:
            self._check_may_send(method, endpoint)
            yield

    def _send_with_retries(
        self,
        request: httpx.Request,
        method: str,
        endpoint: str,
        expect: Expect | type[BaseModel],
        delays: Sequence[float],
    ) -> Reply:
        for delay in (*delays, None):
            try:
                return self._send_once(request, method, endpoint, expect)
            except (errors.ServerError, errors.UnreachableError) as err:
                if delay is None or isinstance(err.__cause__, _NOT_RETRIED) or _is_tls(err):
                    raise
                log.info("%s %s failed (%s); retrying in %.1f s", method, endpoint, err, delay)
            time.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def _send_once(
        self, request: httpx.Request, method: str, endpoint: str, expect: Expect | type[BaseModel]
    ) -> Reply:
        started = time.monotonic()
        try:
            response = self._http.send(request)
        except httpx.HTTPError as exc:
            self._count(exc)
            raise self._unreachable(method, endpoint, describe_exception(exc)) from exc
        self._count(None)
        log.debug(
            "%s %s -> %d (%.0f ms)",
            method,
            endpoint,
            response.status_code,
            (time.monotonic() - started) * 1000,
        )
        self._note_version(response.headers)
        if response.status_code not in (401, 403, 404):
            self._verified = True  # the key passed CPA's check
        if response.is_success:
            return Reply(response.status_code, self._decode(response, method, endpoint, expect))
        raise self._refused(response, method, endpoint)

    def _count(self, exc: Exception | None) -> None:
        if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
            return  # nothing reached the server
        with self._state_lock:
            self.request_count += 1

    def _unreachable(self, method: str, endpoint: str, what: str) -> errors.UnreachableError:
        error = errors.UnreachableError(
            f"{method} {endpoint}: no answer from {self.origin}: {what}.",
            method=method,
            endpoint=endpoint,
        )
        redact(error, self._key.get_secret_value())
        return error

    def _refused(self, response: httpx.Response, method: str, endpoint: str) -> errors.ApiError:
        error = redact(
            error_from_response(response, method, endpoint), self._key.get_secret_value()
        )
        if response.status_code in (401, 403):
            with self._state_lock:
                if self._halt is None:
                    self._halt = _Halt(
                        type(error), error.status, error.code, f"{method} {endpoint}"
                    )
                self._verified = False
            if isinstance(error, errors.UnauthorizedError) and self._on_unauthorized:
                self._on_unauthorized(error)
        return error

    def _decode(
        self,
        response: httpx.Response,
        method: str,
        endpoint: str,
        expect: Expect | type[BaseModel],
    ) -> Any:
        if isinstance(expect, type):
            try:
                return expect.model_validate_json(response.content)
            except ValidationError:
                # Worded as any answer is: cut off, not JSON, or the field that does not fit.
                data = self._decode(response, method, endpoint, "json")
                return parse_model(expect, data, method, endpoint)
        if expect in _FILE_EXPECTS:
            self._check_not_a_page(response, method, endpoint, expect)
        if expect == "yaml" and _is_json_answer(response):
            raise errors.ApiError(
                f"{method} {endpoint}: {response.status_code} with a JSON answer, not the YAML "
                f"file that was asked for; is {self.origin} a CPA server?",
                status=response.status_code,
                method=method,
                endpoint=endpoint,
            )
        if expect in ("bytes", "json-file"):
            return response.content
        if expect in ("text", "yaml"):
            return response.text
        text = response.text
        try:
            return json.loads(text)
        except ValueError as exc:
            if text.lstrip()[:1] in ("{", "["):
                raise self._unreachable(method, endpoint, "the JSON answer was cut off") from exc
            kind = response.headers.get("content-type", "no content type")
            error = errors.ApiError(
                f"{method} {endpoint}: {response.status_code} with a body that is not JSON "
                f"({kind}); is {self.origin} a CPA server?",
                status=response.status_code,
                method=method,
                endpoint=endpoint,
            )
            raise error from exc

    def _check_not_a_page(
        self, response: httpx.Response, method: str, endpoint: str, expect: Expect
    ) -> None:
        """A file answer must not be a web page (a login or error page of a proxy)."""
        kind = response.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind not in _WEB_PAGE_TYPES:
            return
        raise errors.ApiError(
            f"{method} {endpoint}: {response.status_code} with a web page ({kind}), not the "
            f"{'YAML' if expect == 'yaml' else 'JSON'} file that was asked for; is "
            f"{self.origin} a CPA server?",
            status=response.status_code,
            method=method,
            endpoint=endpoint,
        )

    def _note_version(self, headers: httpx.Headers) -> None:
        seen = server_version_from_headers(headers)
        if seen is None:
            return
        with self._state_lock:
            if seen == self.server_version:
                return
            self.server_version = seen
        if self._on_server_version is not None:
            self._on_server_version(seen)


def _is_json_answer(response: httpx.Response) -> bool:
    """A JSON document labelled JSON: some API's answer (``{"error": ...}`` from a gateway), not
    config.yaml, which CPA labels ``application/yaml``. Taken for the config, it would be
    rewritten and PUT back in place of the real one."""
    kind = response.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/json":
        return False
    try:
        json.loads(response.text)
    except ValueError:
        return False
    return True


M = TypeVar("M", bound=BaseModel)


def parse_model(model: type[M], data: Any, method: str, endpoint: str) -> M:
    """Validate an answer against ``model``; a mismatch is an ``ApiError`` naming the field.

    The message names the field and the problem, never the value (it may be a secret).
    """
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors(include_input=False, include_url=False)[0]
        where = ".".join(str(part) for part in first["loc"]) or "(top level)"
        raise errors.ApiError(
            f"{method} {endpoint}: the answer does not have the expected shape "
            f"({exc.error_count()} problem(s); {where}: {first['msg']}). Is the server a "
            "compatible CPA version?",
            method=method,
            endpoint=endpoint,
        ) from exc


def _is_tls(err: BaseException) -> bool:
    """A TLS failure (bad certificate, wrong protocol): trying again cannot help."""
    seen: BaseException | None = err
    while seen is not None:
        if isinstance(seen, ssl.SSLError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False
