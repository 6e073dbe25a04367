"""Typed answers of the CPA Management API (``/v0/management``), as pydantic models.

Every model keeps the fields the server adds later (``extra="allow"``): an unknown field is
stored on the instance (``model.model_extra``), never rejected. Every field except a few
identifiers is optional, because older servers omit them. Field names follow the server; where
the server uses kebab-case (``line-count``) the Python name is snake_case and the server name
is the alias, so ``model_validate`` takes the server's JSON as it comes.

``ServerVersion`` is built by the client from the ``X-CPA-*`` response headers, not from a body.
``ApiCallResult`` is a dataclass because one of its fields is called ``json``, which a pydantic
model cannot have.

Every model is built at its first use (``defer_build``): a command imports them all and uses a
few, and building the rest cost ~10 ms of every command's start.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, SkipValidation, with_config
from typing_extensions import TypedDict

__all__ = [
    "ApiCallEnvelope",
    "ApiCallResult",
    "AuthFileInfo",
    "AuthFileList",
    "AuthFileStatusResult",
    "AuthFileSummary",
    "AuthFileSummaryList",
    "BatchFailure",
    "DeleteLogsResult",
    "DeleteResult",
    "ErrorLogFile",
    "ErrorLogList",
    "LatestVersion",
    "LogsResult",
    "ModelDefinitions",
    "ModelInfo",
    "ModelList",
    "OAuthCancelResult",
    "OAuthStart",
    "OAuthStatus",
    "PutConfigResult",
    "RecentRequests",
    "ResetQuotaResult",
    "ServerVersion",
    "StatusResult",
    "UploadResult",
    "VertexImportResult",
]


class _Answer(BaseModel):
    """Base of every response model: unknown fields are kept, names or aliases accepted."""

    model_config = ConfigDict(extra="allow", populate_by_name=True, defer_build=True)


class ServerVersion(BaseModel):
    """The server build, read from the ``X-CPA-*`` headers of a response.

    ``version`` is the header as sent (``v7.2.140`` from Docker images, ``7.2.140`` from release
    binaries, ``dev`` from source builds); ``normalized`` is the same without a leading ``v``.
    """

    model_config = ConfigDict(frozen=True, defer_build=True)

    version: str | None = None
    normalized: str | None = None
    commit: str | None = None
    build_date: str | None = None
    support_plugin: bool | None = None


class StatusResult(_Answer):
    """The plain ``{"status": "ok"}`` answer of most writes."""

    status: str | None = None


@with_config(ConfigDict(extra="allow"))
class RecentRequests(TypedDict, total=False):
    """One ten-minute bucket of ``recent_requests`` in an auth-file entry (unknown keys kept).

    A dict, not a model: every entry of ``GET /auth-files`` carries 20 of them, and building
    200,000 model instances for a 10,000-file listing took seconds of a no-change plan.
    """

    time: str | None
    success: int | None
    failed: int | None


class AuthFileSummary(BaseModel):
    """An entry of ``GET /auth-files`` reduced to what a reconciler reads: the name, the state,
    the provider and account, and the policy fields the listing shows. Every other field is
    skipped, not kept (see ``ManagementClient.list_auth_file_summaries``)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True, defer_build=True)

    name: str
    disabled: bool | None = None
    type: str | None = None
    provider: str | None = None
    email: str | None = None
    priority: int | None = None
    note: str | None = None
    weight: int | None = None
    websockets: bool | None = None
    request_retry: int | None = None
    # Who the credential is and how fresh its tokens are (a fleet's duplicate check):
    # ``last_refresh`` (RFC 3339) and, for codex, the decoded id_token claims.
    last_refresh: str | None = None
    id_token: dict[str, Any] | None = None
    # Health as CPA reports it (``reconciler status``, the daemon's credential metrics);
    # ``recent_requests`` is skipped (20 buckets a file).
    auth_index: str | None = None
    status: str | None = None
    status_message: str | None = None
    unavailable: bool | None = None
    next_retry_after: str | None = None
    success: int | None = None
    failed: int | None = None
    project_id: str | None = None


class AuthFileSummaryList(BaseModel):
    """``GET /auth-files``, entries as ``AuthFileSummary``."""

    model_config = ConfigDict(extra="ignore", defer_build=True)

    files: list[AuthFileSummary] = Field(default_factory=list)


class AuthFileInfo(AuthFileSummary):
    """One entry of ``GET /auth-files``: what the server knows about an auth file (the summary's
    fields and all the others; unknown fields are kept).

    There is no content hash. ``auth_index`` identifies the file's location, not its content.
    """

    model_config = ConfigDict(extra="allow", populate_by_name=True, defer_build=True)

    id: str | None = None
    auth_index: str | None = None
    label: str | None = None
    status: str | None = None
    status_message: str | None = None
    unavailable: bool | None = None
    runtime_only: bool | None = None
    source: str | None = None
    path: str | None = None
    size: int | None = None
    modtime: str | None = None
    project_id: str | None = None
    account_type: str | None = None
    account: str | None = None
    created_at: str | None = None
    updated_at: str | None = None
    last_refresh: str | None = None
    next_retry_after: str | None = None
    success: int | None = None
    failed: int | None = None
    # Not validated (kept as the server sent it): 20 buckets per file, unused by the reconciler,
    # and checking them was most of the cost of parsing a 10,000-file listing.
    recent_requests: SkipValidation[list[RecentRequests]] | None = None
    id_token: dict[str, Any] | None = None


