"""The plan as a JSON document (format 1.x): for machines, plan files and ``plan --json``.

The shape follows Terraform's plan JSON (``format_version``, ``resource_changes`` with a list of
``actions``, ``action_reason``, ``*_sensitive`` flags); ``docs/plan-format.md`` documents every
key and the compatibility rule. No secret value is ever written: a sensitive value is written
with its secret parts replaced by ``***`` (its shape kept) plus a keyed fingerprint
(``core.secrets.fingerprint``) so two plans can be compared without holding the value.

This module also owns the masking of one ``Change`` (``mask_change``), which the text and
Markdown renderers and the daemon's events use, so every output masks exactly the same values:
what is secret is decided by ``core.secrets.is_secret_path`` alone (the same classifier export
uses). A value from a reference is always masked, and an element change (``api-keys[]``) is
sensitive when any element of that list is secret. With a fingerprint key, a masked side also
carries its keyed fingerprint, so a reader can tell which key left and which came.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from reconciler import __version__
from reconciler.core import secrets
from reconciler.core.changes import Change, dotted
from reconciler.core.model import Path
from reconciler.core.normalize import MISSING
from reconciler.core.plan import KEPT_REASON, Action, Plan

FORMAT_VERSION = "1.1"
TOOL_NAME = "cpa-reconciler"
UNMANAGED_REASON = "not in the desired state (prune is off)"
META_KEYS = frozenset(
    {
        "target",
        "target_url",
        "server_version",
        "desired_path",
        "desired_fingerprint",
        "live_fingerprint",
        "created_at",
        "tool_version",
    }
)
_TARGET_KEYS = frozenset({"url", "server_version"})


@dataclass(frozen=True)
class MaskedChange:
    """A ``Change`` safe to show: ``before``/``after`` are masked JSON values, or MISSING."""

    path: Path
    element: bool
    before: Any
    after: Any
    before_sensitive: bool
    after_sensitive: bool
    before_fingerprint: str | None = None
    after_fingerprint: str | None = None

    @property
    def label(self) -> str:
        """The dotted path, with ``[]`` for an element of a set-like list."""
        return dotted(self.path) + ("[]" if self.element else "")

    @property
    def before_present(self) -> bool:
        return self.before is not MISSING

    @property
    def after_present(self) -> bool:
        return self.after is not MISSING


def action_secret_paths(action: Action, secret_paths: Iterable[Path]) -> tuple[Path, ...]:
    """The ``secret_paths`` that apply to ``action``: they name config paths only."""
    return tuple(secret_paths) if action.kind == "config" else ()


def mask_change(
    change: Change, *, secret_paths: Iterable[Path] = (), fingerprint_key: bytes | None = None
) -> MaskedChange:
    """``change`` with every secret inside its values replaced by ``***``; with a
    ``fingerprint_key``, each masked side's keyed fingerprint (``core.secrets.fingerprint``)."""
    paths = tuple(secret_paths)
    path = (*change.path, 0) if change.element else change.path
    if change.secret:  # the value came from a ${env:}/${file:} reference: always masked
        paths = (*paths, path)
    before, before_hit = _mask_side(path, change.before, paths)
    after, after_hit = _mask_side(path, change.after, paths)

    def keyed(value: Any, hit: bool) -> str | None:
        if not hit or not fingerprint_key:
            return None
        return secrets.fingerprint(fingerprint_key, plain(value))

    return MaskedChange(
        change.path,
        change.element,
        before,
        after,
        before_hit,
        after_hit,
        keyed(change.before, before_hit),
        keyed(change.after, after_hit),
    )


