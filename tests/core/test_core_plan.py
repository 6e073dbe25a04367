"""core.plan: the config action as apply gets it, ignore, unmanaged files, actions by op."""

from __future__ import annotations

from reconciler.core.changes import Change, Write
from reconciler.core.model import (
    AuthFilesPolicy,
    DesiredAuthFile,
    DesiredState,
    LiveAuthFile,
    LiveState,
)
from reconciler.core.normalize import MISSING
from reconciler.core.plan import Action, PlanOptions, make_plan


def test_the_config_action_carries_its_changes_writes_and_restart_keys() -> None:
    desired = DesiredState(config={"port": 8318, "debug": True})
    plan = make_plan(desired, LiveState(config={"port": 8317}), PlanOptions())
    assert plan.actions == (
        Action(
            "config",
            "config.yaml",
            "update",
            "config differs from the desired state",
            (
                Change(("port",), before=8317, after=8318),
                Change(("debug",), before=MISSING, after=True),
            ),
            (Write(("port",), 8318), Write(("debug",), True)),
            ("port",),
        ),
    )


def test_ignored_config_paths_make_no_action() -> None:
    desired = DesiredState(config={"debug": True}, config_ignore=("debug",))
    assert make_plan(desired, LiveState(config={}), PlanOptions()).actions == ()


def test_unlisted_live_files_are_unmanaged_without_prune() -> None:
    desired = DesiredState(auth_files=(DesiredAuthFile("a.json"),))
    live = LiveState(auth_files={n: LiveAuthFile(n) for n in ("c.json", "a.json", "b.json")})
    assert make_plan(desired, live, PlanOptions()).unmanaged == ("b.json", "c.json")
    pruning = DesiredState(auth_files=desired.auth_files, auth_policy=AuthFilesPolicy(prune=True))
    assert make_plan(pruning, live, PlanOptions()).unmanaged == ()


def test_auth_actions_are_the_auth_file_actions_of_one_op() -> None:
    desired = DesiredState(
        config={"debug": True},
        auth_files=(
            DesiredAuthFile("a.json", disabled=True),
            DesiredAuthFile("b.json", content={"type": "codex"}),
        ),
    )
    live = LiveState(config={}, auth_files={"a.json": LiveAuthFile("a.json")})
    plan = make_plan(desired, live, PlanOptions())
    assert [a.address for a in plan.auth_actions("update")] == ["auth-file/a.json"]
    assert [a.address for a in plan.auth_actions("create")] == ["auth-file/b.json"]
