"""``auth-files.protect``: prune keeps matching files (shown as kept), it never deletes or blocks.

As Argo CD's ``Prune=false`` and Flux's ``prune: disabled``: a protected, unlisted live file is
left alone, is not a change, does not count against max-deletions, and the rest of the plan
goes ahead.
"""

from __future__ import annotations

import pytest

from reconciler.core.auth_diff import AuthAction, AuthDiff, diff_auth_files, is_protected
from reconciler.core.model import (
    AuthFilesPolicy,
    DesiredAuthFile,
    DesiredState,
    LiveAuthFile,
    LiveState,
)
from reconciler.core.plan import Plan, PlanOptions, make_plan
from reconciler.core.safety import SafetyOptions, auth_blockers

SRC = {"type": "codex", "email": "a@example.com", "refresh_token": "r1"}


def _plan(desired: DesiredState, live: LiveState, **safety: bool) -> Plan:
    return make_plan(desired, live, PlanOptions(seed_key=b"k", safety=SafetyOptions(**safety)))


def _state(
    *files: DesiredAuthFile,
    prune: bool = True,
    protect: tuple[str, ...] = (),
    max_deletions: int = 5,
) -> DesiredState:
    return DesiredState(
        auth_files=files,
        auth_policy=AuthFilesPolicy(prune=prune, protect=protect, max_deletions=max_deletions),
    )


def _live(*names: str) -> LiveState:
    return LiveState(auth_files={n: LiveAuthFile(n) for n in names})


def test_protected_unlisted_files_are_kept_and_the_rest_is_pruned() -> None:
    plan = _plan(
        _state(protect=("keep-*.json",)), _live("stale.json", "keep-legacy.json", "keep-b.json")
    )
    assert [(a.op, a.name) for a in plan.actions] == [("delete", "stale.json")]
    assert plan.kept == ("keep-b.json", "keep-legacy.json")
    assert plan.blockers == ()
    assert plan.count("delete") == 1


def test_only_protected_files_left_is_no_change() -> None:
    """A kept file is not drift: plan --detailed-exitcode exits 0, the daemon reports nothing."""
    plan = _plan(_state(DesiredAuthFile("a.json"), protect=("keep-*",)), _live("a.json", "keep-1"))
    assert plan.actions == () and plan.blockers == () and plan.unresolved == ()
    assert plan.kept == ("keep-1",)
    assert not plan.has_changes


def test_kept_files_never_count_against_max_deletions() -> None:
    live = _live("old-1.json", "old-2.json", *(f"vip-{i}.json" for i in range(10)))
    plan = _plan(_state(protect=("vip-*",), max_deletions=2), live)
    assert plan.blockers == ()
    assert [a.name for a in plan.actions] == ["old-1.json", "old-2.json"]
    assert len(plan.kept) == 10
    # the unprotected deletes still count: one more is a mass delete
    blocked = _plan(_state(protect=("vip-*",), max_deletions=1), live)
    assert [b.rule for b in blocked.blockers] == ["mass-delete"]
    assert len(blocked.kept) == 10


def test_the_rest_of_the_plan_goes_ahead() -> None:
    desired = _state(
        DesiredAuthFile("new.json", "s", SRC),
        DesiredAuthFile("a.json", disabled=True),
        protect=("keep-*",),
    )
    plan = _plan(desired, _live("a.json", "keep-x.json", "gone.json"))
    assert sorted((a.op, a.name) for a in plan.actions) == [
        ("create", "new.json"),
        ("delete", "gone.json"),
        ("update", "a.json"),
    ]
    assert plan.kept == ("keep-x.json",) and plan.blockers == ()


def test_without_prune_nothing_is_kept_or_deleted() -> None:
    plan = _plan(_state(prune=False, protect=("keep-*",)), _live("keep-x.json", "other.json"))
    assert plan.actions == () and plan.kept == ()


def test_a_listed_protected_file_is_managed_as_declared_not_kept() -> None:
    desired = _state(DesiredAuthFile("keep-x.json", disabled=True), protect=("keep-*",))
    plan = _plan(desired, _live("keep-x.json"))
    assert [(a.op, a.name) for a in plan.actions] == [("update", "keep-x.json")]
    assert plan.kept == ()


@pytest.mark.parametrize(
    ("name", "patterns", "protected"),
    [
        ("keep-a.json", ("keep-*.json",), True),
        ("KEEP-a.json", ("keep-*.json",), False),  # CPA's names are case-sensitive
        ("keep-a.jsonx", ("keep-*.json",), False),
        ("vertex-1.json", ("keep-*", "vertex-?.json"), True),
        ("a.json", (), False),
    ],
)
def test_protect_patterns_are_case_sensitive_globs(
    name: str, patterns: tuple[str, ...], protected: bool
) -> None:
    assert is_protected(name, patterns) is protected
    diff = diff_auth_files(_state(protect=patterns), {name: LiveAuthFile(name)}, seed_key=b"k")
    assert (diff.kept == [name]) is protected
    assert ([a.op for a in diff.actions] == ["delete"]) is not protected


def test_a_delete_of_a_protected_name_from_anywhere_is_blocked_even_with_every_flag() -> None:
    """The guard behind the diff: no path may delete a protected name, whatever the flags."""
    diff = AuthDiff(actions=[AuthAction("delete", "keep-x.json", "hand-made")])
    policy = AuthFilesPolicy(prune=True, protect=("keep-*",), max_deletions=0)
    opts = SafetyOptions(allow_mass_delete=True, allow_replace=True)
    assert [b.rule for b in auth_blockers(diff, policy, opts)] == ["protected-delete"]
    [blocker] = auth_blockers(diff, policy, opts)
    assert blocker.override is None and "keep-x.json" in blocker.message
