"""The server changes between the plan and the writes: nothing the plan did not see is overwritten.

Two ways to be between: a saved plan (``plan --out``) applied after the change, which must be
refused (exit 3, nothing written); and an apply without a plan file whose own plan is overtaken
while it runs: the emulator holds one of the apply's requests back (``inject_fault(delay=)``)
and a thread changes the server meanwhile, as the web UI or CPA's token refresher would.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fault_world import PREFIX, World, credential, run_cli, wait_for

HOLD = 0.3  # seconds the emulator holds the chosen request back; the change needs a few ms

# The requests of an apply that are held back, with (method, path, nth counted from the start
# of the apply; 0: the first backup download, after the plan's own downloads).
HELD_AT = {
    "freshness-check": ("GET", "/auth-files", 2),
    "backup-download": ("GET", "/auth-files/download", 0),
    "config-reread": ("GET", "/config.yaml", 2),
    "config-put": ("PUT", "/config.yaml", 1),
    "create-batch-1": ("POST", "/auth-files", 1),
    "create-batch-2": ("POST", "/auth-files", 2),
}

OPERATOR_TOKENS = {"access_token": "at-operator-login", "refresh_token": "rt-operator-login"}


def just_before(world: World, held: str) -> tuple[str, str, int]:
    """The request the apply makes right before ``held``: once it was handled, the change is
    made, so it lands in the gap the hold opens before ``held`` is carried out."""
    return {
        "freshness-check": world.plan_seen,
        "backup-download": ("GET", "/auth-files", 2),
        "config-reread": ("GET", "/auth-files/download", world.plan_downloads + 2),
        "config-put": ("GET", "/config.yaml", 2),
        "create-batch-1": ("GET", "/auth-files", 3),  # the re-check before each batch
        "create-batch-2": ("GET", "/auth-files", 4),
    }[held]


@contextmanager
def meantime(world: World, held: str, change: Callable[[], Any]) -> Iterator[list[Any]]:
    """Hold back the request ``HELD_AT[held]`` and make ``change`` just before it is handled;
    the list yielded holds what ``change`` returned."""
    after = just_before(world, held)
    method, path, nth = HELD_AT[held]
    if nth == 0:
        nth = world.plan_downloads + 1
    assert world.cpa.healthz()  # the test's own client is connected before the race starts
    world.emu.reset_requests()
    world.emu.inject_fault(method, path, nth=nth, delay=HOLD)
    outcome: list[Any] = []

    def run() -> None:
        wait_for(world.emu, *after)
        outcome.append(change())

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    yield outcome
    thread.join(timeout=10)
    assert outcome, "the change was never made"


def writes(world: World) -> list[tuple[str, str, dict[str, list[str]]]]:
    """Mutating requests to config.yaml and the auth files (the change's own included)."""
    return [
        (r.method, r.path.removeprefix(PREFIX), r.query)
        for r in world.emu.mutating_requests()
        if r.path.startswith((PREFIX + "/config.yaml", PREFIX + "/auth-files"))
    ]


def saved_plan(world: World, tmp_path: Path) -> Path:
    out = tmp_path / "plan.json"
    result = world.plan("--out", str(out))
    assert result.code == 0, result.err
    return out


def apply_saved(world: World, plan: Path) -> Any:
    world.emu.reset_requests()
    return run_cli(
        "apply", str(world.desired), "--plan", str(plan), "--state-dir", str(world.state_dir)
    )


# -- config.yaml ------------------------------------------------------------------------------


def edit_file(world: World) -> str:
    """An out-of-band edit of a key the desired state does not own."""
    world.emu.set_config_yaml(
        world.emu.config_yaml().replace("logging-to-file: false", "logging-to-file: true")
    )
    return world.emu.config_yaml()


def edit_via_api(world: World) -> str:
    """The web UI's way: ``PUT /logging-to-file``, after which CPA rewrites config.yaml."""
    world.cpa.set_setting("logging-to-file", True)
    return world.emu.config_yaml()


def debug_via_api(world: World) -> str:
    """``PUT /debug`` to the value the desired state wants: still a change the plan did not see."""
    world.cpa.set_setting("debug", True)
    return world.emu.config_yaml()


EDITS = {"file": edit_file, "api": edit_via_api}


@pytest.mark.parametrize("edit", [*EDITS, "api-debug"])
def test_a_saved_plan_is_refused_after_the_config_changed(
    world: World, tmp_path: Path, edit: str
) -> None:
    plan = saved_plan(world, tmp_path)
    edited = EDITS.get(edit, debug_via_api)(world)

    result = apply_saved(world, plan)

    assert result.code == 3, result.err
    assert "stale" in result.err
    assert world.emu.mutating_requests() == []
    assert world.emu.config_yaml() == edited


@pytest.mark.parametrize("edit", EDITS)
@pytest.mark.parametrize("held", ["freshness-check", "backup-download", "config-reread"])
def test_a_config_edit_during_apply_is_not_overwritten(world: World, held: str, edit: str) -> None:
    with meantime(world, held, lambda: EDITS[edit](world)) as edited:
        result = world.apply(timeout=10)

    assert result.code == 3, result.out + result.err
    assert "config.yaml changed on the server since the plan" in result.err
    assert writes(world) == []
    assert world.emu.config_yaml() == edited[0]
    # The next apply re-plans from the edited config and keeps the edit.
    world.converges(config=None)
    assert "logging-to-file: true" in world.emu.config_yaml()


# -- auth files -------------------------------------------------------------------------------


def delete_keep_a(world: World) -> None:
    world.cpa.delete_auth_file("keep-a.json")


def operator_login(world: World, name: str = "new-1.json") -> dict[str, Any]:
    """A file the plan creates appears with tokens of its own (an OAuth login in the web UI)."""
    data = {**credential(name, "codex"), **OPERATOR_TOKENS}
    world.emu.write_auth_file(name, data)
    return data


def refresh(world: World) -> dict[str, str]:
    """CPA's refresher rotates the tokens of both files the plan wants to patch."""
    tokens = {}
    for name in ("keep-a.json", "keep-b.json"):
        world.emu.refresh_auth_file(name)
        tokens[name] = world.emu.read_auth_file(name)["refresh_token"]
    return tokens


def test_a_saved_plan_is_refused_after_an_auth_file_was_deleted(
    world: World, tmp_path: Path
) -> None:
    plan = saved_plan(world, tmp_path)
    delete_keep_a(world)

    result = apply_saved(world, plan)

    assert result.code == 3, result.err
    assert world.emu.mutating_requests() == []
    assert "keep-a.json" not in world.server_files()


def test_an_auth_file_deleted_during_apply_is_not_recreated(world: World) -> None:
    with meantime(world, "freshness-check", lambda: delete_keep_a(world)):
        result = world.apply(timeout=10)

    assert result.code == 3, result.out + result.err
    assert "keep-a.json disappeared from the server since the plan" in result.err
    assert writes(world) == [("DELETE", "/auth-files", {"name": ["keep-a.json"]})]  # the change
    assert "keep-a.json" not in world.server_files()


def test_a_saved_plan_is_refused_after_a_file_it_creates_appeared(
    world: World, tmp_path: Path
) -> None:
    plan = saved_plan(world, tmp_path)
    login = operator_login(world)

    result = apply_saved(world, plan)

    assert result.code == 3, result.err
    assert world.emu.mutating_requests() == []
    assert world.emu.read_auth_file("new-1.json") == login


# Before the freshness check; after it, while the config is written; while batch 1 is written.
@pytest.mark.parametrize(
    ("held", "name"),
    [
        ("freshness-check", "new-1.json"),
        ("config-put", "new-1.json"),
        ("create-batch-1", "new-3.json"),
    ],
)
def test_a_file_that_appeared_during_apply_is_not_replaced_by_a_create(
    world: World, held: str, name: str
) -> None:
    with meantime(world, held, lambda: operator_login(world, name)) as login:
        result = world.apply(timeout=10)

    # Exit 3 when nothing was written yet; 1 with the actions done and not done otherwise.
    assert result.code == (3 if held == "freshness-check" else 1), result.out + result.err
    assert f"{name} appeared on the server since the plan" in result.err
    assert world.emu.read_auth_file(name) == login[0]
    world.assert_nothing_lost()
    # The next apply sees the operator's file as existing: it keeps it and creates the rest.
    world.converges(foreign=(name,))
    assert world.emu.read_auth_file(name)["refresh_token"] == "rt-operator-login"


def test_a_saved_plan_still_applies_after_a_token_refresh_and_keeps_the_new_tokens(
    world: World, tmp_path: Path
) -> None:
    plan = saved_plan(world, tmp_path)
    rotated = refresh(world)

    result = apply_saved(world, plan)

    assert result.code == 0, result.err
    for name, token in rotated.items():
        assert world.emu.read_auth_file(name)["refresh_token"] == token
    assert world.emu.read_auth_file("keep-a.json")["disabled"] is True
    world.assert_nothing_lost(refreshed=rotated)


@pytest.mark.parametrize("held", ["freshness-check", "config-put", "create-batch-2"])
def test_a_token_refresh_during_apply_is_kept(world: World, held: str) -> None:
    with meantime(world, held, lambda: refresh(world)) as rotated:
        result = world.apply(timeout=10)

    assert result.code == 0, result.out + result.err
    for name, token in rotated[0].items():
        assert world.emu.read_auth_file(name)["refresh_token"] == token
    assert world.emu.read_auth_file("keep-a.json")["disabled"] is True
    assert world.emu.read_auth_file("keep-b.json")["note"] == "team-b"
    world.assert_nothing_lost(refreshed=rotated[0])
