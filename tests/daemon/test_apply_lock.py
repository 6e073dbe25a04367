"""The state-directory lock: two `reconciler apply --auto-approve` started together, one applies
and the other exits 5 saying the directory is locked; the daemon's heal waits for a run that
holds it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from daemon_helpers import DESIRED, KEY, StartDaemon, base_env, rewrite

from reconciler.client.management import ManagementClient
from reconciler.emulator import Emulator
from reconciler.statedir.lock import state_lock


def test_overlapping_applies_one_runs_the_other_exits_locked(
    converged: Emulator, desired: Path, tmp_path: Path
) -> None:
    rewrite(desired, DESIRED.replace("debug: false", "debug: true"))
    converged.inject_fault("GET", "/config.yaml", delay=3.0)  # the lock holder is slow
    state_dir = tmp_path / "state"
    argv = [
        sys.executable,
        "-m",
        "reconciler",
        "apply",
        str(desired),
        "--auto-approve",
        "--state-dir",
        str(state_dir),
    ]
    env = base_env(converged.url)
    procs = [
        subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=60) for p in procs]
    results = [(p.returncode, out, err) for p, (out, err) in zip(procs, outputs, strict=True)]

    assert sorted(code for code, _, _ in results) == [0, 5]
    _, _, locked_err = next(r for r in results if r[0] == 5)
    assert "locked" in locked_err
    assert str(state_dir / "lock") in locked_err
    _, applied_out, _ = next(r for r in results if r[0] == 0)
    assert "Apply complete" in applied_out
    puts = [r for r in converged.mutating_requests() if r.path.endswith("/config.yaml")]
    assert len(puts) == 1


def test_heal_waits_while_another_run_holds_the_lock(
    converged: Emulator, desired: Path, daemon: StartDaemon, tmp_path: Path
) -> None:
    state_dir = tmp_path / "state"
    d = daemon(desired, "--interval", "0.5", "--mode", "heal", "--state-dir", str(state_dir))
    d.wait_cycles(1)
    with state_lock(state_dir):  # a cron `apply` is running
        with ManagementClient(converged.url, KEY) as client:
            client.set_setting("debug", True)
        skipped = d.wait_for("apply.skipped")
        assert "locked" in skipped["reason"]
        assert [r.path for r in converged.mutating_requests()] == ["/v0/management/debug"]
    assert d.wait_for("drift.resolved", path="debug")["resolved_by"] == "apply"
    assert d.terminate() == 0
