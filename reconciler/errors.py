"""The one error hierarchy of cpa-reconciler.

Every error the program can meet is one of these; third-party exceptions (httpx, ruamel.yaml,
pydantic, OS errors) are translated into them at the module that meets them, with
``raise ... from exc``. ``str(error)`` is a complete sentence for the user that names the place
(file and line, flag, or endpoint) and never contains a secret value. ``exit_code`` is what the
CLI exits with.

::

    ReconcilerError                      exit 1
    ├── DesiredStateError                bad desired-state file: YAML, unknown key, wrong type
    │   └── ReferenceError_              a ${env:...} / ${file:...} reference that cannot be resolved
    ├── SourceError                      an auth-file `source` that is missing or malformed
    ├── PlanFileError                    a plan file that cannot be read or is not ours
    ├── UsageError                       a bad command-line flag or combination
    ├── StalePlanError                   exit 3: live or desired state changed since the plan
    ├── SafetyError                      exit 4: a safety rule blocks (mass delete, lockout, ...)
    ├── LockedError                      exit 5: another run holds the state-directory lock
    ├── ApplyError                       an apply stopped part-way; carries what was done
    ├── BackupError                      a backup could not be written or read
    ├── LoginError                       an OAuth login (reconciler login) did not finish
    └── ApiError                         an answer from CPA that is not a success
        ├── UnauthorizedError            401: missing or wrong management key
        ├── ForbiddenError               403
        │   ├── BannedError              403: the client IP is banned after failed attempts
        │   ├── RemoteDisabledError      403: remote management disabled (allow-remote: false)
        │   └── KeyNotSetError           403: remote management key not set
        ├── NotFoundError                404 with a JSON body
        ├── ManagementDisabledError      404 with an empty body: no secret configured on CPA
        ├── InvalidConfigError           400 invalid_yaml / 422 invalid_config from PUT config.yaml
        ├── UnsupportedError             the server does not serve this endpoint or provider
        ├── ServerError                  5xx
        └── UnreachableError             no answer: connection refused, reset, timeout, bad TLS
"""

from __future__ import annotations

from typing import Any


class ReconcilerError(Exception):
    """Base class: a failure explained to the user. ``str(e)`` is the full message."""

    exit_code: int = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class DesiredStateError(ReconcilerError):
    """The desired-state file (or a config-file it names) is invalid.

    ``path`` and ``line`` (1-based, when known) name the place; the message already includes them.
    """

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None) -> None:
        where = ""
        if path is not None:
            where = f"{path}:{line}: " if line is not None else f"{path}: "
        super().__init__(f"{where}{message}")
        self.path = path
        self.line = line


class ReferenceError_(DesiredStateError):
    """``${env:NAME}`` / ``${file:PATH}`` references that cannot be resolved (all of them, one
    a line). ``unset_env`` names the unset variables, ``missing_files`` the files as written."""

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        line: int | None = None,
        unset_env: tuple[str, ...] = (),
        missing_files: tuple[str, ...] = (),
    ) -> None:
        super().__init__(message, path=path, line=line)
        self.unset_env = unset_env
        self.missing_files = missing_files


class SourceError(ReconcilerError):
    """An auth file's ``source`` is missing, unreadable or not a JSON object."""


class PlanFileError(ReconcilerError):
    """A plan file that cannot be read, is malformed, or was written by an incompatible version."""


class UsageError(ReconcilerError):
    """A command-line flag, or a combination of flags, that cannot be honoured."""


class StalePlanError(ReconcilerError):
    """The live or desired state changed since the plan was made; nothing was applied."""

    exit_code = 3


class SafetyError(ReconcilerError):
    """A safety rule blocks the plan (mass delete, protected delete, lockout, replace)."""

    exit_code = 4


class LockedError(ReconcilerError):
    """Another run holds the lock of the state directory."""

    exit_code = 5


class BackupError(ReconcilerError):
    """A backup could not be written, read or restored."""


class LoginError(ReconcilerError):
    """An OAuth login that failed, timed out or was refused; the message says why in words."""


class ApplyError(ReconcilerError):
    """An apply stopped part-way. ``done`` and ``not_done`` describe the actions (no secrets)."""

    def __init__(self, message: str, *, done: list[str], not_done: list[str]) -> None:
        super().__init__(message)
        self.done = done
        self.not_done = not_done


class ApiError(ReconcilerError):
    """CPA answered with something other than success, or did not answer.

    Attributes:
        status: the HTTP status, or None when no answer came.
        code: the server's short error code (``error`` field), e.g. ``invalid_yaml``.
        message: the full user-facing message (names method and endpoint).
        details: the server's longer text (``message`` field), if any.
        data: the parsed JSON body, if any (never contains our key; may contain server text).
        method, endpoint: what was asked, e.g. ``GET`` and ``/v0/management/config.yaml``.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        details: str | None = None,
        data: Any = None,
        method: str | None = None,
        endpoint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.details = details
        self.data = data
        self.method = method
        self.endpoint = endpoint

    @property
    def retryable(self) -> bool:
        """Whether trying again later may succeed (server faults and no answer)."""
        return False


class UnauthorizedError(ApiError):
    """401: the management key is missing or wrong. Never retry: 5 failures ban the IP."""


class ForbiddenError(ApiError):
    """403 from the management API."""


class BannedError(ForbiddenError):
    """403: CPA banned this client IP after repeated failed authentications."""


class RemoteDisabledError(ForbiddenError):
    """403: remote management is disabled on CPA and this client is not on loopback."""


class KeyNotSetError(ForbiddenError):
    """403: CPA has no management key configured."""


class NotFoundError(ApiError):
    """404 with a JSON body: the named thing does not exist."""


class ManagementDisabledError(ApiError):
    """404 with an empty body: CPA's management API is off (no secret-key, no password)."""


class InvalidConfigError(ApiError):
    """400 ``invalid_yaml`` or 422 ``invalid_config`` from ``PUT /config.yaml``."""


class UnsupportedError(ApiError):
    """The server does not serve this endpoint or OAuth provider (e.g. an older version)."""


class ServerError(ApiError):
    """5xx from CPA."""

    @property
    def retryable(self) -> bool:
        return True


class UnreachableError(ApiError):
    """No answer: connection refused or reset, timeout, TLS failure, truncated response."""

    @property
    def retryable(self) -> bool:
        return True
