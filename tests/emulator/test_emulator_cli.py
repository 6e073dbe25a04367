"""``reconciler emulator``: serves until SIGTERM, exits 0, never prints the key.

A generated key goes to a mode-0600 file in the state dir and works; the output names the
file but never contains the key.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from emulator_support import client


def _start(tmp_path: Path, *args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k != "CPA_MANAGEMENT_KEY"}
    command = [sys.executable, "-m", "reconciler", "emulator", "--port", "0"]
    command += ["--state-dir", str(tmp_path / "state"), *args]
    return subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )


def _url(process: subprocess.Popen[str]) -> tuple[str, list[str]]:
    assert process.stdout is not None
    lines: list[str] = []
    while True:
        line = process.stdout.readline()
        assert line, f"emulator exited early: {lines}"
        lines.append(line)
        if line.startswith("press Ctrl-C"):
            break
    url = lines[0].rsplit(" ", 1)[1].strip()
    return url, lines


def _stop(process: subprocess.Popen[str]) -> tuple[int, str]:
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=15)
    return process.returncode, out + err


def test_generated_key_goes_to_a_private_file(tmp_path: Path) -> None:
    process = _start(tmp_path, "--allow-remote")
    try:
        url, lines = _url(process)
        key_file = tmp_path / "state" / "management-key"
        assert any(str(key_file) in line for line in lines)
        assert os.stat(key_file).st_mode & 0o777 == 0o600
        key = key_file.read_text().strip()
        assert key and key not in "".join(lines)
        remote = {"Authorization": f"Bearer {key}", "X-Forwarded-For": "203.0.113.1"}
        with client(url) as http:
            assert http.get("/v0/management/debug", headers=remote).status_code == 200
    finally:
        code, rest = _stop(process)
    assert code == 0
    assert key not in rest