def plain(value: Any) -> Any:
    """``value`` as plain JSON data: dicts with str keys, lists, str, int, float, bool, None."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [plain(v) for v in value]
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else str(value)
    return str(value)


def safe_url(url: str | None) -> str | None:
    """``url`` without the password of its user-info (``http://u:***@h``)."""
    if url is None:
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return secrets.MASK
    if "@" not in parts.netloc:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{secrets.MASK}@{host}"))


def plan_to_json(
    plan: Plan,
    *,
    secret_paths: Iterable[Path] = (),
    fingerprint_key: bytes,
    meta: dict[str, Any],
) -> dict[str, Any]:
    """The plan document (see ``docs/plan-format.md``); holds no secret value.

    ``meta`` may hold: ``target`` (the URL, or a mapping with ``url`` and ``server_version``),
    or ``target_url`` and ``server_version``; ``desired_path``; ``desired_fingerprint`` and
    ``live_fingerprint``; ``created_at`` (str or aware datetime; default now); ``tool_version``
    (default this package's). Other keys are refused, so nothing is dropped silently.
    ``fingerprint_key`` keys the fingerprints of sensitive values and must not be empty.
    """
    unknown = sorted(set(meta) - META_KEYS)
    if unknown:
        raise ValueError(f"unknown plan meta keys: {', '.join(unknown)}")
    if not fingerprint_key:
        raise ValueError("fingerprint_key must not be empty: unkeyed fingerprints can be guessed")
    paths = tuple(secret_paths)
    return {
        "format_version": FORMAT_VERSION,
        "tool": {"name": TOOL_NAME, "version": meta.get("tool_version") or __version__},
        "target": _target(meta),
        "desired_path": meta.get("desired_path"),
        "created_at": _timestamp(meta.get("created_at")),
        "desired_fingerprint": meta.get("desired_fingerprint"),
        "live_fingerprint": meta.get("live_fingerprint"),
        "summary": summary(plan),
        "resource_changes": [_resource(a, paths, fingerprint_key) for a in plan.actions],
        "blockers": [
            {"rule": b.rule, "message": b.message, "override": b.override} for b in plan.blockers
        ],
        "unresolved": list(plan.unresolved),
        "kept": [_kept(name) for name in plan.kept],
        "unmanaged": [_unmanaged(name) for name in plan.unmanaged],
    }


def summary(plan: Plan) -> dict[str, Any]:
    """The counts of the plan, as the ``summary`` object of the document."""
    return {
        "create": plan.count("create"),
        "update": plan.count("update"),
        "replace": plan.count("replace"),
        "delete": plan.count("delete"),
        "unresolved": len(plan.unresolved),
        "blocked": plan.is_blocked,
        "has_changes": plan.has_changes,
        "kept": len(plan.kept),
        "unmanaged": len(plan.unmanaged),
    }


def _kept(name: str) -> dict[str, Any]:
    """A live auth file prune leaves alone because it matches ``protect`` (since 1.1)."""
    return {
        "address": f"auth-file/{name}",
        "kind": "auth-file",
        "name": name,
        "reason": KEPT_REASON,
    }


def _unmanaged(name: str) -> dict[str, Any]:
    """A live auth file the desired state does not list while prune is off (since 1.1)."""
    return {
        "address": f"auth-file/{name}",
        "kind": "auth-file",
        "name": name,
        "reason": UNMANAGED_REASON,
    }


def _resource(action: Action, secret_paths: tuple[Path, ...], key: bytes) -> dict[str, Any]:
    paths = action_secret_paths(action, secret_paths)
    return {
        "address": action.address,
        "kind": action.kind,
        "name": action.name,
        "actions": [action.op],
        "action_reason": action.reason,
        "restart_required": list(action.restart_required),
        "changes": [_change(c, paths, key) for c in action.changes],
    }


def _change(change: Change, secret_paths: tuple[Path, ...], key: bytes) -> dict[str, Any]:
    masked = mask_change(change, secret_paths=secret_paths, fingerprint_key=key)
    doc: dict[str, Any] = {
        "path": dotted(change.path),
        "path_list": list(change.path),
        "element": change.element,
    }
    if masked.before_present:
        doc["before"] = masked.before
    if masked.after_present:
        doc["after"] = masked.after
    doc["before_present"] = masked.before_present
    doc["after_present"] = masked.after_present
    doc["before_sensitive"] = masked.before_sensitive
    doc["after_sensitive"] = masked.after_sensitive
    if masked.before_fingerprint is not None:
        doc["before_fingerprint"] = masked.before_fingerprint
    if masked.after_fingerprint is not None:
        doc["after_fingerprint"] = masked.after_fingerprint
    return doc


def _target(meta: Mapping[str, Any]) -> dict[str, Any]:
    """``{"url", "server_version"}`` from ``meta["target"]`` or the flat meta keys."""
    given = meta.get("target")
    if isinstance(given, Mapping):
        unknown = sorted(set(given) - _TARGET_KEYS)
        if unknown:
            raise ValueError(f"unknown plan meta target keys: {', '.join(unknown)}")
        url, version = given.get("url"), given.get("server_version")
    else:
        url, version = given, None
    url = url if url is not None else meta.get("target_url")
    version = version if version is not None else meta.get("server_version")
    return {"url": safe_url(url), "server_version": version}


def _timestamp(value: Any) -> str:
    if value is None:
        value = datetime.now(UTC)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("created_at must be timezone-aware")
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return str(value)


def _mask_side(path: Path, value: Any, secret_paths: tuple[Path, ...]) -> tuple[Any, bool]:
    if value is MISSING:
        return MISSING, False
    return secrets.masked(path, plain(value), secret_paths=secret_paths)
