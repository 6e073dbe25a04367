"""The diff of the auth-file set: presence and policy fields, never tokens.

Pure: no I/O. CPA rotates tokens on its own, so an existing file is never re-uploaded because
its content differs: only a missing file is created (from ``source``), ``disabled`` and declared
``fields`` are converged with PATCH, and ``replace: true`` re-seeds a file only when its source
changed since the last seed (the seed fingerprint is stored in the file as ``SEED_FIELD``).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from reconciler.core.changes import Change
from reconciler.core.model import DesiredAuthFile, DesiredState, LiveAuthFile
from reconciler.core.normalize import MISSING
from reconciler.core.secrets import fingerprint

# Policy fields that GET /auth-files shows when the file has them (observed on v7.2.140);
# any other declared field can only be checked by downloading the file.
LISTED_FIELDS = frozenset({"priority", "note", "weight", "websockets", "request_retry"})

# Written into every file this tool uploads: a keyed fingerprint of the source it came from.
SEED_FIELD = "reconciler_seed"


@dataclass(frozen=True)
class AuthAction:
    """One auth-file action: ``op`` is create, update, replace or delete."""

    op: str
    name: str
    reason: str
    changes: tuple[Change, ...] = ()


@dataclass
class AuthDiff:
    """The actions, what cannot be planned, and the live files prune leaves alone because they
    match ``protect`` (``kept``: names, sorted; not a change)."""

    actions: list[AuthAction] = field(default_factory=list)
    unresolved: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)


def needs_download(entry: DesiredAuthFile) -> bool:
    """Whether planning this entry needs the file's content (fields the listing lacks)."""
    return entry.replace or any(k not in LISTED_FIELDS for k in entry.fields)


def seed_of(seed_key: bytes, content: Mapping[str, Any]) -> str:
    """The seed fingerprint of a source: keyed, so it reveals nothing about the tokens."""
    body = {k: v for k, v in content.items() if k != SEED_FIELD}
    return fingerprint(seed_key, body)


def is_protected(name: str, patterns: tuple[str, ...]) -> bool:
    """Whether ``name`` matches one of the ``protect`` globs (case-sensitive, as CPA's names)."""
    return any(fnmatch.fnmatchcase(name, p) for p in patterns)


def diff_auth_files(
    desired: DesiredState, live: Mapping[str, LiveAuthFile], *, seed_key: bytes
) -> AuthDiff:
    """Actions that make the live auth-file set match the desired one."""
    out = AuthDiff()
    for entry in desired.auth_files:
        have = live.get(entry.name)
        if have is None:
            _plan_create(entry, out)
        else:
            _plan_existing(entry, have, seed_key, out)
    if desired.auth_policy.prune:
        _plan_prune(desired, live, out)
    return out


def _plan_prune(desired: DesiredState, live: Mapping[str, LiveAuthFile], out: AuthDiff) -> None:
    """Delete every unlisted live file, except those matching ``protect``: they are kept (as
    Argo CD's ``Prune=false`` and Flux's ``prune: disabled``), never a delete or a blocker."""
    wanted = {e.name for e in desired.auth_files}
    protect = desired.auth_policy.protect
    for name in sorted(live):
        if name in wanted:
            continue
        if is_protected(name, protect):
            out.kept.append(name)
        else:
            out.actions.append(AuthAction("delete", name, "not in the desired state (prune)"))


def _plan_create(entry: DesiredAuthFile, out: AuthDiff) -> None:
    if entry.content is None:
        out.unresolved.append(
            f"auth file {entry.name} is missing on the server and has no source to create it from"
        )
        return
    changes = [
        Change(("fields", k), after=v, secret=k in entry.secret_fields)
        for k, v in entry.fields.items()
    ]
    if entry.disabled is not None:
        changes.insert(0, Change(("disabled",), after=entry.disabled))
    out.actions.append(AuthAction("create", entry.name, "missing on the server", tuple(changes)))


def _plan_existing(
    entry: DesiredAuthFile, have: LiveAuthFile, seed_key: bytes, out: AuthDiff
) -> None:
    if entry.replace and entry.content is not None:
        live_seed = (have.content or {}).get(SEED_FIELD)
        if live_seed != seed_of(seed_key, entry.content):
            out.actions.append(
                AuthAction("replace", entry.name, "source changed since the file was last seeded")
            )
            return
    changes: list[Change] = []
    if entry.disabled is not None and entry.disabled != have.disabled:
        changes.append(Change(("disabled",), before=have.disabled, after=entry.disabled))
    for key, want in entry.fields.items():
        current = live_field(have, key)
        if not field_equal(want, current):
            secret = key in entry.secret_fields
            changes.append(Change(("fields", key), before=current, after=want, secret=secret))
    if changes:
        out.actions.append(AuthAction("update", entry.name, "policy differs", tuple(changes)))


def live_field(have: LiveAuthFile, key: str) -> Any:
    """The live value of a policy field, from the download if there is one, else the listing."""
    if have.content is not None:
        # A dotted name is a path into nested objects, as PATCH /auth-files/fields writes it.
        value: Any = have.content
        for part in key.split("."):
            if not isinstance(value, Mapping) or part not in value:
                return MISSING
            value = value[part]
        return value
    if key in LISTED_FIELDS:
        return have.listed.get(key, MISSING)
    raise ValueError(f"field {key!r} of {have.name} needs the file's content, which was not read")


def field_equal(want: Any, have: Any) -> bool:
    """Declared-field equality: None means absent; mappings compare on declared keys only."""
    if want is None:
        return have is MISSING or have is None
    if isinstance(want, dict):
        # An absent mapping holds none of the declared keys: ``headers: {}`` declares nothing
        # (and CPA drops an empty headers object, so it could never be made present).
        have = {} if have is MISSING else have
        return isinstance(have, dict) and all(
            field_equal(v, have.get(k, MISSING)) for k, v in want.items()
        )
    if have is MISSING:
        return False
    if isinstance(want, bool) or isinstance(have, bool):
        return type(want) is type(have) and want == have
    if isinstance(want, list) and isinstance(have, list):
        return len(want) == len(have) and all(
            field_equal(a, b)
            for a, b in zip(want, have, strict=True)  # pragma: no mutate: lengths are equal here
        )
    return bool(want == have)
