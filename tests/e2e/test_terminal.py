"""apply on a terminal: it asks first, applies only on ``yes``, and shows progress.

Real processes on a pseudo-terminal: what a terminal is matters here, so these two tests run
``python -m reconciler`` rather than the CLI in-process. The demo runs in-process.
"""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

from e2e_helpers import Cli, Project, auth_source, desired_doc, mutating

from reconciler.emulator import Emulator


def _on_a_terminal(argv: list[str], answer: str, cwd: Path) -> tuple[int, str]:
    """Run the CLI with stdin, stdout and stderr on a pty; type ``answer`` at the prompt."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "reconciler", *argv],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        cwd=cwd,
        close_fds=True,
    )
    os.close(slave)
    seen = b""
    answered = False
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.1)
        if ready:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            seen += chunk
        if not answered and b"Only 'yes' is accepted" in seen:
            os.write(master, answer.encode() + b"\n")
            answered = True
        if proc.poll() is not None and not ready:
            break
    code = proc.wait(timeout=10)
    os.close(master)
    return code, seen.decode(errors="replace")


def _desired(project: Project) -> Path:
    source = project.source("auth/t.json", auth_source("t@example.com"))
    files = [{"name": "codex-t@example.com.json", "source": source}]
    return project.write(desired_doc(config={"debug": True}, files=files))


def test_apply_on_a_terminal_asks_and_no_changes_nothing(
    project: Project, target_env: Emulator
) -> None:
    emu = target_env
    desired = _desired(project)
    emu.reset_requests()
    code, screen = _on_a_terminal(["apply", str(desired)], "no", project.root)
    assert code == 1, screen
    assert "Apply cancelled; nothing was changed." in screen
    assert mutating(emu) == []


def test_apply_on_a_terminal_applies_on_yes_with_progress(
    project: Project, target_env: Emulator
) -> None:
    emu = target_env
    desired = _desired(project)
    code, screen = _on_a_terminal(["apply", str(desired)], "yes", project.root)
    assert code == 0, screen
    assert "... writing config.yaml" in screen
    assert "... creating auth files: batch 1/1 (1 files)" in screen
    assert "Apply complete" in screen
    assert (emu.auth_dir / "codex-t@example.com.json").exists()


def test_the_demo_runs_end_to_end(cli: Cli, tmp_path: Path) -> None:
    result = cli("demo", "--keep", tmp_path / "demo")
    assert result.code == 0, result.text
    assert "Demo finished: everything behaved as expected." in result.out
    assert "(exit 2)" in result.out  # the drift made in the web UI's way
    assert "\033[" not in result.out, "no colour codes into a pipe or a file"
    backups = list((tmp_path / "demo" / "desired" / ".reconciler" / "backups").iterdir())
    assert backups and all(oct(p.stat().st_mode)[-3:] == "700" for p in backups)