class AuthFileList(_Answer):
    """``GET /auth-files``."""

    files: list[AuthFileInfo] = Field(default_factory=list)


class BatchFailure(_Answer):
    """One file that a multi-file upload or delete could not handle."""

    name: str = ""
    error: str = ""


class _BatchResult(_Answer):
    status: str | None = None
    files: list[str] = Field(default_factory=list)
    failed: list[BatchFailure] = Field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every file succeeded."""
        return not self.failed

    @property
    def partial(self) -> bool:
        """True when at least one file failed (the server's HTTP 207, ``"status":"partial"``)."""
        return bool(self.failed)


class UploadResult(_BatchResult):
    """``POST /auth-files``: ``files`` were stored, ``failed`` were not."""

    uploaded: int = 0


class DeleteResult(_BatchResult):
    """``DELETE /auth-files``: ``files`` were deleted, ``failed`` were not."""

    deleted: int = 0


class AuthFileStatusResult(_Answer):
    """``PATCH /auth-files/status``. ``via`` is set when a config API key was toggled."""

    status: str | None = None
    disabled: bool | None = None
    via: str | None = None


class PutConfigResult(_Answer):
    """``PUT /config.yaml``. ``changed`` is a constant (``["config"]``), not a diff."""

    ok: bool = False
    changed: list[str] = Field(default_factory=list)


class OAuthStart(_Answer):
    """The start of an interactive login (``GET /<provider>-auth-url``).

    Browser flows carry ``url`` and ``state``; device flows (kimi, xai, copilot, ...) add
    ``flow="device"``, ``user_code``, ``verification_uri`` and ``expires_in``.
    """

    status: str | None = None
    url: str | None = Field(default=None, validation_alias=AliasChoices("url", "auth_url"))
    state: str | None = None
    flow: str | None = None
    user_code: str | None = None
    verification_uri: str | None = Field(
        default=None, validation_alias=AliasChoices("verification_uri", "verification_url")
    )
    expires_in: int | None = None

    @property
    def auth_url(self) -> str | None:
        """The URL to open (same as ``url``)."""
        return self.url

    @property
    def verification_url(self) -> str | None:
        """Where the user types ``user_code`` (same as ``verification_uri``)."""
        return self.verification_uri


class OAuthStatus(_Answer):
    """``GET /get-auth-status``: ``status`` is ``wait``, ``ok`` or ``error``."""

    status: str
    error: str | None = None


class OAuthCancelResult(_Answer):
    """``DELETE /oauth-session``."""

    status: str | None = None
    cancelled: bool | None = None


class ApiCallEnvelope(_Answer):
    """The raw answer of ``POST /api-call`` (the client turns it into ``ApiCallResult``)."""

    status_code: int
    header: dict[str, list[str]] | None = None
    body: str = ""


@dataclass(frozen=True)
class ApiCallResult:
    """An upstream call made by CPA with a credential's token (``POST /api-call``).

    ``json`` is the parsed ``body`` when it is JSON, else None.
    """

    status_code: int
    headers: dict[str, list[str]] = field(default_factory=dict)
    body: str = ""
    json: Any = None


class ResetQuotaResult(_Answer):
    """``POST /reset-quota``."""

    status: str | None = None
    auth_index: str | None = None
    models: list[Any] | None = None


class ModelInfo(_Answer):
    """A model a credential or channel offers."""

    id: str | None = None
    display_name: str | None = None
    type: str | None = None
    owned_by: str | None = None


class ModelList(_Answer):
    """``GET /auth-files/models``."""

    models: list[ModelInfo] = Field(default_factory=list)


class ModelDefinitions(_Answer):
    """``GET /model-definitions/<channel>``."""

    channel: str | None = None
    models: list[ModelInfo] = Field(default_factory=list)


class LatestVersion(_Answer):
    """``GET /latest-version``."""

    latest_version: str | None = Field(
        default=None, validation_alias=AliasChoices("latest-version", "latest_version", "latest")
    )


class LogsResult(_Answer):
    """``GET /logs`` (needs ``logging-to-file``)."""

    lines: list[str] = Field(default_factory=list)
    line_count: int | None = Field(
        default=None, validation_alias=AliasChoices("line-count", "line_count")
    )
    latest_timestamp: int | None = Field(
        default=None, validation_alias=AliasChoices("latest-timestamp", "latest_timestamp")
    )
    next_cursor: str | None = Field(
        default=None, validation_alias=AliasChoices("next-cursor", "next_cursor")
    )
    cursor_reset: bool | None = Field(
        default=None, validation_alias=AliasChoices("cursor-reset", "cursor_reset")
    )


class DeleteLogsResult(_Answer):
    """``DELETE /logs``."""

    success: bool | None = None
    message: str | None = None
    removed: int | None = None


class ErrorLogFile(_Answer):
    """One file of ``GET /request-error-logs``."""

    name: str
    size: int | None = None
    modified: int | str | None = None


class ErrorLogList(_Answer):
    """``GET /request-error-logs``."""

    files: list[ErrorLogFile] = Field(default_factory=list)


class VertexImportResult(_Answer):
    """``POST /vertex/import``."""

    status: str | None = None
    auth_file: str | None = Field(
        default=None, validation_alias=AliasChoices("auth-file", "auth_file")
    )
    project_id: str | None = None
    email: str | None = None
    location: str | None = None
