"""The plan: what apply would do, as data. ``make_plan(desired, live, options)`` is pure.

Renderers (text, JSON, Markdown) and the executor are separate consumers of a ``Plan``. Actions
come in the order apply runs them: the config first, then auth-file creates, updates, replaces,
and deletes last (``OP_ORDER``; ``pipeline/apply.py`` runs its steps in the same order).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from reconciler.core import auth_diff, config_diff, safety
from reconciler.core.changes import Change, Write
from reconciler.core.model import DesiredState, LiveState
from reconciler.core.safety import Blocker, SafetyOptions

CONFIG_NAME = "config.yaml"
KEPT_REASON = "protected, not pruned"  # why a ``Plan.kept`` file stays (text, Markdown, JSON)
# The order of auth-file actions in a plan, which is the order apply runs them.
OP_ORDER = ("create", "update", "replace", "delete")
_OP_RANK = {op: rank for rank, op in enumerate(OP_ORDER)}
# What to do about a declared credential that is missing and has no ``source`` (an unresolved
# item): said by ``apply`` and by the daemon's ``credential.missing`` event.
MISSING_CREDENTIAL_REMEDY = (
    "log in again for it with `reconciler login PROVIDER --desired FILE` (PROVIDER: codex, "
    "claude, antigravity, xai, kimi) or in the CPA web UI (or ZeroLimit), or add a `source:` "
    "to its entry so that apply can upload it"
)


@dataclass(frozen=True)
class Action:
    """One unit of work. ``kind`` is ``config`` or ``auth-file``."""

    kind: str
    name: str
    op: str  # create | update | replace | delete
    reason: str
    changes: tuple[Change, ...] = ()
    writes: tuple[Write, ...] = ()
    restart_required: tuple[str, ...] = ()

    @property
    def address(self) -> str:
        return f"{self.kind}/{self.name}"


@dataclass(frozen=True)
class PlanOptions:
    seed_key: bytes = b""
    safety: SafetyOptions = field(default_factory=SafetyOptions)


@dataclass(frozen=True)
class Plan:
    """``kept``: unlisted live auth files that prune leaves alone because they match
    ``protect`` (names, sorted). Shown, but not a change: they never make ``has_changes``.

    ``unmanaged``: live auth files the desired state does not list while prune is off (names,
    sorted). Information only, like ``kept``: never a change, never an exit code."""

    actions: tuple[Action, ...] = ()
    blockers: tuple[Blocker, ...] = ()
    unresolved: tuple[str, ...] = ()
    kept: tuple[str, ...] = ()
    unmanaged: tuple[str, ...] = ()

    @property
    def has_changes(self) -> bool:
        """Whether live differs from desired (exit 2 with --detailed-exitcode)."""
        return bool(self.actions or self.unresolved)

    @property
    def is_blocked(self) -> bool:
        return bool(self.blockers)

    def count(self, op: str) -> int:
        return sum(1 for a in self.actions if a.op == op)

    def auth_actions(self, op: str) -> list[Action]:
        return [a for a in self.actions if a.kind == "auth-file" and a.op == op]

    @property
    def config_action(self) -> Action | None:
        return next((a for a in self.actions if a.kind == "config"), None)


def make_plan(desired: DesiredState, live: LiveState, options: PlanOptions) -> Plan:
    """Compare desired and live state and decide what to do, under the safety rules."""
    actions: list[Action] = []
    blockers: list[Blocker] = []
    if desired.config is not None:
        cdiff = config_diff.diff_config(
            desired.config,
            live.config,
            prune=desired.config_prune,
            ignore=desired.config_ignore,
        )
        if cdiff.writes:
            actions.append(
                Action(
                    "config",
                    CONFIG_NAME,
                    "update",
                    "config differs from the desired state",
                    tuple(cdiff.changes),
                    tuple(cdiff.writes),
                    cdiff.restart_keys,
                )
            )
            blockers += safety.lockout_blockers(  # pragma: no mutate: the first blockers, = or +=
                cdiff.writes, live.config, options.safety
            )
    adiff = auth_diff.diff_auth_files(desired, live.auth_files, seed_key=options.seed_key)
    ordered = sorted(adiff.actions, key=lambda a: (_OP_RANK[a.op], a.name))
    actions += [Action("auth-file", a.name, a.op, a.reason, a.changes) for a in ordered]
    blockers += safety.auth_blockers(adiff, desired.auth_policy, options.safety)
    return Plan(
        tuple(actions),
        tuple(blockers),
        tuple(adiff.unresolved),
        tuple(adiff.kept),
        unmanaged=unmanaged_auth_files(desired, live),
    )


def unmanaged_auth_files(desired: DesiredState, live: LiveState) -> tuple[str, ...]:
    """Live auth files the desired state does not list, when prune is off (with prune on, each
    is a delete or, matching ``protect``, kept)."""
    if desired.auth_policy.prune:
        return ()
    wanted = {e.name for e in desired.auth_files}
    return tuple(sorted(name for name in live.auth_files if name not in wanted))
