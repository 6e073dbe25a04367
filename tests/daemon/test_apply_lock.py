"""Two `reconciler apply --auto-approve` started together on one state directory: one applies,
the other exits 5 saying the state directory is locked."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from daemon_helpers import DESIRED, base_env, rewrite

from reconciler.emulator import Emulator


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
