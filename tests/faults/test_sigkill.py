"""``reconciler apply`` killed with SIGKILL at a random point of its run.

The apply runs as a subprocess against an emulator that holds every request back a little, so
the run lasts long enough to be cut anywhere: while the plan reads, between a backup and the
write it guards, with a write in flight (the server still carries it out). A seeded random
picks, per seed, after how many handled requests and how far into the next one to kill (each
seed in its own stretch of the run). Then
nothing may be lost, every backup must be whole and restorable with ``reconciler restore``, and
the next apply (which takes over the dead run's lock) must converge.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest
from fault_world import ENDPOINTS, World, run_cli, settle

from reconciler.statedir.backup import list_backups, read_backup

HOLD = 0.1  # seconds each request is held back by the emulator
SEEDS = range(5)


def requests_of_a_full_run(world: World) -> int:
    """A one-batch apply of the world (UPLOAD_BATCH is the real one in a subprocess)."""
    plan = 2 + world.plan_downloads  # config.yaml, the listing, the downloads
    check, backups, config, create, patches, delete = 1, 2, 2, 2, 3, 1  # config: re-read + PUT
    return plan + check + backups + config + create + patches + delete  # create: re-check + POST


def start_apply(world: World) -> subprocess.Popen[bytes]:
    argv = [sys.executable, "-m", "reconciler", "apply", str(world.desired), "--auto-approve"]
    argv += ["--state-dir", str(world.state_dir), "--timeout", "10"]
    with (world.root / "killed-apply.log").open("wb") as log:
        return subprocess.Popen(argv, cwd=world.root, stdout=log, stderr=log, env=dict(os.environ))


def kill_after(world: World, proc: subprocess.Popen[bytes], handled: int, into: float) -> None:
    """SIGKILL ``proc`` ``into`` seconds after the emulator has handled ``handled`` requests."""
    deadline = time.monotonic() + 30
    while len(world.emu.requests()) < handled:
        assert proc.poll() is None, (world.root / "killed-apply.log").read_text()
        assert time.monotonic() < deadline, "the apply never got that far"
        time.sleep(0.005)
    time.sleep(into)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    # It was still running: one more request was to come, held back longer than ``into``.
    assert proc.returncode == -signal.SIGKILL, "it had finished: requests_of_a_full_run is off"


def assert_restorable(world: World) -> None:
    """Each backup, put back with ``reconciler restore``, gives back exactly what it holds."""
    backups = list_backups(world.state_dir)
    assert backups, "the deletes happened, so some run made a backup"
    for root in backups:
        contents = read_backup(root)
        restored = run_cli(
            "restore",
            "--yes",
            str(root),
            "--overwrite",
            "--url",
            world.emu.url,
            "--state-dir",
            str(world.state_dir),
        )
        assert restored.code == 0, restored.err
        for name, raw in contents.auth_files.items():
            live = world.emu.read_auth_file(name)  # CPA adds "disabled": false on upload
            assert json.loads(raw).items() <= live.items(), name
        if contents.config_text is not None:
            assert world.emu.config_yaml() == contents.config_text


@pytest.mark.timeout(90)
@pytest.mark.parametrize("seed", SEEDS)
def test_an_apply_killed_at_a_random_point_loses_nothing(world: World, seed: int) -> None:
    rng = random.Random(seed)
    # Each seed draws from its own stretch of the run, so together they span all of it.
    total = requests_of_a_full_run(world)
    lo, hi = (1 + (total - 1) * k // len(SEEDS) for k in (seed, seed + 1))
    handled, into = rng.randrange(lo, hi), rng.uniform(0, HOLD * 0.6)
    for method, path in ENDPOINTS:
        world.emu.inject_fault(method, path, delay=HOLD, times=10_000)

    kill_after(world, start_apply(world), handled, into)

    settle(world.emu, quiet=HOLD * 3)  # a request in flight is still carried out
    world.emu.clear_faults()
    world.assert_nothing_lost()
    world.converges()
    assert_restorable(world)
