"""The data the core works on: the desired state, the live state, and their parts.

Pure: no I/O. Two layers live here:

* ``DesiredFile`` and its parts are the *schema* of the desired-state YAML file (pydantic,
  kebab-case aliases, unknown keys rejected). ``reconciler.desired.loader`` validates the parsed file
  with it and publishes its JSON Schema.
* ``DesiredState`` / ``LiveState`` are the resolved, immutable values that ``plan.make_plan``
  compares. Secret values are held in plain data here (the core must compare them); every
  renderer masks them using ``DesiredState.secret_paths`` and ``core.secrets``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class TargetSpec(_Strict):
    """Where CPA is. Both keys may be overridden by flags or environment variables."""

    url: str | None = Field(default=None, description="CPA origin, e.g. http://127.0.0.1:8317")
    management_key: str | None = Field(
        default=None,
        alias="management-key",
        description="The management key; use ${env:NAME} or ${file:PATH}, never a literal.",
    )


class ConfigPolicySpec(_Strict):
    """How the ``config`` section is owned."""

    prune: bool = Field(
        default=False,
        description="Remove live keys absent here (server-filled defaults excepted).",
    )
    ignore: tuple[str, ...] = Field(
        default=(), description="Dotted paths never compared and never written."
    )
    allow_unknown_keys: tuple[str, ...] = Field(
        default=(),
        alias="allow-unknown-keys",
        description="Config keys CPA v7.2.140 does not know that may be declared anyway (keys "
        "of a newer CPA): names or globs, dotted paths for nested keys, list indexes left out "
        "(e.g. new-key, routing.new-key, gemini-api-key.new-field, x-*). Their values are "
        "not checked.",
    )


class AuthFileEntrySpec(_Strict):
    """One auth file that must exist on CPA."""

    name: str = Field(description="File name in CPA's auth-dir, ending in .json.")
    source: str | None = Field(
        default=None,
        description="JSON credential, relative to the desired-state file. Used only to create "
        "the file when it is missing (or to re-seed it with replace: true).",
    )
    disabled: bool | None = Field(
        default=None, description="Converged with PATCH /auth-files/status when set."
    )
    fields: dict[str, Any] | None = Field(
        default=None,
        description="Policy fields (priority, note, proxy_url, ...) converged with "
        "PATCH /auth-files/fields. Token fields are refused.",
    )
    replace: bool = Field(
        default=False,
        description="Re-seed the file from source when the source changed since it was last "
        "seeded. Needs --allow-replace.",
    )


class AuthFilesSpec(_Strict):
    """The set of auth files and how it is owned."""

    prune: bool = Field(default=False, description="Delete live files not listed (after a backup).")
    protect: tuple[str, ...] = Field(default=(), description="Glob patterns never deleted.")
    max_deletions: int = Field(
        default=5,
        ge=0,
        alias="max-deletions",
        description="A plan deleting more is refused unless --allow-mass-delete.",
    )
    files: tuple[AuthFileEntrySpec, ...] = ()


class DesiredFile(_Strict):
    """The desired-state file, as written in git."""

    target: TargetSpec = TargetSpec()
    config: dict[str, Any] | None = Field(
        default=None, description="CPA config keys, spelled as in config.yaml."
    )
    config_file: str | None = Field(
        default=None,
        alias="config-file",
        description="A CPA config.yaml kept in the repo, instead of config:.",
    )
    config_policy: ConfigPolicySpec = Field(default=ConfigPolicySpec(), alias="config-policy")
    auth_files: AuthFilesSpec = Field(default=AuthFilesSpec(), alias="auth-files")


# ---------------------------------------------------------------------------------------------
# Resolved values


Path = tuple[str | int, ...]


@dataclass(frozen=True)
class DesiredAuthFile:
    """A resolved auth-file entry. ``content`` is the parsed source (secret), or None."""

    name: str
    source: str | None = None
    content: Mapping[str, Any] | None = None
    disabled: bool | None = None
    fields: Mapping[str, Any] = field(default_factory=dict)
    replace: bool = False
    secret_fields: frozenset[str] = frozenset()  # fields whose value came from a reference


@dataclass(frozen=True)
class AuthFilesPolicy:
    prune: bool = False
    protect: tuple[str, ...] = ()
    max_deletions: int = 5


@dataclass(frozen=True)
class DesiredState:
    """Everything the desired-state file asks for, with references resolved.

    ``config`` is None when the file does not manage the config. ``secret_paths`` lists the
    config paths whose values came from a ``${env:}``/``${file:}`` reference: they are always
    masked, whatever their key.
    """

    config: Mapping[str, Any] | None = None
    config_prune: bool = False
    config_ignore: tuple[str, ...] = ()
    secret_paths: frozenset[Path] = frozenset()
    auth_files: tuple[DesiredAuthFile, ...] = ()
    auth_policy: AuthFilesPolicy = field(default_factory=AuthFilesPolicy)


@dataclass(frozen=True)
class LiveAuthFile:
    """One auth file as CPA lists it.

    ``listed`` holds the policy fields the listing shows (priority, note, weight, ...).
    ``content`` is the downloaded file (secret), present only when the plan needed it.
    """

    name: str
    disabled: bool = False
    provider: str | None = None
    email: str | None = None
    listed: Mapping[str, Any] = field(default_factory=dict)
    content: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class LiveState:
    """What CPA has. ``config_text`` is the raw GET /config.yaml body; ``config`` its parse."""

    config_text: str | None = None
    config: Mapping[str, Any] | None = None
    auth_files: Mapping[str, LiveAuthFile] = field(default_factory=dict)
    server_version: str | None = None
