"""No traceback for what an operator can meet (issue 9, item 12).

``plan --json | head`` used to end in a BrokenPipeError traceback (and "Exception ignored"
at exit); a MemoryError or RecursionError ended in a traceback too. A closed pipe now exits 1
quietly, as the Python docs advise; the others print one ``error:`` line and exit 1.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest
from e2e_helpers import KEY

from reconciler import cli, errors
from reconciler.emulator import Emulator
from reconciler.errors import SafetyError

REPO = Path(__file__).resolve().parents[2]

DESIRED = """\
config:
  debug: true
  api-keys:
{keys}
"""


def _closed_reader(argv: list[str], cwd: Path, env: dict[str, str]) -> tuple[int, str]:
    """Run ``reconciler argv`` whose standard output is a pipe nobody reads: the reading end
    is closed before the command writes anything."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "reconciler", *argv],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    with proc:
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.close()  # `| head` that has already gone
        err = proc.stderr.read().decode()
        return proc.wait(timeout=60), err


@pytest.fixture
def env(emu: Emulator) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("CPA_", "RECONCILER_"))}
    return {
        **base,
        "CPA_URL": emu.url,
        "CPA_MANAGEMENT_KEY": KEY,
        "PYTHONPATH": str(REPO),
        "NO_COLOR": "1",
    }


@pytest.mark.parametrize(
    ("argv", "exit_code"),
    [
        (["plan", "desired-state.yaml", "--json"], 1),
        (["plan", "desired-state.yaml"], 1),
        (["validate", "desired-state.yaml"], 1),
        (["--help"], 0),  # argparse itself ignores a failed write of the help
        (["plan", "--help"], 0),
    ],
)
def test_a_closed_output_pipe_exits_quietly(
    tmp_path: Path, env: dict[str, str], argv: list[str], exit_code: int
) -> None:
    keys = "\n".join(f"    - client-key-{i:05d}" for i in range(3000))  # more than a pipe holds
    (tmp_path / "desired-state.yaml").write_text(DESIRED.format(keys=keys))
    code, err = _closed_reader(argv, tmp_path, env)
    assert err == ""  # no traceback, no "Exception ignored ... BrokenPipeError"
    assert code == exit_code


def test_a_closed_pipe_changes_nothing_on_apply(
    tmp_path: Path, env: dict[str, str], emu: Emulator
) -> None:
    """The plan is printed before anything is sent: a closed pipe there stops the apply."""
    keys = "\n".join(f"    - client-key-{i:05d}" for i in range(3000))
    (tmp_path / "desired-state.yaml").write_text(DESIRED.format(keys=keys))
    emu.reset_requests()
    code, err = _closed_reader(["apply", "desired-state.yaml", "--auto-approve"], tmp_path, env)
    assert (code, err) == (1, "")
    assert emu.mutating_requests() == []


def _raising(exc: BaseException) -> object:
    def command(_args: argparse.Namespace) -> int:
        raise exc

    return command


@pytest.mark.parametrize(
    ("exc", "code", "says"),
    [
        (MemoryError(), 1, "error: out of memory; the command stopped"),
        (
            RecursionError("maximum recursion depth exceeded"),
            1,
            "error: a value is nested too deeply to handle; the command stopped",
        ),
        (SafetyError("blocked"), 4, "error: blocked"),
        (KeyboardInterrupt(), 130, "interrupted"),
    ],
)
def test_errors_become_one_line_and_an_exit_code(
    capsys: pytest.CaptureFixture[str], exc: BaseException, code: int, says: str
) -> None:
    assert cli.run(_raising(exc), argparse.Namespace()) == code  # type: ignore[arg-type]
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(says)
    assert captured.err.count("\n") == 1


def test_an_error_message_cannot_drive_the_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    """A message may quote what the server chose (a file name, an error text): its control
    characters are shown escaped, its line breaks kept."""

    def fails(_args: argparse.Namespace) -> int:
        raise errors.ReconcilerError("not done: evil\x1b[2J.json\nsecond line\x07")

    assert cli.run(fails, argparse.Namespace()) == 1
    err = capsys.readouterr().err
    assert "\x1b" not in err and "\x07" not in err
    assert "evil\\x1b[2J.json\nsecond line\\x07" in err
