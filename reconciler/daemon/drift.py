"""Drift as items with stable keys, and the tracker that announces each one once.

Pure: no I/O and no clock (callers pass ``now``). ``items_from_plan`` turns a ``Plan`` into
``DriftItem`` s, one per config change and one per auth-file change, with values already masked
(``plan_json.mask_change``: the same masking as ``plan``). ``DriftTracker.observe`` compares the
items of one cycle with those of the last and says what is new (``drift.detected``), what
changed while it persisted (detected again, ``first_seen`` kept) and what went away
(``drift.resolved``). Drift that simply persists is not announced again. An ``unresolved`` item
(a declared credential gone from the server, with no source to re-create it) is tracked the same
way but counted apart (``missing_credentials``): the daemon announces it as
``credential.missing``, an error, since no apply can fix it.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from reconciler.core.changes import Change
from reconciler.core.model import Path
from reconciler.core.normalize import MISSING
from reconciler.core.plan import Action, Plan
from reconciler.core.secrets import canonical_json
from reconciler.output.plan_json import action_secret_paths, mask_change

CONFIG = "config"
AUTH_FILE = "auth-file"
KINDS = (CONFIG, AUTH_FILE)
UNRESOLVED = "unresolved"

_UNRESOLVED_NAME = re.compile(r"^auth file (\S+) ")


@dataclass(frozen=True)
class DriftItem:
    """One difference between live and desired, safe to print.

    ``key`` is stable across cycles for the same place (kind, name, path and, for an element
    of a set-like list, the element). ``before`` is live and ``after`` desired, masked;
    ``MISSING`` means absent on that side. ``op`` is what apply would do (create, update,
    replace, delete) or ``unresolved`` when apply cannot fix it.
    """

    key: str
    kind: str
    name: str
    op: str
    reason: str
    path: str | None = None
    before: Any = MISSING
    after: Any = MISSING

    @property
    def signature(self) -> str:
        """What the item says, minus where it is: a change here is re-announced."""
        before = None if self.before is MISSING else self.before
        after = None if self.after is MISSING else self.after
        return canonical_json([self.op, self.reason, before, after])

    def fields(self) -> dict[str, Any]:
        """The item as event fields: absent sides are left out."""
        out: dict[str, Any] = {"kind": self.kind, "name": self.name, "op": self.op}
        if self.path is not None:
            out["path"] = self.path
        out["reason"] = self.reason
        if self.before is not MISSING:
            out["before"] = self.before
        if self.after is not MISSING:
            out["after"] = self.after
        return out


def items_from_plan(plan: Plan, secret_paths: Iterable[Path] = ()) -> list[DriftItem]:
    """Every drift item of ``plan``, in plan order."""
    paths = tuple(secret_paths)
    items: list[DriftItem] = []
    for action in plan.actions:
        items += _items_of(action, action_secret_paths(action, paths))
    items += [_unresolved_item(text) for text in plan.unresolved]
    return items


def _items_of(action: Action, secret_paths: tuple[Path, ...]) -> list[DriftItem]:
    if action.kind == AUTH_FILE and action.op != "update":
        return [
            DriftItem(
                f"{AUTH_FILE}:{action.name}", AUTH_FILE, action.name, action.op, action.reason
            )
        ]
    return [_change_item(action, change, secret_paths) for change in action.changes]


# Keys the element fingerprints below: random per process, so a key (kept in memory to tell
# elements apart across cycles, never printed) is no plain hash of a secret value.
_ELEMENT_KEY = secrets.token_bytes(32)


def _change_item(action: Action, change: Change, secret_paths: tuple[Path, ...]) -> DriftItem:
    masked = mask_change(change, secret_paths=secret_paths)
    label = masked.label
    key = f"{action.kind}:{action.name}:{label}"
    if change.element:
        # Several elements of one list can drift at once; tell them apart without the value.
        value = change.after if change.before is MISSING else change.before
        digest = hmac.new(_ELEMENT_KEY, canonical_json(value).encode(), hashlib.sha256)
        key += ":" + digest.hexdigest()[:16]
    return DriftItem(
        key,
        action.kind,
        action.name,
        action.op,
        _reason(action, change),
        label,
        masked.before,
        masked.after,
    )


def _reason(action: Action, change: Change) -> str:
    if not change.element:
        return action.reason
    if change.before is MISSING:
        return "element missing on the server"
    return "element not in the desired state"


def _unresolved_item(text: str) -> DriftItem:
    match = _UNRESOLVED_NAME.match(text)
    name = match.group(1) if match else ""
    return DriftItem(f"unresolved:{text}", AUTH_FILE, name, UNRESOLVED, text)


# ---------------------------------------------------------------------------------------------
# Tracking across cycles


@dataclass(frozen=True)
class Tracked:
    """An item as the tracker knows it: since when (``first_seen``) and in which cycle."""

    item: DriftItem
    first_seen: str
    first_cycle: int


@dataclass(frozen=True)
class DriftUpdate:
    """What one observation changed. ``changed`` items persisted with a different content."""

    detected: tuple[Tracked, ...] = ()
    changed: tuple[Tracked, ...] = ()
    resolved: tuple[Tracked, ...] = ()
    current: tuple[Tracked, ...] = ()

    def count_by_kind(self) -> dict[str, int]:
        """Drift items apply can fix, by kind (missing credentials are counted apart)."""
        counts = dict.fromkeys(KINDS, 0)
        for tracked in self.current:
            if tracked.item.op != UNRESOLVED:
                counts[tracked.item.kind] = counts.get(tracked.item.kind, 0) + 1
        return counts

    def missing_credentials(self) -> int:
        """Declared credentials gone from the server with no source (``unresolved`` items)."""
        return sum(1 for tracked in self.current if tracked.item.op == UNRESOLVED)


@dataclass
class DriftTracker:
    """The drift known so far, keyed by ``DriftItem.key``."""

    known: dict[str, Tracked] = field(default_factory=dict)

    def observe(self, items: Iterable[DriftItem], *, now: str, cycle: int) -> DriftUpdate:
        """Take one cycle's items: new keys are detected, vanished keys resolved."""
        seen: dict[str, DriftItem] = {}
        for item in items:
            seen.setdefault(item.key, item)
        detected: list[Tracked] = []
        changed: list[Tracked] = []
        resolved = [t for key, t in self.known.items() if key not in seen]
        current: dict[str, Tracked] = {}
        for key, item in seen.items():
            old = self.known.get(key)
            if old is None:
                current[key] = Tracked(item, now, cycle)
                detected.append(current[key])
            else:
                current[key] = Tracked(item, old.first_seen, old.first_cycle)
                if old.item.signature != item.signature:
                    changed.append(current[key])
        self.known = current
        return DriftUpdate(
            tuple(detected), tuple(changed), tuple(resolved), tuple(current.values())
        )

    def counts(self) -> Mapping[str, int]:
        return DriftUpdate(current=tuple(self.known.values())).count_by_kind()

    def missing_credentials(self) -> int:
        return DriftUpdate(current=tuple(self.known.values())).missing_credentials()
