"""``reconciler.cli.console`` (the console script, ``python -m reconciler``): after ``validate``
and ``plan`` the process ends without tearing its objects down one by one, yet all of its
output is written, its exit code is the command's and the exit handlers run; every other
command exits as Python does. Against the emulator, each run a process of its own.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from e2e_helpers import KEY, REPO, desired_doc, dump_yaml

from reconciler.emulator import Emulator

# Runs the console entry as the console script does, with an exit handler and an object whose
# finaliser speaks only when interpreter shutdown tears the objects down.
_ENTRY = """
import atexit, sys
from reconciler import cli

class TornDown:
    def __del__(self):
        sys.stderr.write("torn down\\n")

kept = TornDown()
atexit.register(lambda: sys.stderr.write("exit handler ran\\n"))
sys.argv = ["reconciler", *sys.argv[1:]]
cli.console()
"""


def _run(tmp_path: Path, emu: Emulator, *argv: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CPA_", "RECONCILER_"))}
    env.update(CPA_URL=emu.url, CPA_MANAGEMENT_KEY=KEY, PYTHONPATH=str(REPO), NO_COLOR="1")
    return subprocess.run(
        [sys.executable, "-c", _ENTRY, *argv],
        cwd=tmp_path,
        env={k: v for k, v in env.items() if not k.upper().endswith("_PROXY")},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def desired(tmp_path: Path) -> Path:
    keys = [f"client-key-{index:05d}" for index in range(3000)]  # more than a pipe holds
    path = tmp_path / "desired-state.yaml"
    path.write_text(dump_yaml(desired_doc(config={"debug": True, "api-keys": keys})))
    return path


def test_plan_ends_quickly_with_all_its_output_and_its_exit_code(
    tmp_path: Path, emu: Emulator, desired: Path
) -> None:
    done = _run(tmp_path, emu, "plan", str(desired), "--json", "--detailed-exitcode")
    assert done.returncode == 2, done.stderr  # changes present
    plan = json.loads(done.stdout)  # the whole document, flushed before the exit
    assert plan["format_version"].startswith("1.")
    assert len(json.dumps(plan)) > 65536  # more than a pipe holds at once
    assert done.stderr.splitlines()[-1:] == ["exit handler ran"]
    assert "torn down" not in done.stderr


def test_validate_ends_quickly_too(tmp_path: Path, emu: Emulator, desired: Path) -> None:
    done = _run(tmp_path, emu, "validate", str(desired))
    assert done.returncode == 0, done.stderr
    assert "valid" in done.stdout
    assert "torn down" not in done.stderr
    assert "exit handler ran" in done.stderr


def test_apply_and_errors_before_a_command_exit_as_python_does(
    tmp_path: Path, emu: Emulator, desired: Path
) -> None:
    done = _run(tmp_path, emu, "apply", str(desired), "--auto-approve")
    assert done.returncode == 0, done.stderr
    assert "torn down" in done.stderr  # a command that writes to the server: the full exit
    usage = _run(tmp_path, emu, "plan")  # argparse's exit: no desired file named
    assert usage.returncode == 1
    assert "torn down" in usage.stderr
