"""Safety rules that block a plan: mass delete, lockout, replace (and a protected-name guard).

Pure: no I/O. A blocker is overridden only by the flag it names (exit code 4 otherwise). The
lockout rule protects the reconciler's own access: CPA applies a new secret-key or allow-remote
to the very next request, so a plan that would make the key in use stop working is refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from reconciler.core import normalize
from reconciler.core.auth_diff import AuthDiff, is_protected
from reconciler.core.changes import Write
from reconciler.core.model import AuthFilesPolicy, Path
from reconciler.core.normalize import MISSING, SECRET_KEY_PATH


@dataclass(frozen=True)
class Blocker:
    rule: str  # mass-delete | lockout | replace | protected-delete (a guard; see auth_blockers)
    message: str
    override: str | None = None  # the flag that lifts it, if any


@dataclass(frozen=True)
class SafetyOptions:
    key_in_use: str | None = None
    # The key being rotated to (apply --next-management-key-file): a secret-key that opens it
    # is accepted, since the client switches to it right after the config write.
    next_key: str | None = None
    target_is_loopback: bool = True
    allow_mass_delete: bool = False
    allow_replace: bool = False


def auth_blockers(diff: AuthDiff, policy: AuthFilesPolicy, opts: SafetyOptions) -> list[Blocker]:
    """Blockers of the auth-file actions. Protected files that prune leaves alone (``kept``)
    are no deletes: they never count against max-deletions and never block."""
    deletes = [a.name for a in diff.actions if a.op == "delete"]
    out: list[Blocker] = []
    for name in deletes:
        if is_protected(name, policy.protect):
            # diff_auth_files keeps protected files out of prune, so this never fires for a
            # plan it made: it is the guard that no other path may delete a protected name.
            out.append(
                Blocker(
                    "protected-delete",
                    f"auth file {name} matches auth-files.protect and is never deleted, "
                    "but this plan deletes it",
                )
            )
    if len(deletes) > policy.max_deletions and not opts.allow_mass_delete:
        out.append(
            Blocker(
                "mass-delete",
                f"the plan deletes {len(deletes)} auth files, more than auth-files.max-deletions "
                f"({policy.max_deletions})",
                "--allow-mass-delete",
            )
        )
    replaces = [a.name for a in diff.actions if a.op == "replace"]
    if replaces and not opts.allow_replace:
        out.append(
            Blocker(
                "replace",
                f"re-seeding {', '.join(replaces)} from source overwrites the server's current "
                "tokens (rotated refresh tokens are lost)",
                "--allow-replace",
            )
        )
    return out


def lockout_blockers(
    writes: list[Write], live: Mapping[str, Any] | None, opts: SafetyOptions
) -> list[Blocker]:
    """Refuse writes after which the key in use no longer opens the management API."""
    if opts.key_in_use is None or not _relies_on_secret_key(live, opts.key_in_use):
        # The key in use is not the config secret (e.g. CPA's MANAGEMENT_PASSWORD env, which
        # also forces remote access on): config writes cannot lock it out.
        return []
    out: list[Blocker] = []
    new_secret = _final_value(writes, SECRET_KEY_PATH)
    rotating = opts.next_key is not None and _opens(new_secret, opts.next_key)
    if new_secret is not _UNCHANGED and not _opens(new_secret, opts.key_in_use) and not rotating:
        out.append(
            Blocker(
                "lockout",
                "remote-management.secret-key would no longer match the management key in use; "
                "the next request would be refused. Change the key in use in the same step "
                "(set the desired secret-key to it) or change it by hand",
            )
        )
    remote = _final_value(writes, ("remote-management", "allow-remote"))
    if remote is not _UNCHANGED and remote in (False, MISSING) and not opts.target_is_loopback:
        out.append(
            Blocker(
                "lockout",
                "remote-management.allow-remote would become false while this reconciler "
                "connects from another host; CPA would refuse it from then on",
            )
        )
    return out


_UNCHANGED: Any = object()


def _final_value(writes: list[Write], path: Path) -> Any:
    value = _UNCHANGED
    for w in writes:
        if w.path == path:
            value = w.value
        elif w.path == path[: len(w.path)]:  # a mapping written above ``path``
            value = _lookup(w.value, path[len(w.path) :])
    return value


def _lookup(value: Any, rest: Path) -> Any:
    for key in rest:
        if not isinstance(value, dict) or key not in value:
            return MISSING
        value = value[key]
    return value


def _relies_on_secret_key(live: Mapping[str, Any] | None, key: str) -> bool:
    return _opens(_lookup(dict(live or {}), SECRET_KEY_PATH), key)


def _opens(secret: Any, key: str) -> bool:
    """Whether the secret-key ``secret`` (plaintext or bcrypt hash; MISSING or any other
    non-string opens nothing) lets ``key`` in."""
    if secret == "":  # an empty secret-key turns the management API off: no key opens it
        return False
    if normalize.is_bcrypt_hash(secret):
        return normalize.bcrypt_matches(key, secret)
    return bool(secret == key)
