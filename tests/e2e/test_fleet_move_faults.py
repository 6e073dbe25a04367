"""The fault matrix of a move (must-show 3): a failure (500, timeout, dropped connection) and a
SIGKILL at each step of moving one credential from eu-1 to us-1. Afterwards the credential is on
at most one server, nothing is lost (it is on a server, or in the journal and a backup), and
the next ``apply --allow-moves`` completes the move with the source's tokens."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import pytest
from e2e_helpers import Cli, Project
from fleet_world import FleetWorld

from reconciler.emulator import Emulator
from reconciler.statedir.journal import Journal

# step -> (target, method, path, nth): the request of that step in an apply with one move
# (the destination's listing is read once by the plan, then again to verify).
STEPS: dict[str, tuple[str, str, str, int]] = {
    "download": ("eu-1", "GET", "/auth-files/download", 1),
    "delete": ("eu-1", "DELETE", "/auth-files", 1),
    "upload": ("us-1", "POST", "/auth-files", 1),
    "verify": ("us-1", "GET", "/auth-files", 2),
}
# The request logged on the same server just before each step's request.
BEFORE: dict[str, tuple[str, str, str, int]] = {
    "download": ("eu-1", "GET", "/v0/management/auth-files", 1),
    "delete": ("eu-1", "GET", "/v0/management/auth-files/download", 1),
    "upload": ("eu-1", "DELETE", "/v0/management/auth-files", 1),
    "verify": ("us-1", "POST", "/v0/management/auth-files", 1),
}
HOLD = 2.0


@pytest.fixture
def moving(
    project: Project,
    emulator_factory: Callable[..., Emulator],
    monkeypatch: pytest.MonkeyPatch,
    cli: Cli,
) -> tuple[FleetWorld, str, str, dict[str, Any]]:
    """One credential on eu-1 (refreshed there since its upload), pinned to us-1 now."""
    world = FleetWorld.create(project, emulator_factory, monkeypatch, n_files=1)
    name = world.files[0]
    assert cli("apply", world.write(pins={name: "eu-1"}), "--auto-approve").code == 0
    world.emus["eu-1"].refresh_auth_file(name)
    tokens = world.content("eu-1", name)
    desired = world.write(pins={name: "us-1"})
    for emu in world.emus.values():
        emu.reset_requests()
    return world, name, desired, tokens


def assert_safe_then_completed(
    world: FleetWorld, name: str, desired: str, tokens: dict[str, Any], cli: Cli
) -> None:
    holders = world.where().get(name, [])
    assert len(holders) <= 1, holders
    if not holders:  # only in the journal (and the backup): never lost
        entries = Journal(world.project.state_dir).entries()
        assert [e.name for e in entries] == [name]
        assert json.loads(entries[0].upload)["refresh_token"] == tokens["refresh_token"]
        backups = list(world.project.state_dir.glob(f"backups/*/auth-files/{name}"))
        assert backups
    for emu in world.emus.values():
        emu.clear_faults()
    done = cli("apply", desired, "--auto-approve", "--allow-moves")
    assert done.code == 0, done.text
    assert world.where()[name] == ["us-1"]
    assert world.content("us-1", name)["refresh_token"] == tokens["refresh_token"]
    assert not Journal(world.project.state_dir).entries()
    assert cli("plan", desired, "--detailed-exitcode").code == 0


@pytest.mark.parametrize("kind", ["500", "timeout", "drop"])
@pytest.mark.parametrize("step", list(STEPS))
def test_a_failed_step_loses_nothing_and_the_next_apply_completes(
    moving: tuple[FleetWorld, str, str, dict[str, Any]], cli: Cli, step: str, kind: str
) -> None:
    world, name, desired, tokens = moving
    target, method, path, nth = STEPS[step]
    fault: dict[str, Any] = {"status": 500} if kind == "500" else {}
    if kind == "drop":
        fault = {"drop": True}
    if kind == "timeout":
        fault = {"delay": 1.0}
    times = 5 if method == "GET" else 1  # GETs are retried
    world.emus[target].inject_fault(method, path, nth=nth, times=times, **fault)
    failed = cli("apply", desired, "--auto-approve", "--allow-moves", "--timeout", "0.5")
    assert failed.code == 1, failed.text
    if kind == "timeout":
        time.sleep(1.2)  # the server finishes what it held back
    assert_safe_then_completed(world, name, desired, tokens, cli)


@pytest.mark.parametrize("step", list(STEPS))
def test_sigkill_at_each_step_loses_nothing(
    moving: tuple[FleetWorld, str, str, dict[str, Any]], cli: Cli, step: str
) -> None:
    world, name, desired, tokens = moving
    target, method, path, nth = STEPS[step]
    world.emus[target].inject_fault(method, path, nth=nth, delay=HOLD)
    argv = [sys.executable, "-m", "reconciler", "apply", desired, "--auto-approve"]
    argv += ["--allow-moves", "--timeout", "10"]
    log = world.project.root / "killed.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            argv, cwd=world.project.root, stdout=out, stderr=out, env=dict(os.environ)
        )
    b_target, b_method, b_path, b_count = BEFORE[step]
    deadline = time.monotonic() + 30
    emu = world.emus[b_target]
    while sum(1 for r in emu.requests() if (r.method, r.path) == (b_method, b_path)) < b_count:
        assert proc.poll() is None, log.read_text()
        assert time.monotonic() < deadline, "the apply never got that far"
        time.sleep(0.01)
    time.sleep(0.5)  # the step's request is now held back by the server
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    time.sleep(HOLD)  # the server carries out what it held
    assert_safe_then_completed(world, name, desired, tokens, cli)
