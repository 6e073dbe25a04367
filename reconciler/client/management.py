"""A typed, synchronous client for the whole CPA Management API (``/v0/management``).

::

    with ManagementClient("http://127.0.0.1:8317", key) as cpa:
        files = cpa.list_auth_files()
        cpa.put_config_yaml(text)

Layout: ``client_transport.Session`` does all HTTP (auth, ban safety, retries, version headers,
error translation, see its docstring); ``client_errors`` maps answers to
``reconciler.errors``; ``client_config.ConfigAPI`` holds the config endpoints; this module holds
the client itself, auth files, OAuth logins and the tool endpoints. Answers are pydantic models
from ``reconciler.client.models``.

Ban safety in one sentence: after any 401 or 403 the client sends no authenticated request
until ``reset()`` or ``set_management_key()``, and it never sends one without a key; with an
``auth_guard`` it also respects the failures other processes recorded.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Callable, Iterable, Mapping
from types import TracebackType
from typing import Any, TypeVar

import httpx
from pydantic import SecretStr

from reconciler import errors
from reconciler.client.config import ConfigAPI, query_pairs
from reconciler.client.models import (
    ApiCallEnvelope,
    ApiCallResult,
    AuthFileInfo,
    AuthFileList,
    AuthFileStatusResult,
    AuthFileSummary,
    AuthFileSummaryList,
    BatchFailure,
    DeleteResult,
    ModelInfo,
    ModelList,
    OAuthCancelResult,
    OAuthStart,
    OAuthStatus,
    ResetQuotaResult,
    ServerVersion,
    StatusResult,
    UploadResult,
    VertexImportResult,
)
from reconciler.client.transport import (
    MANAGEMENT_PREFIX,
    AuthGuard,
    ProxyChoice,
    Redactions,
    Session,
    normalize_api_base,
    parse_model,
)

__all__ = ["OAUTH_PROVIDERS", "AuthFileContent", "ManagementClient"]

R = TypeVar("R", UploadResult, DeleteResult)
A = TypeVar("A")
B = TypeVar("B")

AuthFileContent = bytes | str | Mapping[str, Any]

#: OAuth providers ZeroLimit offers and those CPA v7 serves (``GET /<provider>-auth-url``).
OAUTH_PROVIDERS = (
    "codex",
    "anthropic",
    "antigravity",
    "gemini-cli",
    "kiro",
    "copilot",
    "kimi",
    "xai",
)
_PROVIDER_ALIASES = {"claude": "anthropic"}
#: The least deadline of ``api_call``: above CPA's own 60 s upstream timeout (a slow upstream
#: then comes back as CPA's 502 ``request failed``, not as a client timeout).
API_CALL_TIMEOUT = 75.0
_PROVIDER = re.compile(r"^[a-z0-9][a-z0-9-]*$")


def _content_bytes(content: AuthFileContent) -> bytes:
    if isinstance(content, bytes):
        return content
    if isinstance(content, str):
        return content.encode("utf-8")
    return json.dumps(dict(content), ensure_ascii=False).encode("utf-8")


def _unsafe_name(name: str) -> bool:
    return not name.strip() or "/" in name or "\\" in name


class ManagementClient(ConfigAPI):
    """Client of one CPA server's Management API.

    Args:
        api_base: the origin (``http://127.0.0.1:8317``) or the full ``.../v0/management``
            base; ``http://`` is added when no scheme is given.
        management_key: the key; held as a ``SecretStr`` and never shown.
        timeout: seconds per request (connect, read, write, pool).
        verify: TLS verification: True, False, or the path of a CA bundle.
        on_server_version: called with a ``ServerVersion`` when the version headers are first
            seen or change.
        on_unauthorized: called with the ``UnauthorizedError`` when the server answers 401.
        transport: an httpx transport, for tests that need one (it then decides proxies and
            deadlines itself).
        redact: values besides the key to mask in every error message (the secrets the
            caller holds: a server may quote one back in an error text), or a function
            giving them at the first error; see also ``set_redactions``.
        auth_guard: consulted before the first authenticated request of a key and told how
            it went (``reconciler.statedir.auth_record.AuthRecord`` remembers failed attempts
            across processes); see ``transport.AuthGuard``.

    ``timeout`` is a total for each request (connect, send, the whole answer); answers are
    read up to a size limit (``transport.answer_limit``). A loopback target never goes
    through a proxy; any other honours ``HTTPS_PROXY``/``HTTP_PROXY``/``ALL_PROXY`` and
    ``NO_PROXY`` (``proxy`` says which one is used).
    """

    def __init__(
        self,
        api_base: str,
        management_key: str | None,
        *,
        timeout: float = 30.0,
        verify: bool | str = True,
        on_server_version: Callable[[ServerVersion], object] | None = None,
        on_unauthorized: Callable[[errors.UnauthorizedError], object] | None = None,
        transport: httpx.BaseTransport | None = None,
        redact: Redactions = (),
        auth_guard: AuthGuard | None = None,
    ) -> None:
        self.api_base = normalize_api_base(api_base)
        #: called with every full (unfiltered) ``list_auth_file_summaries`` listing: the
        #: daemon exports credential health from the listing a cycle reads anyway
        self.on_auth_files: Callable[[list[AuthFileSummary]], object] | None = None
        self._session = Session(
            self.api_base,
            management_key,
            timeout=timeout,
            verify=verify,
            on_server_version=on_server_version,
            on_unauthorized=on_unauthorized,
            transport=transport,
            redact=redact,
            auth_guard=auth_guard,
        )

    # -- lifecycle and state --------------------------------------------------------------

    def __repr__(self) -> str:
        return (
            f"ManagementClient(api_base={self.api_base!r}, management_key={self.management_key!r})"
        )

    def __enter__(self) -> ManagementClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool."""
        self._session.close()

    @property
    def management_url(self) -> str:
        """The management base, ``<api_base>/v0/management``."""
        return self.api_base + MANAGEMENT_PREFIX

    @property
    def management_key(self) -> SecretStr:
        """The key in use, masked (``SecretStr``)."""
        return self._session.key

    @property
    def server_version(self) -> ServerVersion | None:
        """The version the last answer announced, or None before any did."""
        return self._session.server_version

    @property
    def request_count(self) -> int:
        """Requests actually sent (attempts that could not connect are not counted)."""
        return self._session.request_count

    @property
    def halted(self) -> bool:
        """True after a 401 or 403: no authenticated request is sent until reset."""
        return self._session.halted

    def reset(self) -> None:
        """Lift the halt after a 401/403; the next request tries the current key again."""
        self._session.reset()

    @property
    def proxy(self) -> ProxyChoice | None:
        """The proxy requests go through (from the environment), or None for direct."""
        return self._session.proxy

    def set_redactions(self, values: Redactions) -> None:
        """Mask these values (besides the key) in every later error message."""
        self._session.set_redactions(values)

    def set_management_key(self, management_key: str | None) -> None:
        """Use a new key from now on (also lifts the halt)."""
        self._session.set_key(management_key)

    def at_once(self) -> contextlib.AbstractContextManager[bool]:
        """A window in which requests from any thread go out at once when the key is known
        to work (True), else one at a time as ever (False); at most two in the window. See
        ``transport.Session.at_once``."""
        return self._session.at_once()

    def together(self, first: Callable[[], A], second: Callable[[], B]) -> tuple[A, B]:
        """Two calls of this client (each one request, and what is done with its answer),
        sent at once when the key is known to work, else one after the other; both answers,
        or the first error in call order. See ``transport.Session.together`` for when the key
        counts as known (it never costs more than two failed attempts)."""
        return self._session.together(first, second)

    def healthz(self) -> bool:
        """``GET /healthz`` (outside management, no key sent): True when it answers 200.

        Any other answer, or none, gives False (servers before v6.9.10 have no ``/healthz``).
        """
        return self._session.healthz()

    # -- auth files -----------------------------------------------------------------------

    def list_auth_files(
        self, *, name: str | None = None, auth_index: str | None = None
    ) -> list[AuthFileInfo]:
        """``GET /auth-files``, optionally filtered by file name/id or ``auth_index``."""
        params = [(k, v) for k, v in (("name", name), ("auth_index", auth_index)) if v is not None]
        return self._model(AuthFileList, "GET", "/auth-files", params=params).files

    def list_auth_file_summaries(
        self, *, name: str | None = None, auth_index: str | None = None
    ) -> list[AuthFileSummary]:
        """``GET /auth-files`` read for what a reconciler needs (name, state, provider, account
        and the listed policy fields), validated straight from the JSON bytes and the rest
        skipped: at 10,000 files ~0.1 s instead of ~0.3 s for ``list_auth_files``."""
        params = [(k, v) for k, v in (("name", name), ("auth_index", auth_index)) if v is not None]
        reply = self._session.call("GET", "/auth-files", params=params, expect=AuthFileSummaryList)
        listing: AuthFileSummaryList = reply.body
        if self.on_auth_files is not None and not params:
            self.on_auth_files(listing.files)
        return listing.files

    def upload_auth_file(self, name: str, content: AuthFileContent) -> StatusResult:
        """``POST /auth-files?name=<name>`` with the JSON as body. Replaces an existing file
        whole (tokens included), so never use it to update a live credential."""
        reply = self._session.call(
            "POST",
            "/auth-files",
            params=[("name", name)],
            content=_content_bytes(content),
            content_type="application/json",
        )
        return parse_model(StatusResult, reply.body, "POST", MANAGEMENT_PREFIX + "/auth-files")

    def upload_auth_files(self, files: Mapping[str, AuthFileContent]) -> UploadResult:
        """Upload many auth files in ONE multipart request.

        The result lists what was stored (``files``) and what was not (``failed``); a partial
        success (HTTP 207) is a result, not an exception. Names holding a path separator are
        reported as failed without being sent (the server would silently strip the path).
        """
        failed = [
            BatchFailure(name=name, error="invalid name (path separator); not sent")
            for name in files
            if _unsafe_name(name)
        ]
        parts = [
            ("file", (name, _content_bytes(content), "application/json"))
            for name, content in files.items()
            if not _unsafe_name(name)
        ]
        if not parts:
            return UploadResult(status="partial" if failed else "ok", failed=failed)
        result = self._batch(UploadResult, "POST", [p[1][0] for p in parts], files=parts)
        result.failed[:0] = failed
        if failed:
            result.status = "partial"
        return result

    def download_auth_file(self, name: str) -> bytes:
        """``GET /auth-files/download?name=``: the file as stored (live tokens included)."""
        data: bytes = self._raw("/auth-files/download", params=[("name", name)], expect="json-file")
        return data

    def delete_auth_file(self, name: str) -> StatusResult:
        """``DELETE /auth-files?name=``; a missing file raises ``NotFoundError``."""
        return self._model(StatusResult, "DELETE", "/auth-files", params=[("name", name)])

    def delete_auth_files(self, names: Iterable[str]) -> DeleteResult:
        """Delete many auth files in ONE request (repeated ``?name=``).

        Per-file failures (HTTP 207, or the single-file error when one name is given) are in
        ``failed``; they do not raise. An empty list sends nothing.
        """
        unique = list(dict.fromkeys(n for n in names if n.strip()))
        if not unique:
            return DeleteResult(status="ok")
        params = [("name", name) for name in unique]
        return self._batch(DeleteResult, "DELETE", unique, params=params)

    def delete_all_auth_files(self) -> DeleteResult:
        """``DELETE /auth-files?all=true``: every ``*.json`` in the server's auth-dir."""
        return self._model(DeleteResult, "DELETE", "/auth-files", params=[("all", "true")])

    def set_auth_file_disabled(self, name: str, disabled: bool) -> AuthFileStatusResult:
        """``PATCH /auth-files/status``: enable or disable a credential (tokens untouched)."""
        body = {"name": name, "disabled": disabled}
        return self._model(AuthFileStatusResult, "PATCH", "/auth-files/status", json_body=body)

    def patch_auth_file_fields(self, name: str, fields: Mapping[str, Any]) -> StatusResult:
        """``PATCH /auth-files/fields``: set policy fields (``priority``, ``note``, ``weight``,
        ``proxy_url``, dot paths, ...) without touching tokens. ``name`` wins over a field
        called ``name``."""
        body = {**dict(fields), "name": name}
        return self._model(StatusResult, "PATCH", "/auth-files/fields", json_body=body)

    def list_auth_file_models(self, name: str) -> list[ModelInfo]:
        """``GET /auth-files/models?name=``: the models a credential offers."""
        return self._model(ModelList, "GET", "/auth-files/models", params=[("name", name)]).models

    def import_vertex_credential(
        self, content: AuthFileContent, *, location: str | None = None
    ) -> VertexImportResult:
        """``POST /vertex/import``: turn a service-account JSON into ``vertex-<project>.json``."""
        parts = [("file", ("service-account.json", _content_bytes(content), "application/json"))]
        params = query_pairs({"location": location})
        reply = self._session.call("POST", "/vertex/import", params=params, files=parts)
        return parse_model(
            VertexImportResult, reply.body, "POST", MANAGEMENT_PREFIX + "/vertex/import"
        )

    def _batch(self, model: type[R], method: str, names: list[str], **request: Any) -> R:
        """Send a multi-file request; for one name, turn the single-file answer into a result."""
        endpoint = MANAGEMENT_PREFIX + "/auth-files"
        try:
            reply = self._session.call(method, "/auth-files", **request)
        except errors.ApiError as err:
            if len(names) != 1 or not _is_file_failure(err):
                raise
            return model(
                status="partial", failed=[BatchFailure(name=names[0], error=err.code or "")]
            )
        result = parse_model(model, reply.body, method, endpoint)
        if len(names) == 1 and not result.files:
            result.files = list(names)  # one file: the server answers just {"status":"ok"}
            if isinstance(result, UploadResult):
                result.uploaded = 1
            else:
                result.deleted = 1
        return result

    # -- OAuth logins ---------------------------------------------------------------------

    def start_oauth(
        self, provider: str, *, project_id: str | None = None, is_webui: bool = False
    ) -> OAuthStart:
        """``GET /<provider>-auth-url``: start an interactive login.

        ``provider`` is one of ``OAUTH_PROVIDERS`` (``claude`` means ``anthropic``) or a
        plugin's provider. A provider the server does not serve raises ``UnsupportedError``.
        Never retried: each call opens a new login session on the server.
        """
        name = _PROVIDER_ALIASES.get(provider.strip().lower(), provider.strip().lower())
        path = f"/{name}-auth-url"
        if not _PROVIDER.match(name):
            raise errors.UnsupportedError(
                f"OAuth provider {provider!r} is not a provider name; known providers: "
                f"{', '.join(OAUTH_PROVIDERS)}.",
                method="GET",
                endpoint=MANAGEMENT_PREFIX + path,
            )
        params = [("project_id", project_id)] if project_id is not None else []
        if is_webui:
            params.append(("is_webui", "true"))
        try:
            return self._model(OAuthStart, "GET", path, params=params, retry=False)
        except (
            errors.NotFoundError,
            errors.UnsupportedError,
            errors.ManagementDisabledError,
        ) as err:
            # v7.2.140 routes every /<name>-auth-url to its plugin handler, which answers a
            # name no plugin serves with 404 and an empty body: the answer of a server whose
            # management is off, except that this server has shown its version headers.
            if err.status != 404 or (
                isinstance(err, errors.ManagementDisabledError) and self.server_version is None
            ):
                raise
            raise errors.UnsupportedError(
                f"{err.method} {err.endpoint}: 404: this server does not offer OAuth login for "
                f"{name!r} (it may need a newer CPA or a plugin).",
                status=err.status,
                code=err.code,
                details=err.details,
                data=err.data,
                method=err.method,
                endpoint=err.endpoint,
            ) from err

    def get_oauth_status(self, state: str) -> OAuthStatus:
        """``GET /get-auth-status?state=``: ``wait``, ``ok`` or ``error`` (unknown or expired
        states are ``error`` with HTTP 200)."""
        return self._model(OAuthStatus, "GET", "/get-auth-status", params=[("state", state)])

    def submit_oauth_callback(
        self,
        provider: str,
        redirect_url: str | None = None,
        *,
        state: str | None = None,
        code: str | None = None,
        error: str | None = None,
    ) -> StatusResult:
        """``POST /oauth-callback``: hand the provider's redirect URL (or its ``state`` and
        ``code``) to the server to finish a login. Unknown state: 404; done already: 409."""
        body = {"provider": _PROVIDER_ALIASES.get(provider, provider)}
        extra = {"redirect_url": redirect_url, "state": state, "code": code, "error": error}
        body.update({k: v for k, v in extra.items() if v is not None})
        return self._model(StatusResult, "POST", "/oauth-callback", json_body=body)

    def cancel_oauth(self, state: str) -> OAuthCancelResult:
        """``DELETE /oauth-session?state=``: abandon a login."""
        return self._model(OAuthCancelResult, "DELETE", "/oauth-session", params=[("state", state)])

    # -- tools ----------------------------------------------------------------------------

    def api_call(
        self,
        method: str,
        url: str,
        *,
        auth_index: str | None = None,
        header: Mapping[str, str] | None = None,
        data: str | bytes | Mapping[str, Any] | None = None,
        proxy_url: str | None = None,
        timeout: float | None = None,
    ) -> ApiCallResult:
        """``POST /api-call``: CPA calls ``url`` itself, replacing ``$TOKEN$`` in ``header``
        with the token of the credential ``auth_index``. The upstream status is in the result
        (an upstream 401 is not an error of this client). May refresh the credential.

        The deadline is ``timeout``, by default the client's timeout but at least
        ``API_CALL_TIMEOUT`` (75 s): above CPA's own 60 s upstream timeout, so that a slow
        upstream comes back as CPA's 502 rather than as a client timeout. Never retried."""
        body: dict[str, Any] = {"method": method.upper(), "url": url}
        if auth_index is not None:
            body["auth_index"] = auth_index
        if header:
            body["header"] = dict(header)
        if data is not None:
            body["data"] = _data_text(data)
        if proxy_url is not None:
            body["proxy_url"] = proxy_url
        seconds = timeout if timeout is not None else max(self._session.timeout, API_CALL_TIMEOUT)
        reply = self._session.call(
            "POST", "/api-call", json_body=body, expect=ApiCallEnvelope, timeout=seconds
        )
        envelope: ApiCallEnvelope = reply.body
        return ApiCallResult(
            status_code=envelope.status_code,
            headers=dict(envelope.header or {}),
            body=envelope.body,
            json=_maybe_json(envelope.body),
        )

    def reset_quota(self, auth_index: str) -> ResetQuotaResult:
        """``POST /reset-quota``: clear the quota cool-down of one credential."""
        body = {"auth_index": auth_index}
        return self._model(ResetQuotaResult, "POST", "/reset-quota", json_body=body)


def _is_file_failure(err: errors.ApiError) -> bool:
    """A single-file answer that a multi-file request would have listed under ``failed``."""
    if isinstance(err, errors.UnauthorizedError | errors.ForbiddenError):
        return False
    if isinstance(err, errors.ManagementDisabledError | errors.UnsupportedError):
        return False
    return err.status in (400, 404, 409, 500) and isinstance(err.data, dict)


def _data_text(data: str | bytes | Mapping[str, Any]) -> str:
    if isinstance(data, bytes):
        return data.decode("utf-8")
    return data if isinstance(data, str) else json.dumps(dict(data))


def _maybe_json(text: str) -> Any:
    if not text.strip():
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None
